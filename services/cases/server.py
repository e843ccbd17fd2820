"""Wiring of the cases service and its `main`."""

import sys

from ecap.v1 import cases_pb2_grpc
from services.cases.config import CasesSettings
from services.cases.servicer import ROLES, SERVICE_NAME, CasesServicer
from services.mesh.server import ServiceSpec, serve


def build_spec() -> ServiceSpec:
    """The cases service as the mesh runs it."""
    servicer = CasesServicer()
    return ServiceSpec(
        name="cases",
        service_names=[SERVICE_NAME],
        register=lambda server: cases_pb2_grpc.add_CaseServiceServicer_to_server(servicer, server),
        role_table=ROLES,
    )


def main(spec: ServiceSpec | None = None) -> None:
    """Serve `spec` (default: `build_spec()`) until SIGTERM."""
    sys.exit(serve(spec or build_spec(), CasesSettings()))
