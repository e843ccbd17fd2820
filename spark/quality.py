"""Data-quality rules as data, and the split of a DataFrame into good rows and quarantine.

Ingestion rejects most invalid records, but anything can reach Kafka from another producer,
so silver checks again. A rule is a SQL predicate that a GOOD row satisfies, over the
flattened silver row plus the helper columns the silver transform adds (`_decoded`,
`kafka_timestamp`, ...). A predicate that is NULL counts as broken.

- severity "error": the row goes to quarantine, with every rule it broke, instead of silver;
- severity "warn": the row stays in silver and lists the rule in `dq_warnings`;
- `gate=True`: when the rule is broken, the rules declared after it are not evaluated for
  that row (a record that does not decode would break them all, which says nothing more).

    good, quarantined = split_by_rules(rows, rules_for("transactions"))

Every silver micro-batch also records its quality (`record_batch_quality`): rows checked,
quarantined and warned, failures per rule, and the null rates, distinct counts and min/max
of the columns its `Profile` names, appended to gold `quality_metrics`; and its topic's
per-minute volume with the alert (spark/streaming/volume.py).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

    from spark.config import SparkSettings

Severity = Literal["error", "warn"]

FAILED_RULES = "failed_rules"
WARNINGS = "dq_warnings"
# How far occurred_at may lie after the time Kafka accepted the record (client clock skew).
# Judged against the Kafka timestamp, not the wall clock, so a replay judges alike.
FUTURE_TOLERANCE = "INTERVAL 5 MINUTES"


@dataclass(frozen=True)
class Rule:
    """One data-quality rule: what a good row of `table` satisfies, and how bad a miss is."""

    name: str
    table: str
    predicate: str
    severity: Severity = "error"
    gate: bool = False
    description: str = ""


def _type_rule(table: str, message: str) -> Rule:
    return Rule(
        "ce_type_matches",
        table,
        f"ce_type IS NULL OR ce_type = '{message}'",
        gate=True,
        description=f"the ce_type header, when present, names {message}",
    )


def _exact_type_rule(table: str, message: str) -> Rule:
    return Rule(
        "ce_type_matches",
        table,
        f"ce_type = '{message}'",
        gate=True,
        description=f"the ce_type header names {message} (the topic carries more than one type)",
    )


def _decode_rule(table: str) -> Rule:
    return Rule(
        "decodes", table, "_decoded", gate=True, description="the value parses as the message"
    )


def _occurred_at_rules(table: str) -> list[Rule]:
    return [
        Rule("occurred_at_present", table, "occurred_at IS NOT NULL"),
        Rule(
            "occurred_at_not_future",
            table,
            f"occurred_at IS NULL OR occurred_at <= kafka_timestamp + {FUTURE_TOLERANCE}",
            description="not later than Kafka's receipt of the record, give or take 5 minutes",
        ),
    ]


RULES: tuple[Rule, ...] = (
    _type_rule("transactions", "ecap.v1.Transaction"),
    _decode_rule("transactions"),
    Rule("transaction_id_present", "transactions", "length(transaction_id) > 0"),
    Rule("customer_id_present", "transactions", "length(customer_id) > 0"),
    Rule("amount_positive", "transactions", "amount_minor > 0"),
    Rule("currency_iso4217", "transactions", "currency RLIKE '^[A-Z]{3}$'"),
    *_occurred_at_rules("transactions"),
    Rule(
        "items_sum_to_amount",
        "transactions",
        "item_count = 0 OR items_total_minor = amount_minor",
        severity="warn",
        description="the line items add up to the amount",
    ),
    _type_rule("events", "ecap.v1.BehaviorEvent"),
    _decode_rule("events"),
    Rule("event_id_present", "events", "length(event_id) > 0"),
    Rule("session_id_present", "events", "length(session_id) > 0"),
    Rule(
        "event_type_specified",
        "events",
        "event_type <> 'UNSPECIFIED' AND event_type NOT LIKE 'UNKNOWN_ENUM_VALUE%'",
    ),
    *_occurred_at_rules("events"),
    Rule(
        "purchase_has_transaction",
        "events",
        "event_type <> 'PURCHASE' OR transaction_id IS NOT NULL",
        severity="warn",
        description="a purchase event names the transaction it produced",
    ),
    # product-updates carries two message types: only the header tells them apart.
    _exact_type_rule("products", "ecap.v1.Product"),
    _decode_rule("products"),
    Rule("product_id_present", "products", "length(product_id) > 0"),
    Rule("price_present", "products", "price_minor >= 0", description="a list price, not negative"),
    Rule("category_path_present", "products", "size(category_path) > 0"),
    Rule("stock_not_negative", "products", "stock >= 0"),
    _exact_type_rule("customers", "ecap.v1.Customer"),
    _decode_rule("customers"),
    Rule("customer_id_present", "customers", "length(customer_id) > 0"),
    Rule("signed_up_at_present", "customers", "signed_up_at IS NOT NULL"),
    _type_rule("decisions", "ecap.v1.Decision"),
    _decode_rule("decisions"),
    Rule("decision_id_present", "decisions", "length(decision_id) > 0"),
    Rule("transaction_id_present", "decisions", "length(transaction_id) > 0"),
    Rule("outcome_specified", "decisions", "outcome IN ('APPROVE', 'REVIEW', 'DECLINE')"),
    Rule("decided_at_present", "decisions", "decided_at IS NOT NULL"),
    _type_rule("alerts", "ecap.v1.FraudAlert"),
    _decode_rule("alerts"),
    Rule("transaction_id_present", "alerts", "length(transaction_id) > 0"),
    Rule(
        "outcome_flags_fraud",
        "alerts",
        "outcome IN ('REVIEW', 'DECLINE')",
        description="an alert comes from a REVIEW or DECLINE decision",
    ),
    Rule("raised_at_present", "alerts", "raised_at IS NOT NULL"),
    # Labels come from case-events; only resolutions become labels, the rest is checked too.
    _type_rule("labels", "ecap.v1.CaseEvent"),
    _decode_rule("labels"),
    Rule("event_id_present", "labels", "length(event_id) > 0"),
    Rule("case_id_present", "labels", "length(case_id) > 0"),
    *_occurred_at_rules("labels"),
    Rule(
        "resolution_has_outcome",
        "labels",
        "action <> 'RESOLVED' OR outcome IN ('CONFIRMED_FRAUD', 'FALSE_POSITIVE', 'INCONCLUSIVE')",
    ),
    Rule(
        "resolution_names_transactions",
        "labels",
        "action <> 'RESOLVED' OR size(transaction_ids) > 0",
    ),
)


def rules_for(table: str, rules: Sequence[Rule] = RULES) -> list[Rule]:
    """The rules of `table`, in declaration order."""
    return [rule for rule in rules if rule.table == table]


def broken_conditions(rules: Sequence[Rule]) -> list[tuple[Rule, Column]]:
    """Each rule with the condition under which a row breaks it (gates respected)."""
    from pyspark.sql import functions as F

    names = [rule.name for rule in rules]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"rule names must be unique, repeated: {duplicates}")
    broken: list[tuple[Rule, Column]] = []
    gate_open: Column = F.lit(True)
    for rule in rules:
        try:
            holds = F.coalesce(F.expr(rule.predicate).cast("boolean"), F.lit(False))
        except Exception as exc:
            raise ValueError(
                f"rule {rule.name!r} of {rule.table!r}: bad SQL predicate {rule.predicate!r}: {exc}"
            ) from exc
        broken.append((rule, gate_open & ~holds))
        if rule.gate:
            gate_open = gate_open & holds
    return broken


def split_by_rules(df: DataFrame, rules: Sequence[Rule]) -> tuple[DataFrame, DataFrame]:
    """`df` split into rows that keep every error rule and the rest (batch or stream).

    The good rows gain `dq_warnings` (broken warn rules); the quarantined rows gain
    `failed_rules` (every broken rule, in declaration order). Both keep all columns of `df`.
    """
    from pyspark.sql import functions as F

    broken = broken_conditions(rules)

    def names_of(severities: set[str]) -> Column:
        flags = [
            F.when(condition, F.lit(rule.name))
            for rule, condition in broken
            if rule.severity in severities
        ]
        if not flags:
            return F.array().cast("array<string>")
        return F.filter(F.array(*flags), lambda name: name.isNotNull())

    checked = df.withColumn(FAILED_RULES, names_of({"error", "warn"})).withColumn(
        "_errors", F.size(names_of({"error"}))
    )
    good = (
        checked.filter(F.col("_errors") == 0)
        .withColumn(WARNINGS, F.col(FAILED_RULES))
        .drop(FAILED_RULES, "_errors")
    )
    quarantined = checked.filter(F.col("_errors") > 0).drop("_errors")
    return good, quarantined


# --- Per-batch quality metrics -------------------------------------------------------------


class QualitySettings(BaseSettings):
    """Quality metrics and the volume alert (env prefix `ECAP_LAKE_QUALITY_`)."""

    model_config = SettingsConfigDict(env_prefix="ECAP_LAKE_QUALITY_", extra="ignore")

    metrics: bool = Field(default=True, description="record quality_metrics per silver batch")
    volume: bool = Field(default=True, description="count records per topic minute and alert")
    volume_z_threshold: float = Field(
        default=3.0, gt=0, description="|z| above which a minute's count leaves the band"
    )
    volume_baseline_days: int = Field(
        default=7, ge=1, description="previous days whose same hour makes the band"
    )
    volume_min_baseline_days: int = Field(
        default=3, ge=1, description="fewer previous days with counts than this: no judgement"
    )
    volume_min_std: float = Field(
        default=1.0,
        gt=0,
        description="floor of the band's standard deviation, so a flat history does not "
        "turn one extra record into an alert",
    )
    volume_max_gap_minutes: int = Field(
        default=60,
        ge=0,
        description="silent minutes (no records) before a batch that are counted as zero",
    )


@dataclass(frozen=True)
class Profile:
    """The columns of a silver table whose shape every batch's metrics describe."""

    table: str
    null_rate: tuple[str, ...] = ()
    distinct: tuple[str, ...] = ()
    min_max: tuple[str, ...] = ()


