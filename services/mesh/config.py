"""Settings shared by every service; each service subclasses `ServerSettings` with its prefix."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

RUN_DIR = Path(".run")


class ServerSettings(BaseSettings):
    """Where and how one gRPC service listens. Subclasses set the `ECAP_<SERVICE>_` prefix."""

    model_config = SettingsConfigDict(env_prefix="ECAP_SERVER_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=0, ge=0, le=65535, description="0 picks a free port")
    metrics_port: int = Field(
        default=0, ge=0, le=65535, description="Prometheus HTTP port; 0 picks a free port"
    )
    metrics_enabled: bool = True
    grace_period_s: float = Field(default=10.0, ge=0, description="SIGTERM drain time")
    max_receive_message_bytes: int = Field(default=4 * 1024 * 1024, gt=0)
    max_concurrent_rpcs: int | None = Field(default=None, gt=0)

    @property
    def address(self) -> str:
        """The address the server binds, `host:port`."""
        return f"{self.host}:{self.port}"


class AuthSettings(BaseSettings):
    """How bearer tokens are verified (and minted, for development)."""

    model_config = SettingsConfigDict(env_prefix="ECAP_JWT_", extra="ignore")

    secret: SecretStr | None = Field(
        default=None, description="HS256 shared secret (ECAP_JWT_SECRET)"
    )
    secret_file: Path = Field(
        default=RUN_DIR / "jwt.secret",
        description="read when ECAP_JWT_SECRET is unset; `ecap up` creates it",
    )
    jwks_url: str | None = Field(default=None, description="RS256 key set for real deployments")
    issuer: str = "ecap"
    audience: str = "ecap"
    leeway_s: float = 5.0
    verified_cache_size: int = Field(
        default=4096,
        ge=0,
        description="tokens whose signature was verified, remembered until they expire, so a "
        "caller's every RPC does not pay for the signature again (0: verify every time)",
    )

    @model_validator(mode="after")
    def _load_secret_file(self) -> AuthSettings:
        if self.secret is None and self.secret_file.is_file():
            self.secret = SecretStr(self.secret_file.read_text().strip())
        return self

    def require_key_source(self) -> None:
        """Fail fast at start-up when tokens could not be verified."""
        if self.secret is None and not self.jwks_url:
            raise ValueError(
                "no token verification key: set ECAP_JWT_SECRET (HS256) or ECAP_JWT_JWKS_URL "
                f"(RS256), or run `ecap up`, which writes {self.secret_file}"
            )


class TelemetrySettings(BaseSettings):
    """Logging and tracing."""

    model_config = SettingsConfigDict(env_prefix="ECAP_", extra="ignore")

    log_level: str = "INFO"
    log_format: str = Field(default="json", pattern="^(json|console)$")
    trace_exporter: str = Field(
        default="none", pattern="^(none|console)$", description="where spans go"
    )


class ClientSettings(BaseSettings):
    """Defaults for outgoing gRPC calls."""

    model_config = SettingsConfigDict(env_prefix="ECAP_CLIENT_", extra="ignore")

    deadline_s: float = Field(default=5.0, gt=0)
    ready_timeout_s: float = Field(default=15.0, gt=0)
    retry_max_attempts: int = Field(default=4, ge=2, le=5)
    retry_initial_backoff_s: float = Field(default=0.1, gt=0)
    retry_max_backoff_s: float = Field(default=2.0, gt=0)
    keepalive_time_ms: int = Field(default=30_000, gt=0)
