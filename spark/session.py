"""The one way ECAP code gets a SparkSession: Delta Lake, the Kafka source, quiet, small.

    spark = get_spark("bronze-transactions")

Started from plain Python (jobs, tests, notebooks), the session runs on `ECAP_SPARK_MASTER`
(default `local[*]`) with the jars of compose/spark/pom.xml, fetched once into
`.cache/spark/jars`. Under spark-submit the JVM already runs: master, driver memory and jars
are spark-submit's (`--master`, `--driver-memory`, `--packages`/`--jars`), and only the
session settings (Delta, shuffle partitions, time zone) are applied here.
"""

from __future__ import annotations

import os
import sys

from pyspark.sql import SparkSession

from spark.config import SparkSettings
from spark.jars import ensure_jars

DELTA_EXTENSION = "io.delta.sql.DeltaSparkSessionExtension"
DELTA_CATALOG = "org.apache.spark.sql.delta.catalog.DeltaCatalog"


def _launched_by_spark_submit() -> bool:
    # spark-submit starts the JVM first and hands its Py4J port to the Python driver.
    return "PYSPARK_GATEWAY_PORT" in os.environ


def spark_conf(settings: SparkSettings, *, launch: bool) -> dict[str, str]:
    """The Spark properties `get_spark` sets; `launch` adds those of a JVM Python starts."""
    conf = {
        "spark.sql.extensions": DELTA_EXTENSION,
        "spark.sql.catalog.spark_catalog": DELTA_CATALOG,
        "spark.sql.shuffle.partitions": str(settings.shuffle_partitions),
        # Delta rebuilds table snapshots with 50 tasks by default: pure overhead on 2 cores.
        "spark.databricks.delta.snapshotPartitions": str(settings.shuffle_partitions),
        # Kafka timestamps, protobuf Timestamps and the lake are all UTC.
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.warehouse.dir": settings.table_uri("_warehouse"),
        "spark.ui.enabled": str(settings.ui_enabled).lower(),
        "spark.ui.showConsoleProgress": "false",
    }
    if launch:
        conf["spark.driver.memory"] = settings.driver_memory
        host = settings.driver_host or ("127.0.0.1" if settings.is_local else None)
        if host:
            conf["spark.driver.host"] = host
            conf["spark.driver.bindAddress"] = host
        if settings.local_jars:
            conf["spark.jars"] = ",".join(str(jar) for jar in ensure_jars(settings))
    return {**conf, **settings.extra_conf}


def get_spark(app_name: str, settings: SparkSettings | None = None) -> SparkSession:
    """The SparkSession for `app_name`, configured for Delta and Kafka (created on first call).

    Spark allows one session configuration per JVM: a later call returns the running session
    and changes only its runtime SQL settings.
    """
    settings = settings or SparkSettings()
    launch = not _launched_by_spark_submit()
    builder = SparkSession.builder.appName(app_name)
    if launch:
        builder = builder.master(settings.master)
        if settings.is_local:
            # Python UDF workers (the protobuf decoder) must run this interpreter, not
            # whatever `python3` is first on PATH; and Spark must not pick a LAN address.
            os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
            os.environ.setdefault("SPARK_LOCAL_IP", settings.driver_host or "127.0.0.1")
    for key, value in spark_conf(settings, launch=launch).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel(settings.log_level)
    return spark
