"""Wiring of the ingestion service and its `main`."""

import sys

from services.ingestion.config import IngestionSettings
from services.ingestion.dedup import RecentIds
from services.ingestion.intake import Intake
from services.ingestion.judge import JudgePool
from services.ingestion.publisher import KafkaPublisher
from services.ingestion.servicer import (
    RECORD_LEVEL_VALIDATION,
    ROLES,
    SERVICE_NAME,
    IngestionServicer,
    add_to_server,
)
from services.mesh.kafka.config import KafkaSettings
from services.mesh.server import ServiceSpec, serve


def build_spec(
    settings: IngestionSettings | None = None,
    kafka: KafkaSettings | None = None,
    pool: JudgePool | None = None,
) -> ServiceSpec:
    """The ingestion service as the mesh runs it: Kafka publisher, dedup window, handlers."""
    settings = settings or IngestionSettings()
    kafka = kafka or KafkaSettings()
    # Streams and unary calls produce through separate producers, so that a unary call does
    # not wait out the long linger that fills the streams' batches.
    unary, streams = (
        KafkaPublisher(
            kafka.bootstrap_servers,
            delivery_timeout_ms=settings.delivery_timeout_ms,
            queue_kbytes=settings.producer_queue_kbytes,
            linger_ms=linger_ms,
            client_id=f"ecap-ingestion-{name}",
        )
        for name, linger_ms in (
            ("unary", settings.unary_linger_ms),
            ("streams", settings.stream_linger_ms),
        )
    )
    recent = RecentIds(settings.dedup_window_s, settings.dedup_max_ids)
    pool = pool or JudgePool(settings.validation_workers)
    intake = Intake(settings, unary, streams, recent, pool)
    servicer = IngestionServicer(intake, pipeline_depth=settings.pipeline_depth)

    async def flush_producer() -> None:
        for publisher in (unary, streams):
            publisher.close()
        pool.close()

    return ServiceSpec(
        name="ingestion",
        service_names=[SERVICE_NAME],
        register=lambda server: add_to_server(servicer, server),
        role_table=ROLES,
        record_level_validation=RECORD_LEVEL_VALIDATION,
        on_start=[pool.start],
        on_shutdown=[flush_producer],
    )


def main(spec: ServiceSpec | None = None) -> None:
    """Serve `spec` (default: `build_spec()`) until SIGTERM."""
    sys.exit(serve(spec or build_spec(), IngestionSettings()))
