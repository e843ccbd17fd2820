"""Training and model-store settings (env prefixes `ECAP_TRAIN_` and `ECAP_MODELS_`)."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[2]


class CostSettings(BaseSettings):
    """What decisions cost, in the currency's major unit; thresholds minimise their sum."""

    model_config = SettingsConfigDict(env_prefix="ECAP_TRAIN_COST_", extra="ignore")

    missed_fraud: float = Field(default=100.0, gt=0, description="an approved fraud")
    review: float = Field(default=5.0, gt=0, description="one investigator review")
    false_decline: float = Field(default=30.0, gt=0, description="a declined good customer")


class TrainingSettings(BaseSettings):
    """How `ecap train` splits, fits and evaluates."""

    model_config = SettingsConfigDict(env_prefix="ECAP_TRAIN_", extra="ignore")

    label_delay_days: float = Field(
        default=3.0, ge=0, description="days until a fraud label is known; the train/test gap"
    )
    test_share: float = Field(
        default=0.3, gt=0, lt=1, description="share of the data's time span held out for test"
    )
    validation_share: float = Field(
        default=0.2, gt=0, lt=1, description="share of the train period for early stopping"
    )
    daily_capacity: int = Field(
        default=100, ge=1, description="k of precision@k: customers investigators see a day"
    )
    n_estimators: int = Field(default=600, ge=1)
    learning_rate: float = Field(default=0.05, gt=0, le=1)
    max_depth: int = Field(default=4, ge=1, le=16)
    early_stopping_rounds: int = Field(default=40, ge=1)
    seed: int = 7
    churn_horizon_days: int = Field(
        default=60, ge=1, description="churned: no purchase in this many days after the cutoff"
    )


class ModelStoreSettings(BaseSettings):
    """Where BentoML keeps models: `BENTOML_HOME` (or `ECAP_MODELS_HOME`), by default under
    the project's `.cache/`, never the user's home."""

    model_config = SettingsConfigDict(
        env_prefix="ECAP_MODELS_", extra="ignore", populate_by_name=True
    )

    home: Path = Field(
        default=REPO_ROOT / ".cache" / "bentoml",
        validation_alias=AliasChoices("ECAP_MODELS_HOME", "BENTOML_HOME"),
    )
