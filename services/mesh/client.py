"""The one way services and tools open a gRPC channel: deadlines, retries, keepalive, auth."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable

import grpc
from opentelemetry import propagate

from services.mesh.config import ClientSettings

TokenSource = Callable[[], str | None]


def service_config(settings: ClientSettings) -> str:
    """A gRPC service config that retries UNAVAILABLE with exponential backoff."""
    return json.dumps(
        {
            "methodConfig": [
                {
                    "name": [{}],
                    "retryPolicy": {
                        "maxAttempts": settings.retry_max_attempts,
                        "initialBackoff": f"{settings.retry_initial_backoff_s}s",
                        "maxBackoff": f"{settings.retry_max_backoff_s}s",
                        "backoffMultiplier": 2,
                        "retryableStatusCodes": ["UNAVAILABLE"],
                    },
                }
            ]
        }
    )


class _CallDefaults:
    """Adds the bearer token and a default deadline to every call that lacks one."""

    def __init__(self, token: TokenSource | None, deadline_s: float) -> None:
        self._token = token
        self._deadline_s = deadline_s

    def _details(self, details: grpc.aio.ClientCallDetails) -> grpc.aio.ClientCallDetails:
        metadata = grpc.aio.Metadata(*(details.metadata or ()))
        token = self._token() if self._token else None
        if token and "authorization" not in metadata:
            metadata.add("authorization", f"Bearer {token}")
        carrier: dict[str, str] = {}
        propagate.inject(carrier)  # W3C traceparent, so server spans join the caller's trace
        for key, value in carrier.items():
            metadata.add(key, value)
        timeout = details.timeout if details.timeout is not None else self._deadline_s
        return grpc.aio.ClientCallDetails(
            details.method, timeout, metadata, details.credentials, details.wait_for_ready
        )


class _UnaryUnary(_CallDefaults, grpc.aio.UnaryUnaryClientInterceptor):
    async def intercept_unary_unary(self, continuation, details, request):
        return await continuation(self._details(details), request)


class _UnaryStream(_CallDefaults, grpc.aio.UnaryStreamClientInterceptor):
    async def intercept_unary_stream(self, continuation, details, request):
        return await continuation(self._details(details), request)


class _StreamUnary(_CallDefaults, grpc.aio.StreamUnaryClientInterceptor):
    async def intercept_stream_unary(self, continuation, details, request_iterator):
        return await continuation(self._details(details), request_iterator)


class _StreamStream(_CallDefaults, grpc.aio.StreamStreamClientInterceptor):
    async def intercept_stream_stream(self, continuation, details, request_iterator):
        return await continuation(self._details(details), request_iterator)


def connect(
    target: str,
    *,
    token: str | TokenSource | None = None,
    settings: ClientSettings | None = None,
    deadline_s: float | None = None,
) -> grpc.aio.Channel:
    """An insecure `grpc.aio` channel to `target` with the mesh's call defaults.

    Streaming calls get the default deadline too; pass `timeout=` per call for long streams.
    """
    settings = settings or ClientSettings()
    source: TokenSource | None = (lambda: token) if isinstance(token, str) else token
    deadline = deadline_s if deadline_s is not None else settings.deadline_s
    interceptors = [
        cls(source, deadline) for cls in (_UnaryUnary, _UnaryStream, _StreamUnary, _StreamStream)
    ]
    options = [
        ("grpc.service_config", service_config(settings)),
        ("grpc.enable_retries", 1),
        ("grpc.keepalive_time_ms", settings.keepalive_time_ms),
        ("grpc.keepalive_permit_without_calls", 0),
        ("grpc.lb_policy_name", "round_robin"),
    ]
    return grpc.aio.insecure_channel(target, options=options, interceptors=interceptors)


async def wait_until_ready(channel: grpc.aio.Channel, timeout_s: float | None = None) -> None:
    """Block until the channel connects (start-up ordering), or raise TimeoutError."""
    timeout = timeout_s if timeout_s is not None else ClientSettings().ready_timeout_s
    await asyncio.wait_for(channel.channel_ready(), timeout)
