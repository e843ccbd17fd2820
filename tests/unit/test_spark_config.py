"""SparkSettings and the Spark properties derived from them; no JVM is started."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from spark.config import SparkSettings
from spark.session import DELTA_CATALOG, DELTA_EXTENSION, spark_conf


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("ECAP_SPARK_") or name == "ECAP_LAKE_URI":
            monkeypatch.delenv(name)


def test_defaults_fit_one_small_machine(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    settings = SparkSettings()
    assert settings.master == "local[*]"
    assert settings.is_local
    assert settings.lake_uri == str(tmp_path.resolve() / "data" / "lake")
    assert settings.checkpoint_root == f"{settings.lake_uri}/_checkpoints"
    assert (settings.driver_memory, settings.shuffle_partitions) == ("4g", 4)
    assert settings.ui_enabled is False
    assert settings.log_level == "WARN"
    assert settings.local_jars is True


def test_environment_configures_master_and_lake(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ECAP_SPARK_MASTER", "spark://spark-master:7077")
    monkeypatch.setenv("ECAP_LAKE_URI", "s3a://ecap-lake/prod/")
    monkeypatch.setenv("ECAP_SPARK_SHUFFLE_PARTITIONS", "64")
    monkeypatch.setenv("ECAP_SPARK_LOCAL_JARS", "false")
    monkeypatch.setenv("ECAP_SPARK_EXTRA_CONF", '{"spark.executor.memory": "8g"}')
    settings = SparkSettings()
    assert settings.master == "spark://spark-master:7077"
    assert not settings.is_local
    assert settings.lake_uri == "s3a://ecap-lake/prod/"
    assert (
        settings.table_uri("silver", "transactions") == "s3a://ecap-lake/prod/silver/transactions"
    )
    assert settings.checkpoint_location("bronze") == "s3a://ecap-lake/prod/_checkpoints/bronze"
    assert settings.shuffle_partitions == 64
    assert settings.local_jars is False
    assert settings.extra_conf == {"spark.executor.memory": "8g"}


def test_relative_lake_path_is_made_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = SparkSettings(lake_uri="lake", checkpoint_uri="ckpt")
    assert settings.lake_uri == str(tmp_path.resolve() / "lake")
    assert settings.checkpoint_location("gold-kpis") == str(
        tmp_path.resolve() / "ckpt" / "gold-kpis"
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [("driver_memory", "4 GB"), ("shuffle_partitions", 0), ("log_level", "CHATTY")],
)
def test_invalid_values_are_rejected(field: str, value: object) -> None:
    with pytest.raises(ValidationError, match=field):
        SparkSettings(**{field: value})


def test_session_properties_configure_delta_quietly() -> None:
    settings = SparkSettings(lake_uri="/lake", shuffle_partitions=3, local_jars=False)
    conf = spark_conf(settings, launch=True)
    assert conf["spark.sql.extensions"] == DELTA_EXTENSION
    assert conf["spark.sql.catalog.spark_catalog"] == DELTA_CATALOG
    assert conf["spark.sql.shuffle.partitions"] == "3"
    assert conf["spark.databricks.delta.snapshotPartitions"] == "3"
    assert conf["spark.sql.session.timeZone"] == "UTC"
    assert conf["spark.ui.enabled"] == "false"
    assert conf["spark.driver.memory"] == "4g"
    assert conf["spark.driver.host"] == conf["spark.driver.bindAddress"] == "127.0.0.1"
    assert "spark.jars" not in conf


def test_under_spark_submit_only_session_properties_are_set() -> None:
    settings = SparkSettings(master="yarn", extra_conf={"spark.sql.ansi.enabled": "true"})
    conf = spark_conf(settings, launch=False)
    # spark-submit owns master, driver memory and the classpath: never touch them.
    assert not {"spark.driver.memory", "spark.driver.host", "spark.jars"} & conf.keys()
    assert conf["spark.sql.extensions"] == DELTA_EXTENSION
    assert conf["spark.sql.ansi.enabled"] == "true"


def test_cluster_master_binds_no_loopback_driver() -> None:
    conf = spark_conf(SparkSettings(master="spark://m:7077", local_jars=False), launch=True)
    assert "spark.driver.host" not in conf
