"""The mesh interceptor chain against a real in-process gRPC server on a free port."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import grpc
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from opentelemetry import trace

from ecap.v1 import common_pb2
from services.mesh import client as mesh_client
from services.mesh.config import AuthSettings, TelemetrySettings
from services.mesh.errors import details_of
from services.mesh.server import ServiceSpec
from services.mesh.telemetry import configure_tracing
from tests.fixtures.mesh import run_async, running_server
from tests.support import probe_service as probe

pytestmark = pytest.mark.integration


def _probe_spec() -> ServiceSpec:
    return ServiceSpec(
        name="probe",
        service_names=["ecap.test.v1.ProbeService"],
        register=lambda server: None,
        role_table=probe.ROLES,
        generic_handlers=[probe.probe_handler()],
    )


def _valid_transaction(transaction_id: str = "t-1") -> common_pb2.Transaction:
    txn = common_pb2.Transaction(
        transaction_id=transaction_id,
        customer_id="c-1",
        merchant_id="m-1",
        amount=common_pb2.Money(amount_minor=1999, currency="EUR"),
    )
    txn.occurred_at.GetCurrentTime()
    return txn


@pytest.fixture(scope="module")
def server(auth_settings):
    with running_server(_probe_spec(), auth_settings) as running:
        yield running


@pytest.fixture()
def channel(server):
    with grpc.insecure_channel(server.address) as chan:
        yield chan


def _bearer(token: str) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {token}")]


def _error(call, *args, **kwargs) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        call(*args, **kwargs)
    return caught.value


def test_valid_token_and_role_reaches_the_handler(channel, mint):
    reply = probe.call(
        channel, probe.CHECK, _valid_transaction(), metadata=_bearer(mint("analyst", sub="ann"))
    )
    assert reply.transaction_id == "t-1"
    assert reply.customer_id == "ann"  # the handler saw the token's subject


def test_missing_token_is_unauthenticated(channel):
    error = _error(probe.call, channel, probe.CHECK, _valid_transaction())
    assert error.code() is grpc.StatusCode.UNAUTHENTICATED
    assert details_of(error)["reason"] == "TOKEN_MISSING"
    assert "ecap token" in error.details()


def test_expired_token_is_unauthenticated(channel, mint):
    expired = mint("analyst", ttl_s=60, now=time.time() - 3600)
    error = _error(
        probe.call, channel, probe.CHECK, _valid_transaction(), metadata=_bearer(expired)
    )
    assert error.code() is grpc.StatusCode.UNAUTHENTICATED
    assert details_of(error)["reason"] == "TOKEN_EXPIRED"


def test_token_signed_with_another_secret_is_unauthenticated(channel):
    forged = mint_with_secret("not-the-server-secret-" * 2)
    error = _error(probe.call, channel, probe.CHECK, _valid_transaction(), metadata=_bearer(forged))
    assert error.code() is grpc.StatusCode.UNAUTHENTICATED
    assert details_of(error)["reason"] == "TOKEN_BAD_SIGNATURE"


def mint_with_secret(secret: str) -> str:
    from services.mesh.auth import mint_token

    return mint_token(AuthSettings(secret=secret), subject="mallory", role_names=["admin"])


def test_malformed_header_is_unauthenticated(channel):
    error = _error(
        probe.call,
        channel,
        probe.CHECK,
        _valid_transaction(),
        metadata=[("authorization", "Basic dXNlcjpwYXNz")],
    )
    assert error.code() is grpc.StatusCode.UNAUTHENTICATED
    assert details_of(error)["reason"] == "TOKEN_MALFORMED"


def test_wrong_role_is_permission_denied(channel, mint):
    error = _error(
        probe.call, channel, probe.CHECK, _valid_transaction(), metadata=_bearer(mint("viewer"))
    )
    assert error.code() is grpc.StatusCode.PERMISSION_DENIED
    assert details_of(error)["reason"] == "ROLE_NOT_ALLOWED"
    assert "analyst" in error.details() and "viewer" in error.details()


def test_admin_may_call_everything(channel, mint):
    reply = probe.call(channel, probe.CHECK, _valid_transaction(), metadata=_bearer(mint("admin")))
    assert reply.transaction_id == "t-1"


def test_every_field_violation_is_listed(channel, mint):
    txn = _valid_transaction()
    txn.amount.currency = "eur"  # rule: ^[A-Z]{3}$
    txn.items.add(product_id="p-1", quantity=-2, unit_price=common_pb2.Money(currency="EUR"))
    error = _error(probe.call, channel, probe.CHECK, txn, metadata=_bearer(mint("analyst")))
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    details = details_of(error)
    assert details["reason"] == "REQUEST_INVALID"
    found = {(v.field, v.rule) for v in details["field_violations"]}
    assert found == {("amount.currency", "string.pattern"), ("items[0].quantity", "int32.gt_lte")}
    assert "amount.currency" in error.details()


def test_validation_runs_after_auth(channel):
    txn = common_pb2.Transaction()  # invalid, but the caller is not even authenticated
    error = _error(probe.call, channel, probe.CHECK, txn)
    assert error.code() is grpc.StatusCode.UNAUTHENTICATED


@pytest.mark.parametrize(
    ("failure", "code", "reason"),
    [
        ("not-found", grpc.StatusCode.NOT_FOUND, "CASE_NOT_FOUND"),
        ("precondition", grpc.StatusCode.FAILED_PRECONDITION, "ILLEGAL_TRANSITION"),
        ("stale", grpc.StatusCode.ABORTED, "ETAG_MISMATCH"),
        ("unavailable", grpc.StatusCode.UNAVAILABLE, "UNAVAILABLE"),
        ("bug", grpc.StatusCode.INTERNAL, "INTERNAL"),
    ],
)
def test_domain_errors_map_to_status_codes(channel, mint, failure, code, reason):
    error = _error(
        probe.call,
        channel,
        probe.FAIL,
        _valid_transaction(failure),
        metadata=_bearer(mint("analyst")),
    )
    assert error.code() is code
    assert error.code() is not grpc.StatusCode.UNKNOWN
    assert details_of(error)["reason"] == reason
    if failure == "bug":
        assert "division" not in error.details()  # internals stay in the server log


def test_health_and_reflection_need_no_token(channel):
    status = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
    assert status.status == health_pb2.HealthCheckResponse.SERVING
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    replies = list(
        stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
    )
    names = {s.name for s in replies[0].list_services_response.service}
    assert {"ecap.test.v1.ProbeService", "grpc.health.v1.Health"} <= names


def test_client_factory_attaches_token_and_retries_unavailable(server, mint):
    async def go():
        async with mesh_client.connect(server.address, token=mint("service")) as chan:
            await mesh_client.wait_until_ready(chan, 10)
            stub = chan.unary_unary(
                probe.FLAKY,
                request_serializer=common_pb2.Transaction.SerializeToString,
                response_deserializer=common_pb2.Decision.FromString,
            )
            return await stub(_valid_transaction("flaky-1"))

    reply = run_async(go())
    assert reply.risk_score == 3  # two UNAVAILABLE answers were retried by the service config
    assert probe.FLAKY_ATTEMPTS["flaky-1"] == 3


def test_client_factory_applies_default_deadline(server, mint):
    async def go():
        async with mesh_client.connect(
            server.address, token=mint("service"), deadline_s=0.2
        ) as chan:
            stub = chan.unary_unary(
                probe.SLOW,
                request_serializer=common_pb2.Transaction.SerializeToString,
                response_deserializer=common_pb2.Decision.FromString,
            )
            slow = _valid_transaction()
            slow.amount.amount_minor = 3000
            await stub(slow)

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        run_async(go())
    assert caught.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED


class _JwksHandler(BaseHTTPRequestHandler):
    body = b"{}"

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args):
        pass


def test_rs256_tokens_verify_against_a_jwks_url():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    jwk.update(kid="k1", use="sig", alg="RS256")
    _JwksHandler.body = json.dumps({"keys": [jwk]}).encode()
    httpd = HTTPServer(("127.0.0.1", 0), _JwksHandler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    settings = AuthSettings(jwks_url=f"http://127.0.0.1:{httpd.server_port}/jwks.json")
    claims = {
        "sub": "idp-user",
        "roles": ["analyst"],
        "iss": "ecap",
        "aud": "ecap",
        "exp": int(time.time()) + 60,
    }
    good = jwt.encode(claims, key, algorithm="RS256", headers={"kid": "k1"})
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    bad = jwt.encode(claims, other, algorithm="RS256", headers={"kid": "k1"})
    try:
        with (
            running_server(_probe_spec(), settings) as srv,
            grpc.insecure_channel(srv.address) as chan,
        ):
            reply = probe.call(chan, probe.CHECK, _valid_transaction(), metadata=_bearer(good))
            assert reply.customer_id == "idp-user"
            error = _error(
                probe.call, chan, probe.CHECK, _valid_transaction(), metadata=_bearer(bad)
            )
            assert error.code() is grpc.StatusCode.UNAUTHENTICATED
    finally:
        httpd.shutdown()


def test_server_span_joins_the_callers_trace(server, mint):
    configure_tracing(TelemetrySettings(), "test-client")
    tracer = trace.get_tracer("test")

    async def go():
        async with mesh_client.connect(server.address, token=mint("analyst")) as chan:
            stub = chan.unary_unary(
                probe.CHECK,
                request_serializer=common_pb2.Transaction.SerializeToString,
                response_deserializer=common_pb2.Decision.FromString,
            )
            with tracer.start_as_current_span("checkout") as span:
                reply = await stub(_valid_transaction())
                return reply, format(span.get_span_context().trace_id, "032x")

    reply, caller_trace = run_async(go())
    assert reply.decision_id == caller_trace
