"""Wiring of the analytics service and its `main`."""

import sys

from ecap.v1 import analytics_pb2_grpc
from services.analytics.config import AnalyticsSettings
from services.analytics.servicer import ROLES, SERVICE_NAME, AnalyticsServicer
from services.mesh.server import ServiceSpec, serve


def build_spec() -> ServiceSpec:
    """The analytics service as the mesh runs it."""
    servicer = AnalyticsServicer()
    return ServiceSpec(
        name="analytics",
        service_names=[SERVICE_NAME],
        register=lambda server: analytics_pb2_grpc.add_AnalyticsServiceServicer_to_server(
            servicer, server
        ),
        role_table=ROLES,
    )


def main(spec: ServiceSpec | None = None) -> None:
    """Serve `spec` (default: `build_spec()`) until SIGTERM."""
    sys.exit(serve(spec or build_spec(), AnalyticsSettings()))
