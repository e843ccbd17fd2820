"""`ecap train` end to end on a small fixed-seed simulator world: XGBoost beats the logistic
baseline on the held-out period, the split leaks nothing, and what the BentoML store keeps
(booster, feature declarations and hash, data, periods, metrics, thresholds) round-trips."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score

from models.features import fraud_features
from models.training.churn import train_churn
from models.training.churn_data import load_churn_sources_with_provenance
from models.training.config import ModelStoreSettings, TrainingSettings
from models.training.data import load_labelled_transactions
from models.training.fraud import point_in_time_matrix, predict, train_fraud
from models.training.store import champion_tag, list_models, load_model, open_store, promote
from services.simulator.config import FraudRates, SimulatorSettings
from services.simulator.run import simulate

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("training-world")
    doubled = FraudRates(**{k: 2 * v for k, v in FraudRates().model_dump().items()})
    simulate(
        SimulatorSettings(seed=3, customers=1500, fraud=doubled),
        start=datetime(2026, 2, 1, tzinfo=UTC),
        days=28,
        out=out,
    )
    return out


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return open_store(ModelStoreSettings(home=tmp_path_factory.mktemp("bentoml")))


def test_fraud_model_beats_the_baseline_without_leakage_and_round_trips(
    world: Path, store: Path, tmp_path: Path
) -> None:
    transactions, source = load_labelled_transactions(world)
    settings = TrainingSettings(label_delay_days=3)
    result = train_fraud(
        transactions,
        source,
        out_dir=tmp_path / "report",
        settings=settings,
        predictions_out=tmp_path / "predictions.parquet",
    )
    report = json.loads(result.report_path.read_text())

    # Clearly better ranking of fraud than the linear baseline, on the held-out period.
    xgb_ap = report["xgboost"]["average_precision"]
    assert xgb_ap >= report["baseline_logistic"]["average_precision"] + 0.03, report
    assert report["xgboost"]["auc_roc"] > 0.9
    assert report["xgboost"]["positives"] >= 20

    # The periods: train, a gap of the label delay, test; no test row in training.
    periods = {
        k: pd.Timestamp(v) for k, v in report["periods"].items() if k.endswith(("from", "to"))
    }
    assert periods["test_from"] - periods["train_to"] == timedelta(days=3)
    predictions = pd.read_parquet(tmp_path / "predictions.parquet")
    test_rows = transactions[transactions["transaction_id"].isin(predictions["transaction_id"])]
    assert test_rows["ts"].min() >= periods["test_from"]
    trained = transactions[(transactions["ts"] < periods["train_to"])]
    assert trained["ts"].max() + timedelta(days=3) <= test_rows["ts"].min()
    assert len(predictions) == report["rows"]["test"]
    recomputed = average_precision_score(predictions["label"], predictions["score"])
    assert recomputed == pytest.approx(xgb_ap)
    assert {Path(p).name for p in report["plots"]} == {
        "fraud_pr.png",
        "fraud_roc.png",
        "fraud_scores.png",
        "fraud_importance.png",
    }
    assert all(Path(p).stat().st_size > 1000 for p in report["plots"])

    # The store gives back the same model and everything needed to reuse it.
    booster, metadata = load_model(result.tag)
    features = fraud_features(timedelta(days=3))
    assert metadata["feature_hash"] == features.hash == report["features"]["hash"]
    assert json.loads(metadata["feature_declarations"]) == features.to_dict()
    assert metadata["feature_names"] == features.names
    assert metadata["thresholds"] == {k: report["thresholds"][k] for k in ("review", "decline")}
    assert metadata["training_table"] == source.path
    assert metadata["periods"] == report["periods"]
    assert metadata["metrics"]["average_precision"] == pytest.approx(xgb_ap)
    matrix = point_in_time_matrix(transactions, features)
    rows = transactions.index[transactions["transaction_id"].isin(predictions["transaction_id"])]
    again = predict(booster, matrix.loc[rows].to_numpy(), features.names)
    expected = predictions.set_index("transaction_id").loc[transactions.loc[rows, "transaction_id"]]
    np.testing.assert_allclose(again, expected["score"].to_numpy(), rtol=1e-6)

    listed = {model.tag: model for model in list_models(store, "fraud")}
    assert result.tag in listed and not listed[result.tag].champion
    promote(store, result.tag)
    assert champion_tag(store, "fraud") == result.tag
    assert {m.tag for m in list_models(store) if m.champion} == {result.tag}


def test_churn_model_is_tested_after_its_training_labels_are_known(
    world: Path, store: Path, tmp_path: Path
) -> None:
    sources, provenance = load_churn_sources_with_provenance(world)
    result = train_churn(sources, provenance, out_dir=tmp_path, horizon_days=7)
    report = result.report
    train_cutoff = datetime.fromisoformat(report["cutoffs"]["train"])
    test_cutoff = datetime.fromisoformat(report["cutoffs"]["test"])
    assert train_cutoff + timedelta(days=7) <= test_cutoff
    assert test_cutoff + timedelta(days=7) <= sources["transactions"]["ts"].max() + timedelta(
        days=1
    )
    assert report["xgboost"]["auc_roc"] > 0.5
    assert report["xgboost"]["lift_top_decile"] is not None
    assert report["features"]["skipped"] == []
    _, metadata = load_model(result.tag)
    assert metadata["cutoffs"] == report["cutoffs"]
