"""The decision: online features, rules, the model within its budget, thresholds, publish.

    decision, replayed = await scorer.score(transaction)

Every step runs on the event loop's thread, so the feature state and the memory of decided
transactions need no locks; the model call is the only wait, and concurrent decisions share
its HTTP request (`BatchingModelClient`). A transaction id is observed by the features once
and decided once: a second call returns the first decision (`replayed`), and a call while
the first is still deciding waits for it.
"""

from __future__ import annotations

import asyncio
import functools
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import structlog
from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp
from prometheus_client import Counter, Histogram

from ecap.v1 import common_pb2
from models.features import OnlineFeatures
from services.scoring.config import ScoringSettings
from services.scoring.explain import model_reasons
from services.scoring.model_client import BatchingModelClient, ModelInfo, ModelUnavailable
from services.scoring.publisher import DecisionPublisher
from services.scoring.rows import feature_row, rule_context
from services.scoring.rules import RuleSet

log = structlog.get_logger("ecap.scoring")

DECISIONS = Counter("ecap_scoring_decisions_total", "Decisions made, by outcome.", ["outcome"])
DEGRADED = Counter(
    "ecap_scoring_degraded_total", "Decisions the rules made alone, by why.", ["reason"]
)
RULE_ERRORS = Counter("ecap_scoring_rule_errors_total", "Rule evaluations that failed.")
STAGE_SECONDS = Histogram(
    "ecap_scoring_stage_seconds",
    "Time per decision stage.",
    ["stage"],
    buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.25),
)
STAGES = ("features", "rules", "model", "publish", "total")

_OUTCOME = {
    "APPROVE": common_pb2.DECISION_OUTCOME_APPROVE,
    "REVIEW": common_pb2.DECISION_OUTCOME_REVIEW,
    "DECLINE": common_pb2.DECISION_OUTCOME_DECLINE,
}
_SEVERITY = {"APPROVE": 0, "REVIEW": 1, "DECLINE": 2}


class _Bounded(OrderedDict):
    """An insertion-ordered dict that forgets its oldest entries beyond `capacity`."""

    def __init__(self, capacity: int) -> None:
        super().__init__()
        self.capacity = capacity

    def put(self, key, value) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.capacity:
            self.popitem(last=False)


class DecidedTransactions:
    """What the scorer remembers per transaction id, bounded (oldest forgotten first):
    whether the feature state holds it, and the decision made on it."""

    def __init__(self, capacity: int) -> None:
        self._observed = _Bounded(capacity)
        self._decisions = _Bounded(capacity)

    def is_observed(self, transaction_id: str) -> bool:
        return transaction_id in self._observed

    def observed(self, transaction_id: str) -> None:
        self._observed.put(transaction_id, None)

    def decision(self, transaction_id: str) -> common_pb2.Decision | None:
        stored = self._decisions.get(transaction_id)
        return None if stored is None else common_pb2.Decision.FromString(stored)

    def decided(self, decision: common_pb2.Decision) -> None:
        # Serialized: about 2 KB a decision, against about 11 KB as a message object.
        self._decisions.put(decision.transaction_id, decision.SerializeToString())

    def __len__(self) -> int:
        return len(self._decisions)


@dataclass(frozen=True)
class Verdict:
    """What thresholds and rules made of a score."""

    outcome: str
    reasons: list[common_pb2.DecisionReason]


def combine(
    hits: list,
    probability: float | None,
    review_from: float,
    decline_from: float,
) -> str:
    """The outcome: a DECLINE rule declines; otherwise an ALLOW rule approves; otherwise the
    more severe of the REVIEW rules and the model's thresholds."""
    actions = {hit.action for hit in hits}
    if "DECLINE" in actions:
        return "DECLINE"
    if "ALLOW" in actions:
        return "APPROVE"
    outcome = "REVIEW" if "REVIEW" in actions else "APPROVE"
    if probability is not None:
        by_model = (
            "DECLINE"
            if probability >= decline_from
            else "REVIEW"
            if probability >= review_from
            else "APPROVE"
        )
        outcome = max(outcome, by_model, key=_SEVERITY.__getitem__)
    return outcome


