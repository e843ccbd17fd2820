"""gRPC handlers of `ecap.v1.ScoringService`, thin: protobuf in, domain call, protobuf out."""

from ecap.v1 import scoring_pb2, scoring_pb2_grpc
from services.mesh.auth import RoleTable

SERVICE_NAME = scoring_pb2.DESCRIPTOR.services_by_name["ScoringService"].full_name

# Which roles may call which RPC. The RPCs arrive with the issue that builds this service.
ROLES: RoleTable = {}


class ScoringServicer(scoring_pb2_grpc.ScoringServiceServicer):
    """Handlers of `ScoringService`."""
