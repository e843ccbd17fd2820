"""Build and run a service on the mesh: health, reflection, metrics, interceptor, SIGTERM drain."""

from __future__ import annotations

import asyncio
import gc
import signal
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import grpc
import structlog
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from prometheus_client import start_http_server

from services.mesh import auth
from services.mesh.config import AuthSettings, ServerSettings, TelemetrySettings
from services.mesh.interceptor import MeshInterceptor
from services.mesh.telemetry import configure_logging, configure_tracing

log = structlog.get_logger("ecap.mesh")

ShutdownHook = Callable[[], Awaitable[None]]


@dataclass
class ServiceSpec:
    """What a service plugs into the mesh."""

    name: str
    # Full names of the gRPC services registered, e.g. "ecap.v1.IngestionService".
    service_names: Sequence[str]
    register: Callable[[grpc.aio.Server], None]
    role_table: auth.RoleTable
    # Unary RPCs whose requests carry records judged one by one by the handler, so the
    # interceptor does not reject the whole request for one bad record.
    record_level_validation: frozenset[str] = frozenset()
    # Extra generic handlers (tests add slow or failing methods this way).
    generic_handlers: Sequence[grpc.GenericRpcHandler] = ()
    # Run after in-flight RPCs drained, e.g. flush a Kafka producer.
    on_shutdown: list[ShutdownHook] = field(default_factory=list)
    # Start-up work that must finish before the service reports SERVING.
    on_start: list[ShutdownHook] = field(default_factory=list)


class MeshServer:
    """A started (or startable) gRPC server with its health servicer and metrics port."""

    def __init__(
        self,
        spec: ServiceSpec,
        settings: ServerSettings,
        auth_settings: AuthSettings | None = None,
    ) -> None:
        self.spec = spec
        self.settings = settings
        verifier = auth.TokenVerifier(auth_settings or AuthSettings())
        options = [
            ("grpc.max_receive_message_length", settings.max_receive_message_bytes),
            ("grpc.so_reuseport", 0),
        ]
        self.server = grpc.aio.server(
            interceptors=[
                MeshInterceptor(
                    spec.name,
                    verifier,
                    spec.role_table,
                    skip_validation=spec.record_level_validation,
                )
            ],
            options=options,
            maximum_concurrent_rpcs=settings.max_concurrent_rpcs,
        )
        self.health = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        spec.register(self.server)
        if spec.generic_handlers:
            self.server.add_generic_rpc_handlers(tuple(spec.generic_handlers))
        reflection.enable_server_reflection(
            (*spec.service_names, health.SERVICE_NAME, reflection.SERVICE_NAME), self.server
        )
        self.port = self.server.add_insecure_port(settings.address)
        if self.port == 0:
            raise RuntimeError(f"{spec.name}: cannot bind {settings.address} (port in use?)")
        self.metrics_port: int | None = None
        self._stopping = asyncio.Event()

    @property
    def address(self) -> str:
        """Where clients reach this server."""
        return f"{self.settings.host}:{self.port}"

    async def start(self) -> None:
        """Listen, run start hooks, then report SERVING for every service."""
        if self.settings.metrics_enabled:
            metrics_server, _ = start_http_server(
                self.settings.metrics_port, addr=self.settings.host
            )
            self.metrics_port = metrics_server.server_port
        await self.server.start()
        for hook in self.spec.on_start:
            await hook()
        for name in ("", *self.spec.service_names):
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        # Everything loaded so far (modules, protobuf descriptors, settings) lives as long as
        # the process: out of the collector's sight, full collections stop walking it, which
        # otherwise stalls the event loop for tens of milliseconds (the RPC latency tail).
        gc.freeze()
        log.info(
            "serving",
            address=self.address,
            metrics_port=self.metrics_port,
            services=list(self.spec.service_names),
        )

    async def stop(self, grace: float | None = None) -> None:
        """Report NOT_SERVING, refuse new RPCs, drain in-flight ones, then run shutdown hooks."""
        grace = self.settings.grace_period_s if grace is None else grace
        log.info("draining", grace_period_s=grace)
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace)
        for hook in self.spec.on_shutdown:
            try:
                await hook()
            except Exception:
                log.exception("shutdown hook failed", hook=getattr(hook, "__name__", repr(hook)))
        log.info("stopped")

    async def serve_until_signalled(self) -> None:
        """Run until SIGTERM or SIGINT, then stop gracefully."""
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self._stopping.set)
        await self.start()
        await self._stopping.wait()
        await self.stop()


def serve(spec: ServiceSpec, settings: ServerSettings) -> int:
    """A service's `main`: configure telemetry, serve until SIGTERM, return the exit code."""
    telemetry = TelemetrySettings()
    configure_logging(telemetry, spec.name)
    configure_tracing(telemetry, spec.name)
    try:
        auth_settings = AuthSettings()
        auth_settings.require_key_source()
    except ValueError as exc:
        log.error("configuration error", error=str(exc))
        return 2

    async def run() -> None:
        await MeshServer(spec, settings, auth_settings).serve_until_signalled()

    asyncio.run(run())
    return 0
