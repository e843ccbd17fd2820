"""Settings of the cases service (env prefix `ECAP_CASES_`)."""

from pydantic_settings import SettingsConfigDict

from services.mesh.config import ServerSettings


class CasesSettings(ServerSettings):
    """Where the cases service listens."""

    model_config = SettingsConfigDict(env_prefix="ECAP_CASES_", extra="ignore")

    port: int = 50054
    metrics_port: int = 9454
