"""The lake's table catalogue as code: every Delta table's name, layer, schema, partitioning,
path, retention and purpose, declared once.

Plain Python on purpose: the analytics service imports this module to find and read the
tables with delta-rs, without pyspark or a JVM. Schemas are data (column name -> Spark SQL
type string); `TableSpec.spark_schema()` turns them into a `StructType` only when asked, and
imports pyspark only then.

    spec = TABLES["transactions"]
    spec.uri(SparkSettings())        # <lake>/silver/transactions
    spec.columns["amount_minor"]     # 'bigint'

`TableSpec.filled_by` names the streaming job that writes a table today; tables declared
ahead of their job have `filled_by=None`. `TableSpec.batch_job` names the batch job that
recomputes a gold table (`ecap lake jobs run NAME`; spark/jobs/analytics).
`TableSpec.written_by` names the command that writes a table neither does.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Literal, TypeAlias

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import DataType, StructType

    from spark.config import SparkSettings

Layer = Literal["bronze", "silver", "gold"]
LAYERS: tuple[Layer, ...] = ("bronze", "silver", "gold")

# The Spark SQL types the catalogue may use; `array<T>` and `map<K,V>` of these nest.
SCALAR_TYPES = frozenset(
    {"string", "binary", "boolean", "int", "bigint", "double", "timestamp", "date"}
)


@dataclass(frozen=True)
class TableSpec:
    """One Delta table as declared: where it lives, what it holds and how long."""

    name: str
    layer: Layer
    columns: Mapping[str, str]
    description: str
    partition_by: tuple[str, ...] = ()
    # The columns that identify a row: what MERGE matches on and what must be unique.
    key: tuple[str, ...] = ()
    retention_days: int = 30
    # The date or timestamp column retention judges age by; default the first date partition
    # column. A table with neither (latest-state tables) keeps every row.
    retention_column: str | None = None
    filled_by: str | None = None
    # The batch job (`ecap lake jobs run NAME`) that rewrites the table whole on every run.
    batch_job: str | None = None
    # The command that writes the table when neither a stream nor a batch job does.
    written_by: str | None = None
    # The Kafka topic a bronze table copies.
    topic: str | None = None
    column_docs: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "columns", MappingProxyType(dict(self.columns)))
        for column, type_string in self.columns.items():
            parse_type(type_string, where=f"{self.name}.{column}")
        for role, names in (("partition", self.partition_by), ("key", self.key)):
            missing = [name for name in names if name not in self.columns]
            if missing:
                raise ValueError(f"table {self.name}: {role} column(s) {missing} not declared")
        if self.retention_days < 1:
            raise ValueError(f"table {self.name}: retention_days must be at least 1")
        if self.retention_column is not None and self.columns.get(self.retention_column) not in (
            "date",
            "timestamp",
        ):
            raise ValueError(
                f"table {self.name}: retention_column {self.retention_column!r} must be a "
                "declared date or timestamp column"
            )

    @property
    def column_names(self) -> list[str]:
        """The columns in declaration order."""
        return list(self.columns)

    @property
    def retention_by(self) -> str | None:
        """The column whose age decides when a row is deleted (None: rows are kept)."""
        if self.retention_column is not None:
            return self.retention_column
        dates = [column for column in self.partition_by if self.columns[column] == "date"]
        return dates[0] if dates else None

    @property
    def relative_path(self) -> str:
        """The table's path below the lake root: `<layer>/<name>`."""
        return f"{self.layer}/{self.name}"

    def uri(self, settings: SparkSettings) -> str:
        """The table's URI in the lake of `settings`."""
        return settings.table_uri(self.layer, self.name)

    def ddl(self) -> str:
        """The schema as a DDL column list, e.g. `id string, amount_minor bigint`."""
        return ", ".join(f"`{name}` {type_string}" for name, type_string in self.columns.items())

    def duckdb_ddl(self) -> str:
        """The schema as a DuckDB column list, e.g. `"id" varchar, "amount_minor" bigint`."""
        return ", ".join(
            f'"{name}" {_duckdb_type(parse_type(t))}' for name, t in self.columns.items()
        )

    def spark_schema(self) -> StructType:
        """The schema as a pyspark `StructType` (imports pyspark; every column nullable)."""
        from pyspark.sql.types import StructField, StructType

        return StructType(
            [
                StructField(name, _spark_type(parse_type(t)), True)
                for name, t in self.columns.items()
            ]
        )

    def read(
        self, spark: SparkSession, settings: SparkSettings, version: int | None = None
    ) -> DataFrame:
        """The table (as of Delta `version`, default the latest) as a batch DataFrame with every
        declared column.

        A column added to the catalogue appears in the Delta table with the first batch
        written after the change; until then it is read as nulls of its declared type.
        """
        from pyspark.sql import functions as F

        reader = spark.read.format("delta")
        if version is not None:
            reader = reader.option("versionAsOf", version)
        frame = reader.load(self.uri(settings))
        missing = [f for f in self.spark_schema().fields if f.name not in frame.columns]
        if not missing:
            return frame
        return frame.withColumns({f.name: F.lit(None).cast(f.dataType) for f in missing})

    def read_stream(self, spark: SparkSession, settings: SparkSettings) -> DataFrame:
        """The table's new rows as a stream source.

        Commits that delete or rewrite rows (retention, versioned
        upserts) are skipped rather than stopping the streams that read the table: the
        rows a stream already took stay taken.
        """
        return (
            spark.readStream.format("delta")
            .option("skipChangeCommits", "true")
            .load(self.uri(settings))
        )


