"""Settings of the analytics batch jobs (env prefix `ECAP_LAKE_JOBS_`).

The model settings live beside the math: `ECAP_CLV_*` (spark.analytics.config.ClvSettings) and
`ECAP_ATTRIBUTION_*` (AttributionSettings); the jobs read both and record them with each run.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class JobSettings(BaseSettings):
    """What the analytics batch jobs compute over, and their own parameters."""

    model_config = SettingsConfigDict(env_prefix="ECAP_LAKE_JOBS_", extra="ignore")

    as_of: datetime | None = Field(
        default=None,
        description="compute as of this UTC time (later transactions are ignored); default "
        "the newest transaction in the lake",
    )
    attribution_lookback_days: float = Field(
        default=30.0, gt=0, description="touches older than this before a purchase do not count"
    )
    basket_min_support: float = Field(
        default=0.01, gt=0, le=1, description="FP-Growth: least share of baskets of an itemset"
    )
    basket_min_confidence: float = Field(
        default=0.1, ge=0, le=1, description="FP-Growth: least confidence of a rule"
    )
    forecast_horizon_days: int = Field(
        default=30,
        ge=1,
        le=366,
        description="forecast: days forecast from the as-of day on, and the days held out to "
        "back-test",
    )
    forecast_interval: float = Field(
        default=0.9, gt=0, lt=1, description="forecast: nominal coverage of the interval"
    )
    products_window_days: int = Field(
        default=30,
        gt=0,
        description="products: the sales window before as-of (and the one before it for the "
        "change)",
    )
    products_top_n: int = Field(
        default=10, ge=1, description="products: revenue ranks up to this are 'top'"
    )
    products_rising_change: float = Field(
        default=0.25, gt=0, description="products: velocity change from which a product rises"
    )
    products_declining_change: float = Field(
        default=-0.25, lt=0, description="products: velocity change up to which it declines"
    )
    recommendations_top_n: int = Field(
        default=10,
        ge=1,
        description="recommendations: products per customer, and the k of precision@k and recall@k",
    )
    recommendations_holdout_days: float = Field(
        default=14.0,
        gt=0,
        description="recommendations: the last days before as-of held out to evaluate models "
        "trained on the purchases before them",
    )
    recommendations_rank: int = Field(default=10, ge=1, description="ALS: latent factors")
    recommendations_reg_param: float = Field(
        default=0.1, ge=0, description="ALS: regularisation (regParam)"
    )
    recommendations_alpha: float = Field(
        default=1.0, ge=0, description="ALS: confidence per unit bought (implicit alpha)"
    )
    recommendations_max_iter: int = Field(default=5, ge=1, description="ALS: iterations")
    recommendations_seed: int = Field(
        default=7, description="ALS: the seed of its initial factors (runs are repeatable)"
    )
    schedule_interval_s: float = Field(
        default=900.0, gt=0, description="how often the stack runs every job (15 minutes)"
    )

    status_path: Path | None = Field(
        default=None,
        description="with --schedule: a JSON file rewritten when the schedule starts and after "
        "each round (started, last round's end, outcome, next round); the stack's readiness",
    )

    @field_validator("as_of")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        if value is None or value.tzinfo is not None:
            return value
        return value.replace(tzinfo=UTC)
