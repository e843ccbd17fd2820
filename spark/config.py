"""Settings of ECAP's Spark sessions (env prefix `ECAP_SPARK_`, plus `ECAP_LAKE_URI`).

The defaults fit the embedded single machine (2 cores, 24 GiB): `local[*]`, a 4 GiB driver,
four shuffle partitions, no UI. A cluster run sets `ECAP_SPARK_MASTER`, `ECAP_LAKE_URI`
(e.g. `s3a://bucket/lake`) and, when spark-submit supplies the jars itself,
`ECAP_SPARK_LOCAL_JARS=false`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[1]

LogLevel = Literal["ALL", "TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL", "OFF"]


class SparkSettings(BaseSettings):
    """How a SparkSession is started and where the lake lives."""

    model_config = SettingsConfigDict(
        env_prefix="ECAP_SPARK_", extra="ignore", populate_by_name=True
    )

    master: str = Field(
        default="local[*]",
        description="Spark master URL; ignored under spark-submit, whose --master wins",
    )
    lake_uri: str = Field(
        default="./data/lake",
        validation_alias=AliasChoices("ECAP_LAKE_URI", "ECAP_SPARK_LAKE_URI"),
        description="root of the Delta lake: a local path (made absolute) or a URI (s3a://...)",
    )
    checkpoint_uri: str | None = Field(
        default=None,
        description="root of the streaming checkpoints; default `<lake_uri>/_checkpoints`",
    )
    driver_memory: str = Field(
        default="4g", pattern=r"^[0-9]+[kmgtKMGT]$", description="spark.driver.memory"
    )
    shuffle_partitions: int = Field(
        default=4, ge=1, description="spark.sql.shuffle.partitions; about 2x the cores"
    )
    driver_host: str | None = Field(
        default=None,
        description="address the driver binds; default 127.0.0.1 for local masters",
    )
    ui_enabled: bool = False
    log_level: LogLevel = "WARN"
    local_jars: bool = Field(
        default=True,
        description="add the jars of compose/spark/pom.xml (fetched once into jars_dir); "
        "false when spark-submit or the cluster image supplies Delta and the Kafka source",
    )
    jars_dir: Path = Field(
        default=REPO_ROOT / ".cache" / "spark" / "jars",
        description="where `python -m spark.jars` puts the jars",
    )
    mvn: str = Field(default="mvn", description="the Maven executable, used once to fetch jars")
    extra_conf: dict[str, str] = Field(
        default_factory=dict,
        description='more Spark properties, e.g. ECAP_SPARK_EXTRA_CONF=\'{"spark.x": "y"}\'',
    )

    @field_validator("lake_uri", "checkpoint_uri")
    @classmethod
    def _absolute_local_path(cls, value: str | None) -> str | None:
        # A relative path would resolve against each process's cwd, and the JVM, the
        # executors and delta-rs must all agree on one lake.
        if value is None or _has_scheme(value):
            return value
        return str(Path(value).expanduser().resolve())

    @property
    def is_local(self) -> bool:
        """True when the master runs everything in this machine's one JVM."""
        return self.master.startswith("local")

    @property
    def checkpoint_root(self) -> str:
        """Root under which each stream keeps its own checkpoint directory."""
        return self.checkpoint_uri or _join(self.lake_uri, "_checkpoints")

    def table_uri(self, *parts: str) -> str:
        """The URI of a table (or any path) below the lake root."""
        return _join(self.lake_uri, *parts)

    def checkpoint_location(self, stream: str) -> str:
        """The checkpoint directory of the stream named `stream`."""
        return _join(self.checkpoint_root, stream)


def _has_scheme(value: str) -> bool:
    scheme, sep, _ = value.partition("://")
    return bool(sep) and scheme.isidentifier()


def _join(root: str, *parts: str) -> str:
    return "/".join([root.rstrip("/"), *(part.strip("/") for part in parts)])