PROFILES: tuple[Profile, ...] = (
    Profile(
        "transactions",
        null_rate=(
            "transaction_id", "customer_id", "merchant_id", "amount_minor", "currency",
            "occurred_at", "country", "channel", "device_id", "ip_address", "card_fingerprint",
        ),
        distinct=("transaction_id", "customer_id", "merchant_id", "currency", "country"),
        min_max=("amount_minor", "item_count", "occurred_at"),
    ),
    Profile(
        "events",
        null_rate=(
            "event_id", "session_id", "customer_id", "event_type", "occurred_at", "country",
            "product_id",
        ),
        distinct=("event_id", "session_id", "customer_id", "event_type"),
        min_max=("occurred_at", "quantity"),
    ),
)  # fmt: skip


def profile_for(table: str, profiles: Sequence[Profile] = PROFILES) -> Profile:
    """The declared profile of `table`, else its key columns' null rates and distinct counts."""
    for profile in profiles:
        if profile.table == table:
            return profile
    from spark.tables import TABLES

    spec = TABLES.get(table)
    key = tuple(c for c in (spec.key if spec else ()) if spec and spec.columns[c] != "date")
    return Profile(table, null_rate=key, distinct=key)


@dataclass(frozen=True)
class QualityMetric:
    """One number about one batch: `metric` of `subject` (a rule, a column, or None)."""

    metric: str
    subject: str | None
    value: float | None
    value_text: str | None = None


