"""Gold: per-minute aggregates of silver tables, exact under late and repeated data.

Distinct counts (customers, sessions) cannot be added up across micro-batches, and a late
record changes a minute already written. So each micro-batch of new silver rows only says
which minutes changed; those minutes are recomputed from the whole silver table and MERGEd
(upsert on the gold key). Replaying a batch recomputes the same rows.

- `kpi_minute` (from `transactions`, their `transaction_items` and `decisions`): orders,
  units, revenue, average order value, unique customers, decisions by outcome and the
  fraud-flag rate per minute, country, channel, currency and category. Rows with category
  `ALL_CATEGORIES` cover whole orders; a category row covers the orders with a line in that
  category and counts only those lines' units and revenue. A decision belongs to its
  transaction's minute, and the latest decision per transaction counts, so a new decision
  (from the `decisions` stream) recomputes its transaction's minute too;
- `traffic_minute` (from `events`): sessions, visitors, funnel counts and conversion per
  minute and country.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.streaming import StreamingQuery

from spark.streaming.config import LakeSettings
from spark.streaming.sinks import Trigger, upsert
from spark.tables import ALL_CATEGORIES, TABLES

# Reads a silver table by name, as a batch DataFrame.
Reader = Callable[[str], DataFrame]


def _minute() -> Column:
    return F.date_trunc("minute", "occurred_at")


def _latest_decisions(decisions: DataFrame) -> DataFrame:
    latest = Window.partitionBy("transaction_id").orderBy(
        F.desc("decided_at"), F.desc("decision_id")
    )
    return (
        decisions.withColumn("_n", F.row_number().over(latest))
        .filter("_n = 1")
        .select("transaction_id", "outcome")
    )


def kpi_minute(transactions: DataFrame, read: Reader) -> DataFrame:
    """Silver transactions (and their items and decisions) as `kpi_minute` rows (batch)."""
    orders = transactions.select(
        "transaction_id",
        "customer_id",
        _minute().alias("minute"),
        "country",
        "channel",
        "currency",
        "amount_minor",
    )
    ids = orders.select("transaction_id")
    items = read("transaction_items").join(ids, "transaction_id", "left_semi")
    decided = orders.join(
        _latest_decisions(read("decisions").join(ids, "transaction_id", "left_semi")),
        "transaction_id",
        "left",
    )
    whole = decided.join(
        items.groupBy("transaction_id").agg(F.sum("quantity").alias("units")),
        "transaction_id",
        "left",
    ).select(
        "*",
        F.lit(ALL_CATEGORIES).alias("category"),
        F.col("amount_minor").alias("revenue"),
    )
    per_category = decided.join(
        items.groupBy("transaction_id", "category").agg(
            F.sum("quantity").alias("units"), F.sum("line_total_minor").alias("revenue")
        ),
        "transaction_id",
    )
    columns = [
        "minute",
        "country",
        "channel",
        "currency",
        "category",
        "customer_id",
        "outcome",
        "units",
        "revenue",
    ]
    flagged = F.col("reviewed") + F.col("declined")
    return (
        whole.select(columns)
        .unionByName(per_category.select(columns))
        .groupBy("minute", "country", "channel", "currency", "category")
        .agg(
            F.count("*").alias("orders"),
            F.coalesce(F.sum("units"), F.lit(0)).cast("bigint").alias("units"),
            F.sum("revenue").alias("revenue_minor"),
            F.count_distinct("customer_id").alias("unique_customers"),
            F.count("outcome").alias("decisions"),
            F.count_if(F.col("outcome") == "APPROVE").alias("approved"),
            F.count_if(F.col("outcome") == "REVIEW").alias("reviewed"),
            F.count_if(F.col("outcome") == "DECLINE").alias("declined"),
        )
        .select(
            "minute",
            "country",
            "channel",
            "currency",
            "category",
            "orders",
            "units",
            "revenue_minor",
            (F.col("revenue_minor") / F.col("orders")).alias("avg_order_value_minor"),
            "unique_customers",
            "decisions",
            "approved",
            "reviewed",
            "declined",
            F.when(F.col("decisions") > 0, flagged / F.col("decisions")).alias("fraud_flag_rate"),
            F.to_date("minute").alias("minute_date"),
        )
    )


def _events_of(event_type: str) -> Column:
    return F.count_if(F.col("event_type") == event_type)


def traffic_minute(events: DataFrame, read: Reader) -> DataFrame:
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
    """A gold table kept by recomputing the minutes its silver source changed.

    `aggregate` gets the source's rows of the touched minutes and a reader of other silver
    tables. New rows of a `via_transaction` table (one with `transaction_id`) touch the
    minute of their transaction.
    """

    name: str
    source: str
    aggregate: Callable[[DataFrame, Reader], DataFrame]
    via_transaction: tuple[str, ...] = ()

    @property
    def reads(self) -> tuple[str, ...]:
        """The silver tables whose new rows change the gold table."""
        return (self.source, *self.via_transaction)

    @property
    def stream(self) -> str:
        """The name of the stream that keeps the table."""
        return f"gold_{self.name}"

    @property
    def checkpoint(self) -> str:
        """The stream's checkpoint directory, named after the tables it reads.

        Spark cannot resume a checkpoint with other sources than it recorded. A table that
        gains a source starts a new checkpoint instead, and the stream recomputes its minutes
        from silver: safe, as each batch replaces whole minutes.
        """
        return f"{self.stream}.from-{'-'.join(self.reads)}"


AGGREGATES: dict[str, GoldAggregate] = {
    "kpi_minute": GoldAggregate("kpi_minute", "transactions", kpi_minute, ("decisions",)),
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
    sink = TABLES[gold.name]

    def write(changed: DataFrame, batch_id: int) -> None:
        spark = changed.sparkSession

        def read(table: str) -> DataFrame:
            return TABLES[table].read(spark, lake)

        silver = read(gold.source)
        if gold.via_transaction:
            # Rows of the other tables name a transaction: its time is in the source.
            named = changed.filter(F.col("occurred_at").isNull()).select("transaction_id")
            found = silver.join(named, "transaction_id", "left_semi").select("occurred_at")
            changed = changed.filter(F.col("occurred_at").isNotNull()).select("occurred_at")
            changed = changed.unionByName(found)
        upsert(spark, sink, lake, gold.aggregate(touched_minutes(silver, changed), read))

    return write


def _changes(spark: SparkSession, settings: LakeSettings, gold: GoldAggregate) -> DataFrame:
    def read(table: str) -> DataFrame:
        return TABLES[table].read_stream(spark, settings.spark)

    if not gold.via_transaction:
        return read(gold.source).select("occurred_at")
    changes = read(gold.source).select("occurred_at", "transaction_id")
    for table in gold.via_transaction:
        changes = changes.unionByName(
            read(table).select(F.lit(None).cast("timestamp").alias("occurred_at"), "transaction_id")
        )
    return changes


def start(
    spark: SparkSession, settings: LakeSettings, gold: GoldAggregate, trigger: Trigger
) -> StreamingQuery:
    """Start the stream that keeps the gold table of `gold` up to date with its sources."""
    return trigger.apply(
        _changes(spark, settings, gold)
        .writeStream.queryName(gold.stream)
        .foreachBatch(_write_batch(settings, gold))
        .option("checkpointLocation", settings.spark.checkpoint_location(gold.checkpoint))
    ).start()
