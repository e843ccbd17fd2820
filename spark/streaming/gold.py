"""Gold: per-minute aggregates of silver tables, exact under late and repeated data.

Distinct counts (customers, sessions) cannot be added up across micro-batches, and a late
record changes a minute already written. So each micro-batch of new silver rows only says
which minutes changed; those minutes are recomputed from the whole silver table and MERGEd
(upsert on the gold key). Replaying a batch recomputes the same rows.

- `kpi_minute` (from `transactions`): orders, revenue, average order value and unique
  customers per minute, country, channel and currency;
- `traffic_minute` (from `events`): sessions, visitors, funnel counts and conversion per
  minute and country.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.streaming import StreamingQuery

from spark.streaming.config import LakeSettings
from spark.streaming.sinks import Trigger, upsert
from spark.tables import TABLES


def _minute() -> Column:
    return F.date_trunc("minute", "occurred_at")


def kpi_minute(transactions: DataFrame) -> DataFrame:
    """Silver transactions aggregated into `kpi_minute` rows (a batch DataFrame)."""
    return (
        transactions.groupBy(_minute().alias("minute"), "country", "channel", "currency")
        .agg(
            F.count("*").alias("orders"),
            F.sum("amount_minor").alias("revenue_minor"),
            F.count_distinct("customer_id").alias("unique_customers"),
        )
        .select(
            "minute",
            "country",
            "channel",
            "currency",
            "orders",
            "revenue_minor",
            (F.col("revenue_minor") / F.col("orders")).alias("avg_order_value_minor"),
            "unique_customers",
            F.to_date("minute").alias("minute_date"),
        )
    )


def _events_of(event_type: str) -> Column:
    return F.count_if(F.col("event_type") == event_type)


def traffic_minute(events: DataFrame) -> DataFrame:
    """Silver events aggregated into `traffic_minute` rows (a batch DataFrame)."""
    purchase_session = F.when(F.col("event_type") == "PURCHASE", F.col("session_id"))
    return (
        events.groupBy(_minute().alias("minute"), "country")
        .agg(
            F.count("*").alias("events"),
            F.count_distinct("session_id").alias("sessions"),
            F.count_distinct("customer_id").alias("visitors"),
            _events_of("PAGE_VIEW").alias("page_views"),
            _events_of("PRODUCT_VIEW").alias("product_views"),
            _events_of("ADD_TO_CART").alias("add_to_carts"),
            _events_of("BEGIN_CHECKOUT").alias("checkouts"),
            _events_of("PURCHASE").alias("purchases"),
            F.count_distinct(purchase_session).alias("converting_sessions"),
        )
        .withColumn("conversion_rate", F.col("converting_sessions") / F.col("sessions"))
        .withColumn("minute_date", F.to_date("minute"))
    )


@dataclass(frozen=True)
class GoldAggregate:
    """A gold table kept by recomputing the minutes its silver source changed."""

    name: str
    source: str
    aggregate: Callable[[DataFrame], DataFrame]

    @property
    def stream(self) -> str:
        """The name (and checkpoint directory) of the stream that keeps the table."""
        return f"gold_{self.name}"


AGGREGATES: dict[str, GoldAggregate] = {
    "kpi_minute": GoldAggregate("kpi_minute", "transactions", kpi_minute),
    "traffic_minute": GoldAggregate("traffic_minute", "events", traffic_minute),
}


def touched_minutes(silver: DataFrame, changed: DataFrame) -> DataFrame:
    """The rows of `silver` in the minutes that any row of `changed` falls in."""
    minutes = changed.select(
        F.to_date("occurred_at").alias("_date"), _minute().alias("_minute")
    ).distinct()
    dates = [row["_date"] for row in minutes.select("_date").distinct().collect()]
    # The date filter prunes partitions; the join then keeps just the touched minutes.
    return silver.filter(F.col("occurred_date").isin(dates)).join(
        F.broadcast(minutes.drop("_date")), _minute() == F.col("_minute"), "left_semi"
    )


def _write_batch(settings: LakeSettings, gold: GoldAggregate) -> Callable[[DataFrame, int], None]:
    lake = settings.spark
    source, sink = TABLES[gold.source], TABLES[gold.name]

    def write(changed: DataFrame, batch_id: int) -> None:
        spark = changed.sparkSession
        silver = spark.read.format("delta").load(source.uri(lake))
        upsert(spark, sink, lake, gold.aggregate(touched_minutes(silver, changed)))

    return write


def start(
    spark: SparkSession, settings: LakeSettings, gold: GoldAggregate, trigger: Trigger
) -> StreamingQuery:
    """Start the stream that keeps the gold table of `gold` up to date with its source."""
    return trigger.apply(
        spark.readStream.format("delta")
        .load(TABLES[gold.source].uri(settings.spark))
        .select("occurred_at")
        .writeStream.queryName(gold.stream)
        .foreachBatch(_write_batch(settings, gold))
        .option("checkpointLocation", settings.spark.checkpoint_location(gold.stream))
    ).start()
