"""Settings of the cases service (env prefix `ECAP_CASES_`, and `ECAP_DATABASE_URL`)."""

from __future__ import annotations

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import SettingsConfigDict

from services.mesh.config import RUN_DIR, ServerSettings
from services.mesh.sql import database_url


class CasesSettings(ServerSettings):
    """Where the cases service listens, where it stores cases, and its case policy."""

    model_config = SettingsConfigDict(
        env_prefix="ECAP_CASES_", extra="ignore", populate_by_name=True
    )

    port: int = 50054
    metrics_port: int = 9454

    database_url: str = Field(
        default=f"sqlite:///{RUN_DIR / 'cases.db'}",
        validation_alias=AliasChoices("ECAP_DATABASE_URL", "ECAP_CASES_DATABASE_URL"),
        description="SQLAlchemy URL; postgresql://user@host/db selects PostgreSQL (psycopg)",
    )
    migrate_on_start: bool = Field(default=True, description="apply Alembic migrations at start")
    db_workers: int = Field(
        default=8, ge=1, le=64, description="threads (and pooled connections) for DB work"
    )
    sqlite_busy_timeout_ms: int = Field(default=10_000, ge=0)
    db_ping_after_idle_s: float = Field(
        default=30.0,
        ge=0,
        description="PostgreSQL: check a pooled connection before use once it idled this long "
        "(0: before every use)",
    )

    # Priority = risk_score x amount in major units (see services/cases/policy.py).
    priority_critical_from: float = Field(default=500.0, gt=0)
    priority_high_from: float = Field(default=100.0, gt=0)
    priority_medium_from: float = Field(default=20.0, gt=0)
    sla_critical_s: float = Field(default=3600.0, gt=0, description="1 hour")
    sla_high_s: float = Field(default=4 * 3600.0, gt=0, description="4 hours")
    sla_medium_s: float = Field(default=24 * 3600.0, gt=0, description="1 day")
    sla_low_s: float = Field(default=72 * 3600.0, gt=0, description="3 days")
    sla_at_risk_fraction: float = Field(
        default=0.25, gt=0, lt=1, description="a case is at risk in the last part of its SLA"
    )

    # Queues: alerts of at least `high_value_from_minor` go to `high_value_queue`.
    default_queue: str = "general"
    high_value_queue: str = "high-value"
    high_value_from_minor: int = Field(default=100_000, ge=0)
    investigator_queues: dict[str, list[str]] = Field(
        default_factory=dict,
        description='JSON {"subject": ["queue", ...]}; others work the default queues',
    )

    stats_window_s: float = Field(default=7 * 24 * 3600.0, gt=0, description="resolution rates")
    watch_heartbeat_s: float = Field(default=15.0, gt=0)
    watch_buffer: int = Field(default=1_000, ge=1, description="changes a slow watcher may lag")

    consume_alerts: bool = Field(default=True, description="run the fraud-alerts consumer")
    topic_alerts: str = "fraud-alerts"
    topic_case_events: str = "case-events"
    consumer_group: str = "ecap-cases"
    consumer_batch: int = Field(default=500, ge=1, le=10_000)
    outbox_interval_s: float = Field(default=1.0, gt=0, description="outbox poll when idle")
    outbox_batch: int = Field(default=500, ge=1)
    delivery_timeout_ms: int = Field(default=15_000, gt=0)

    @field_validator("database_url")
    @classmethod
    def _driver(cls, url: str) -> str:
        return database_url(url, "database_url")

    @property
    def default_queues(self) -> list[str]:
        """The queues of an investigator not listed in `investigator_queues`."""
        return [self.default_queue, self.high_value_queue]

    def queues_of(self, subject: str) -> list[str]:
        """The queues `subject` works."""
        return self.investigator_queues.get(subject, self.default_queues)
