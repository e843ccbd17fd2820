"""The drift job on real Spark and Delta: decisions of an hour drawn like the training data
are stable, an hour whose amounts moved shows a shift, and the PSI equals the formula worked
out here with numpy; a second model's rows are left alone."""

from __future__ import annotations

import itertools
import math
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest
from deltalake import DeltaTable

from models.features.drift import SCORE, reference_distribution
from spark.config import SparkSettings
from spark.jobs.drift import run_drift, write_metrics
from spark.streaming.sinks import ensure_table
from spark.tables import TABLES

pytestmark = pytest.mark.integration

HOUR = datetime(2026, 11, 20, 10, tzinfo=UTC)


def _decisions(rng, hour: datetime, amounts: np.ndarray, tag: str, degraded=False) -> list:
    rows = []
    for n, amount in enumerate(amounts):
        features = {"amount": float(amount)}
        if n % 5:  # every fifth decision has no card count (no history)
            features["card_count_1h"] = float(rng.poisson(1))
        rows.append(
            {
                "decision_id": f"{tag}-{hour:%H}-{n}",
                "transaction_id": f"t-{hour:%H}-{n}",
                "model_tag": tag,
                "degraded": degraded,
                "risk_score": float(rng.beta(1, 20)),
                "features": features,
                "decided_at": hour + timedelta(seconds=n),
                "decided_date": hour.date(),
            }
        )
    return rows


def _psi_by_hand(reference: dict, values: np.ndarray) -> float:
    edges = reference["edges"]
    present = values[~np.isnan(values)]
    counts = [np.sum(present < edges[0])] if edges else [len(present)]
    counts += [np.sum((present >= lo) & (present < hi)) for lo, hi in itertools.pairwise(edges)]
    if edges:
        counts.append(np.sum(present >= edges[-1]))
    live = np.array([*counts, len(values) - len(present)], dtype=float) / len(values)
    expected = np.array([*reference["shares"], reference["missing"]])
    live, expected = np.maximum(live, 1e-4), np.maximum(expected, 1e-4)
    return float(np.sum((live - expected) * np.log(live / expected)))


def test_drift_per_hour_and_feature(spark, lake_dir, tmp_path):
    lake = SparkSettings(lake_uri=str(lake_dir))
    rng = np.random.default_rng(5)
    training_amounts = rng.lognormal(3.5, 0.8, 5_000)
    cards = rng.poisson(1, 5_000).astype(float)
    cards[::5] = np.nan
    reference = {
        "amount": reference_distribution(training_amounts),
        "card_count_1h": reference_distribution(cards),
        SCORE: reference_distribution(rng.beta(1, 20, 5_000)),
    }
    same = rng.lognormal(3.5, 0.8, 2_000)
    moved = rng.lognormal(4.5, 0.8, 2_000)  # amounts nearly three times higher
    rows = (
        _decisions(rng, HOUR, same, "m1")
        + _decisions(rng, HOUR + timedelta(hours=1), moved, "m1")
        + _decisions(rng, HOUR, moved[:50], "m1", degraded=True)  # rules alone: not the model's
        + _decisions(rng, HOUR, same[:100], "m2")
    )
    spec = TABLES["decisions"]
    uri = ensure_table(spark, spec, lake)
    frame = spark.createDataFrame(
        [{column: row.get(column) for column in spec.columns} for row in rows], schema=spec.ddl()
    )
    frame.write.format("delta").mode("append").save(uri)

    run_drift(spark, lake, reference, "m2")
    written = run_drift(spark, lake, reference, "m1")
    result = {(r["hour"].hour, r["feature"]): r for r in written}
    assert result[(10, "amount")]["status"] == "stable"
    assert result[(11, "amount")]["status"] == "shift"
    assert result[(10, "amount")]["rows"] == 2_000  # degraded decisions left out
    assert result[(10, "card_count_1h")]["missing"] == 400
    assert math.isclose(result[(11, "amount")]["psi"], _psi_by_hand(reference["amount"], moved))
    assert math.isclose(result[(10, "amount")]["psi"], _psi_by_hand(reference["amount"], same))
    assert result[(10, SCORE)]["status"] == "stable"

    stored = DeltaTable(TABLES["feature_drift"].uri(lake)).to_pandas()
    assert set(stored["model_tag"]) == {"m1", "m2"}  # m1's run rewrote only m1's rows
    assert len(stored[stored["model_tag"] == "m1"]) == 2 * len(reference)
    assert set(stored["hour_date"]) == {date(2026, 11, 20)}

    metrics = tmp_path / "drift.prom"
    write_metrics(written, metrics)
    text = metrics.read_text()
    assert 'ecap_feature_drift_psi{feature="amount",model="m1"}' in text
