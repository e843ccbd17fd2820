"""Reading a churn model's answer: the risk band of a probability and the drivers of a score.

One rule for every consumer of the churn model: PredictChurn (services/scoring) and the
batch scoring job (spark/jobs/analytics/churn_scores.py) band with the same settings
(`ECAP_SCORING_CHURN_MEDIUM_FROM`, `_HIGH_FROM`, `_DRIVERS`; the scoring service's settings
inherit them). It sits beside the churn features because `models.features` is the part of
`models` that both the services and Spark may import.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

import numpy as np
from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ChurnBand(StrEnum):
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"


class ChurnRiskSettings(BaseSettings):
    """Where the churn risk bands start and how many drivers a score names."""

    model_config = SettingsConfigDict(env_prefix="ECAP_SCORING_", extra="ignore")

    churn_medium_from: float = Field(default=0.3, ge=0, le=1, description="MEDIUM band from")
    churn_high_from: float = Field(default=0.6, ge=0, le=1, description="HIGH band from")
    churn_drivers: int = Field(
        default=5, ge=0, le=20, description="features named as a churn score's drivers"
    )

    @model_validator(mode="after")
    def _bands_ordered(self) -> ChurnRiskSettings:
        if self.churn_medium_from > self.churn_high_from:
            raise ValueError("churn_medium_from must not exceed churn_high_from")
        return self


def churn_bands(probabilities: np.ndarray, settings: ChurnRiskSettings) -> np.ndarray:
    """The band name of each probability: HIGH from `churn_high_from`, MEDIUM from
    `churn_medium_from`, else LOW."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    return np.select(
        [probabilities >= settings.churn_high_from, probabilities >= settings.churn_medium_from],
        [ChurnBand.HIGH.value, ChurnBand.MEDIUM.value],
        default=ChurnBand.LOW.value,
    ).astype(object)


def churn_band(probability: float, settings: ChurnRiskSettings) -> ChurnBand:
    """The band of one probability (`churn_bands`' rule)."""
    return ChurnBand(churn_bands(np.array([probability]), settings)[0])


def risk_raising_drivers(
    names: Sequence[str], contributions: np.ndarray, limit: int
) -> list[list[str]]:
    """Per row of `contributions` (XGBoost `pred_contribs` per feature, without the bias):
    the names of up to `limit` features that raise the churn risk, largest push first."""
    contributions = np.atleast_2d(np.asarray(contributions, dtype=np.float64))
    if contributions.shape[1] != len(names):
        raise ValueError(
            f"contributions: {contributions.shape[1]} columns for {len(names)} feature names"
        )
    order = np.argsort(-contributions, axis=1, kind="stable")[:, :limit]
    pushes = np.take_along_axis(contributions, order, axis=1)
    return [
        [names[index] for index, push in zip(row, row_pushes, strict=True) if push > 0]
        for row, row_pushes in zip(order, pushes, strict=True)
    ]
