"""Settings of the BentoML model services (env prefix `ECAP_SERVING_`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServingSettings(BaseSettings):
    """Which model each service loads and how it batches."""

    model_config = SettingsConfigDict(env_prefix="ECAP_SERVING_", extra="ignore")

    fraud_model: str | None = Field(default=None, description="tag; default: the champion")
    churn_model: str | None = Field(default=None, description="tag; default: the champion")
    fraud_challenger: str | None = Field(
        default=None,
        description="shadow mode: a second fraud model tag scored on every batch beside the "
        "served one; its scores are logged to `shadow_log`, never returned",
    )
    shadow_log: Path = Field(
        default=Path(".run/logs/fraud-shadow.jsonl"),
        description="JSON lines, one per batch: both tags and both models' probabilities",
    )
    max_batch_size: int = Field(default=512, ge=1, description="rows per adaptive batch")
    max_latency_ms: int = Field(
        default=100,
        ge=1,
        description="adaptive batching's budget: BentoML answers 503 rather than exceed it",
    )
    threads: int = Field(
        default=1,
        ge=1,
        description="XGBoost threads per prediction: small batches gain nothing from more, "
        "and idle OpenMP threads spinning on a busy machine cost tens of ms",
    )
    timeout_s: float = Field(default=10.0, gt=0, description="request timeout")
    fraud_workers: int = Field(
        default=1,
        ge=1,
        description="BentoML worker processes of the fraud service: one event loop is the "
        "bottleneck of 32-row requests (2 carried up to ~1.6x the rows/s on 2 cores, but "
        "one bench run right after start-up shed most single-row requests)",
    )
    churn_workers: int = Field(
        default=1, ge=1, description="BentoML worker processes of the churn service"
    )
    trace_predictions: bool = Field(
        default=False,
        description="OpenTelemetry spans for /predict and /predict_batch: BentoML records "
        "three spans per request even when it exports none",
    )
