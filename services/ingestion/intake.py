"""The ingestion domain: validate each record, drop duplicates, publish, count the outcome."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import compress
from operator import attrgetter

from google.protobuf.message import Message
from prometheus_client import Counter, Histogram

from ecap.v1 import common_pb2
from services.ingestion.checks import Limits, batch_violations
from services.ingestion.config import IngestionSettings
from services.ingestion.dedup import RecentIds
from services.ingestion.publisher import KafkaPublisher, OutgoingRecord
from services.mesh.errors import FieldViolation
from services.mesh.kafka.producer import KEY_FIELDS, Headers, record_headers, record_key

RECORDS = Counter(
    "ecap_ingestion_records_total",
    "Records received, by kind and outcome (rejections by rule).",
    ["kind", "outcome", "rule"],
)
PUBLISH_SECONDS = Histogram(
    "ecap_ingestion_publish_seconds",
    "Time from producing a batch to Kafka acknowledging all of it.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 15),
)


@dataclass(frozen=True)
class RecordKind:
    """How one message type is ingested: its topic, record key and the id that deduplicates it."""

    name: str
    topic: str
    id_of: Callable[[Message], str]
    key_of: Callable[[Message], str]
    headers: Headers
    deduplicate: bool

    @classmethod
    def of(
        cls, name: str, topic: str, message_type: type[Message], id_field: str, deduplicate: bool
    ) -> RecordKind:
        """The kind of `message_type`; its key field and headers as the Kafka module declares."""
        return cls(
            name,
            topic,
            attrgetter(id_field),
            attrgetter(KEY_FIELDS[message_type.DESCRIPTOR.full_name]),
            record_headers(message_type()),
            deduplicate,
        )


@dataclass(frozen=True)
class Rejection:
    """A record that was not accepted, and the first rule it broke."""

    index: int
    record_id: str
    field: str
    rule: str
    message: str


@dataclass
class Outcome:
    """What happened to the records of one batch, or a whole stream."""

    received: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    rejections: list[Rejection] = field(default_factory=list)

    def add(self, other: Outcome) -> None:
        """Fold another batch's outcome into this one."""
        self.received += other.received
        self.accepted += other.accepted
        self.duplicates += other.duplicates
        self.rejected += other.rejected
        self.rejections.extend(other.rejections)


def _dead_letter(record: Message, kind: RecordKind, violations: list[FieldViolation], topic: str):
    first = violations[0]
    reason = "; ".join(f"{v.field}: {v.rule}: {v.description}" for v in violations)
    record_id = kind.id_of(record)
    return (
        topic,
        record_id.encode() if record_id else b"",
        record.SerializeToString(),
        [
            *record_headers(record),
            ("source_topic", kind.topic.encode()),
            ("reason", reason.encode()),
            ("rule", first.rule.encode()),
            ("field", first.field.encode()),
        ],
    )


class Intake:
    """Turns batches of records into Kafka writes and a per-record verdict."""

    def __init__(
        self,
        settings: IngestionSettings,
        publisher: KafkaPublisher,
        recent: RecentIds,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._publisher = publisher
        self._recent = recent
        self._now = now
        self._dead_letter_topic = settings.topic_dead_letter
        self._limits = Limits(
            max_future_skew=timedelta(seconds=settings.max_future_skew_s),
            max_age=timedelta(days=settings.max_age_days),
            non_money_currencies=settings.non_money_currencies,
        )
        self.kinds = {
            kind_type.DESCRIPTOR.full_name: RecordKind.of(name, topic, kind_type, id_field, dedup)
            for name, topic, kind_type, id_field, dedup in (
                (
                    "transaction",
                    settings.topic_transactions,
                    common_pb2.Transaction,
                    "transaction_id",
                    True,
                ),
                ("event", settings.topic_events, common_pb2.BehaviorEvent, "event_id", True),
                # Upserts are state, not events: a second price change is news, not a duplicate.
                ("product", settings.topic_reference, common_pb2.Product, "product_id", False),
                ("customer", settings.topic_reference, common_pb2.Customer, "customer_id", False),
            )
        }

    async def ingest(self, request: Message, field: str, first_index: int = 0) -> Outcome:
        """Validate, deduplicate and publish the records of `request.<field>`.

        Counts only what Kafka acknowledged; `first_index` is the position of the first
        record in the stream, for the rejections' indices.
        """
        records = getattr(request, field)
        outcome = Outcome(received=len(records))
        if not records:
            return outcome
        kind = self.kinds[records[0].DESCRIPTOR.full_name]
        invalid = batch_violations(request, field, self._now(), self._limits)
        outgoing: list[OutgoingRecord] = []
        append = outgoing.append
        ids = list(map(kind.id_of, records))
        if kind.deduplicate:
            fresh = self._recent.claim_each(ids, skip=invalid)
            claimed = list(compress(ids, fresh))
        else:
            fresh = [True] * len(ids)
            claimed = []
        topic, headers, key_of = kind.topic, kind.headers, kind.key_of
        for offset, (record, record_id, new) in enumerate(zip(records, ids, fresh, strict=True)):
            if invalid and offset in invalid:
                violations = invalid[offset]
                first = violations[0]
                outcome.rejections.append(
                    Rejection(
                        first_index + offset, record_id, first.field, first.rule, first.description
                    )
                )
                append(_dead_letter(record, kind, violations, self._dead_letter_topic))
                continue
            if not new:
                outcome.duplicates += 1
                continue
            key = key_of(record)
            if not key:
                record_key(record)  # raises, naming the empty key field
            append((topic, key.encode(), record.SerializeToString(), headers))
        try:
            with PUBLISH_SECONDS.time():
                await self._publisher.publish(outgoing)
        except BaseException:
            self._recent.release(claimed)
            raise
        self._recent.confirm(claimed)
        outcome.rejected = len(outcome.rejections)
        outcome.accepted = len(records) - outcome.rejected - outcome.duplicates
        RECORDS.labels(kind.name, "accepted", "").inc(outcome.accepted)
        if outcome.duplicates:
            RECORDS.labels(kind.name, "duplicate", "").inc(outcome.duplicates)
        for rejection in outcome.rejections:
            RECORDS.labels(kind.name, "rejected", rejection.rule).inc()
        return outcome
