"""Settings of the scoring service (env prefix `ECAP_SCORING_`)."""

from pydantic_settings import SettingsConfigDict

from services.mesh.config import ServerSettings


class ScoringSettings(ServerSettings):
    """Where the scoring service listens."""

    model_config = SettingsConfigDict(env_prefix="ECAP_SCORING_", extra="ignore")

    port: int = 50052
    metrics_port: int = 9452