def batch_quality_metrics(
    df: DataFrame, rules: Sequence[Rule], profile: Profile
) -> list[QualityMetric]:
    """The quality metrics of one checked batch (rows before the split), in one Spark pass.

    rows_checked, rows_quarantined (broke an error rule), rows_warned (kept, with warnings),
    rule_failed per rule, then null_rate, distinct_count, min and max of the profile's
    columns that `df` has.
    """
    from pyspark.sql import functions as F

    broken = broken_conditions(rules)
    errors = [condition for rule, condition in broken if rule.severity == "error"]
    warns = [condition for rule, condition in broken if rule.severity == "warn"]
    any_error = _any(errors)
    present = set(df.columns)
    aggregates = {
        "rows_checked": F.count(F.lit(1)),
        "rows_quarantined": F.count_if(any_error),
        "rows_warned": F.count_if(~any_error & _any(warns)),
    }
    for position, (_, condition) in enumerate(broken):
        aggregates[f"rule_{position}"] = F.count_if(condition)
    for column in (c for c in profile.null_rate if c in present):
        aggregates[f"null_{column}"] = F.count_if(F.col(column).isNull())
    for column in (c for c in profile.distinct if c in present):
        aggregates[f"distinct_{column}"] = F.count_distinct(F.col(column))
    timestamps = {f.name for f in df.schema.fields if f.dataType.typeName() == "timestamp"}
    for column in (c for c in profile.min_max if c in present):
        # Timestamps as epoch seconds: pyspark would collect naive local-time datetimes.
        value = F.col(column).cast("double") if column in timestamps else F.col(column)
        aggregates[f"min_{column}"] = F.min(value)
        aggregates[f"max_{column}"] = F.max(value)
    row = df.agg(*(value.alias(name) for name, value in aggregates.items())).first()
    values = row.asDict() if row is not None else {}
    checked = int(values.get("rows_checked") or 0)
    metrics = [
        QualityMetric(name, None, float(values.get(name) or 0))
        for name in ("rows_checked", "rows_quarantined", "rows_warned")
    ]
    metrics += [
        QualityMetric("rule_failed", rule.name, float(values[f"rule_{position}"] or 0))
        for position, (rule, _) in enumerate(broken)
    ]
    for column in (c for c in profile.null_rate if c in present):
        nulls = values[f"null_{column}"] or 0
        metrics.append(QualityMetric("null_rate", column, nulls / checked if checked else None))
    for column in (c for c in profile.distinct if c in present):
        metrics.append(QualityMetric("distinct_count", column, float(values[f"distinct_{column}"])))
    for column in (c for c in profile.min_max if c in present):
        for kind in ("min", "max"):
            value = values[f"{kind}_{column}"]
            if column in timestamps and value is not None:
                value = datetime.fromtimestamp(value, UTC)
            metrics.append(_extreme(kind, column, value))
    return metrics


