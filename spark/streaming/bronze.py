"""Bronze: every Kafka record appended as received, exactly once through the checkpoint."""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.streaming import StreamingQuery

from spark.kafka import read_topic_stream
from spark.protobuf import ce_type
from spark.streaming.config import LakeSettings
from spark.streaming.sinks import Trigger
from spark.tables import TableSpec


def transform(records: DataFrame) -> DataFrame:
    """Kafka records (with headers) as bronze rows: raw bytes, coordinates, ce_type, date."""
    return records.select(
        "key",
        "value",
        "topic",
        "partition",
        "offset",
        "timestamp",
        ce_type("headers").alias("ce_type"),
        F.to_date("timestamp").alias("ingest_date"),
    )


def start(
    spark: SparkSession, settings: LakeSettings, spec: TableSpec, trigger: Trigger
) -> StreamingQuery:
    """Start the stream that copies `spec.topic` into the bronze table `spec`."""
    assert spec.topic is not None, f"{spec.name} is not a bronze table"
    records = read_topic_stream(
        spark,
        settings.bootstrap_servers,
        settings.topic(spec.topic),
        max_offsets_per_trigger=settings.max_offsets_per_trigger,
        # Retention may delete records before a stopped lake catches up: go on, don't fail.
        options={"failOnDataLoss": "false"},
    )
    return trigger.apply(
        transform(records)
        .writeStream.format("delta")
        .queryName(spec.name)
        .outputMode("append")
        .partitionBy(*spec.partition_by)
        .option("checkpointLocation", settings.spark.checkpoint_location(spec.name))
    ).start(spec.uri(settings.spark))
