"""Where the Kafka cluster is, as every ECAP client sees it (env prefix `ECAP_KAFKA_`)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class KafkaSettings(BaseSettings):
    """The cluster to talk to: an external one, or the embedded single-node broker."""

    model_config = SettingsConfigDict(env_prefix="ECAP_KAFKA_", extra="ignore")

    bootstrap: str | None = Field(
        default=None,
        description="bootstrap servers of an external cluster; unset means the embedded broker",
    )
    host: str = Field(default="127.0.0.1", description="the embedded broker's listener host")
    port: int = Field(default=9092, ge=1, le=65535, description="the embedded broker's port")
    replication_factor: int = Field(
        default=1, ge=1, description="replication factor of the topics `ensure_topics` creates"
    )

    @property
    def external(self) -> bool:
        """True when an external cluster is configured and no broker should be started."""
        return bool(self.bootstrap)

    @property
    def bootstrap_servers(self) -> str:
        """The `bootstrap.servers` value for clients."""
        return self.bootstrap or f"{self.host}:{self.port}"
