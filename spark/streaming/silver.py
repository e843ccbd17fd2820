"""Silver: bronze records decoded, flattened, checked, deduplicated, enriched and merged.

Per micro-batch of a bronze table: decode each value against the descriptor set
(`LakeSettings.descriptor_set`), flatten it (`*_rows`), split by the data-quality rules
(`spark.quality`), and store the good rows the table's way; records that broke a rule go to
quarantine.

- Facts (`transactions`, `events`, `decisions`, `alerts`): keep the first copy of each id in
  the batch and MERGE insert-only on the table's key, so a copy in a later batch (or a
  replayed batch) never adds a row. Why MERGE rather than `dropDuplicatesWithinWatermark`: a
  watermark silently drops records that arrive later than it, and a resend after an outage
  is exactly such a record. The key includes the event date so that each MERGE reads only
  the partitions it touches; an exact duplicate has the same date, so that costs nothing.
- Reference upserts (`products`, `customers`, both from `product-updates`, told apart by the
  `ce_type` header): every version is kept, valid from its `updated_at` until the next
  version's. A batch recomputes the intervals of the ids it touches from the stored versions
  plus the new ones and upserts them, so versions arriving out of order still end up right,
  and a replayed batch computes the same rows.
- Labels: `case-events` resolutions, one per transaction and source, the latest resolution
  winning (an upsert that only overwrites with a later one); `load_ground_truth` adds the
  simulator's labels with source 'ground_truth'.

Enrichment as of the transaction's time. Silver transactions carry the customer's profile,
and their line items the product's category path and unit cost, from the version whose
interval holds `occurred_at` (a range join against silver customers and products in the
batch). This is exact for every version the lake holds when the transaction's batch runs:
`available_now` runs the reference streams before the facts, and the ingestion publishes
reference data before the records that use it. The limit: in a long-running job the
reference and fact streams run side by side, so a version that reaches silver *after* a
transaction it applies to (a product launched and bought within one trigger interval) is not
written back into that transaction; its `*_version_from` column is then null or names the
older version, and the versioned tables still answer the exact as-of question at query time.

Schema evolution: top-level fields of the message that the flattening does not know (fields
added to a proto after this code) become extra columns named like the field; the MERGE adds
them to the table, whose older rows read null. Restart the job with the new descriptor set.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from google.protobuf.descriptor import FieldDescriptor
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.streaming import StreamingQuery

from spark.config import SparkSettings
from spark.protobuf import decode_protobuf, message_descriptor
from spark.quality import FAILED_RULES, record_batch_quality, rules_for, split_by_rules
from spark.streaming.config import LakeSettings
from spark.streaming.sinks import Trigger, insert_new, upsert
from spark.tables import TABLES

TRANSACTION = "ecap.v1.Transaction"
BEHAVIOR_EVENT = "ecap.v1.BehaviorEvent"
PRODUCT = "ecap.v1.Product"
CUSTOMER = "ecap.v1.Customer"
DECISION = "ecap.v1.Decision"
FRAUD_ALERT = "ecap.v1.FraudAlert"
CASE_EVENT = "ecap.v1.CaseEvent"
# Helper columns the transforms add for the rules and the quarantine; never stored in silver.
MESSAGE = "_message"
DECODED = "_decoded"
INVESTIGATOR = "investigator"
GROUND_TRUTH = "ground_truth"


def _text(column: Column) -> Column:
    """An optional proto3 string: empty means absent, so store null."""
    return F.nullif(column, F.lit(""))


def _enum(column: Column, prefix: str) -> Column:
    return F.regexp_replace(column, f"^{prefix}", "")


def _decoded(bronze: DataFrame, message_name: str, descriptor_set: bytes) -> DataFrame:
    message = decode_protobuf(
        "value", message_name, mode="PERMISSIVE", descriptor_set=descriptor_set
    )
    return bronze.select(
        "value",
        "ce_type",
        F.col("topic").alias("kafka_topic"),
        F.col("partition").alias("kafka_partition"),
        F.col("offset").alias("kafka_offset"),
        F.col("timestamp").alias("kafka_timestamp"),
        message.alias(MESSAGE),
    ).withColumn(DECODED, F.col(MESSAGE).isNotNull())


def _location(location: Column) -> list[Column]:
    return [
        _text(location["country"]).alias("country"),
        _text(location["region"]).alias("region"),
        _text(location["city"]).alias("city"),
        location["point"]["latitude"].alias("latitude"),
        location["point"]["longitude"].alias("longitude"),
    ]


_LINEAGE = ["kafka_topic", "kafka_partition", "kafka_offset", "kafka_timestamp"]
_HELPERS = ["value", "ce_type", MESSAGE, DECODED]


def transactions_rows(bronze: DataFrame, descriptor_set: bytes) -> DataFrame:
    """Bronze transaction records as flattened silver columns plus the rule helpers."""
    m = F.col(MESSAGE)
    items_total = F.aggregate(
        m["items"],
        F.lit(0).cast("bigint"),
        lambda total, item: total + item["quantity"] * item["unit_price"]["amount_minor"],
    )
    return _decoded(bronze, TRANSACTION, descriptor_set).select(
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
        *_location(m["location"]),
        _enum(m["channel"], "CHANNEL_").alias("channel"),
        m["occurred_at"].alias("occurred_at"),
        F.to_date(m["occurred_at"]).alias("occurred_date"),
        *_LINEAGE,
        *_HELPERS,
    )


def events_rows(bronze: DataFrame, descriptor_set: bytes) -> DataFrame:
    """Bronze behaviour-event records as flattened silver columns plus the rule helpers."""
    m = F.col(MESSAGE)
    touch = m["touch"]
    return _decoded(bronze, BEHAVIOR_EVENT, descriptor_set).select(
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
        *_location(m["location"]),
        F.to_date(m["occurred_at"]).alias("occurred_date"),
        *_LINEAGE,
        *_HELPERS,
    )


def _valid_from(updated_at: Column) -> Column:
    # An upsert without updated_at is valid from when Kafka accepted it.
    return F.coalesce(updated_at, F.col("kafka_timestamp"))


def products_rows(bronze: DataFrame, descriptor_set: bytes) -> DataFrame:
    """Bronze product upserts as flattened versions plus the rule helpers."""
    m = F.col(MESSAGE)
    return _decoded(bronze, PRODUCT, descriptor_set).select(
        m["product_id"].alias("product_id"),
        _valid_from(m["updated_at"]).alias("valid_from"),
        m["name"].alias("name"),
        m["category_path"].alias("category_path"),
        F.get(m["category_path"], 0).alias("category"),
        _text(m["brand"]).alias("brand"),
        m["price"]["amount_minor"].alias("price_minor"),
        m["price"]["currency"].alias("currency"),
        m["unit_cost"]["amount_minor"].alias("unit_cost_minor"),
        m["stock"].alias("stock"),
        m["active"].alias("active"),
        m["updated_at"].alias("updated_at"),
        *_LINEAGE,
        *_HELPERS,
    )


def customers_rows(bronze: DataFrame, descriptor_set: bytes) -> DataFrame:
    """Bronze customer upserts as flattened versions plus the rule helpers."""
    m = F.col(MESSAGE)
    return _decoded(bronze, CUSTOMER, descriptor_set).select(
        m["customer_id"].alias("customer_id"),
        _valid_from(m["updated_at"]).alias("valid_from"),
        _text(m["email"]).alias("email"),
        _text(m["full_name"]).alias("full_name"),
        *_location(m["home"]),
        m["signed_up_at"].alias("signed_up_at"),
        _enum(m["acquisition_channel"], "CHANNEL_").alias("acquisition_channel"),
        m["updated_at"].alias("updated_at"),
        *_LINEAGE,
        *_HELPERS,
    )


def _milliseconds(interval: Column) -> Column:
    return (F.unix_micros(F.timestamp_micros(F.lit(0)) + interval) / 1000).cast("double")


def _reason_codes(reasons: Column) -> Column:
    return F.transform(reasons, lambda reason: reason["code"])


def decisions_rows(bronze: DataFrame, descriptor_set: bytes) -> DataFrame:
    """Bronze scoring decisions as flattened silver columns plus the rule helpers."""
    m = F.col(MESSAGE)
    return _decoded(bronze, DECISION, descriptor_set).select(
        m["decision_id"].alias("decision_id"),
        m["transaction_id"].alias("transaction_id"),
        _text(m["customer_id"]).alias("customer_id"),
        _text(m["merchant_id"]).alias("merchant_id"),
        _enum(m["outcome"], "DECISION_OUTCOME_").alias("outcome"),
        m["risk_score"].alias("risk_score"),
        _reason_codes(m["reasons"]).alias("reason_codes"),
        _text(m["model_tag"]).alias("model_tag"),
        _text(m["rules_version"]).alias("rules_version"),
        m["degraded"].alias("degraded"),
        _milliseconds(m["latency"]).alias("latency_ms"),
        m["amount"]["amount_minor"].alias("amount_minor"),
        m["amount"]["currency"].alias("currency"),
        m["features"].alias("features"),
        m["decided_at"].alias("decided_at"),
        F.to_date(m["decided_at"]).alias("decided_date"),
        *_LINEAGE,
        *_HELPERS,
    )


def alerts_rows(bronze: DataFrame, descriptor_set: bytes) -> DataFrame:
    """Bronze fraud alerts as flattened silver columns plus the rule helpers."""
    m = F.col(MESSAGE)
    decision, transaction = m["decision"], m["transaction"]
    return _decoded(bronze, FRAUD_ALERT, descriptor_set).select(
        F.coalesce(_text(decision["transaction_id"]), _text(transaction["transaction_id"])).alias(
            "transaction_id"
        ),
        _text(m["alert_id"]).alias("alert_id"),
        _text(decision["decision_id"]).alias("decision_id"),
        F.coalesce(_text(decision["customer_id"]), _text(transaction["customer_id"])).alias(
            "customer_id"
        ),
        F.coalesce(_text(decision["merchant_id"]), _text(transaction["merchant_id"])).alias(
            "merchant_id"
        ),
        _enum(decision["outcome"], "DECISION_OUTCOME_").alias("outcome"),
        decision["risk_score"].alias("risk_score"),
        _reason_codes(decision["reasons"]).alias("reason_codes"),
        decision["amount"]["amount_minor"].alias("amount_minor"),
        decision["amount"]["currency"].alias("currency"),
        transaction["occurred_at"].alias("transaction_at"),
        m["raised_at"].alias("raised_at"),
        *_LINEAGE,
        *_HELPERS,
    )


def case_events_rows(bronze: DataFrame, descriptor_set: bytes) -> DataFrame:
    """Bronze case events, flattened, plus the rule helpers (the input of `labels`)."""
    m = F.col(MESSAGE)
    return _decoded(bronze, CASE_EVENT, descriptor_set).select(
        m["event_id"].alias("event_id"),
        m["case_id"].alias("case_id"),
        _enum(m["action"], "CASE_ACTION_").alias("action"),
        _text(m["actor"]).alias("actor"),
        m["occurred_at"].alias("occurred_at"),
        m["transaction_ids"].alias("transaction_ids"),
        _text(m["customer_id"]).alias("customer_id"),
        _enum(m["outcome"], "CASE_OUTCOME_").alias("outcome"),
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


def as_of(
    rows: DataFrame,
    versions: DataFrame,
    key: str,
    columns: dict[str, str],
    *,
    at: str = "occurred_at",
    version_column: str,
) -> DataFrame:
    """`rows` with `columns` (new name -> version column) of the version valid at `at`.

    `versions` has `key`, `valid_from` and `valid_to` (null: still valid) with intervals that
    do not overlap per key, so each row meets at most one version; rows without one get nulls.
    """
    picked = versions.join(rows.select(key).distinct(), key, "left_semi").select(
        F.col(key).alias("_v_key"),
        F.col("valid_from").alias(version_column),
        F.col("valid_to").alias("_v_to"),
        *(F.col(source).alias(name) for name, source in columns.items()),
    )
    valid = (
        (F.col(key) == F.col("_v_key"))
        & (F.col(version_column) <= F.col(at))
        & (F.col("_v_to").isNull() | (F.col(at) < F.col("_v_to")))
    )
    return rows.join(picked, valid, "left").drop("_v_key", "_v_to")


_CUSTOMER_PROFILE = {
    "customer_country": "country",
    "customer_city": "city",
    "customer_signed_up_at": "signed_up_at",
    "customer_acquisition_channel": "acquisition_channel",
}
_PRODUCT_AS_SOLD = {
    "category_path": "category_path",
    "category": "category",
    "unit_cost_minor": "unit_cost_minor",
}


def first_per_key(rows: DataFrame, key: Sequence[str]) -> DataFrame:
    """One row per `key`: the copy Kafka received first (batch DataFrames only)."""
    order = Window.partitionBy(*key).orderBy("kafka_timestamp", "kafka_partition", "kafka_offset")
    return rows.withColumn("_copy", F.row_number().over(order)).filter("_copy = 1").drop("_copy")


def latest_per_key(rows: DataFrame, key: Sequence[str], order: Sequence[str]) -> DataFrame:
    """One row per `key`: the one last in `order` (batch DataFrames only)."""
    window = Window.partitionBy(*key).orderBy(*(F.desc(column) for column in order))
    return rows.withColumn("_copy", F.row_number().over(window)).filter("_copy = 1").drop("_copy")


def versioned(rows: DataFrame, entity: str) -> DataFrame:
    """Versions of each `entity` with `valid_to` set to the next version's `valid_from`.

    Of two copies with the same `valid_from`, the one Kafka received last wins: it is the
    later upsert.
    """
    unique = latest_per_key(
        rows, [entity, "valid_from"], ["kafka_timestamp", "kafka_partition", "kafka_offset"]
    )
    following = Window.partitionBy(entity).orderBy("valid_from")
    return unique.withColumn("valid_to", F.lead("valid_from").over(following))


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
class Batch:
    """What a store function needs besides the good rows: the session and the lake."""

    spark: SparkSession
    lake: SparkSettings

    def read(self, table: str) -> DataFrame:
        """The silver table `table` as it is now (a batch DataFrame)."""
        return TABLES[table].read(self.spark, self.lake)


Store = Callable[[Batch, DataFrame, Sequence[str]], None]


def _store_first_copies(name: str, id_columns: Sequence[str]) -> Store:
    def store(batch: Batch, good: DataFrame, extras: Sequence[str]) -> None:
        rows = first_per_key(good, id_columns)
        insert_new(batch.spark, TABLES[name], batch.lake, rows, extra_columns=extras)

    return store


def _store_transactions(batch: Batch, good: DataFrame, extras: Sequence[str]) -> None:
    first = first_per_key(good, ["transaction_id"])
    transactions = as_of(
        first,
        batch.read("customers"),
        "customer_id",
        _CUSTOMER_PROFILE,
        version_column="customer_version_from",
    )
    insert_new(batch.spark, TABLES["transactions"], batch.lake, transactions, extra_columns=extras)
    items = as_of(
        transaction_items(first),
        batch.read("products"),
        "product_id",
        _PRODUCT_AS_SOLD,
        version_column="product_version_from",
    )
    insert_new(batch.spark, TABLES["transaction_items"], batch.lake, items)


def _store_versions(name: str, entity: str) -> Store:
    def store(batch: Batch, good: DataFrame, extras: Sequence[str]) -> None:
        spec = TABLES[name]
        columns = [c for c in spec.column_names if c != "valid_to"] + list(extras)
        new = good.select(*columns)
        stored = batch.read(name).join(new.select(entity).distinct(), entity, "left_semi")
        stored = stored.select(
            *(c if c in stored.columns else F.lit(None).alias(c) for c in columns)
        )
        rows = versioned(stored.unionByName(new), entity)
        upsert(batch.spark, spec, batch.lake, rows, extra_columns=extras)

    return store


def _is_fraud(outcome: Column) -> Column:
    return F.when(outcome == "CONFIRMED_FRAUD", True).when(outcome == "FALSE_POSITIVE", False)


# A label is replaced only by a later one (ties: the later event id), so replays change nothing.
_LATER_LABEL = (
    "s.labelled_at > t.labelled_at OR (s.labelled_at = t.labelled_at AND s.event_id > t.event_id)"
)


def resolution_labels(case_events: DataFrame) -> DataFrame:
    """Investigator labels from checked case events: the latest resolution per transaction."""
    resolved = case_events.filter(F.col("action") == "RESOLVED").select(
        F.explode("transaction_ids").alias("transaction_id"),
        F.lit(INVESTIGATOR).alias("source"),
        _is_fraud(F.col("outcome")).alias("is_fraud"),
        "outcome",
        F.lit(None).cast("string").alias("scenario"),
        "case_id",
        "customer_id",
        F.col("actor").alias("labelled_by"),
        F.col("occurred_at").alias("labelled_at"),
        "event_id",
        *_LINEAGE,
    )
    return latest_per_key(resolved, ["transaction_id"], ["labelled_at", "event_id"])


def _store_labels(batch: Batch, good: DataFrame, extras: Sequence[str]) -> None:
    labels = resolution_labels(good)
    upsert(batch.spark, TABLES["labels"], batch.lake, labels, only_if=_LATER_LABEL)


@dataclass(frozen=True)
class SilverTable:
    """A silver stream: a bronze table, how its records flatten, and how good rows are stored.

    `name` is the table the rules and the quarantine name; `writes` every table the store
    fills. `records` (SQL over bronze) picks the records of a topic that carries several
    message types; `evolves` adds columns for message fields the flattening does not know;
    `reference` streams run before the others when catching up.
    """

    name: str
    source: str
    message: str
    rows: Callable[[DataFrame, bytes], DataFrame]
    store: Store
    stored_in: tuple[str, ...]
    records: str | None = None
    evolves: bool = True
    reference: bool = False
    # Tables the store reads besides the source (the enrichment's versions).
    looks_up: tuple[str, ...] = ()

    @property
    def stream(self) -> str:
        """The name (and checkpoint directory) of the stream that fills the table."""
        return f"silver_{self.name}"

    @property
    def writes(self) -> tuple[str, ...]:
        """Every table the stream writes: the stored ones and the quarantine."""
        return (*self.stored_in, "quarantine")

    def extra_fields(self, descriptor_set: bytes, flattened: Sequence[str]) -> list[str]:
        """Top-level message fields that `rows` does not map: fields added to the proto."""
        if not self.evolves:
            return []
        known = set(_MAPPED_FIELDS[self.message]) | set(flattened)
        fields = message_descriptor(self.message, descriptor_set).fields
        return [field.name for field in fields if field.name not in known]

    def with_extra_fields(
        self, rows: DataFrame, extras: Sequence[str], descriptor_set: bytes
    ) -> DataFrame:
        """`rows` with a column per extra field; empty strings become null like the others."""
        fields = message_descriptor(self.message, descriptor_set).fields_by_name
        message = F.col(MESSAGE)

        def column(name: str) -> Column:
            value = message[name]
            is_text = (
                fields[name].type == FieldDescriptor.TYPE_STRING and not fields[name].is_repeated
            )
            return (_text(value) if is_text else value).alias(name)

        return rows.select("*", *(column(name) for name in extras))


# The top-level fields each flattening reads; any other field is new to this code.
_MAPPED_FIELDS: dict[str, tuple[str, ...]] = {
    TRANSACTION: (
        "transaction_id",
        "customer_id",
        "merchant_id",
        "session_id",
        "amount",
        "items",
        "payment_method",
        "card_fingerprint",
        "device",
        "ip_address",
        "location",
        "channel",
        "occurred_at",
    ),
    BEHAVIOR_EVENT: (
        "event_id",
        "type",
        "session_id",
        "customer_id",
        "occurred_at",
        "device",
        "ip_address",
        "page_url",
        "product_id",
        "search_query",
        "quantity",
        "transaction_id",
        "touch",
        "location",
    ),
    PRODUCT: (
        "product_id",
        "name",
        "category_path",
        "brand",
        "price",
        "unit_cost",
        "stock",
        "active",
        "updated_at",
    ),
    CUSTOMER: (
        "customer_id",
        "email",
        "full_name",
        "home",
        "signed_up_at",
        "acquisition_channel",
        "updated_at",
    ),
    DECISION: (
        "decision_id",
        "transaction_id",
        "customer_id",
        "outcome",
        "risk_score",
        "reasons",
        "model_tag",
        "rules_version",
        "degraded",
        "latency",
        "decided_at",
        "amount",
        "merchant_id",
        "features",
    ),
    FRAUD_ALERT: ("alert_id", "decision", "transaction", "raised_at"),
    CASE_EVENT: (
        "event_id",
        "case_id",
        "action",
        "actor",
        "occurred_at",
        "transaction_ids",
        "customer_id",
        "outcome",
        "note",
    ),
}

SILVER: dict[str, SilverTable] = {
    "products": SilverTable(
        "products",
        "bronze_product_updates",
        PRODUCT,
        products_rows,
        _store_versions("products", "product_id"),
        ("products",),
        # Everything on the topic but customers: a record of neither type is quarantined here.
        records=f"ce_type IS DISTINCT FROM '{CUSTOMER}'",
        reference=True,
    ),
    "customers": SilverTable(
        "customers",
        "bronze_product_updates",
        CUSTOMER,
        customers_rows,
        _store_versions("customers", "customer_id"),
        ("customers",),
        records=f"ce_type = '{CUSTOMER}'",
        reference=True,
    ),
    "transactions": SilverTable(
        "transactions",
        "bronze_transactions",
        TRANSACTION,
        transactions_rows,
        _store_transactions,
        ("transactions", "transaction_items"),
        looks_up=("customers", "products"),
    ),
    "events": SilverTable(
        "events",
        "bronze_user_events",
        BEHAVIOR_EVENT,
        events_rows,
        _store_first_copies("events", ["event_id"]),
        ("events",),
    ),
    "decisions": SilverTable(
        "decisions",
        "bronze_decisions",
        DECISION,
        decisions_rows,
        _store_first_copies("decisions", ["decision_id"]),
        ("decisions",),
    ),
    "alerts": SilverTable(
        "alerts",
        "bronze_fraud_alerts",
        FRAUD_ALERT,
        alerts_rows,
        _store_first_copies("alerts", ["transaction_id"]),
        ("alerts",),
    ),
    "labels": SilverTable(
        "labels",
        "bronze_case_events",
        CASE_EVENT,
        case_events_rows,
        _store_labels,
        ("labels",),
        evolves=False,
    ),
}


def _write_batch(settings: LakeSettings, silver: SilverTable) -> Callable[[DataFrame, int], None]:
    """The foreachBatch function that checks, deduplicates and stores one bronze batch."""
    lake = settings.spark
    descriptor_set = settings.descriptor_set_bytes()

    def write(batch: DataFrame, batch_id: int) -> None:
        spark = batch.sparkSession
        rows = silver.rows(
            batch if silver.records is None else batch.filter(silver.records), descriptor_set
        )
        extras = silver.extra_fields(descriptor_set, rows.columns)
        rows = silver.with_extra_fields(rows, extras, descriptor_set)
        # Decoding runs in Python: decode each batch once, not once per output.
        checked = rows.persist()
        try:
            good, bad = split_by_rules(checked, rules_for(silver.name))
            silver.store(Batch(spark, lake), good, extras)
            bad = quarantine_rows(bad, silver.name)
            if not bad.isEmpty():
                pinned = {"source_table": f"'{silver.name}'"}
                insert_new(spark, TABLES["quarantine"], lake, bad, pinned=pinned)
            record_batch_quality(
                checked, batch_id, table=silver.name, source=silver.source, lake=lake
            )
        finally:
            checked.unpersist()

    return write


def start(
    spark: SparkSession, settings: LakeSettings, silver: SilverTable, trigger: Trigger
) -> StreamingQuery:
    """Start the stream that turns `silver.source` (bronze) into the silver table(s)."""
    return trigger.apply(
        TABLES[silver.source]
        .read_stream(spark, settings.spark)
        .writeStream.queryName(silver.stream)
        .foreachBatch(_write_batch(settings, silver))
        .option("checkpointLocation", settings.spark.checkpoint_location(silver.stream))
    ).start()


def ground_truth_labels(labels: DataFrame) -> DataFrame:
    """The simulator's labels file (`labels.parquet`) as silver `labels` rows."""
    missing = sorted({"transaction_id", "label", "scenario", "occurred_at"} - set(labels.columns))
    if missing:
        raise ValueError(
            f"ground-truth labels: columns {missing} are missing; expected the simulator's "
            "labels.parquet (transaction_id, label, scenario, occurred_at)"
        )
    rows = labels.select(
        F.col("transaction_id").cast("string").alias("transaction_id"),
        F.lit(GROUND_TRUTH).alias("source"),
        (F.col("label") == 1).alias("is_fraud"),
        F.lit(None).cast("string").alias("outcome"),
        F.col("scenario").cast("string").alias("scenario"),
        F.lit(None).cast("string").alias("case_id"),
        F.lit(None).cast("string").alias("customer_id"),
        F.lit("simulator").alias("labelled_by"),
        F.col("occurred_at").cast("timestamp").alias("labelled_at"),
        F.lit(None).cast("string").alias("event_id"),
        *(F.lit(None).cast(TABLES["labels"].columns[column]).alias(column) for column in _LINEAGE),
    )
    return rows.dropDuplicates(["transaction_id"])


def load_ground_truth(spark: SparkSession, lake: SparkSettings, path: Path | str) -> int:
    """Upsert a simulator labels file into silver `labels` (source 'ground_truth').

    Reloading the same file rewrites the same rows; returns how many labels the file held.
    """
    if not Path(path).exists() and "://" not in str(path):
        raise ValueError(
            f"ground-truth labels: no file at {path} (ecap simulate --out DIR "
            "writes DIR/labels.parquet)"
        )
    rows = ground_truth_labels(spark.read.parquet(str(path))).persist()
    try:
        upsert(spark, TABLES["labels"], lake, rows)
        return rows.count()
    finally:
        rows.unpersist()


def reference_first(tables: Sequence[SilverTable]) -> list[SilverTable]:
    """`tables` with the reference streams (products, customers) first."""
    return sorted(tables, key=lambda table: not table.reference)
