"""Settings of the analytics batch math (env prefixes `ECAP_CLV_` and `ECAP_ATTRIBUTION_`).

The pure functions in this package take these values as arguments; the Spark jobs read the
settings and pass them on, so a unit test never depends on the environment.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ClvSettings(BaseSettings):
    """How customer lifetime value is projected and discounted."""

    model_config = SettingsConfigDict(env_prefix="ECAP_CLV_", extra="ignore")

    horizon_periods: int = Field(default=12, ge=1, description="periods of the CLV horizon")
    period_days: float = Field(
        default=30.0, gt=0, description="length of one period in days (the summary's unit)"
    )
    discount_rate: float = Field(
        default=0.01, gt=-1, lt=1, description="discount rate per period (monthly by default)"
    )


class AttributionSettings(BaseSettings):
    """Parameters of the attribution models."""

    model_config = SettingsConfigDict(env_prefix="ECAP_ATTRIBUTION_", extra="ignore")

    half_life: timedelta = Field(
        default=timedelta(days=7), description="time-decay half-life, e.g. P7D or 604800"
    )
    first_weight: float = Field(default=0.4, ge=0, le=1, description="position-based first")
    last_weight: float = Field(default=0.4, ge=0, le=1, description="position-based last")
    shapley_max_channels: int = Field(
        default=20, ge=1, le=24, description="largest channel count Shapley enumerates (2^n)"
    )

    @model_validator(mode="after")
    def _weights_leave_a_middle(self) -> AttributionSettings:
        total = self.first_weight + self.last_weight
        if not 0 < total <= 1:
            raise ValueError(
                f"first_weight + last_weight must be in (0, 1]; got {self.first_weight} + "
                f"{self.last_weight}"
            )
        if self.half_life <= timedelta(0):
            raise ValueError(f"half_life must be > 0; got {self.half_life}")
        return self
