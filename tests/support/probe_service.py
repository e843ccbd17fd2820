"""A test-only gRPC service added to real servers: a checked call, failures on demand, a slow call.

It uses our own messages (a `Transaction` in, a `Decision` out) through generic handlers, so
no extra proto is needed, and the mesh treats it like any business RPC.
"""

from __future__ import annotations

import asyncio

import grpc
from opentelemetry import trace

from ecap.v1 import common_pb2
from services.mesh import errors
from services.mesh.auth import Role, current_principal, roles

CHECK = "/ecap.test.v1.ProbeService/Check"
FAIL = "/ecap.test.v1.ProbeService/Fail"
SLOW = "/ecap.test.v1.ProbeService/Slow"
FLAKY = "/ecap.test.v1.ProbeService/Flaky"

ROLES = {
    CHECK: roles(Role.ANALYST, Role.SERVICE),
    FAIL: roles(Role.ANALYST),
    SLOW: roles(Role.SERVICE),
    FLAKY: roles(Role.SERVICE),
}
# Flaky calls seen per transaction id: the first two of each fail with UNAVAILABLE.
FLAKY_ATTEMPTS: dict[str, int] = {}

FAILURES: dict[str, Exception] = {
    "not-found": errors.NotFound("case c-1 does not exist", reason="CASE_NOT_FOUND"),
    "precondition": errors.FailedPrecondition("case is RESOLVED", reason="ILLEGAL_TRANSITION"),
    "stale": errors.Aborted("etag mismatch"),
    "unavailable": errors.Unavailable("kafka is down"),
    "bug": ZeroDivisionError("division by zero"),
}


async def _check(request: common_pb2.Transaction, context) -> common_pb2.Decision:
    trace_id = format(trace.get_current_span().get_span_context().trace_id, "032x")
    return common_pb2.Decision(
        transaction_id=request.transaction_id,
        customer_id=current_principal().subject,
        decision_id=trace_id,  # lets tests see which trace the server joined
    )


async def _fail(request: common_pb2.Transaction, context) -> common_pb2.Decision:
    raise FAILURES[request.transaction_id]


async def _slow(request: common_pb2.Transaction, context) -> common_pb2.Decision:
    # The amount says how long to take, in milliseconds.
    await asyncio.sleep(request.amount.amount_minor / 1000)
    return common_pb2.Decision(transaction_id=request.transaction_id)


async def _flaky(request: common_pb2.Transaction, context) -> common_pb2.Decision:
    seen = FLAKY_ATTEMPTS.get(request.transaction_id, 0) + 1
    FLAKY_ATTEMPTS[request.transaction_id] = seen
    if seen <= 2:
        raise errors.Unavailable(f"attempt {seen} fails on purpose")
    return common_pb2.Decision(transaction_id=request.transaction_id, risk_score=seen)


def _handler(behavior):
    return grpc.unary_unary_rpc_method_handler(
        behavior,
        request_deserializer=common_pb2.Transaction.FromString,
        response_serializer=common_pb2.Decision.SerializeToString,
    )


def probe_handler() -> grpc.GenericRpcHandler:
    """The probe service's handlers, ready for `ServiceSpec.generic_handlers`."""
    return grpc.method_handlers_generic_handler(
        "ecap.test.v1.ProbeService",
        {
            "Check": _handler(_check),
            "Fail": _handler(_fail),
            "Slow": _handler(_slow),
            "Flaky": _handler(_flaky),
        },
    )


def call(channel: grpc.Channel, method: str, request: common_pb2.Transaction, **kwargs):
    """Invoke a probe method on a sync channel."""
    stub = channel.unary_unary(
        method,
        request_serializer=common_pb2.Transaction.SerializeToString,
        response_deserializer=common_pb2.Decision.FromString,
    )
    return stub(request, **kwargs)
