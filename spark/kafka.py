"""Read ECAP's Kafka topics with Spark's Kafka source, as a batch or as a stream.

Both readers return Kafka's own columns (`key`, `value`, `topic`, `partition`, `offset`,
`timestamp`, `timestampType`, `headers`), headers included, ready for
`spark.protobuf.decode_kafka`. The bootstrap servers come from the caller, usually
`services.mesh.kafka.config.KafkaSettings().bootstrap_servers`.
"""

from __future__ import annotations

from collections.abc import Mapping

from pyspark.sql import DataFrame, SparkSession


def _options(
    bootstrap: str, topic: str, starting_offsets: str, options: Mapping[str, str] | None
) -> dict[str, str]:
    return {
        "kafka.bootstrap.servers": bootstrap,
        "subscribe": topic,
        "startingOffsets": starting_offsets,
        "includeHeaders": "true",
        **(options or {}),
    }


def read_topic(
    spark: SparkSession,
    bootstrap: str,
    topic: str,
    *,
    starting_offsets: str = "earliest",
    ending_offsets: str = "latest",
    options: Mapping[str, str] | None = None,
) -> DataFrame:
    """The records of `topic` between two offsets (default: all of them) as a batch."""
    return (
        spark.read.format("kafka")
        .options(**_options(bootstrap, topic, starting_offsets, options))
        .option("endingOffsets", ending_offsets)
        .load()
    )


def read_topic_stream(
    spark: SparkSession,
    bootstrap: str,
    topic: str,
    *,
    starting_offsets: str = "earliest",
    max_offsets_per_trigger: int | None = None,
    options: Mapping[str, str] | None = None,
) -> DataFrame:
    """The records of `topic` as a stream; the checkpoint, not `starting_offsets`, resumes it."""
    reader = spark.readStream.format("kafka").options(
        **_options(bootstrap, topic, starting_offsets, options)
    )
    if max_offsets_per_trigger is not None:
        reader = reader.option("maxOffsetsPerTrigger", str(max_offsets_per_trigger))
    return reader.load()