TypeTree: TypeAlias = "str | tuple[TypeTree, ...]"
_GENERIC = re.compile(r"^(array|map)<(.+)>$")


def parse_type(type_string: str, *, where: str = "type") -> TypeTree:
    """A catalogue type string as a tree: `'bigint'`, `('array', 'string')`, `('map', k, v)`."""
    text = type_string.strip().lower()
    if text in SCALAR_TYPES:
        return text
    match = _GENERIC.match(text)
    if match:
        kind, inner = match.groups()
        parts = _split_top_level(inner)
        arity = 1 if kind == "array" else 2
        if len(parts) == arity:
            return (kind, *(parse_type(part, where=where) for part in parts))
    raise ValueError(
        f"{where}: unsupported type {type_string!r}; use one of {sorted(SCALAR_TYPES)} "
        "or array<...>/map<...,...> of them"
    )


def _split_top_level(text: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for index, char in enumerate(text):
        depth += {"<": 1, ">": -1}.get(char, 0)
        if char == "," and depth == 0:
            parts.append(text[start:index])
            start = index + 1
    parts.append(text[start:])
    return parts


def _spark_type(tree: TypeTree) -> DataType:
    from pyspark.sql import types as T

    if isinstance(tree, str):
        return {
            "string": T.StringType(),
            "binary": T.BinaryType(),
            "boolean": T.BooleanType(),
            "int": T.IntegerType(),
            "bigint": T.LongType(),
            "double": T.DoubleType(),
            "timestamp": T.TimestampType(),
            "date": T.DateType(),
        }[tree]
    if tree[0] == "array":
        return T.ArrayType(_spark_type(tree[1]), containsNull=True)
    return T.MapType(_spark_type(tree[1]), _spark_type(tree[2]), valueContainsNull=True)


_DUCKDB_SCALARS = {
    "string": "varchar",
    "binary": "blob",
    "boolean": "boolean",
    "int": "integer",
    "bigint": "bigint",
    "double": "double",
    "timestamp": "timestamptz",
    "date": "date",
}


def _duckdb_type(tree: TypeTree) -> str:
    if isinstance(tree, str):
        return _DUCKDB_SCALARS[tree]
    if tree[0] == "array":
        return f"{_duckdb_type(tree[1])}[]"
    return f"map({_duckdb_type(tree[1])}, {_duckdb_type(tree[2])})"


# Where a silver or quarantine row came from in Kafka (through bronze).
_KAFKA_LINEAGE = {
    "kafka_topic": "string",
    "kafka_partition": "int",
    "kafka_offset": "bigint",
    "kafka_timestamp": "timestamp",
}
_LOCATION = {
    "country": "string",
    "region": "string",
    "city": "string",
    "latitude": "double",
    "longitude": "double",
}

# The customer's profile on a transaction, as it was at the time of the transaction.
_CUSTOMER_AS_OF = {
    "customer_country": "string",
    "customer_city": "string",
    "customer_signed_up_at": "timestamp",
    "customer_acquisition_channel": "string",
    "customer_version_from": "timestamp",
}
# The `kpi_minute.category` of the rows that cover whole orders, every category together.
ALL_CATEGORIES = "*"

BRONZE_COLUMNS: Mapping[str, str] = MappingProxyType(
    {
        "key": "binary",
        "value": "binary",
        "topic": "string",
        "partition": "int",
        "offset": "bigint",
        "timestamp": "timestamp",
        "ce_type": "string",
        "ingest_date": "date",
    }
)


def _bronze(topic: str, message: str, retention_days: int, filled: bool) -> TableSpec:
    return TableSpec(
        name=f"bronze_{topic.replace('-', '_')}",
        layer="bronze",
        columns=BRONZE_COLUMNS,
        description=f"Kafka topic {topic!r} ({message}) as received: raw key and value bytes, "
        "the record's coordinates and timestamp, its ce_type header. Appended exactly once per "
        "record through the stream's checkpoint.",
        partition_by=("ingest_date",),
        key=("topic", "partition", "offset"),
        retention_days=retention_days,
        filled_by="bronze" if filled else None,
        topic=topic,
        column_docs={
            "ingest_date": "UTC date of the Kafka timestamp (stable when the stream replays)",
            "ce_type": "the record's ce_type header: the fully qualified message name",
        },
    )


# Data-quality tables (spark/quality.py, spark/streaming/volume.py): written by the silver
# streams' micro-batches next to their own tables, and shown by the dashboards.
QUALITY_TABLES: tuple[TableSpec, ...] = (
    TableSpec(
        name="quality_metrics",
        layer="gold",
        columns={
            "source_table": "string",
            "batch_id": "bigint",
            "metric": "string",
            "subject": "string",
            "value": "double",
            "value_text": "string",
            "recorded_at": "timestamp",
            "recorded_date": "date",
        },
        description="Data-quality metrics of every silver micro-batch, one row per metric: "
        "rows_checked, rows_quarantined, rows_warned, rule_failed (per rule), null_rate, "
        "distinct_count, min and max (per profiled column; spark.quality.PROFILES).",
        partition_by=("recorded_date",),
        key=("source_table", "batch_id", "metric", "subject"),
        retention_days=400,
        column_docs={
            "subject": "the rule (rule_failed) or column the metric is about; null for row counts",
            "value": "the number; min and max of timestamps as epoch seconds",
            "value_text": "min and max as text (strings, ISO timestamps)",
        },
    ),
    TableSpec(
        name="topic_volume_minute",
        layer="gold",
        columns={
            "topic": "string",
            "minute": "timestamp",
            "records": "bigint",
            "complete": "boolean",
            "baseline_days": "int",
            "baseline_mean": "double",
            "baseline_std": "double",
            "z_score": "double",
            "outside_band": "boolean",
            "minute_date": "date",
        },
        description="Records per Kafka topic and minute (of the Kafka timestamp, from bronze), "
        "with the z-score against the same hour of the previous days once the minute is over.",
        partition_by=("topic", "minute_date"),
        key=("minute_date", "topic", "minute"),
        retention_days=400,
        column_docs={
            "complete": "the stream has seen records after the minute ended",
            "baseline_days": "previous days with counts in the same hour (the band's sample)",
            "z_score": "(records - baseline_mean) / baseline_std; null until judged",
        },
    ),
    TableSpec(
        name="volume_alerts",
        layer="gold",
        columns={
            "topic": "string",
            "minute": "timestamp",
            "records": "bigint",
            "baseline_mean": "double",
            "baseline_std": "double",
            "z_score": "double",
            "direction": "string",
            "threshold": "double",
            "raised_at": "timestamp",
            "minute_date": "date",
        },
        description="Minutes whose record count on a topic left its usual band: |z| above the "
        "threshold against the same hour of the previous days (ECAP_LAKE_QUALITY_*).",
        partition_by=("minute_date",),
        key=("topic", "minute"),
        retention_days=400,
        column_docs={"direction": "'above' or 'below' the band"},
    ),
)

# The batch analytics jobs' gold tables (spark/jobs/analytics): each is rewritten whole by its
# job on every run (`ecap lake jobs run NAME`), so retention keeps every row; `job_runs`
# records every run's lineage. Money is in minor units of the shop's currency.
_AS_OF_DOC = "the time the figures are as of: the newest transaction read, or ECAP_LAKE_JOBS_AS_OF"
ANALYTICS_TABLES: tuple[TableSpec, ...] = (
    TableSpec(
        name="job_runs",
        layer="gold",
        columns={
            "job": "string",
            "run_id": "string",
            "status": "string",
            "started_at": "timestamp",
            "finished_at": "timestamp",
            "duration_s": "double",
            "parameters": "string",
            "input_versions": "string",
            "output_versions": "string",
            "rows_written": "string",
            "error": "string",
        },
        description="One row per batch job run and its lineage: the Delta version of every "
        "table it read, the version it wrote per table, the rows written, its parameters "
        "(fitted ones included) and duration; appended when the run ends, failed or not.",
        key=("job", "run_id"),
        retention_days=400,
        retention_column="started_at",
        column_docs={
            "status": "'succeeded' or 'failed'",
            "parameters": "JSON object: settings used and values fitted or derived by the run",
            "input_versions": "JSON object table -> Delta version read (null: table absent)",
            "output_versions": "JSON object table -> Delta version written",
            "rows_written": "JSON object table -> rows in the version written",
            "error": "the failure, for a failed run",
        },
    ),
    TableSpec(
        name="rfm",
        layer="gold",
        columns={
            "customer_id": "string",
            "recency_days": "double",
            "frequency": "bigint",
            "monetary": "bigint",
            "r": "int",
            "f": "int",
            "m": "int",
            "segment": "string",
            "as_of": "timestamp",
        },
        description="Recency, frequency and monetary value per customer with a transaction, "
        "their quintile scores (1..5) and RFM segment (spark/analytics/rfm.py).",
        key=("customer_id",),
        retention_days=400,
        batch_job="rfm",
        column_docs={
            "recency_days": "days from the customer's last transaction to as_of",
            "frequency": "transactions",
            "monetary": "sum of amount_minor",
            "as_of": _AS_OF_DOC,
        },
    ),
    TableSpec(
        name="rfm_segments",
        layer="gold",
        columns={
            "segment": "string",
            "customers": "bigint",
            "revenue_minor": "bigint",
            "customer_share": "double",
            "revenue_share": "double",
            "average_revenue_minor": "double",
            "as_of": "timestamp",
        },
        description="Customers and revenue per RFM segment (all 11, empty ones included), "
        "largest first.",
        key=("segment",),
        retention_days=400,
        batch_job="rfm",
        column_docs={"revenue_minor": "sum of the segment's customers' monetary"},
    ),
    TableSpec(
        name="clv",
        layer="gold",
        columns={
            "customer_id": "string",
            "frequency": "bigint",
            "recency": "double",
            "T": "double",
            "monetary": "double",
            "p_alive": "double",
            "horizon_days": "double",
            "expected_purchases": "double",
            "expected_avg_spend": "double",
            "clv": "double",
            "as_of": "timestamp",
        },
        description="Customer lifetime value: the per-customer BG/NBD summary (days), "
        "P(alive), expected purchases and discounted CLV over the horizon (BG/NBD x "
        "Gamma-Gamma, spark/analytics/clv.py; fitted parameters in clv_params).",
        key=("customer_id",),
        retention_days=400,
        batch_job="clv",
        column_docs={
            "frequency": "repeat purchase days: days with a transaction, minus the first",
            "recency": "days from the first to the last purchase day (0 without repeats)",
            "T": "days from the first purchase day to as_of's day",
            "monetary": "mean amount_minor per repeat purchase day (0 without repeats)",
            "horizon_days": "ECAP_CLV_HORIZON_PERIODS x ECAP_CLV_PERIOD_DAYS",
            "expected_purchases": "expected purchase days in the horizon after as_of",
            "expected_avg_spend": "Gamma-Gamma expected spend per purchase (minor units)",
            "clv": "discounted value of the horizon's purchases (minor units)",
        },
    ),
    TableSpec(
        name="clv_params",
        layer="gold",
        columns={
            "model": "string",
            "parameter": "string",
            "value": "double",
            "log_likelihood": "double",
            "customers": "bigint",
            "converged": "boolean",
            "as_of": "timestamp",
        },
        description="The parameters of the latest CLV fit: BG/NBD (r, alpha, a, b) and "
        "Gamma-Gamma (p, q, gamma), with the fit's log-likelihood and customer count.",
        key=("model", "parameter"),
        retention_days=400,
        batch_job="clv",
    ),
    TableSpec(
        name="cohorts",
        layer="gold",
        columns={
            "cohort_month": "date",
            "month_offset": "int",
            "customers": "bigint",
            "active_customers": "bigint",
            "retention": "double",
            "orders": "bigint",
            "revenue_minor": "bigint",
        },
        description="Monthly acquisition cohorts (month of the first transaction): customers "
        "active and revenue in each month since, up to as_of's month (zeros included).",
        key=("cohort_month", "month_offset"),
        retention_days=400,
        batch_job="cohorts",
        column_docs={
            "customers": "customers acquired in cohort_month",
            "active_customers": "of them, those with a transaction in month cohort_month + offset",
            "retention": "active_customers / customers",
        },
    ),
    TableSpec(
        name="funnel",
        layer="gold",
        columns={
            "channel": "string",
            "device_type": "string",
            "step_index": "int",
            "step": "string",
            "sessions": "bigint",
            "conversion_from_previous": "double",
            "conversion_from_start": "double",
        },
        description="Sessions reaching each journey step (PAGE_VIEW, PRODUCT_VIEW, ADD_TO_CART, "
        "BEGIN_CHECKOUT, PURCHASE) in order within the session, per channel and device type; "
        f"{ALL_CATEGORIES!r} rows total over channels, device types or both.",
        key=("channel", "device_type", "step_index"),
        retention_days=400,
        batch_job="funnel",
        column_docs={
            "channel": "the touch_channel of the session's first marketing touch; 'NONE' "
            "without one",
            "device_type": "the device type of the session's first event; 'UNKNOWN' without",
            "sessions": "sessions whose events hold this step after all the previous ones",
        },
    ),
    TableSpec(
        name="attribution",
        layer="gold",
        columns={
            "model": "string",
            "level": "string",
            "channel": "string",
            "campaign": "string",
            "conversions": "double",
            "revenue_minor": "double",
            "as_of": "timestamp",
        },
        description="Credit for conversions (transactions) and their revenue per marketing "
        "channel, and per channel and campaign, by each attribution model "
        "(spark/analytics/attribution.py), from the customers' touches before each purchase.",
        key=("model", "level", "channel", "campaign"),
        retention_days=400,
        batch_job="attribution",
        column_docs={
            "level": "'channel' (campaign null) or 'campaign'",
            "campaign": "the touch's campaign; '(none)' for touches without one",
        },
    ),
    TableSpec(
        name="basket_itemsets",
        layer="gold",
        columns={
            "items": "array<string>",
            "size": "int",
            "baskets": "bigint",
            "support": "double",
        },
        description="Frequent product sets in transactions (Spark MLlib FP-Growth, support of "
        "at least ECAP_LAKE_JOBS_BASKET_MIN_SUPPORT).",
        key=("items",),
        retention_days=400,
        batch_job="basket",
    ),
    TableSpec(
        name="basket_rules",
        layer="gold",
        columns={
            "antecedent": "array<string>",
            "consequent": "array<string>",
            "support": "double",
            "confidence": "double",
            "lift": "double",
        },
        description="Association rules between products bought together (Spark MLlib FP-Growth, "
        "confidence of at least ECAP_LAKE_JOBS_BASKET_MIN_CONFIDENCE).",
        key=("antecedent", "consequent"),
        retention_days=400,
        batch_job="basket",
        column_docs={"support": "share of baskets holding antecedent and consequent"},
    ),
    TableSpec(
        name="revenue_daily",
        layer="gold",
        columns={
            "day": "date",
            "category": "string",
            "country": "string",
            "channel": "string",
            "orders": "bigint",
            "units": "bigint",
            "revenue_minor": "bigint",
            "cost_minor": "bigint",
            "margin_minor": "bigint",
            "avg_order_value_minor": "double",
        },
        description="Revenue, orders, units, cost, margin and average order value per day, "
        "product category, country and channel, from silver line items and transactions; "
        f"category {ALL_CATEGORIES!r}: whole orders.",
        key=("day", "category", "country", "channel"),
        retention_days=400,
        batch_job="revenue_daily",
        column_docs={
            "revenue_minor": "sum of amount_minor; in a category row, of its line totals",
            "cost_minor": "sum of quantity x unit_cost_minor (null costs count 0)",
            "margin_minor": "revenue_minor - cost_minor",
        },
    ),
    TableSpec(
        name="product_performance",
        layer="gold",
        columns={
            "product_id": "string",
            "name": "string",
            "category": "string",
            "window_days": "int",
            "units": "bigint",
            "orders": "bigint",
            "revenue_minor": "bigint",
            "margin_minor": "bigint",
            "previous_units": "bigint",
            "previous_revenue_minor": "bigint",
            "velocity_units_per_day": "double",
            "velocity_change": "double",
            "revenue_rank": "int",
            "trend": "string",
            "as_of": "timestamp",
        },
        description="Sales per product over the last window_days before as_of against the "
        "window before it: units, orders, revenue, margin, sales velocity and its change, the "
        "revenue rank and a trend (top, rising, steady, declining, stopped).",
        key=("product_id",),
        retention_days=400,
        batch_job="products",
        column_docs={
            "window_days": "ECAP_LAKE_JOBS_PRODUCTS_WINDOW_DAYS",
            "velocity_units_per_day": "units / window_days",
            "velocity_change": "(units - previous_units) / previous_units; null without "
            "previous sales",
            "revenue_rank": "1 = the most revenue in the window; null: no sales in it",
            "trend": "the rule is in spark/jobs/analytics/products.py's docstring",
        },
    ),
    TableSpec(
        name="recommendations",
        layer="gold",
        columns={
            "customer_id": "string",
            "rank": "int",
            "product_id": "string",
            "score": "double",
            "as_of": "timestamp",
        },
        description="Top-N products per customer from implicit-feedback ALS (Spark MLlib) over "
        "the units each customer bought, products already bought excluded.",
        key=("customer_id", "rank"),
        retention_days=400,
        batch_job="recommendations",
        column_docs={"rank": "1 = the best", "score": "the ALS preference estimate"},
    ),
    TableSpec(
        name="recommendation_eval",
        layer="gold",
        columns={
            "model": "string",
            "k": "int",
            "precision_at_k": "double",
            "recall_at_k": "double",
            "customers": "bigint",
            "train_until": "timestamp",
            "as_of": "timestamp",
        },
        description="Precision@k (and recall@k) of ALS and of the most-popular baseline on a "
        "held-out period: trained on purchases before train_until, judged on the products each "
        "customer bought after it.",
        key=("model", "k"),
        retention_days=400,
        batch_job="recommendations",
        column_docs={
            "model": "'als' or 'most_popular'",
            "customers": "customers judged: those who bought before train_until and bought a "
            "product new to them after it",
        },
    ),
    TableSpec(
        name="forecast",
        layer="gold",
        columns={
            "category": "string",
            "day": "date",
            "revenue_minor": "double",
            "lower_minor": "double",
            "upper_minor": "double",
            "interval": "double",
            "model": "string",
            "as_of": "timestamp",
        },
        description="Daily revenue forecast per product category (and '*' for all) for the "
        "horizon after as_of, with a prediction interval.",
        key=("category", "day"),
        retention_days=400,
        batch_job="forecast",
        column_docs={
            "day": "the as-of day and the days after it; the series end the day before, the "
            "last whole day",
            "interval": "the interval's nominal coverage, e.g. 0.9",
            "model": "the forecasting model that produced the row",
        },
    ),
    TableSpec(
        name="forecast_backtest",
        layer="gold",
        columns={
            "category": "string",
            "model": "string",
            "horizon_days": "int",
            "mae": "double",
            "mape": "double",
            "interval_coverage": "double",
            "as_of": "timestamp",
        },
        description="Back-test of the forecast model against the seasonal-naive baseline per "
        "category: both forecast the last horizon_days before as_of from the days before them.",
        key=("category", "model"),
        retention_days=400,
        batch_job="forecast",
        column_docs={
            "model": "the forecast model's name or 'seasonal_naive'",
            "mae": "mean absolute error over the held-out days, in minor units",
            "mape": "mean of |error| / actual over the held-out days with revenue (a fraction); "
            "null when none had any",
            "interval_coverage": "share of the held-out days inside the prediction interval",
        },
    ),
    TableSpec(
        name="geo_breakdown",
        layer="gold",
        columns={
            "level": "string",
            "country": "string",
            "region": "string",
            "city": "string",
            "orders": "bigint",
            "customers": "bigint",
            "revenue_minor": "bigint",
            "avg_order_value_minor": "double",
            "revenue_share": "double",
            "as_of": "timestamp",
        },
        description="Orders, customers and revenue by where the purchase was made: per country, "
        "per region and per city (the finer levels carry the coarser names).",
        key=("level", "country", "region", "city"),
        retention_days=400,
        batch_job="geography",
        column_docs={
            "level": "'country', 'region' or 'city'; the finer columns are null above it",
            "country": "'(unknown)' when the transaction has none; region and city likewise",
            "revenue_share": "of all revenue",
        },
    ),
    TableSpec(
        name="seasonality",
        layer="gold",
        columns={
            "profile": "string",
            "period": "int",
            "orders": "bigint",
            "revenue_minor": "bigint",
            "index": "double",
            "as_of": "timestamp",
        },
        description="Seasonal profiles of orders and revenue: hour of day, day of week (weekly) "
        "and month of year (yearly), each with an index against the profile's mean.",
        key=("profile", "period"),
        retention_days=400,
        batch_job="geography",
        column_docs={
            "profile": "'hour_of_day' (0..23), 'day_of_week' (1 = Monday..7) or "
            "'month_of_year' (1..12)",
            "index": "average revenue per period / mean of the periods (1 = average), over the "
            "days each period occurred (exact rule: spark/jobs/analytics/geography.py); null "
            "for a period that never occurred",
        },
    ),
    TableSpec(
        name="churn_scores",
        layer="gold",
        columns={
            "customer_id": "string",
            "probability": "double",
            "band": "string",
            "drivers": "array<string>",
            "model_tag": "string",
            "as_of": "timestamp",
        },
        description="Churn probability of every customer with a purchase in the year before "
        "as_of, from the churn champion model over the churn features (models.features), with "
        "its risk band and the features that push it up most.",
        key=("customer_id",),
        retention_days=400,
        batch_job="churn_scores",
        column_docs={
            "band": "LOW, MEDIUM or HIGH (ECAP_SCORING_CHURN_MEDIUM_FROM / _HIGH_FROM)",
            "drivers": "feature names, strongest first",
        },
    ),
)

_TABLES: tuple[TableSpec, ...] = (
    _bronze("transactions", "ecap.v1.Transaction", 365, True),
    _bronze("user-events", "ecap.v1.BehaviorEvent", 90, True),
    _bronze("product-updates", "ecap.v1.Product and ecap.v1.Customer", 365, True),
    _bronze("decisions", "ecap.v1.Decision", 365, True),
    _bronze("fraud-alerts", "ecap.v1.FraudAlert", 365, True),
    _bronze("case-events", "ecap.v1.CaseEvent", 730, True),
    TableSpec(
        name="transactions",
        layer="silver",
        columns={
            "transaction_id": "string",
            "customer_id": "string",
            "merchant_id": "string",
            "session_id": "string",
            "amount_minor": "bigint",
            "currency": "string",
            "item_count": "int",
            "items_total_minor": "bigint",
            "payment_method": "string",
            "card_fingerprint": "string",
            "device_id": "string",
            "device_type": "string",
            "device_os": "string",
            "user_agent": "string",
            "ip_address": "string",
            **_LOCATION,
            "channel": "string",
            "occurred_at": "timestamp",
            "occurred_date": "date",
            **_CUSTOMER_AS_OF,
            "dq_warnings": "array<string>",
            **_KAFKA_LINEAGE,
        },
        description="One row per payment (ecap.v1.Transaction), flattened and typed, once per "
        "transaction_id, checked by the data-quality rules; enum values without their prefix; "
        "with the customer's profile as it was at occurred_at (silver customers, as of then).",
        partition_by=("occurred_date",),
        key=("occurred_date", "transaction_id"),
        retention_days=3650,
        filled_by="silver",
        column_docs={
            "items_total_minor": "sum of quantity x unit price over the line items",
            "dq_warnings": "names of the warn-severity rules the row broke",
            "customer_version_from": "valid_from of the customer version used; null when the "
            "lake held no version of the customer valid at occurred_at",
        },
    ),
    TableSpec(
        name="transaction_items",
        layer="silver",
        columns={
            "transaction_id": "string",
            "line_no": "int",
            "customer_id": "string",
            "product_id": "string",
            "quantity": "int",
            "unit_price_minor": "bigint",
            "currency": "string",
            "line_total_minor": "bigint",
            "occurred_at": "timestamp",
            "occurred_date": "date",
            "category_path": "array<string>",
            "category": "string",
            "unit_cost_minor": "bigint",
            "product_version_from": "timestamp",
        },
        description="One row per line item of a silver transaction (line_no counts from 0), "
        "with the product's category path and unit cost as they were at occurred_at (silver "
        "products, as of then).",
        partition_by=("occurred_date",),
        key=("occurred_date", "transaction_id", "line_no"),
        retention_days=3650,
        filled_by="silver",
        column_docs={
            "product_version_from": "valid_from of the product version used; null when the "
            "lake held no version of the product valid at occurred_at",
        },
    ),
    TableSpec(
        name="events",
        layer="silver",
        columns={
            "event_id": "string",
            "event_type": "string",
            "session_id": "string",
            "customer_id": "string",
            "occurred_at": "timestamp",
            "device_id": "string",
            "device_type": "string",
            "ip_address": "string",
            "page_url": "string",
            "product_id": "string",
            "search_query": "string",
            "quantity": "int",
            "transaction_id": "string",
            "touch_channel": "string",
            "campaign": "string",
            "utm_source": "string",
            "utm_medium": "string",
            "utm_campaign": "string",
            **_LOCATION,
            "occurred_date": "date",
            "dq_warnings": "array<string>",
            **_KAFKA_LINEAGE,
        },
        description="One row per behaviour event (ecap.v1.BehaviorEvent), flattened, once per "
        "event_id, checked by the data-quality rules; empty optional strings are null.",
        partition_by=("occurred_date",),
        key=("occurred_date", "event_id"),
        retention_days=730,
        filled_by="silver",
    ),
    TableSpec(
        name="transaction_sessions",
        layer="silver",
        columns={
            "transaction_id": "string",
            "session_id": "string",
            "customer_id": "string",
            "transaction_at": "timestamp",
            "occurred_date": "date",
            "event_id": "string",
            "event_type": "string",
            "event_at": "timestamp",
            "seconds_before": "double",
            "page_url": "string",
            "product_id": "string",
            "search_query": "string",
            "touch_channel": "string",
            "campaign": "string",
            "utm_source": "string",
            "utm_medium": "string",
            "utm_campaign": "string",
        },
        description="The session that led to each purchase: one row per transaction and "
        "behaviour event of its session in the window before it (a stream-stream join of "
        "silver transactions and events, watermarked on both sides).",
        partition_by=("occurred_date",),
        key=("occurred_date", "transaction_id", "event_id"),
        retention_days=3650,
        filled_by="silver",
        column_docs={
            "occurred_date": "UTC date of the transaction",
            "seconds_before": "how long before the transaction the event happened",
        },
    ),
    TableSpec(
        name="products",
        layer="silver",
        columns={
            "product_id": "string",
            "valid_from": "timestamp",
            "valid_to": "timestamp",
            "name": "string",
            "category_path": "array<string>",
            "category": "string",
            "brand": "string",
            "price_minor": "bigint",
            "currency": "string",
            "unit_cost_minor": "bigint",
            "stock": "int",
            "active": "boolean",
            "updated_at": "timestamp",
            "dq_warnings": "array<string>",
            **_KAFKA_LINEAGE,
        },
        description="Every version of every catalogue product (ecap.v1.Product upserts), valid "
        "from its updated_at until the next version's (valid_to null: the current one), so "
        "that `valid_from <= t < valid_to` finds the product as it was at t.",
        key=("product_id", "valid_from"),
        retention_days=3650,
        filled_by="silver",
        column_docs={
            "valid_from": "updated_at, or the Kafka timestamp when the upsert carries none",
            "category": "the top level of category_path",
        },
    ),
    TableSpec(
        name="customers",
        layer="silver",
        columns={
            "customer_id": "string",
            "valid_from": "timestamp",
            "valid_to": "timestamp",
            "email": "string",
            "full_name": "string",
            **_LOCATION,
            "signed_up_at": "timestamp",
            "acquisition_channel": "string",
            "updated_at": "timestamp",
            "dq_warnings": "array<string>",
            **_KAFKA_LINEAGE,
        },
        description="Every version of every customer profile (ecap.v1.Customer upserts), valid "
        "from its updated_at until the next version's (valid_to null: the current one); "
        "location columns are the home address.",
        key=("customer_id", "valid_from"),
        retention_days=3650,
        filled_by="silver",
        column_docs={
            "valid_from": "updated_at, or the Kafka timestamp when the upsert carries none"
        },
    ),
    TableSpec(
        name="decisions",
        layer="silver",
        columns={
            "decision_id": "string",
            "transaction_id": "string",
            "customer_id": "string",
            "merchant_id": "string",
            "outcome": "string",
            "risk_score": "double",
            "reason_codes": "array<string>",
            "model_tag": "string",
            "rules_version": "string",
            "degraded": "boolean",
            "latency_ms": "double",
            "amount_minor": "bigint",
            "currency": "string",
            "features": "map<string,double>",
            "decided_at": "timestamp",
            "decided_date": "date",
            "dq_warnings": "array<string>",
            **_KAFKA_LINEAGE,
        },
        description="One row per scoring decision (ecap.v1.Decision), once per decision_id, with "
        "its outcome (APPROVE, REVIEW, DECLINE), ranked reason codes and feature vector.",
        partition_by=("decided_date",),
        key=("decided_date", "decision_id"),
        retention_days=3650,
        filled_by="silver",
    ),
    TableSpec(
        name="alerts",
        layer="silver",
        columns={
            "transaction_id": "string",
            "alert_id": "string",
            "decision_id": "string",
            "customer_id": "string",
            "merchant_id": "string",
            "outcome": "string",
            "risk_score": "double",
            "reason_codes": "array<string>",
            "amount_minor": "bigint",
            "currency": "string",
            "transaction_at": "timestamp",
            "raised_at": "timestamp",
            "dq_warnings": "array<string>",
            **_KAFKA_LINEAGE,
        },
        description="Fraud alerts (ecap.v1.FraudAlert: a REVIEW or DECLINE decision), once per "
        "transaction as the case service opens them: the first alert received wins.",
        key=("transaction_id",),
        retention_days=3650,
        filled_by="silver",
    ),
    TableSpec(
        name="labels",
        layer="silver",
        columns={
            "transaction_id": "string",
            "source": "string",
            "is_fraud": "boolean",
            "outcome": "string",
            "scenario": "string",
            "case_id": "string",
            "customer_id": "string",
            "labelled_by": "string",
            "labelled_at": "timestamp",
            "event_id": "string",
            **_KAFKA_LINEAGE,
        },
        description="Fraud labels per transaction and source, so training can pick investigator "
        "labels, ground truth or both: 'investigator' from case-events resolutions (the latest "
        "per transaction; CONFIRMED_FRAUD -> is_fraud, FALSE_POSITIVE -> not, INCONCLUSIVE -> "
        "null), 'ground_truth' from the simulator's labels file.",
        key=("transaction_id", "source"),
        retention_days=3650,
        filled_by="silver",
        column_docs={
            "source": "'investigator' (case resolutions) or 'ground_truth' (simulator labels)",
            "scenario": "the simulator's fraud scenario (ground truth only)",
            "labelled_at": "when the case was resolved; for ground truth, the transaction's time",
            "event_id": "the case event that resolved it (investigator labels only)",
        },
    ),
    TableSpec(
        name="quarantine",
        layer="silver",
        columns={
            "source_table": "string",
            "failed_rules": "array<string>",
            "record_json": "string",
            "value": "binary",
            "ce_type": "string",
            **_KAFKA_LINEAGE,
            "quarantined_at": "timestamp",
        },
        description="Records that broke an error-severity data-quality rule: the rules, the "
        "decoded record as JSON (null when it did not decode) and the raw Kafka value.",
        partition_by=("source_table",),
        key=("source_table", "kafka_topic", "kafka_partition", "kafka_offset"),
        retention_days=90,
        retention_column="quarantined_at",
        filled_by="silver",
    ),
    TableSpec(
        name="kpi_minute",
        layer="gold",
        columns={
            "minute": "timestamp",
            "country": "string",
            "channel": "string",
            "currency": "string",
            "category": "string",
            "orders": "bigint",
            "units": "bigint",
            "revenue_minor": "bigint",
            "avg_order_value_minor": "double",
            "unique_customers": "bigint",
            "decisions": "bigint",
            "approved": "bigint",
            "reviewed": "bigint",
            "declined": "bigint",
            "fraud_flag_rate": "double",
            "minute_date": "date",
        },
        description="Orders, units, revenue, average order value, unique customers, decisions "
        "by outcome and fraud-flag rate per minute (of occurred_at), country, channel, currency "
        "and product category, from silver transactions, their line items and decisions; "
        "recomputed and merged for every minute a micro-batch touches, so late data corrects it.",
        partition_by=("minute_date",),
        key=("minute", "country", "channel", "currency", "category"),
        retention_days=400,
        filled_by="gold",
        column_docs={
            "category": f"top-level product category; {ALL_CATEGORIES!r} for whole orders, "
            "null for lines whose product the lake did not know at the time",
            "orders": "transactions (with a line in the category)",
            "units": "items bought (in the category)",
            "revenue_minor": "sum of amount_minor; in a category row, of its line totals",
            "decisions": "orders with a scoring decision (the latest per transaction counts)",
            "fraud_flag_rate": "(reviewed + declined) / decisions; null without decisions",
        },
    ),
    TableSpec(
        name="traffic_minute",
        layer="gold",
        columns={
            "minute": "timestamp",
            "country": "string",
            "events": "bigint",
            "sessions": "bigint",
            "visitors": "bigint",
            "page_views": "bigint",
            "product_views": "bigint",
            "add_to_carts": "bigint",
            "checkouts": "bigint",
            "purchases": "bigint",
            "converting_sessions": "bigint",
            "conversion_rate": "double",
            "minute_date": "date",
        },
        description="Sessions, known visitors, funnel events and conversion (sessions with a "
        "purchase / sessions) per minute and country, from silver events; kept exact like "
        "kpi_minute. Per channel needs session attribution, a batch job's work.",
        partition_by=("minute_date",),
        key=("minute", "country"),
        retention_days=400,
        filled_by="gold",
        column_docs={"visitors": "distinct known customer_id (anonymous visitors excluded)"},
    ),
    TableSpec(
        name="feature_drift",
        layer="gold",
        columns={
            "hour": "timestamp",
            "model_tag": "string",
            "feature": "string",
            "rows": "bigint",
            "missing": "bigint",
            "psi": "double",
            "status": "string",
            "computed_at": "timestamp",
            "hour_date": "date",
        },
        description="Population stability index per hour and feature (and 'score', the "
        "model's probability) of the model-scored silver decisions against the distributions "
        "the model was trained on (models.features.drift); `ecap models drift` runs and shows it.",
        partition_by=("hour_date",),
        key=("hour", "model_tag", "feature"),
        retention_days=400,
        written_by="ecap models drift",
        column_docs={
            "status": "stable (< 0.1), watch (0.1 to 0.25) or shift (>= 0.25)",
            "missing": "decisions of the hour without a value for the feature",
        },
    ),
    *QUALITY_TABLES,
    *ANALYTICS_TABLES,
)

TABLES: Mapping[str, TableSpec] = MappingProxyType({spec.name: spec for spec in _TABLES})


def table(name: str) -> TableSpec:
    """The declared table called `name`, or a `KeyError` listing the declared ones."""
    try:
        return TABLES[name]
    except KeyError:
        raise KeyError(
            f"no table {name!r} in the lake catalogue; declared: {sorted(TABLES)}"
        ) from None


def tables_in(layer: Layer) -> list[TableSpec]:
    """The declared tables of one layer, in declaration order."""
    return [spec for spec in _TABLES if spec.layer == layer]


def bronze_for_topic(topic: str) -> TableSpec:
    """The bronze table that copies the Kafka topic `topic`."""
    for spec in tables_in("bronze"):
        if spec.topic == topic:
            return spec
    raise KeyError(f"no bronze table copies topic {topic!r}")
