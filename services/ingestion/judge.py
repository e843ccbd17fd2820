"""Judging a batch of records: parse, validate, and cut each record's Kafka key and value.

This is the CPU-heavy half of ingestion and a pure function of the request's bytes, so the
service runs it in worker processes (`JudgePool`) while its event loop reads the streams,
deduplicates and produces to Kafka: with more than one core, the two halves overlap instead
of queueing behind one interpreter lock. The verdicts are the same wherever it runs.
"""

from __future__ import annotations

import asyncio
import ctypes
import multiprocessing
import signal
import sys
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import datetime
from operator import attrgetter

import structlog
from google.protobuf.message import Message

from ecap.v1 import common_pb2, ingestion_pb2
from services.ingestion.checks import Limits, batch_violations
from services.mesh.errors import FieldViolation, Unavailable
from services.mesh.kafka.producer import KEY_FIELDS
from services.mesh.screening import screen_for

log = structlog.get_logger("ecap.ingestion")

_PR_SET_PDEATHSIG = 1  # linux/prctl.h

# The record types ingestion takes, with the field that identifies a record for dedup.
ID_FIELDS = {
    common_pb2.Transaction.DESCRIPTOR.full_name: "transaction_id",
    common_pb2.BehaviorEvent.DESCRIPTOR.full_name: "event_id",
    common_pb2.Product.DESCRIPTOR.full_name: "product_id",
    common_pb2.Customer.DESCRIPTOR.full_name: "customer_id",
}
# The streamed request types whose bytes a worker parses itself.
STREAM_REQUESTS = {
    message.DESCRIPTOR.full_name: message
    for message in (ingestion_pb2.IngestTransactionsRequest, ingestion_pb2.IngestEventsRequest)
}


@dataclass(frozen=True, slots=True)
class Judged:
    """One batch, judged: per record its id, Kafka key and value; the invalid ones by index."""

    message_name: str
    ids: list[str]
    keys: list[bytes]
    values: list[bytes]
    invalid: dict[int, list[FieldViolation]]


def judge_records(request: Message, field: str, now: datetime, limits: Limits) -> Judged:
    """Judge the records of the repeated `field` of `request`."""
    records = getattr(request, field)
    if not records:
        return Judged("", [], [], [], {})
    name = records[0].DESCRIPTOR.full_name
    key_of = attrgetter(KEY_FIELDS[name])
    return Judged(
        name,
        list(map(attrgetter(ID_FIELDS[name]), records)),
        [key_of(record).encode() for record in records],
        [record.SerializeToString() for record in records],
        batch_violations(request, field, now, limits),
    )


def judge_payload(
    payload: bytes, request_type: str, field: str, now: datetime, limits: Limits
) -> Judged:
    """`judge_records` of a serialised stream request, as a worker process receives it."""
    return judge_records(STREAM_REQUESTS[request_type].FromString(payload), field, now, limits)


def _init_worker() -> None:
    # Ctrl-C reaches the whole process group; the server decides when its workers stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if sys.platform == "linux":
        # And when the server dies without closing the pool (SIGKILL), its workers die too.
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    _warm_up()


def _warm_up() -> None:
    # Compile the screens before the first batch arrives rather than during it.
    for name in ID_FIELDS:
        screen_for(common_pb2.DESCRIPTOR.message_types_by_name[name.rsplit(".", 1)[1]])


class JudgePool:
    """Worker processes that run `judge_payload`; with `workers=0`, the event loop runs it."""

    def __init__(self, workers: int) -> None:
        self._workers = workers
        self._executor = self._start() if workers else None

    def _start(self) -> ProcessPoolExecutor:
        # `spawn`: a forked child would inherit gRPC's and librdkafka's threads mid-flight.
        return ProcessPoolExecutor(
            self._workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
        )

    @property
    def workers(self) -> int:
        """How many worker processes judge batches (0: the event loop does)."""
        return self._workers

    async def judge(
        self, payload: bytes, request_type: str, field: str, now: datetime, limits: Limits
    ) -> Judged:
        """Judge one serialised stream request in a worker; Unavailable if a worker died."""
        if self._executor is None:
            return judge_payload(payload, request_type, field, now, limits)
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(
                self._executor, judge_payload, payload, request_type, field, now, limits
            )
        except BrokenProcessPool as exc:
            log.error("validation worker died; restarting the pool")
            self._executor = self._start()
            raise Unavailable(
                "a validation worker died; nothing of this batch was written, resend it",
                reason="WORKER_RESTARTED",
            ) from exc

    def worker_pids(self) -> list[int]:
        """The worker processes' ids (empty before `start` or with no workers)."""
        executor = self._executor
        return [] if executor is None else list(executor._processes)

    async def start(self) -> None:
        """Start every worker now (and compile its screens), not on the first batches."""
        if self._executor is not None:
            loop = asyncio.get_running_loop()
            await asyncio.gather(
                *(loop.run_in_executor(self._executor, _warm_up) for _ in range(self._workers))
            )

    def close(self) -> None:
        """Stop the workers."""
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
