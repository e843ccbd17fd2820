"""The churn model's answer read the same way online and in batch: bands and drivers."""

from __future__ import annotations

import numpy as np
import pytest

from models.features.churn_risk import (
    ChurnBand,
    ChurnRiskSettings,
    churn_band,
    churn_bands,
    risk_raising_drivers,
)


def test_bands_start_at_their_thresholds() -> None:
    settings = ChurnRiskSettings(churn_medium_from=0.25, churn_high_from=0.5)
    probabilities = np.array([0.0, 0.2499, 0.25, 0.4999, 0.5, 1.0])
    assert list(churn_bands(probabilities, settings)) == [
        "LOW",
        "LOW",
        "MEDIUM",
        "MEDIUM",
        "HIGH",
        "HIGH",
    ]
    assert churn_band(0.5, settings) is ChurnBand.HIGH


def test_band_settings_come_from_the_scoring_environment(monkeypatch) -> None:
    monkeypatch.setenv("ECAP_SCORING_CHURN_MEDIUM_FROM", "0.1")
    monkeypatch.setenv("ECAP_SCORING_CHURN_HIGH_FROM", "0.2")
    monkeypatch.setenv("ECAP_SCORING_CHURN_DRIVERS", "2")
    settings = ChurnRiskSettings()
    assert (settings.churn_medium_from, settings.churn_high_from, settings.churn_drivers) == (
        0.1,
        0.2,
        2,
    )
    with pytest.raises(ValueError, match="churn_medium_from must not exceed churn_high_from"):
        ChurnRiskSettings(churn_medium_from=0.7, churn_high_from=0.6)


def test_drivers_are_the_largest_positive_pushes_first() -> None:
    names = ["recency_days", "frequency_30d", "sessions_30d", "monetary_30d"]
    contributions = np.array(
        [
            [0.5, -2.0, 0.9, 0.1],  # the negative push is large but lowers the risk
            [-0.1, -0.2, 0.0, -0.3],  # nothing raises the risk
            [0.2, 0.2, 0.3, 0.4],  # more raising features than the limit
        ]
    )
    assert risk_raising_drivers(names, contributions, 3) == [
        ["sessions_30d", "recency_days", "monetary_30d"],
        [],
        ["monetary_30d", "sessions_30d", "recency_days"],
    ]
    assert risk_raising_drivers(names, contributions[:1], 0) == [[]]
    with pytest.raises(ValueError, match="contributions: 4 columns for 3 feature names"):
        risk_raising_drivers(names[:3], contributions, 2)
