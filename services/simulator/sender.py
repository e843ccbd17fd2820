"""The simulator's gRPC client: pushes record batches through `IngestionService`.

Transactions and behaviour events go through long-lived client streams (`IngestTransactions`,
`IngestEvents`), many records per stream message; a stream is closed and a fresh one opened every
`stream_records` records so each answer stays bounded and progress is confirmed as it goes.
Products and customers go through the unary `UpsertProducts` / `UpsertCustomers`.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterable, Callable, Iterable
from dataclasses import dataclass, field

import grpc

from ecap.v1 import common_pb2, ingestion_pb2, ingestion_pb2_grpc
from services.simulator.records import Record

MAX_KEPT_REJECTIONS = 100
Progress = Callable[[int], None]


class SendError(RuntimeError):
    """The ingestion service refused or failed a call; the message says which and why."""


@dataclass
class SendReport:
    """What the ingestion service said about everything sent."""

    sent: int = 0
    received: int = 0
    accepted: int = 0
    rejected: int = 0
    duplicates: int = 0
    elapsed_s: float = 0.0
    rejections: list[ingestion_pb2.Rejection] = field(default_factory=list)

    @property
    def events_per_s(self) -> float:
        """Records sent per second of wall time (0 before anything was timed)."""
        return self.sent / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def add(self, summary: ingestion_pb2.IngestSummary) -> None:
        """Add one stream's or call's summary."""
        self.received += summary.received
        self.accepted += summary.accepted
        self.rejected += summary.rejected
        self.duplicates += summary.duplicates
        room = MAX_KEPT_REJECTIONS - len(self.rejections)
        if room > 0:
            self.rejections.extend(summary.rejections[:room])


class _Stream:
    """One open client stream and how many records it has carried."""

    def __init__(self, call: grpc.aio.StreamUnaryCall, name: str) -> None:
        self.call = call
        self.name = name
        self.records = 0


class Sender:
    """Sends record batches to the ingestion service over one channel."""

    def __init__(
        self,
        channel: grpc.aio.Channel,
        *,
        stream_records: int = 200_000,
        stream_timeout_s: float = 600.0,
        on_progress: Progress | None = None,
    ) -> None:
        self._stub = ingestion_pb2_grpc.IngestionServiceStub(channel)
        self._stream_records = stream_records
        self._timeout_s = stream_timeout_s
        self._on_progress = on_progress
        self._streams: dict[str, _Stream] = {}
        self.report = SendReport()

    async def send(
        self, batches: Iterable[list[Record]] | AsyncIterable[list[Record]]
    ) -> SendReport:
        """Send every batch (each of one record kind) and return the summed verdicts."""
        started = time.perf_counter()
        try:
            if isinstance(batches, AsyncIterable):
                async for batch in batches:
                    await self.send_batch(batch)
            else:
                for batch in batches:
                    await self.send_batch(batch)
            await self.close()
        finally:
            self.report.elapsed_s += time.perf_counter() - started
        return self.report

    async def send_batch(self, batch: list[Record]) -> None:
        """Send one batch of records of a single kind."""
        if not batch:
            return
        kind = type(batch[0])
        if kind is common_pb2.Product:
            response = await self._unary(
                "UpsertProducts", ingestion_pb2.UpsertProductsRequest(products=batch)
            )
            self.report.add(response.summary)
        elif kind is common_pb2.Customer:
            response = await self._unary(
                "UpsertCustomers", ingestion_pb2.UpsertCustomersRequest(customers=batch)
            )
            self.report.add(response.summary)
        elif kind is common_pb2.Transaction:
            request = ingestion_pb2.IngestTransactionsRequest(transactions=batch)
            await self._write("IngestTransactions", request, len(batch))
        elif kind is common_pb2.BehaviorEvent:
            await self._write(
                "IngestEvents", ingestion_pb2.IngestEventsRequest(events=batch), len(batch)
            )
        else:
            raise TypeError(f"cannot send {kind.__name__} records to the ingestion service")
        self.report.sent += len(batch)
        if self._on_progress:
            self._on_progress(len(batch))

    async def close(self) -> None:
        """Close the open streams and collect their summaries."""
        for kind in list(self._streams):
            await self._finish(kind)

    async def _unary(self, name: str, request):
        try:
            return await getattr(self._stub, name)(request, timeout=self._timeout_s)
        except grpc.aio.AioRpcError as error:
            raise _send_error(name, error) from error

    async def _write(self, name: str, request, records: int) -> None:
        stream = self._streams.get(name)
        if stream is not None and stream.records >= self._stream_records:
            await self._finish(name)
            stream = None
        if stream is None:
            stream = _Stream(getattr(self._stub, name)(timeout=self._timeout_s), name)
            self._streams[name] = stream
        try:
            await stream.call.write(request)
        except (grpc.aio.AioRpcError, grpc.aio.UsageError, ConnectionError) as error:
            # A failed stream reports why only through its status; fetch it for the message.
            self._streams.pop(name, None)
            raise await _stream_error(stream, error) from error
        stream.records += records

    async def _finish(self, name: str) -> None:
        stream = self._streams.pop(name)
        try:
            await stream.call.done_writing()
            summary = await stream.call
        except grpc.aio.AioRpcError as error:
            raise _send_error(name, error) from error
        self.report.add(summary)


def _send_error(name: str, error: grpc.aio.AioRpcError) -> SendError:
    hint = {
        grpc.StatusCode.UNAUTHENTICATED: " (pass --token, or run `ecap up` so a token is minted)",
        grpc.StatusCode.PERMISSION_DENIED: " (the token needs the `service` or `admin` role)",
        grpc.StatusCode.UNAVAILABLE: " (is the ingestion service running? `ecap status`)",
    }.get(error.code(), "")
    return SendError(f"{name} failed: {error.code().name}: {error.details()}{hint}")


async def _stream_error(stream: _Stream, cause: BaseException) -> SendError:
    try:
        await stream.call
    except grpc.aio.AioRpcError as error:
        return _send_error(stream.name, error)
    return SendError(f"{stream.name} stream broke: {cause!r}")
