"""The mesh's server interceptor: auth → validation → metrics → tracing → logging → errors.

One interceptor runs the whole chain in one wrapper per RPC, in the order DESIGN.md gives,
so that a call rejected by auth or validation is still counted, traced and logged.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable

import grpc
import structlog
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace

from services.mesh import auth, errors, telemetry, validation

log = structlog.get_logger("ecap.rpc")
_tracer = trace.get_tracer("ecap.mesh")


class MeshInterceptor(grpc.aio.ServerInterceptor):
    """Wraps every handler of a service with the mesh's cross-cutting concerns."""

    def __init__(
        self,
        service: str,
        verifier: auth.TokenVerifier,
        role_table: auth.RoleTable,
        *,
        skip_validation: frozenset[str] = frozenset(),
    ) -> None:
        self._service = service
        self._verifier = verifier
        self._roles = role_table
        self._skip_validation = skip_validation

    async def intercept_service(self, continuation, handler_call_details):
        handler = await continuation(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method
        metadata = dict(handler_call_details.invocation_metadata or ())
        stage = _Stage(self, method, metadata.get("authorization"), propagate.extract(metadata))
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                stage.wrap_unary(handler.unary_unary, validate=True),
                handler.request_deserializer,
                handler.response_serializer,
            )
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                stage.wrap_stream(handler.unary_stream, validate=True),
                handler.request_deserializer,
                handler.response_serializer,
            )
        # Client streams carry batches whose records are validated one by one by the
        # handler, so that one bad record never fails the whole stream.
        if handler.stream_unary:
            return grpc.stream_unary_rpc_method_handler(
                stage.wrap_unary(handler.stream_unary, validate=False),
                handler.request_deserializer,
                handler.response_serializer,
            )
        return grpc.stream_stream_rpc_method_handler(
            stage.wrap_stream(handler.stream_stream, validate=False),
            handler.request_deserializer,
            handler.response_serializer,
        )


class _Stage:
    """The per-RPC chain for one method call."""

    def __init__(
        self,
        owner: MeshInterceptor,
        method: str,
        authorization: str | None,
        parent: otel_context.Context,
    ) -> None:
        self.owner = owner
        self.parent = parent
        self.method = method
        self.authorization = authorization

    def _admit(self, request, validate: bool, observed: _Observed) -> None:
        if auth.is_open(self.method):
            return
        principal = self.owner._verifier.verify(self.authorization)
        observed.bind(principal)
        auth.authorize(principal, self.method, self.owner._roles)
        if validate and self.method not in self.owner._skip_validation:
            validation.validate(request)

    def wrap_unary(self, behavior: Callable, *, validate: bool):
        async def handle(request, context: grpc.aio.ServicerContext):
            with _Observed(self, context) as observed:
                try:
                    self._admit(request, validate, observed)
                    result = behavior(request, context)
                    if inspect.isawaitable(result):
                        result = await result
                    return result
                except (grpc.aio.AbortError, asyncio.CancelledError):
                    raise
                except Exception as exc:
                    await observed.abort(exc)

        return handle

    def wrap_stream(self, behavior: Callable, *, validate: bool):
        async def handle(request, context: grpc.aio.ServicerContext):
            with _Observed(self, context) as observed:
                try:
                    self._admit(request, validate, observed)
                    result = behavior(request, context)
                    if inspect.isasyncgen(result):
                        async for response in result:
                            yield response
                    elif inspect.isawaitable(result):
                        await result
                    else:
                        for response in result:
                            yield response
                except (grpc.aio.AbortError, asyncio.CancelledError):
                    raise
                except Exception as exc:
                    await observed.abort(exc)

        return handle


class _Observed:
    """Span, in-flight gauge, latency, status counter and the closing log line of one RPC."""

    def __init__(self, stage: _Stage, context: grpc.aio.ServicerContext) -> None:
        self.stage = stage
        self.context = context
        self.code = grpc.StatusCode.OK
        self.principal = auth.ANONYMOUS
        self.error: BaseException | None = None

    def bind(self, principal: auth.Principal) -> None:
        self.principal = principal
        auth.set_current_principal(principal)

    async def abort(self, exc: Exception) -> None:
        self.error = exc
        status = errors.grpc_status_for(exc)
        self.code = status.code
        await self.context.abort(status.code, status.details, status.trailing_metadata)

    def __enter__(self) -> _Observed:
        service = self.stage.owner._service
        self.started = time.perf_counter()
        self.span_cm = _tracer.start_as_current_span(
            self.stage.method.lstrip("/"),
            context=self.stage.parent,  # continue the caller's trace (W3C traceparent)
            kind=trace.SpanKind.SERVER,
            attributes={"rpc.system": "grpc", "rpc.method": self.stage.method},
        )
        self.span = self.span_cm.__enter__()
        telemetry.RPC_IN_FLIGHT.labels(service).inc()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        service = self.stage.owner._service
        elapsed = time.perf_counter() - self.started
        if exc_type is asyncio.CancelledError:
            self.code = grpc.StatusCode.CANCELLED
        elif exc_type is not None and self.error is None:
            self.code = self.context.code() or grpc.StatusCode.UNKNOWN  # handler's own abort
        code_name = self.code.name
        telemetry.RPC_IN_FLIGHT.labels(service).dec()
        telemetry.RPC_HANDLED.labels(service, self.stage.method, code_name).inc()
        telemetry.RPC_LATENCY.labels(service, self.stage.method).observe(elapsed)
        self.span.set_attribute("rpc.grpc.status_code", self.code.value[0])
        fields = {
            "method": self.stage.method,
            "code": code_name,
            "latency_ms": round(elapsed * 1000, 3),
            "principal": self.principal.subject,
        }
        if self.error is not None and not isinstance(self.error, errors.DomainError):
            log.error("rpc", **fields, exc_info=self.error)
        elif self.code is grpc.StatusCode.OK or self.code is grpc.StatusCode.CANCELLED:
            log.info("rpc", **fields)
        else:
            log.warning("rpc", **fields, error=str(self.error or self.context.details()))
        # Each RPC runs in its own task with a copied context, so the principal bound by
        # bind() cannot leak into another call and needs no reset here.
        self.span_cm.__exit__(exc_type, exc, tb)