def _any(conditions: Sequence[Column]) -> Column:
    from pyspark.sql import functions as F

    result: Column = F.lit(False)
    for condition in conditions:
        result = result | condition
    return result


def _extreme(kind: str, column: str, value: Any) -> QualityMetric:
    if value is None:
        return QualityMetric(kind, column, None, None)
    if isinstance(value, datetime):
        return QualityMetric(kind, column, value.timestamp(), value.isoformat())
    if isinstance(value, bool | str | date):
        return QualityMetric(kind, column, None, str(value))
    return QualityMetric(kind, column, float(value), str(value))


# Tables the quality recorder created in this process (the streams pre-create only their own).
_created: set[str] = set()
_created_lock = threading.Lock()


def ensure_quality_tables(spark: SparkSession, lake: SparkSettings) -> None:
    """Create the quality and volume tables unless this process did already."""
    from spark.streaming.sinks import ensure_table
    from spark.tables import QUALITY_TABLES

    with _created_lock:
        for spec in QUALITY_TABLES:
            uri = spec.uri(lake)
            if uri not in _created:
                ensure_table(spark, spec, lake)
                _created.add(uri)


def record_batch_quality(
    checked: DataFrame,
    batch_id: int,
    *,
    table: str,
    source: str,
    lake: SparkSettings,
    settings: QualitySettings | None = None,
) -> list[QualityMetric]:
    """Append a silver batch's quality metrics and update its topic's volume (and alerts).

    Called by each silver micro-batch with its decoded rows before the split (`checked`).
    The append is idempotent per stream and batch id (Delta's txnAppId/txnVersion), so a
    replayed batch adds nothing; the volume is recomputed from bronze, so a replay rewrites
    the same counts.
    """
    from pyspark.sql import functions as F

    from spark.streaming.volume import record_topic_volume
    from spark.tables import TABLES

    settings = settings or QualitySettings()
    spark = checked.sparkSession
    metrics: list[QualityMetric] = []
    if settings.metrics or settings.volume:
        ensure_quality_tables(spark, lake)
    if settings.metrics:
        metrics = batch_quality_metrics(checked, rules_for(table), profile_for(table))
        spec = TABLES["quality_metrics"]
        rows = [(table, batch_id, m.metric, m.subject, m.value, m.value_text) for m in metrics]
        frame = spark.createDataFrame(
            rows,
            "source_table string, batch_id bigint, metric string, subject string, "
            "value double, value_text string",
        ).withColumn("recorded_at", F.current_timestamp())
        # The stream's id survives restarts from its checkpoint, and so does idempotence.
        query_id = spark.sparkContext.getLocalProperty("sql.streaming.queryId") or "batch"
        (
            frame.withColumn("recorded_date", F.to_date("recorded_at"))
            .select(spec.column_names)
            .write.format("delta")
            .mode("append")
            .option("txnAppId", f"quality-{table}-{query_id}")
            .option("txnVersion", batch_id)
            .save(spec.uri(lake))
        )
    if settings.volume:
        record_topic_volume(checked, source=source, lake=lake, settings=settings)
    return metrics
