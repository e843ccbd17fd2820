"""gRPC handlers of `ecap.v1.IngestionService`, thin: protobuf in, domain call, protobuf out."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator

import grpc
from google.protobuf import message_factory
from google.protobuf.message import Message

from ecap.v1 import ingestion_pb2, ingestion_pb2_grpc
from services.ingestion.intake import Intake, Outcome
from services.mesh.auth import Role, RoleTable, roles
from services.mesh.errors import FieldViolation, InvalidArgument

SERVICE_NAME = ingestion_pb2.DESCRIPTOR.services_by_name["IngestionService"].full_name
TRANSACTIONS_REQUEST = ingestion_pb2.IngestTransactionsRequest.DESCRIPTOR.full_name
EVENTS_REQUEST = ingestion_pb2.IngestEventsRequest.DESCRIPTOR.full_name
_PREFIX = f"/{SERVICE_NAME}/"

# Which roles may call which RPC (admin may call all).
ROLES: RoleTable = {
    f"{_PREFIX}IngestTransactions": roles(Role.SERVICE),
    f"{_PREFIX}IngestEvents": roles(Role.SERVICE),
    f"{_PREFIX}IngestBatch": roles(Role.SERVICE),
    f"{_PREFIX}UpsertProducts": roles(Role.SERVICE),
    f"{_PREFIX}UpsertCustomers": roles(Role.SERVICE),
}

# These carry many records; each is judged on its own (bad ones go to dead-letter).
RECORD_LEVEL_VALIDATION = frozenset(
    f"{_PREFIX}{name}" for name in ("IngestBatch", "UpsertProducts", "UpsertCustomers")
)


def to_summary(outcome: Outcome) -> ingestion_pb2.IngestSummary:
    """The protobuf summary of an outcome."""
    return ingestion_pb2.IngestSummary(
        received=outcome.received,
        accepted=outcome.accepted,
        duplicates=outcome.duplicates,
        rejected=outcome.rejected,
        rejections=[
            ingestion_pb2.Rejection(
                index=r.index, id=r.record_id, field=r.field, rule=r.rule, message=r.message
            )
            for r in outcome.rejections
        ],
    )


# Mirrors the `repeated.max_items` annotations of ingestion.proto: for these RPCs the
# interceptor skips validation, so the envelope's own limit is checked here.
MAX_RECORDS_PER_REQUEST = 10_000


def _envelope_limits(request: Message, *repeated: str, at_least: int = 0) -> None:
    """Check a request's batch sizes without judging the records inside."""
    violations = [
        FieldViolation(name, "repeated.max_items", f"at most {MAX_RECORDS_PER_REQUEST} records")
        for name in repeated
        if len(getattr(request, name)) > MAX_RECORDS_PER_REQUEST
    ] + [
        FieldViolation(name, "repeated.min_items", f"at least {at_least} record")
        for name in repeated
        if len(getattr(request, name)) < at_least
    ]
    if violations:
        raise InvalidArgument(
            f"{type(request).__name__} breaks its size limits: "
            + "; ".join(f"{v.field}: {v.description}" for v in violations),
            violations,
            reason="REQUEST_INVALID",
        )


class IngestionServicer(ingestion_pb2_grpc.IngestionServiceServicer):
    """Handlers of `IngestionService`."""

    def __init__(self, intake: Intake, pipeline_depth: int = 4) -> None:
        self._intake = intake
        self._pipeline_depth = pipeline_depth

    async def _stream(self, payloads: AsyncIterator[bytes], request_type: str, field: str):
        # Stream messages arrive as bytes (see `stream_handlers`); worker processes parse and
        # judge up to `pipeline_depth` of them at once, which also overlaps the broker round
        # trips, while `ingest_payload` keeps the batches' order into Kafka.
        loop = asyncio.get_running_loop()
        in_flight: deque[asyncio.Task[Outcome]] = deque()
        total = Outcome()
        previous: asyncio.Future[None] | None = None
        try:
            async for payload in payloads:
                enqueued = loop.create_future()
                in_flight.append(
                    asyncio.create_task(
                        self._intake.ingest_payload(
                            payload, request_type, field, previous, enqueued
                        )
                    )
                )
                previous = enqueued
                while len(in_flight) >= self._pipeline_depth:
                    total.add(await in_flight.popleft())
            while in_flight:
                total.add(await in_flight.popleft())
        except BaseException:
            # Let every produced batch settle (acknowledged ids are remembered, failed ones
            # released), so that the client's resend is judged correctly; then fail.
            await asyncio.gather(*in_flight, return_exceptions=True)
            raise
        return total

    async def IngestTransactions(self, request_iterator, context):
        return to_summary(
            await self._stream(request_iterator, TRANSACTIONS_REQUEST, "transactions")
        )

    async def IngestEvents(self, request_iterator, context):
        return to_summary(await self._stream(request_iterator, EVENTS_REQUEST, "events"))

    async def IngestBatch(self, request, context):
        _envelope_limits(request, "transactions", "events")
        transactions = await self._intake.ingest(request, "transactions")
        events = await self._intake.ingest(request, "events")
        return ingestion_pb2.IngestBatchResponse(
            transactions=to_summary(transactions), events=to_summary(events)
        )

    async def UpsertProducts(self, request, context):
        _envelope_limits(request, "products", at_least=1)
        outcome = await self._intake.ingest(request, "products")
        return ingestion_pb2.UpsertProductsResponse(summary=to_summary(outcome))

    async def UpsertCustomers(self, request, context):
        _envelope_limits(request, "customers", at_least=1)
        outcome = await self._intake.ingest(request, "customers")
        return ingestion_pb2.UpsertCustomersResponse(summary=to_summary(outcome))


def add_to_server(servicer: IngestionServicer, server) -> None:
    """Register the handlers, as the generated code does, except for the two streams.

    Their messages are handed over as the bytes that arrived: a worker process parses and
    judges them (`judge.JudgePool`), so the event loop never spends time decoding them.
    """
    methods = {}
    for method in ingestion_pb2.DESCRIPTOR.services_by_name["IngestionService"].methods:
        handler = getattr(servicer, method.name)
        request = message_factory.GetMessageClass(method.input_type)
        response = message_factory.GetMessageClass(method.output_type)
        if method.client_streaming:
            methods[method.name] = grpc.stream_unary_rpc_method_handler(
                handler, request_deserializer=None, response_serializer=response.SerializeToString
            )
        else:
            methods[method.name] = grpc.unary_unary_rpc_method_handler(
                handler,
                request_deserializer=request.FromString,
                response_serializer=response.SerializeToString,
            )
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE_NAME, methods),))
    server.add_registered_method_handlers(SERVICE_NAME, methods)
