"""Settings of the scoring service (env prefix `ECAP_SCORING_`)."""

from __future__ import annotations

from datetime import timedelta

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from models.features.churn_risk import ChurnRiskSettings
from services.mesh.config import RUN_DIR, ServerSettings
from services.mesh.sql import database_url


class ScoringSettings(ServerSettings, ChurnRiskSettings):
    """Where the scoring service listens, which models it calls, and how it decides."""

    model_config = SettingsConfigDict(
        env_prefix="ECAP_SCORING_", extra="ignore", populate_by_name=True
    )

    port: int = 50052
    metrics_port: int = 9452

    # -- the fraud model (BentoML) ------------------------------------------------------
    fraud_model_url: str = Field(
        default="http://127.0.0.1:3001", description="the BentoML fraud service"
    )
    churn_model_url: str = Field(
        default="http://127.0.0.1:3002", description="the BentoML churn service"
    )
    model_budget_ms: float = Field(
        default=30.0,
        gt=0,
        description="how long a decision waits for the model; then rules alone decide "
        "(degraded=true)",
    )
    batch_max_wait_ms: float = Field(
        default=4.0,
        ge=0,
        description="how long a model call waits for concurrent ones to share its HTTP request",
    )
    batch_max_rows: int = Field(default=64, ge=1, le=4096, description="rows per model request")
    model_retry_s: float = Field(
        default=1.0,
        gt=0,
        description="after a failed model request, calls skip the model (degraded) this long "
        "before the next attempt, so an outage costs no latency",
    )
    review_threshold: float = Field(
        default=0.5, ge=0, le=1, description="risk at or above: REVIEW (unless the model says)"
    )
    decline_threshold: float = Field(
        default=0.9, ge=0, le=1, description="risk at or above: DECLINE (unless the model says)"
    )
    use_model_thresholds: bool = Field(
        default=True,
        description="take REVIEW/DECLINE thresholds from the model's training report when it "
        "has them",
    )
    model_reasons: int = Field(default=3, ge=0, le=20, description="model reasons per decision")

    # -- features ---------------------------------------------------------------------------
    label_delay_days: float = Field(
        default=3.0,
        ge=0,
        description="the label delay of the merchant fraud-rate features; must match the "
        "model's (the model's own value wins when it is served)",
    )
    max_rows_per_entity: int = Field(default=10_000, ge=10, description="feature state cap")
    expire_interval_s: float = Field(default=60.0, gt=0, description="feature state expiry")
    rebuild_from_lake: bool = Field(
        default=True, description="at start, replay the lake's recent silver transactions"
    )
    rebuild_days: float = Field(
        default=30.0, ge=0, description="how much lake history the start-up replay reads"
    )
    rebuild_tail_hours: float = Field(
        default=24.0,
        ge=0,
        description="how far back the start-up replay reads the transactions and decisions "
        "topics (what the lake may not hold yet)",
    )
    decided_cache_size: int = Field(
        default=200_000,
        ge=1_000,
        description="transactions remembered as decided (idempotency, exactly one decision), "
        "about 2 KB each",
    )

    # -- rules --------------------------------------------------------------------------------
    rules_database_url: str = Field(
        default=f"sqlite:///{RUN_DIR / 'scoring-rules.db'}",
        validation_alias=AliasChoices("ECAP_SCORING_RULES_DATABASE_URL"),
        description="SQLAlchemy URL of the rule store (sqlite:///PATH or postgresql://...)",
    )
    seed_default_rules: bool = Field(
        default=True, description="create the built-in rules when the store is empty"
    )
    rules_refresh_s: float = Field(
        default=5.0, gt=0, description="how often other replicas' rule changes are picked up"
    )

    # -- Kafka ----------------------------------------------------------------------------------
    producer_linger_ms: float = Field(
        default=1.0,
        ge=0,
        description="Kafka producer linger: a decision waits for its acknowledgement, so "
        "batching may cost it at most this much",
    )
    delivery_timeout_ms: int = Field(
        default=10_000,
        gt=0,
        description="how long a decision waits for Kafka before the RPC fails with UNAVAILABLE",
    )
    topic_transactions: str = "transactions"
    topic_decisions: str = "decisions"
    topic_alerts: str = "fraud-alerts"
    consume_transactions: bool = Field(
        default=True,
        description="score transactions that arrive through ingestion (the asynchronous path)",
    )
    consumer_group: str = "ecap-scoring"
    consumer_batch: int = Field(default=500, ge=1, le=10_000)

    # -- churn: churn_medium_from, churn_high_from, churn_drivers (ChurnRiskSettings) -------

    @property
    def label_delay(self) -> timedelta:
        return timedelta(days=self.label_delay_days)

    @field_validator("rules_database_url")
    @classmethod
    def _driver(cls, url: str) -> str:
        return database_url(url, "rules_database_url")

    @model_validator(mode="after")
    def _ordered(self) -> ScoringSettings:
        if self.review_threshold > self.decline_threshold:
            raise ValueError("review_threshold must not exceed decline_threshold")
        return self
