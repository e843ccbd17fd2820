"""Settings of the simulator (env prefix `ECAP_SIMULATOR_`, nested with `__`)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class FraudRates(BaseModel):
    """How often each fraud scenario starts, in occurrences per simulated day.

    Occurrences sit on a jittered grid rather than a Poisson process, so a backfill of at least
    `1 / rate` days is guaranteed to contain the scenario.
    """

    card_testing_per_day: float = Field(default=0.15, ge=0)
    account_takeover_per_day: float = Field(default=0.3, ge=0)
    compromised_merchant_per_day: float = Field(default=1 / 14, ge=0)
    impossible_travel_per_day: float = Field(default=0.3, ge=0)
    high_amount_per_day: float = Field(default=0.3, ge=0)


class SimulatorSettings(BaseSettings):
    """The simulated world, its traffic, and how it is sent."""

    model_config = SettingsConfigDict(
        env_prefix="ECAP_SIMULATOR_", env_nested_delimiter="__", extra="ignore"
    )

    seed: int = Field(default=42, description="same seed, same world, byte-identical records")
    customers: int = Field(default=5000, ge=1, le=10_000_000)
    products: int = Field(default=800, ge=50, le=99_999)
    merchants: int = Field(default=60, ge=1, le=9999)
    currency: str = Field(default="EUR", pattern="^[A-Z]{3}$", description="ISO-4217 code")
    start: datetime | None = Field(
        default=None, description="backfill start (UTC); default: `days` before today"
    )
    days: int = Field(default=30, ge=1, description="backfill length in days")
    anonymous_share: float = Field(
        default=0.2, ge=0, lt=1, description="share of sessions by visitors not logged in"
    )
    signup_rate: float = Field(
        default=0.01, ge=0, description="new customers per day, as a share of `customers`"
    )
    fraud: FraudRates = Field(default_factory=FraudRates)

    target: str = Field(default="127.0.0.1:50051", description="ingestion service host:port")
    token: SecretStr | None = Field(default=None, description="bearer token for the ingestion")
    batch_size: int = Field(
        default=1000, ge=1, le=10_000, description="records per stream message or upsert call"
    )
    stream_records: int = Field(
        default=200_000, ge=1, description="records per client stream before a new one opens"
    )
    stream_timeout_s: float = Field(default=600.0, gt=0, description="deadline of one stream")
