"""Wiring of the analytics service and its `main`."""

from __future__ import annotations

import sys
import threading

from ecap.v1 import analytics_pb2_grpc
from services.analytics.config import AnalyticsSettings
from services.analytics.lake import LakeReader
from services.analytics.servicer import ROLES, SERVICE_NAME, AnalyticsServicer, Answers
from services.mesh.server import ServiceSpec, serve
from spark.config import SparkSettings


def build_spec(
    settings: AnalyticsSettings | None = None, lake_settings: SparkSettings | None = None
) -> ServiceSpec:
    """The analytics service as the mesh runs it, reading the lake of `lake_settings`."""
    settings = settings or AnalyticsSettings()
    answers = Answers(LakeReader(lake_settings or SparkSettings(), settings), settings)
    servicer = AnalyticsServicer(answers, settings)

    async def warm_up() -> None:
        # In the background: SERVING does not wait for the tables to load.
        threading.Thread(target=answers.warm_up, daemon=True, name="analytics-warm-up").start()

    return ServiceSpec(
        name="analytics",
        service_names=[SERVICE_NAME],
        register=lambda server: analytics_pb2_grpc.add_AnalyticsServiceServicer_to_server(
            servicer, server
        ),
        role_table=ROLES,
        on_start=[warm_up],
        on_shutdown=[servicer.close],
    )


def main(spec: ServiceSpec | None = None) -> None:
    """Serve `spec` (default: `build_spec()`) until SIGTERM."""
    sys.exit(serve(spec or build_spec(), AnalyticsSettings()))
