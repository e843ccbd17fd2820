"""gRPC handlers of `ecap.v1.CaseService`, thin: protobuf in, domain call, protobuf out."""

from ecap.v1 import cases_pb2, cases_pb2_grpc
from services.mesh.auth import RoleTable

SERVICE_NAME = cases_pb2.DESCRIPTOR.services_by_name["CaseService"].full_name

# Which roles may call which RPC. The RPCs arrive with the issue that builds this service.
ROLES: RoleTable = {}


class CasesServicer(cases_pb2_grpc.CaseServiceServicer):
    """Handlers of `CaseService`."""
