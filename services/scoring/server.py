"""Wiring of the scoring service and its `main`."""

import sys

from ecap.v1 import scoring_pb2_grpc
from services.mesh.server import ServiceSpec, serve
from services.scoring.config import ScoringSettings
from services.scoring.servicer import ROLES, SERVICE_NAME, ScoringServicer


def build_spec() -> ServiceSpec:
    """The scoring service as the mesh runs it."""
    servicer = ScoringServicer()
    return ServiceSpec(
        name="scoring",
        service_names=[SERVICE_NAME],
        register=lambda server: scoring_pb2_grpc.add_ScoringServiceServicer_to_server(
            servicer, server
        ),
        role_table=ROLES,
    )


def main(spec: ServiceSpec | None = None) -> None:
    """Serve `spec` (default: `build_spec()`) until SIGTERM."""
    sys.exit(serve(spec or build_spec(), ScoringSettings()))
