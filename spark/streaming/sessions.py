"""The session that led to each purchase: a stream-stream join of silver transactions and events.

Both sides are silver Delta tables read as streams, each watermarked on its event time
(`occurred_at`, `LakeSettings.session_watermark_min`). A transaction meets the behaviour
events of its session (`session_id`) from `session_window_min` minutes before it up to its
own time, the purchase event included. Spark keeps each side's rows in the join state until
the watermark passes the end of the window they could still match, so events and
transactions may reach silver in either order and in different micro-batches.

Exact and restart-safe: the join state and the watermark live in the stream's checkpoint,
and each micro-batch's matches go to `transaction_sessions` by an insert-only MERGE on
(transaction, event), so a replayed batch adds nothing. The limit is the watermark's: a
transaction or event that reaches silver more than the watermark delay (event time) after
the newest one the join has seen is dropped by the join, as Spark defines lateness; raise
the delay for sources that lag more.
"""

from __future__ import annotations

from collections.abc import Callable

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.streaming import StreamingQuery

from spark.streaming.config import LakeSettings
from spark.streaming.sinks import Trigger, insert_new
from spark.tables import TABLES

STREAM = "silver_transaction_sessions"
TABLE = "transaction_sessions"
READS = ("transactions", "events")


def transaction_sessions(
    transactions: DataFrame, events: DataFrame, *, window_min: int, watermark_min: int
) -> DataFrame:
    """Each transaction with the events of its session in the window before it.

    Works on batch DataFrames as well as streams (a watermark does nothing in a batch).
    """
    delay = f"{watermark_min} minutes"
    purchases = (
        transactions.filter(F.col("session_id").isNotNull())
        .select(
            "transaction_id",
            F.col("session_id").alias("_t_session"),
            "customer_id",
            F.col("occurred_at").alias("transaction_at"),
            "occurred_date",
        )
        .withWatermark("transaction_at", delay)
    )
    steps = events.select(
        "event_id",
        F.col("session_id").alias("_e_session"),
        "event_type",
        F.col("occurred_at").alias("event_at"),
        "page_url",
        "product_id",
        "search_query",
        "touch_channel",
        "campaign",
        "utm_source",
        "utm_medium",
        "utm_campaign",
    ).withWatermark("event_at", delay)
    in_window = F.expr(
        f"_e_session = _t_session AND event_at <= transaction_at "
        f"AND event_at >= transaction_at - INTERVAL {window_min} MINUTES"
    )
    joined = purchases.join(steps, in_window, "inner")
    return joined.select(
        "transaction_id",
        F.col("_t_session").alias("session_id"),
        "customer_id",
        "transaction_at",
        "occurred_date",
        "event_id",
        "event_type",
        "event_at",
        ((F.unix_micros("transaction_at") - F.unix_micros("event_at")) / 1e6).alias(
            "seconds_before"
        ),
        "page_url",
        "product_id",
        "search_query",
        "touch_channel",
        "campaign",
        "utm_source",
        "utm_medium",
        "utm_campaign",
    )


def _write_batch(settings: LakeSettings) -> Callable[[DataFrame, int], None]:
    def write(matches: DataFrame, batch_id: int) -> None:
        insert_new(matches.sparkSession, TABLES[TABLE], settings.spark, matches)

    return write


def start(spark: SparkSession, settings: LakeSettings, trigger: Trigger) -> StreamingQuery:
    """Start the stream that fills `transaction_sessions` from silver transactions and events."""

    def read(table: str) -> DataFrame:
        return TABLES[table].read_stream(spark, settings.spark)

    matches = transaction_sessions(
        read("transactions"),
        read("events"),
        window_min=settings.session_window_min,
        watermark_min=settings.session_watermark_min,
    )
    return trigger.apply(
        matches.writeStream.queryName(STREAM)
        .foreachBatch(_write_batch(settings))
        .option("checkpointLocation", settings.spark.checkpoint_location(STREAM))
    ).start()
