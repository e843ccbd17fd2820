"""TestRule: how a draft rule would have fired on the lake's recent silver transactions.

The period is the last `days` days up to the newest silver transaction. Each transaction in
it gets the fraud features it had when it happened: the rows from the longest feature window
before the period onwards are replayed in time order, computing a row's features before the
row joins the history (as the scoring service does), so a transaction's own label never
reaches its own features; the merchant fraud rates see earlier labels only after the label
delay, as declared. The draft runs on every transaction of the period, and its hits are
compared with the labels known so far (1.0 fraud, 0.0 not, unknown otherwise).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import structlog

from models.features.declarations import Derived, FeatureSet, PreviousRow, WindowAggregate
from models.features.fraud import fraud_features
from models.features.online import OnlineFeatures, to_micros
from services.mesh.errors import FailedPrecondition, FieldViolation, InvalidArgument
from services.scoring.lake import newest_transaction_time, transaction_rows
from services.scoring.rows import rule_context_from_row
from services.scoring.rules import (
    CompiledRule,
    RuleSpec,
    cel_context,
    compile_expression,
    run,
)
from spark.config import SparkSettings

log = structlog.get_logger("ecap.scoring.rule_test")

DEFAULT_DAYS = 7
MAX_DAYS = 90
PROGRESS_EVERY = 50_000  # rows between progress log lines


@dataclass(frozen=True)
class RuleTestReport:
    """How a draft rule would have fired (the fields of TestRuleResponse)."""

    evaluated: int
    hits: int
    hit_rate: float
    labelled_hits: int
    fraud_hits: int
    precision: float
    fraud_total: int
    recall: float
    errors: int
    period_start: datetime
    period_end: datetime
    elapsed_s: float


def features_read(features: FeatureSet, names: Iterable[str] | None) -> FeatureSet:
    """The part of `features` that computing `names` needs (None: all), in declaration
    order: the draft's features and, for derived ones, their inputs."""
    if names is None:
        return features
    needed: set[str] = set()
    pending = [name for name in names if name in features.names]
    while pending:
        name = pending.pop()
        if name not in needed:
            needed.add(name)
            feature = features.get(name)
            if isinstance(feature, Derived):
                pending.extend(feature.inputs)
    kept = tuple(feature for feature in features.features if feature.name in needed)
    return replace(features, features=kept)


def feature_history(features: FeatureSet) -> timedelta:
    """How much history before a transaction `features` read (the longest window, delay
    included)."""
    spans = [
        feature.length + getattr(feature, "delay", timedelta(0))
        for feature in features.features
        if isinstance(feature, WindowAggregate | PreviousRow)
    ]
    return max(spans, default=timedelta(0))


def test_rule(
    spec: RuleSpec,
    days: int,
    *,
    label_delay: timedelta,
    settings: SparkSettings | None = None,
) -> RuleTestReport:
    """Evaluate the draft `spec` on the last `days` days (0: 7) of silver transactions.

    InvalidArgument when the expression does not check or `days` is out of range;
    FailedPrecondition when the lake holds no silver transactions.
    """
    started = time.perf_counter()
    if not 0 <= days <= MAX_DAYS:
        raise InvalidArgument(
            f"days: must be between 0 and {MAX_DAYS}, got {days}",
            [FieldViolation("days", "int32.lte", f"0 to {MAX_DAYS} (0 means {DEFAULT_DAYS})")],
        )
    rule = CompiledRule(spec, compile_expression(spec.expression))
    settings = settings or SparkSettings()
    period_end = newest_transaction_time(settings)
    if period_end is None:
        raise FailedPrecondition(
            f"the lake at {settings.lake_uri} holds no silver transactions to test the rule "
            "on; run `ecap lake stream` (with traffic flowing) first",
            reason="LAKE_EMPTY",
        )
    period_start = period_end - timedelta(days=days or DEFAULT_DAYS)
    # Only the features the draft reads are replayed: a rule on `tx` alone needs no history.
    features = features_read(fraud_features(label_delay), rule.reads_f)
    rows = transaction_rows(
        since=period_start - feature_history(features),
        until=period_end + timedelta(microseconds=1),
        settings=settings,
    )
    log.info(
        "testing a draft rule",
        expression=spec.expression,
        period_start=period_start.isoformat(),
        period_end=period_end.isoformat(),
        rows=len(rows),
        features=len(features.features),
    )
    # Integer microseconds: the online executor takes them as they are (no datetime maths).
    rows["ts"] = rows["ts"].astype("datetime64[us, UTC]").astype("int64")
    start_us = to_micros(period_start)
    online = OnlineFeatures(features)
    evaluated = hits = labelled_hits = fraud_hits = fraud_total = errors = 0
    for done, row in enumerate(rows.to_dict("records"), start=1):
        if row["ts"] >= start_us:
            label = row.get("label")
            known = label is not None and not math.isnan(label)
            context = cel_context(
                rule_context_from_row(row), online.compute(row), rule.reads_tx, rule.reads_f
            )
            fired = run(rule, context)
            evaluated += 1
            errors += fired is None
            fraud_total += known and label == 1.0
            if fired:
                hits += 1
                labelled_hits += known
                fraud_hits += known and label == 1.0
        online.observe(row)
        if done % PROGRESS_EVERY == 0:
            log.info("testing a draft rule: progress", rows_done=done, rows=len(rows), hits=hits)
    report = RuleTestReport(
        evaluated=evaluated,
        hits=hits,
        hit_rate=hits / evaluated if evaluated else 0.0,
        labelled_hits=labelled_hits,
        fraud_hits=fraud_hits,
        precision=fraud_hits / labelled_hits if labelled_hits else 0.0,
        fraud_total=fraud_total,
        recall=fraud_hits / fraud_total if fraud_total else 0.0,
        errors=errors,
        period_start=period_start,
        period_end=period_end,
        elapsed_s=time.perf_counter() - started,
    )
    log.info("tested a draft rule", **{k: v for k, v in vars(report).items() if "period" not in k})
    return report


# A function named test_* in a module named *_test.py: tell pytest it is not a test.
test_rule.__test__ = False  # type: ignore[attr-defined]
