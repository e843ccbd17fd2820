"""Settings of the analytics service (env prefix `ECAP_ANALYTICS_`)."""

from pydantic_settings import SettingsConfigDict

from services.mesh.config import ServerSettings


class AnalyticsSettings(ServerSettings):
    """Where the analytics service listens."""

    model_config = SettingsConfigDict(env_prefix="ECAP_ANALYTICS_", extra="ignore")

    port: int = 50053
    metrics_port: int = 9453
