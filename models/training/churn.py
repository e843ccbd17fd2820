"""`ecap train churn`: per-customer features as of a cutoff, label = no purchase in the
horizon after it; trained at one cutoff and tested at a later one whose labels the training
could not have seen (test cutoff >= train cutoff + horizon)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from models.features import FeatureSet, OnlineFeatures, churn_features
from models.training.config import TrainingSettings
from models.training.data import TableSource
from models.training.evaluate import lift_top_decile, ranking_metrics, save_plots
from models.training.fraud import (
    TrainingError,
    TrainResult,
    fit_baseline,
    fit_xgboost,
    predict,
    report_header,
    write_predictions,
)

LOOKBACK = timedelta(days=365)


def churn_cutoffs(
    last_purchase: pd.Timestamp, horizon: timedelta, test_cutoff: datetime | None = None
) -> tuple[datetime, datetime]:
    """(train cutoff, test cutoff): the test cutoff's horizon ends with the data, the train
    cutoff's horizon ends at the test cutoff, so no training label looks past it."""
    test = test_cutoff or (last_purchase.floor("D") - horizon + timedelta(days=1)).to_pydatetime()
    return test - horizon, test


def churn_frame(
    sources: dict[str, pd.DataFrame],
    features: FeatureSet,
    cutoffs: list[datetime],
    horizon: timedelta,
) -> dict[datetime, pd.DataFrame]:
    """Per cutoff: each customer active in the year before it, their features as of it
    (online executor fed with every source row before it) and the churn label."""
    online = OnlineFeatures(features)
    purchases = sources["transactions"]
    fed = dict.fromkeys(sources, 0)
    out = {}
    for cutoff in sorted(cutoffs):
        for name, frame in sources.items():
            end = int(frame["ts"].searchsorted(pd.Timestamp(cutoff), side="left"))
            for row in frame.iloc[fed[name] : end].to_dict("records"):
                online.observe(row, name)
            fed[name] = end
        recent = purchases[(purchases["ts"] < cutoff) & (purchases["ts"] >= cutoff - LOOKBACK)]
        customers = sorted(recent["customer_id"].unique())
        after = purchases[(purchases["ts"] >= cutoff) & (purchases["ts"] < cutoff + horizon)]
        returning = set(after["customer_id"])
        rows = [online.compute({"customer_id": c, "ts": cutoff}) for c in customers]
        frame = pd.DataFrame(rows, columns=features.names, dtype="float64")
        frame.insert(0, "customer_id", customers)
        frame["label"] = [0 if c in returning else 1 for c in customers]
        out[cutoff] = frame
    return out


def train_churn(
    sources: dict[str, pd.DataFrame],
    provenance: dict[str, TableSource],
    *,
    out_dir: Path,
    settings: TrainingSettings | None = None,
    horizon_days: int | None = None,
    test_cutoff: datetime | None = None,
    predictions_out: Path | None = None,
    save: bool = True,
    log: Callable[[str], None] = lambda line: None,
) -> TrainResult:
    settings = settings or TrainingSettings()
    horizon = timedelta(days=horizon_days or settings.churn_horizon_days)
    columns = {c for frame in sources.values() for c in frame.columns}
    features, skipped = churn_features().restricted_to(columns)
    features, skipped_sources = _with_sources(features, sources)
    skipped += skipped_sources
    train_cutoff, test_cutoff = churn_cutoffs(
        sources["transactions"]["ts"].max(), horizon, test_cutoff
    )
    first = sources["transactions"]["ts"].min()
    if train_cutoff <= first:
        raise TrainingError(
            f"the data ({first:%Y-%m-%d} to {sources['transactions']['ts'].max():%Y-%m-%d}) "
            f"is too short for a {horizon.days}-day horizon: it needs two horizons after the "
            "first purchase; lower --horizon-days or give more history"
        )
    log(
        f"train cutoff {train_cutoff:%Y-%m-%d}, test cutoff {test_cutoff:%Y-%m-%d}, "
        f"horizon {horizon.days} days; {len(features.names)} features, {len(skipped)} skipped"
    )
    frames = churn_frame(sources, features, [train_cutoff, test_cutoff], horizon)
    train, test = frames[train_cutoff], frames[test_cutoff]
    if train_cutoff + horizon > test_cutoff:
        raise TrainingError("train labels would look past the test cutoff")
    names = features.names
    rng = np.random.default_rng(settings.seed)
    valid_mask = rng.random(len(train)) < settings.validation_share
    fit, valid = train[~valid_mask], train[valid_mask]
    booster, scale = fit_xgboost(
        settings,
        fit[names].to_numpy(),
        fit["label"].to_numpy(),
        valid[names].to_numpy(),
        valid["label"].to_numpy(),
        names,
    )
    baseline = fit_baseline(fit[names].to_numpy(), fit["label"].to_numpy())
    y = test["label"].to_numpy()
    scores = predict(booster, test[names].to_numpy(), names)
    baseline_scores = baseline.predict_proba(test[names].to_numpy())[:, 1]
    importance = booster.get_score(importance_type="total_gain")
    report = {
        **report_header(
            "churn",
            {name: source.to_dict() for name, source in provenance.items()},
            features,
            names,
            skipped,
        ),
        "cutoffs": {
            "train": train_cutoff.isoformat(),
            "test": test_cutoff.isoformat(),
            "horizon_days": horizon.days,
        },
        "rows": {"train": len(fit), "validation": len(valid), "test": len(test)},
        "xgboost": {
            **ranking_metrics(y, scores),
            "lift_top_decile": lift_top_decile(y, scores),
            "best_iteration": int(booster.best_iteration),
            "scale_pos_weight": scale,
        },
        "baseline_logistic": {
            **ranking_metrics(y, baseline_scores),
            "lift_top_decile": lift_top_decile(y, baseline_scores),
        },
        "importance_total_gain": dict(sorted(importance.items(), key=lambda kv: -kv[1])),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    plots = save_plots(
        out_dir, y, {"xgboost": scores, "logistic": baseline_scores}, importance, "churn"
    )
    report["plots"] = plots
    result = TrainResult(report, out_dir / "churn_report.json", plots=plots)
    if predictions_out is not None:
        write_predictions(test[["customer_id"]].assign(score=scores, label=y), predictions_out)
        result.predictions_path = predictions_out
    if save:
        from models.training.store import save_model

        transactions = provenance["transactions"]
        result.tag = save_model(
            "churn",
            booster,
            {
                "feature_set": features.name,
                "feature_names": names,
                "feature_hash": features.hash,
                "feature_declarations": json.dumps(features.to_dict(), sort_keys=True),
                "training_table": transactions.path,
                "training_format": transactions.format,
                "training_delta_version": transactions.delta_version,
                "cutoffs": report["cutoffs"],
                "metrics": {
                    k: report["xgboost"][k]
                    for k in ("auc_roc", "average_precision", "brier", "lift_top_decile")
                },
                "best_iteration": int(booster.best_iteration),
            },
        )
        report["tag"] = result.tag
    result.report_path.write_text(json.dumps(report, indent=2, default=str))
    return result


def _with_sources(
    features: FeatureSet, sources: dict[str, pd.DataFrame]
) -> tuple[FeatureSet, list[str]]:
    """Drop features whose source table is missing (and features derived from them)."""
    kept, skipped = [], []
    for feature in features.features:
        source = getattr(feature, "source", None)
        inputs = getattr(feature, "inputs", ())
        if (source and source not in sources) or any(i in skipped for i in inputs):
            skipped.append(feature.name)
        else:
            kept.append(feature)
    return FeatureSet(features.name, features.version, tuple(kept), features.base_columns), skipped
