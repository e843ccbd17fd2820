"""Settings of the local stack runner (env prefix `ECAP_STACK_`)."""

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[2]


class ModelServerSettings(BaseSettings):
    """Where the stack's BentoML model services listen (env prefix `ECAP_MODEL_SERVER_`)."""

    model_config = SettingsConfigDict(env_prefix="ECAP_MODEL_SERVER_", extra="ignore")

    host: str = "127.0.0.1"
    fraud_port: int = Field(default=3001, ge=1, le=65535)
    churn_port: int = Field(default=3002, ge=1, le=65535)


class StackSettings(BaseSettings):
    """Where the stack definition, pid files and logs live, and how long to wait."""

    model_config = SettingsConfigDict(env_prefix="ECAP_STACK_", extra="ignore")

    definition: Path = REPO_ROOT / "compose" / "stack.yaml"
    run_dir: Path = Field(default=REPO_ROOT / ".run", description="pids, logs, broker data")
    ready_timeout_s: float = Field(default=60.0, gt=0)
    stop_timeout_s: float = Field(default=20.0, gt=0)

    @property
    def log_dir(self) -> Path:
        """One log file per process."""
        return self.run_dir / "logs"

    @property
    def pid_dir(self) -> Path:
        """One pid file per running process."""
        return self.run_dir / "pids"

    @property
    def jwt_secret_file(self) -> Path:
        """The development HS256 secret shared by the stack and `ecap token`."""
        return self.run_dir / "jwt.secret"


class GatewayBuildSettings(BaseSettings):
    """How the stack builds and starts the REST gateway (env prefix `ECAP_GATEWAY_`). The
    gateway binary reads the same prefix for its own settings (`--help` lists them)."""

    model_config = SettingsConfigDict(env_prefix="ECAP_GATEWAY_", extra="ignore")

    listen: str = Field(default="127.0.0.1:8080", description="HTTP address of the REST API")
    go: str = Field(default="go", description="the Go toolchain used to build the gateway")
    source_dir: Path = REPO_ROOT / "gateway"