class Scorer:
    """Decides on transactions; owns the online feature state."""

    def __init__(
        self,
        settings: ScoringSettings,
        features: OnlineFeatures,
        rules: Callable[[], RuleSet],
        model: BatchingModelClient,
        publisher: DecisionPublisher,
        seen: DecidedTransactions,
    ) -> None:
        self.settings = settings
        self.features = features
        self.rules = rules
        self.model = model
        self.publisher = publisher
        self.seen = seen
        self._deciding: dict[str, asyncio.Future] = {}
        self._budget_s = settings.model_budget_ms / 1000

    # -- the feature state ----------------------------------------------------------------

    def observe(self, row: dict) -> None:
        """Add a past transaction (a feature row) to the state, once per transaction id."""
        transaction_id = row["transaction_id"]
        if self.seen.is_observed(transaction_id):
            return
        self.features.observe(row)
        self.seen.observed(transaction_id)

    def remember(self, decision: common_pb2.Decision) -> None:
        """Record a decision made earlier (by this or another instance)."""
        self.seen.decided(decision)

    # -- deciding -------------------------------------------------------------------------

    async def score(
        self, tx: common_pb2.Transaction, *, record_transaction: bool = True
    ) -> tuple[common_pb2.Decision, bool]:
        """The decision on `tx`, and whether it had been decided before. With
        `record_transaction`, a transaction decided now is also published to `transactions`
        (it came straight from a checkout, not through ingestion)."""
        transaction_id = tx.transaction_id
        earlier = self.seen.decision(transaction_id)
        if earlier is not None:
            return earlier, True
        pending = self._deciding.get(transaction_id)
        if pending is not None:
            return await asyncio.shield(pending), True
        # The decision runs as a task of its own: a caller that gives up (deadline, cancel)
        # does not leave a transaction observed by the features but never decided.
        task = asyncio.get_running_loop().create_task(self._decide(tx, record_transaction))
        self._deciding[transaction_id] = task
        task.add_done_callback(functools.partial(self._decided, transaction_id))
        return await asyncio.shield(task), False

    def _decided(self, transaction_id: str, task: asyncio.Task) -> None:
        if self._deciding.get(transaction_id) is task:
            del self._deciding[transaction_id]
        if not task.cancelled() and task.exception() is not None:
            log.debug("decision failed", error=str(task.exception())[:200])

    async def _decide(
        self, tx: common_pb2.Transaction, record_transaction: bool
    ) -> common_pb2.Decision:
        started = time.perf_counter()
        row = feature_row(tx)
        values = self.features.compute(row)
        if not self.seen.is_observed(tx.transaction_id):
            self.features.observe(row)
            self.seen.observed(tx.transaction_id)
        after_features = time.perf_counter()

        rule_set = self.rules()
        rule_outcome = rule_set.evaluate(rule_context(tx, row), values)
        if rule_outcome.errors:
            RULE_ERRORS.inc(rule_outcome.errors)
        after_rules = time.perf_counter()

        probability, model_tag, reasons, degraded = await self._ask_model(values, started)
        info = self.model.info
        review_from, decline_from = self._thresholds(info)
        after_model = time.perf_counter()

        outcome = combine(rule_outcome.hits, probability, review_from, decline_from)
        rule_reasons = [
            common_pb2.DecisionReason(
                code=hit.reason_code,
                description=hit.description,
                source=common_pb2.REASON_SOURCE_RULE,
                contribution=1.0,
            )
            for hit in rule_outcome.hits
        ]
        decision = common_pb2.Decision(
            decision_id=str(uuid.uuid4()),
            transaction_id=tx.transaction_id,
            customer_id=tx.customer_id,
            merchant_id=tx.merchant_id,
            outcome=_OUTCOME[outcome],
            risk_score=probability if probability is not None else _rule_risk(outcome),
            reasons=[*rule_reasons, *reasons],
            model_tag=model_tag,
            rules_version=rule_set.version,
            degraded=degraded,
            amount=tx.amount,
            features={k: v for k, v in values.items() if v is not None},
        )
        now = Timestamp()
        now.GetCurrentTime()
        decision.decided_at.CopyFrom(now)
        decision.latency.CopyFrom(_duration(time.perf_counter() - started))

        await self.publisher.publish(decision, tx, record_transaction=record_transaction)
        self.seen.decided(decision)
        finished = time.perf_counter()
        DECISIONS.labels(outcome).inc()
        for stage, seconds in (
            ("features", after_features - started),
            ("rules", after_rules - after_features),
            ("model", after_model - after_rules),
            ("publish", finished - after_model),
            ("total", finished - started),
        ):
            STAGE_SECONDS.labels(stage).observe(seconds)
        return decision

    async def _ask_model(
        self, values: dict, started: float
    ) -> tuple[float | None, str, list[common_pb2.DecisionReason], bool]:
        """(probability, tag, model reasons, degraded)."""
        try:
            info = self.model.info or await asyncio.wait_for(
                self.model.describe(), self._remaining(started)
            )
            missing = [name for name in info.feature_names if name not in values]
            if missing:
                raise ModelUnavailable(
                    f"the model {info.tag} needs features this service does not compute: "
                    f"{missing[:5]}",
                    reason="MODEL_MISMATCH",
                )
            prediction = await asyncio.wait_for(
                self.model.predict(values, info), self._remaining(started)
            )
        except (TimeoutError, ModelUnavailable) as error:
            reason = getattr(error, "reason", "MODEL_TIMEOUT")
            DEGRADED.labels(reason).inc()
            return None, "", [_degraded_reason(reason, error)], True
        reasons = model_reasons(
            info.feature_names, prediction.contributions, values, self.settings.model_reasons
        )
        return prediction.probability, prediction.tag, reasons, False

    def _remaining(self, started: float) -> float:
        return max(self._budget_s - (time.perf_counter() - started), 0.0)

    def _thresholds(self, info: ModelInfo | None) -> tuple[float, float]:
        settings = self.settings
        if info is not None and settings.use_model_thresholds and info.thresholds:
            review = info.thresholds.get("review", settings.review_threshold)
            decline = info.thresholds.get("decline", settings.decline_threshold)
            return review, max(review, decline)
        return settings.review_threshold, settings.decline_threshold


def _rule_risk(outcome: str) -> float:
    # Without the model, the risk score says what the rules concluded, on the same scale.
    return {"APPROVE": 0.0, "REVIEW": 0.5, "DECLINE": 1.0}[outcome]


def _degraded_reason(reason: str, error: BaseException) -> common_pb2.DecisionReason:
    words = {
        "MODEL_TIMEOUT": "the model did not answer within the latency budget; rules alone decided",
        "MODEL_UNAVAILABLE": "the model is unavailable; rules alone decided",
        "MODEL_MISMATCH": "the served model does not match this service's features; rules "
        "alone decided",
    }
    log.debug("degraded decision", reason=reason, error=str(error)[:200])
    return common_pb2.DecisionReason(
        code=reason, description=words[reason], source=common_pb2.REASON_SOURCE_SYSTEM
    )


def _duration(seconds: float) -> Duration:
    duration = Duration()
    duration.FromNanoseconds(int(seconds * 1e9))
    return duration
