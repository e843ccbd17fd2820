"""Settings of the ingestion service (env prefix `ECAP_INGESTION_`)."""

from pydantic_settings import SettingsConfigDict

from services.mesh.config import ServerSettings


class IngestionSettings(ServerSettings):
    """Where the ingestion service listens."""

    model_config = SettingsConfigDict(env_prefix="ECAP_INGESTION_", extra="ignore")

    port: int = 50051
    metrics_port: int = 9451
