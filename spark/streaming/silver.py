"""Silver: bronze records decoded, flattened, checked, deduplicated and merged.

Per micro-batch of a bronze table: decode each value against the descriptor set
(`transactions_rows`, `events_rows`), split by the data-quality rules, keep the first copy
of each id in the batch, and MERGE insert-only on the table's key, so a copy in a later
batch (or a replayed batch) never adds a row; records that broke a rule go to quarantine.

Why MERGE rather than `dropDuplicatesWithinWatermark`: a watermark silently drops records
that arrive later than it, and a resend after an outage is exactly such a record. The key
includes the event date so that each MERGE reads only the partitions it touches; an
exact duplicate has the same date, so that costs nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.streaming import StreamingQuery

from spark.protobuf import decode_protobuf
from spark.quality import FAILED_RULES, rules_for, split_by_rules
from spark.streaming.config import LakeSettings
from spark.streaming.sinks import Trigger, insert_new
from spark.tables import TABLES

TRANSACTION = "ecap.v1.Transaction"
BEHAVIOR_EVENT = "ecap.v1.BehaviorEvent"
# Helper columns the transforms add for the rules and the quarantine; never stored in silver.
MESSAGE = "_message"
DECODED = "_decoded"


def _text(column: Column) -> Column:
    """An optional proto3 string: empty means absent, so store null."""
    return F.nullif(column, F.lit(""))


def _enum(column: Column, prefix: str) -> Column:
    return F.regexp_replace(column, f"^{prefix}", "")


def _decoded(bronze: DataFrame, message_name: str) -> DataFrame:
    message = decode_protobuf("value", message_name, mode="PERMISSIVE")
    return bronze.select(
        "value",
        "ce_type",
        F.col("topic").alias("kafka_topic"),
        F.col("partition").alias("kafka_partition"),
        F.col("offset").alias("kafka_offset"),
        F.col("timestamp").alias("kafka_timestamp"),
        message.alias(MESSAGE),
    ).withColumn(DECODED, F.col(MESSAGE).isNotNull())


def _location(message: Column) -> list[Column]:
    location = message["location"]
    return [
        _text(location["country"]).alias("country"),
        _text(location["region"]).alias("region"),
        _text(location["city"]).alias("city"),
        location["point"]["latitude"].alias("latitude"),
        location["point"]["longitude"].alias("longitude"),
    ]


_LINEAGE = ["kafka_topic", "kafka_partition", "kafka_offset", "kafka_timestamp"]
_HELPERS = ["value", "ce_type", MESSAGE, DECODED]


def transactions_rows(bronze: DataFrame) -> DataFrame:
    """Bronze transaction records as flattened silver columns plus the rule helpers."""
    m = F.col(MESSAGE)
    items_total = F.aggregate(
        m["items"],
        F.lit(0).cast("bigint"),
        lambda total, item: total + item["quantity"] * item["unit_price"]["amount_minor"],
    )
    return _decoded(bronze, TRANSACTION).select(
        m["transaction_id"].alias("transaction_id"),
        m["customer_id"].alias("customer_id"),
        m["merchant_id"].alias("merchant_id"),
        _text(m["session_id"]).alias("session_id"),
        m["amount"]["amount_minor"].alias("amount_minor"),
        m["amount"]["currency"].alias("currency"),
        F.size(m["items"]).alias("item_count"),
        items_total.alias("items_total_minor"),
        _enum(m["payment_method"], "PAYMENT_METHOD_").alias("payment_method"),
        _text(m["card_fingerprint"]).alias("card_fingerprint"),
        _text(m["device"]["device_id"]).alias("device_id"),
        _enum(m["device"]["type"], "DEVICE_TYPE_").alias("device_type"),
        _text(m["device"]["os"]).alias("device_os"),
        _text(m["device"]["user_agent"]).alias("user_agent"),
        _text(m["ip_address"]).alias("ip_address"),
        *_location(m),
        _enum(m["channel"], "CHANNEL_").alias("channel"),
        m["occurred_at"].alias("occurred_at"),
        F.to_date(m["occurred_at"]).alias("occurred_date"),
        *_LINEAGE,
        *_HELPERS,
    )


def events_rows(bronze: DataFrame) -> DataFrame:
    """Bronze behaviour-event records as flattened silver columns plus the rule helpers."""
    m = F.col(MESSAGE)
    touch = m["touch"]
    return _decoded(bronze, BEHAVIOR_EVENT).select(
        m["event_id"].alias("event_id"),
        _enum(m["type"], "BEHAVIOR_EVENT_TYPE_").alias("event_type"),
        m["session_id"].alias("session_id"),
        _text(m["customer_id"]).alias("customer_id"),
        m["occurred_at"].alias("occurred_at"),
        _text(m["device"]["device_id"]).alias("device_id"),
        _enum(m["device"]["type"], "DEVICE_TYPE_").alias("device_type"),
        _text(m["ip_address"]).alias("ip_address"),
        _text(m["page_url"]).alias("page_url"),
        _text(m["product_id"]).alias("product_id"),
        _text(m["search_query"]).alias("search_query"),
        m["quantity"].alias("quantity"),
        _text(m["transaction_id"]).alias("transaction_id"),
        _enum(touch["channel"], "CHANNEL_").alias("touch_channel"),
        _text(touch["campaign"]).alias("campaign"),
        _text(touch["utm_source"]).alias("utm_source"),
        _text(touch["utm_medium"]).alias("utm_medium"),
        _text(touch["utm_campaign"]).alias("utm_campaign"),
        *_location(m),
        F.to_date(m["occurred_at"]).alias("occurred_date"),
        *_LINEAGE,
        *_HELPERS,
    )


def transaction_items(transactions: DataFrame) -> DataFrame:
    """The line items of `transactions_rows` output, one row each, numbered from 0."""
    return transactions.select(
        "transaction_id",
        "customer_id",
        "occurred_at",
        "occurred_date",
        F.posexplode(F.col(MESSAGE)["items"]).alias("line_no", "item"),
    ).select(
        "transaction_id",
        "line_no",
        "customer_id",
        F.col("item.product_id").alias("product_id"),
        F.col("item.quantity").alias("quantity"),
        F.col("item.unit_price.amount_minor").alias("unit_price_minor"),
        F.col("item.unit_price.currency").alias("currency"),
        (F.col("item.quantity") * F.col("item.unit_price.amount_minor")).alias("line_total_minor"),
        "occurred_at",
        "occurred_date",
    )


def first_per_key(rows: DataFrame, key: list[str]) -> DataFrame:
    """One row per `key`: the copy Kafka received first (batch DataFrames only)."""
    order = Window.partitionBy(*key).orderBy("kafka_timestamp", "kafka_partition", "kafka_offset")
    return rows.withColumn("_copy", F.row_number().over(order)).filter("_copy = 1").drop("_copy")


def quarantine_rows(quarantined: DataFrame, source_table: str) -> DataFrame:
    """Rows that broke an error rule as quarantine rows of `source_table`."""
    return quarantined.select(
        F.lit(source_table).alias("source_table"),
        FAILED_RULES,
        F.when(F.col(DECODED), F.to_json(MESSAGE)).alias("record_json"),
        "value",
        "ce_type",
        *_LINEAGE,
        F.current_timestamp().alias("quarantined_at"),
    )


@dataclass(frozen=True)
class SilverTable:
    """A silver table fed by one bronze table, and the tables derived from its good rows."""

    name: str
    source: str
    rows: Callable[[DataFrame], DataFrame]
    derived: Mapping[str, Callable[[DataFrame], DataFrame]] = field(default_factory=dict)

    @property
    def stream(self) -> str:
        """The name (and checkpoint directory) of the stream that fills the table."""
        return f"silver_{self.name}"

    @property
    def writes(self) -> tuple[str, ...]:
        """Every table the stream writes: its own, the derived ones and the quarantine."""
        return (self.name, *self.derived, "quarantine")


SILVER: dict[str, SilverTable] = {
    "transactions": SilverTable(
        "transactions",
        "bronze_transactions",
        transactions_rows,
        {"transaction_items": transaction_items},
    ),
    "events": SilverTable("events", "bronze_user_events", events_rows),
}


def _write_batch(settings: LakeSettings, silver: SilverTable) -> Callable[[DataFrame, int], None]:
    """The foreachBatch function that checks, deduplicates and merges one bronze batch."""
    lake = settings.spark
    spec = TABLES[silver.name]
    id_columns = [column for column in spec.key if column != "occurred_date"]

    def write(batch: DataFrame, batch_id: int) -> None:
        spark = batch.sparkSession
        # Decoding runs in Python: decode each batch once, not once per output.
        checked = silver.rows(batch).persist()
        try:
            good, bad = split_by_rules(checked, rules_for(silver.name))
            good = first_per_key(good, id_columns)
            insert_new(spark, spec, lake, good)
            for name, derive in silver.derived.items():
                insert_new(spark, TABLES[name], lake, derive(good))
            bad = quarantine_rows(bad, silver.name)
            if not bad.isEmpty():
                pinned = {"source_table": f"'{silver.name}'"}
                insert_new(spark, TABLES["quarantine"], lake, bad, pinned=pinned)
        finally:
            checked.unpersist()

    return write


def start(
    spark: SparkSession, settings: LakeSettings, silver: SilverTable, trigger: Trigger
) -> StreamingQuery:
    """Start the stream that turns `silver.source` (bronze) into the silver table(s)."""
    return trigger.apply(
        spark.readStream.format("delta")
        .load(TABLES[silver.source].uri(settings.spark))
        .writeStream.queryName(silver.stream)
        .foreachBatch(_write_batch(settings, silver))
        .option("checkpointLocation", settings.spark.checkpoint_location(silver.stream))
    ).start()
