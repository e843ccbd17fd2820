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
from array import array
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, replace
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
    """One batch, judged: per record its id, Kafka key and value; the invalid ones by index.

    A worker leaves `values` empty and says in `spans` where each record's bytes lie in the
    request it parsed, which the server holds: they need not travel back.
    """

    message_name: str
    ids: list[str]
    keys: list[bytes]
    values: list[bytes]
    invalid: dict[int, list[FieldViolation]]
    spans: array | None = None  # start and end offset of each record, in turn

    def cut_from(self, payload: bytes) -> Judged:
        """This batch with `values` cut from the request's bytes `payload` at `spans`."""
        if self.spans is None:
            return self
        spans = self.spans
        values = [payload[start:end] for start, end in zip(spans[::2], spans[1::2], strict=True)]
        return replace(self, values=values, spans=None)


def judge_records(request: Message, field: str, now: datetime, limits: Limits) -> Judged:
    """Judge the records of the repeated `field` of `request`."""
    records = getattr(request, field)
    if not records:
        return Judged("", [], [], [], {})
    return replace(
        _judge_without_values(records, request, field, now, limits),
        values=[record.SerializeToString() for record in records],
    )


def _judge_without_values(records, request: Message, field: str, now, limits) -> Judged:
    name = records[0].DESCRIPTOR.full_name
    key_of = attrgetter(KEY_FIELDS[name])
    return Judged(
        name,
        list(map(attrgetter(ID_FIELDS[name]), records)),
        [key_of(record).encode() for record in records],
        [],
        batch_violations(request, field, now, limits),
    )


def judge_payload(
    payload: bytes, request_type: str, field: str, now: datetime, limits: Limits
) -> Judged:
    """`judge_records` of a serialised stream request, as a worker process receives it.

    The records' bytes are located in `payload` rather than serialised again: the value
    written to Kafka is exactly what the client sent.
    """
    request_class = STREAM_REQUESTS[request_type]
    request = request_class.FromString(payload)
    records = getattr(request, field)
    if not records:
        return Judged("", [], [], [], {})
    try:
        spans = record_spans(payload, request_class.DESCRIPTOR.fields_by_name[field].number)
    except (ValueError, IndexError):  # beyond this walk (groups): encode the records again
        return judge_records(request, field, now, limits)
    if len(spans) != 2 * len(records):  # not seen: the parser found these very records
        return judge_records(request, field, now, limits)
    return replace(_judge_without_values(records, request, field, now, limits), spans=spans)


def record_spans(payload: bytes, field_number: int) -> array:
    """Start and end offsets of each length-delimited `field_number` in a serialised message.

    A walk over the top-level protobuf wire format: tag, then a length and the bytes for
    length-delimited fields (a record), and skips every other field. ValueError for the
    deprecated group wire types, which it does not walk, and for bytes that end too soon.
    """
    spans = array("Q")
    append = spans.append
    position, end = 0, len(payload)
    while position < end:
        tag = payload[position]
        position += 1
        if tag & 0x80:
            tag, position = _varint_rest(payload, position, tag)
        wire_type = tag & 7
        if wire_type == 2:
            length = payload[position]
            position += 1
            if length & 0x80:
                length, position = _varint_rest(payload, position, length)
            if tag >> 3 == field_number:
                append(position)
                append(position + length)
            position += length
        elif wire_type == 0:
            while payload[position] & 0x80:
                position += 1
            position += 1
        elif wire_type == 1:
            position += 8
        elif wire_type == 5:
            position += 4
        else:
            raise ValueError(f"wire type {wire_type} at offset {position} is not walked here")
    if position != end:
        raise ValueError(f"the last field runs past the end ({position} > {end})")
    return spans


def _varint_rest(payload: bytes, position: int, first: int) -> tuple[int, int]:
    # The varint whose first byte `first` had its continuation bit set.
    value, shift = first & 0x7F, 7
    while True:
        byte = payload[position]
        position += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, position
        shift += 7


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
