"""The ingestion domain: validate each record, drop duplicates, publish, count the outcome."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from itertools import compress, repeat

from google.protobuf.message import Message
from prometheus_client import Counter, Histogram

from ecap.v1 import common_pb2
from services.ingestion.checks import Limits
from services.ingestion.config import IngestionSettings
from services.ingestion.dedup import RecentIds
from services.ingestion.judge import Judged, JudgePool, judge_records
from services.ingestion.publisher import KafkaPublisher, OutgoingRecord
from services.mesh.errors import FieldViolation
from services.mesh.kafka.producer import Headers, record_headers

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
    """How one message type is ingested: its topic, its headers, and whether it is deduplicated.

    Its id and key fields are `judge.ID_FIELDS` and the Kafka module's `KEY_FIELDS`.
    """

    name: str
    topic: str
    headers: Headers
    deduplicate: bool

    @classmethod
    def of(cls, name: str, topic: str, message_type: type[Message], deduplicate: bool):
        """The kind of `message_type`, with the headers the Kafka module declares for it."""
        return cls(name, topic, record_headers(message_type()), deduplicate)


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
        """Fold the next batch's outcome into this one: its record indices continue ours."""
        shift = self.received
        self.received += other.received
        self.accepted += other.accepted
        self.duplicates += other.duplicates
        self.rejected += other.rejected
        self.rejections.extend(
            replace(rejection, index=rejection.index + shift) for rejection in other.rejections
        )


def _dead_letter(
    kind: RecordKind, record_id: str, value: bytes, violations: list[FieldViolation], topic: str
) -> OutgoingRecord:
    first = violations[0]
    reason = "; ".join(f"{v.field}: {v.rule}: {v.description}" for v in violations)
    return (
        topic,
        record_id.encode(),
        value,
        [
            *kind.headers,
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
        unary_publisher: KafkaPublisher,
        stream_publisher: KafkaPublisher,
        recent: RecentIds,
        pool: JudgePool | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._unary_publisher = unary_publisher
        self._stream_publisher = stream_publisher
        self._pool = pool or JudgePool(workers=0)
        self._recent = recent
        self._now = now
        self._dead_letter_topic = settings.topic_dead_letter
        self._limits = Limits(
            max_future_skew=timedelta(seconds=settings.max_future_skew_s),
            max_age=timedelta(days=settings.max_age_days),
            non_money_currencies=settings.non_money_currencies,
        )
        self.kinds = {
            kind_type.DESCRIPTOR.full_name: RecordKind.of(name, topic, kind_type, dedup)
            for name, topic, kind_type, dedup in (
                ("transaction", settings.topic_transactions, common_pb2.Transaction, True),
                ("event", settings.topic_events, common_pb2.BehaviorEvent, True),
                # Upserts are state, not events: a second price change is news, not a duplicate.
                ("product", settings.topic_reference, common_pb2.Product, False),
                ("customer", settings.topic_reference, common_pb2.Customer, False),
            )
        }

    async def ingest(self, request: Message, field: str) -> Outcome:
        """Validate, deduplicate and publish the records of `request.<field>`, here and now.

        For unary requests; streams go through `ingest_payload`. Counts only what Kafka
        acknowledged.
        """
        judged = judge_records(request, field, self._now(), self._limits)
        return await self._publish(judged, self._unary_publisher, None, None)

    async def ingest_payload(
        self,
        payload: bytes,
        request_type: str,
        field: str,
        after: asyncio.Future[None] | None,
        enqueued: asyncio.Future[None],
    ) -> Outcome:
        """`ingest` for one serialised message of a stream, judged by a worker process.

        Rejection indices count from the batch's first record (`Outcome.add` shifts them to
        stream positions). Batches are judged concurrently but enter Kafka in stream order:
        this one waits for `after` (the previous batch entered the producer) and then
        resolves `enqueued` for the next.
        """
        try:
            judged = await self._pool.judge(payload, request_type, field, self._now(), self._limits)
            judged = judged.cut_from(payload)
        except BaseException:
            _resolve(enqueued)
            raise
        return await self._publish(judged, self._stream_publisher, after, enqueued)

    def _sort_out(
        self, kind: RecordKind, judged: Judged, fresh: list[bool], outcome: Outcome
    ) -> list[OutgoingRecord]:
        # Valid new records to their topic, invalid ones to the dead letters, duplicates
        # nowhere; `outcome` counts the last two.
        outgoing: list[OutgoingRecord] = []
        append = outgoing.append
        invalid = judged.invalid
        topic, headers = kind.topic, kind.headers
        rows = zip(judged.ids, judged.keys, judged.values, fresh, strict=True)
        for offset, (record_id, key, value, new) in enumerate(rows):
            if offset in invalid:
                violations = invalid[offset]
                first = violations[0]
                outcome.rejections.append(
                    Rejection(offset, record_id, first.field, first.rule, first.description)
                )
                append(_dead_letter(kind, record_id, value, violations, self._dead_letter_topic))
            elif not new:
                outcome.duplicates += 1
            else:
                append((topic, key, value, headers))
        return outgoing

    async def _publish(
        self,
        judged: Judged,
        publisher: KafkaPublisher,
        after: asyncio.Future[None] | None,
        enqueued: asyncio.Future[None] | None,
    ) -> Outcome:
        ids = judged.ids
        outcome = Outcome(received=len(ids))
        if not ids:
            if enqueued is not None:
                _resolve(enqueued)
            return outcome
        kind = self.kinds[judged.message_name]
        invalid = judged.invalid
        claimed: list[str] = []
        try:
            if after is not None:
                await after
            if kind.deduplicate:
                fresh = self._recent.claim_each(ids, skip=invalid)
                claimed = list(compress(ids, fresh))
            else:
                fresh = [True] * len(ids)
            if not invalid and all(fresh):  # the usual batch: no Python step per record
                outgoing = list(
                    zip(repeat(kind.topic), judged.keys, judged.values, repeat(kind.headers))
                )
            else:
                outgoing = self._sort_out(kind, judged, fresh, outcome)
            started = time.perf_counter()
            acks = await publisher.enqueue(outgoing)
        except BaseException:
            self._recent.release(claimed)
            raise
        finally:
            if enqueued is not None:
                _resolve(enqueued)
        try:
            await publisher.acknowledged(acks)
        except BaseException:
            self._recent.release(claimed)
            raise
        PUBLISH_SECONDS.observe(time.perf_counter() - started)
        self._recent.confirm(claimed)
        outcome.rejected = len(outcome.rejections)
        outcome.accepted = len(ids) - outcome.rejected - outcome.duplicates
        RECORDS.labels(kind.name, "accepted", "").inc(outcome.accepted)
        if outcome.duplicates:
            RECORDS.labels(kind.name, "duplicate", "").inc(outcome.duplicates)
        for rejection in outcome.rejections:
            RECORDS.labels(kind.name, "rejected", rejection.rule).inc()
        return outcome


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
