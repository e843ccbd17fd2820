"""Wiring of the cases service and its `main`: database, migrations, alert consumer, outbox."""

from __future__ import annotations

import asyncio
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import structlog

from ecap.v1 import cases_pb2_grpc
from services.cases.config import CasesSettings
from services.cases.consumer import AlertConsumer
from services.cases.db import Database, migrate
from services.cases.feed import ChangeFeed
from services.cases.relay import OutboxRelay
from services.cases.servicer import ROLES, SERVICE_NAME, CasesServicer
from services.cases.store import CaseStore
from services.mesh.kafka.config import KafkaSettings
from services.mesh.server import ServiceSpec, serve

log = structlog.get_logger("ecap.cases")


@dataclass
class CasesService:
    """The service's parts: what the mesh runs, and the pieces tests and benchmarks inspect."""

    spec: ServiceSpec
    store: CaseStore
    relay: OutboxRelay
    consumer: AlertConsumer | None


def build_spec(
    settings: CasesSettings | None = None, kafka: KafkaSettings | None = None
) -> ServiceSpec:
    """The cases service as the mesh runs it."""
    return build_service(settings, kafka).spec


def build_service(
    settings: CasesSettings | None = None, kafka: KafkaSettings | None = None
) -> CasesService:
    """Database, store, live feed, alert consumer, outbox relay and handlers, wired."""
    settings = settings or CasesSettings()
    kafka = kafka or KafkaSettings()
    database = Database(
        settings.database_url,
        pool_size=settings.db_workers,
        busy_timeout_ms=settings.sqlite_busy_timeout_ms,
        ping_after_idle_s=settings.db_ping_after_idle_s,
    )
    store = CaseStore(database, settings)
    feed = ChangeFeed(settings.watch_buffer)
    store.listeners.append(feed.publish)
    workers = ThreadPoolExecutor(settings.db_workers, thread_name_prefix="cases-db")
    servicer = CasesServicer(store, feed, settings, workers)
    relay = OutboxRelay(
        store,
        kafka.bootstrap_servers,
        interval_s=settings.outbox_interval_s,
        batch=settings.outbox_batch,
        delivery_timeout_ms=settings.delivery_timeout_ms,
    )
    store.listeners.append(relay.poke)
    consumer = (
        AlertConsumer(
            store,
            kafka.bootstrap_servers,
            topic=settings.topic_alerts,
            group=settings.consumer_group,
            batch=settings.consumer_batch,
        )
        if settings.consume_alerts
        else None
    )

    async def start() -> None:
        feed.bind(asyncio.get_running_loop())
        if settings.migrate_on_start:
            before, after = await asyncio.to_thread(migrate, database)
            log.info("database migrated", database=database.dialect, before=before, after=after)
        relay.start()
        if consumer is not None:
            consumer.start()

    async def stop() -> None:
        if consumer is not None:
            await asyncio.to_thread(consumer.stop)
        await asyncio.to_thread(relay.stop)
        workers.shutdown(wait=True)
        database.dispose()

    spec = ServiceSpec(
        name="cases",
        service_names=[SERVICE_NAME],
        register=lambda server: cases_pb2_grpc.add_CaseServiceServicer_to_server(servicer, server),
        role_table=ROLES,
        on_start=[start],
        on_shutdown=[stop],
    )
    return CasesService(spec, store, relay, consumer)


def main(spec: ServiceSpec | None = None) -> None:
    """Serve `spec` (default: `build_spec()`) until SIGTERM."""
    sys.exit(serve(spec or build_spec(), CasesSettings()))
