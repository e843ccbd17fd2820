"""gRPC handlers of `ecap.v1.AnalyticsService`, thin: protobuf in, domain call, protobuf out."""

from ecap.v1 import analytics_pb2, analytics_pb2_grpc
from services.mesh.auth import RoleTable

SERVICE_NAME = analytics_pb2.DESCRIPTOR.services_by_name["AnalyticsService"].full_name

# Which roles may call which RPC. The RPCs arrive with the issue that builds this service.
ROLES: RoleTable = {}


class AnalyticsServicer(analytics_pb2_grpc.AnalyticsServiceServicer):
    """Handlers of `AnalyticsService`."""
