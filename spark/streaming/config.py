"""Settings of the lake's streaming job (env prefix `ECAP_LAKE_`).

The lake itself (root, checkpoints, Spark master) is `SparkSettings` (`ECAP_LAKE_URI`,
`ECAP_SPARK_*`); Kafka is `KafkaSettings` (`ECAP_KAFKA_*`). This adds what only the streams
need: the trigger interval, which streams run, topic names, and where the status goes.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

import ecap
from services.mesh.kafka.config import KafkaSettings
from spark.config import REPO_ROOT, SparkSettings


class LakeSettings(BaseSettings):
    """How the streaming job runs: trigger, streams, topics, status file."""

    model_config = SettingsConfigDict(env_prefix="ECAP_LAKE_", extra="ignore")

    trigger_s: float = Field(
        default=5.0, gt=0, description="micro-batch interval of the long-running streams"
    )
    streams: list[str] | None = Field(
        default=None,
        description="names of the streams to run, e.g. '[\"bronze_transactions\"]'; "
        "default all (see spark.streaming.job.STREAMS)",
    )
    topics: dict[str, str] = Field(
        default_factory=dict,
        description="Kafka topic names that differ from the declared ones, e.g. "
        '\'{"transactions": "transactions-staging"}\'',
    )
    max_offsets_per_trigger: int | None = Field(
        default=None, ge=1, description="cap on Kafka records per bronze micro-batch"
    )
    status_path: Path = Field(
        default=REPO_ROOT / ".run" / "lake" / "status.json",
        description="JSON file with each stream's latest progress, for `ecap status`",
    )
    status_interval_s: float = Field(
        default=5.0, gt=0, description="how often the status file is rewritten"
    )
    kafka_bootstrap: str | None = Field(
        default=None, description="bootstrap servers; default those of ECAP_KAFKA_*"
    )
    descriptor_set: Path = Field(
        default=Path(ecap.__file__).parent / "v1" / "ecap.binpb",
        description="the FileDescriptorSet silver decodes Kafka values with (`buf build "
        "--as-file-descriptor-set`); restart the job with a newer one to add fields",
    )
    session_window_min: int = Field(
        default=120,
        ge=1,
        description="a purchase's session: its events at most this many minutes before it",
    )
    session_watermark_min: int = Field(
        default=180,
        ge=1,
        description="how late (event time) a transaction or event may reach silver and still "
        "join its session; older join state is dropped",
    )
    ground_truth_labels: Path | None = Field(
        default=None,
        description="a simulator labels.parquet (`ecap simulate --out`) loaded into silver "
        "labels (source 'ground_truth') when the job starts",
    )
    spark: SparkSettings = Field(default_factory=SparkSettings)

    @property
    def bootstrap_servers(self) -> str:
        """The Kafka bootstrap servers the bronze streams read from."""
        return self.kafka_bootstrap or KafkaSettings().bootstrap_servers

    def topic(self, declared: str) -> str:
        """The actual name of the declared Kafka topic `declared`."""
        return self.topics.get(declared, declared)

    def descriptor_set_bytes(self) -> bytes:
        """The descriptor set's bytes, or a clear error when the file is missing."""
        try:
            return self.descriptor_set.read_bytes()
        except FileNotFoundError:
            raise ValueError(
                f"ECAP_LAKE_DESCRIPTOR_SET: no descriptor set at {self.descriptor_set}; "
                "build one with `make gen` (or `buf build --as-file-descriptor-set -o PATH`)"
            ) from None
