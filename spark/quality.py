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
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

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
)


def rules_for(table: str, rules: Sequence[Rule] = RULES) -> list[Rule]:
    """The rules of `table`, in declaration order."""
    return [rule for rule in rules if rule.table == table]


def split_by_rules(df: DataFrame, rules: Sequence[Rule]) -> tuple[DataFrame, DataFrame]:
    """`df` split into rows that keep every error rule and the rest (batch or stream).

    The good rows gain `dq_warnings` (broken warn rules); the quarantined rows gain
    `failed_rules` (every broken rule, in declaration order). Both keep all columns of `df`.
    """
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
