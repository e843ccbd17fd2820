"""Wiring of the ingestion service and its `main`."""

import sys

from ecap.v1 import ingestion_pb2_grpc

from services.ingestion.config import IngestionSettings
from services.ingestion.servicer import ROLES, SERVICE_NAME, IngestionServicer
from services.mesh.server import ServiceSpec, serve


def build_spec() -> ServiceSpec:
    """The ingestion service as the mesh runs it."""
    servicer = IngestionServicer()
    return ServiceSpec(
        name="ingestion",
        service_names=[SERVICE_NAME],
        register=lambda server: ingestion_pb2_grpc.add_IngestionServiceServicer_to_server(
            servicer, server
        ),
        role_table=ROLES,
    )


def main(spec: ServiceSpec | None = None) -> None:
    """Serve `spec` (default: `build_spec()`) until SIGTERM."""
    sys.exit(serve(spec or build_spec(), IngestionSettings()))
