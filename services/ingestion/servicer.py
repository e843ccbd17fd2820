"""gRPC handlers of `ecap.v1.IngestionService`, thin: protobuf in, domain call, protobuf out."""

from ecap.v1 import ingestion_pb2, ingestion_pb2_grpc

from services.mesh.auth import RoleTable

SERVICE_NAME = ingestion_pb2.DESCRIPTOR.services_by_name["IngestionService"].full_name

# Which roles may call which RPC. The RPCs arrive with the issue that builds this service.
ROLES: RoleTable = {}


class IngestionServicer(ingestion_pb2_grpc.IngestionServiceServicer):
    """Handlers of `IngestionService`."""
