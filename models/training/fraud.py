"""`ecap train fraud`: point-in-time features, a time-based split with a label-delay gap,
XGBoost (class weights, early stopping) against a logistic-regression baseline, evaluation,
and the model saved to the BentoML store with everything needed to trust and reuse it."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import xgboost as xgb
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from models.features import FeatureSet, fraud_features
from models.features.drift import SCORE, reference_distribution
from models.features.online import replay
from models.training.config import CostSettings, TrainingSettings
from models.training.data import TableSource
from models.training.evaluate import (
    choose_thresholds,
    confusion,
    daily_precision_at_k,
    ranking_metrics,
    save_plots,
)
from models.training.periods import Periods, check_no_leakage, default_periods, select
from models.training.store import now_iso

Progress = Callable[[int, int], None]
PROGRESS_EVERY = 2000


class TrainingError(ValueError):
    """The data cannot train or evaluate a model (e.g. no fraud in a period)."""


@dataclass
class TrainResult:
    report: dict
    report_path: Path
    tag: str | None = None
    plots: list[str] = field(default_factory=list)
    predictions_path: Path | None = None


def point_in_time_matrix(
    transactions: pd.DataFrame, features: FeatureSet, progress: Progress | None = None
) -> pd.DataFrame:
    """The feature vector of every transaction as of its time (online executor replay)."""
    rows = []
    total = len(transactions)
    for i, values in enumerate(replay(features, transactions.to_dict("records")), 1):
        rows.append(values)
        if progress and (i % PROGRESS_EVERY == 0 or i == total):
            progress(i, total)
    matrix = pd.DataFrame(rows, columns=features.names, dtype="float64")
    matrix.index = transactions.index
    return matrix


def read_feature_table(path: Path, transactions: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """Feature vectors computed elsewhere (the Spark executor), aligned to `transactions`."""
    table = pd.read_parquet(path)
    missing = [c for c in ("transaction_id", *names) if c not in table]
    if missing:
        raise TrainingError(f"feature table {path}: missing column(s) {missing}")
    aligned = transactions[["transaction_id"]].merge(
        table[["transaction_id", *names]], on="transaction_id", how="left"
    )
    aligned.index = transactions.index
    return aligned[names].astype("float64")


def fit_xgboost(
    settings: TrainingSettings, x_train, y_train, x_valid, y_valid, names: list[str]
) -> tuple[xgb.Booster, float]:
    positives = y_train.sum()
    if positives == 0 or y_valid.sum() == 0:
        raise TrainingError(
            f"need fraud in both the train ({int(positives)}) and validation "
            f"({int(y_valid.sum())}) periods; widen the periods or the data"
        )
    scale = float((len(y_train) - positives) / positives)
    params = {
        "objective": "binary:logistic",
        "eval_metric": "aucpr",
        "eta": settings.learning_rate,
        "max_depth": settings.max_depth,
        "min_child_weight": 1.0,
        "subsample": 0.9,
        "colsample_bytree": 0.9,
        "scale_pos_weight": scale,
        "seed": settings.seed,
        "nthread": 2,
    }
    train = xgb.DMatrix(x_train, label=y_train, feature_names=names)
    valid = xgb.DMatrix(x_valid, label=y_valid, feature_names=names)
    booster = xgb.train(
        params,
        train,
        num_boost_round=settings.n_estimators,
        evals=[(valid, "validation")],
        early_stopping_rounds=settings.early_stopping_rounds,
        verbose_eval=False,
    )
    return booster, scale


def predict(booster: xgb.Booster, x: np.ndarray, names: list[str]) -> np.ndarray:
    """Probabilities of the early-stopped model."""
    matrix = xgb.DMatrix(x, feature_names=names)
    return booster.predict(matrix, iteration_range=(0, booster.best_iteration + 1))


def report_header(
    model: str, source: dict, features: FeatureSet, used: list[str], skipped: list[str]
) -> dict:
    """What every training report starts with: the model, when, its input and its features."""
    return {
        "model": model,
        "trained_at": now_iso(),
        "input": source,
        "features": {
            "set": features.name,
            "version": features.version,
            "hash": features.hash,
            "used": used,
            "skipped": skipped,
        },
    }


def fit_baseline(x_train, y_train):
    model = make_pipeline(
        SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
        StandardScaler(),
        LogisticRegression(class_weight="balanced", max_iter=5000),
    )
    return model.fit(x_train, y_train)


def train_fraud(
    transactions: pd.DataFrame,
    source: TableSource,
    *,
    out_dir: Path,
    settings: TrainingSettings | None = None,
    costs: CostSettings | None = None,
    bounds: dict[str, datetime | None] | None = None,
    predictions_out: Path | None = None,
    feature_table: Path | None = None,
    save: bool = True,
    progress: Progress | None = None,
    log: Callable[[str], None] = lambda line: None,
) -> TrainResult:
    """Train and evaluate the fraud model on `transactions` (normalised, time-sorted)."""
    settings = settings or TrainingSettings()
    costs = costs or CostSettings()
    label_delay = timedelta(days=settings.label_delay_days)
    declared = fraud_features(label_delay)
    features, skipped = declared.restricted_to(transactions.columns)
    log(f"{len(features.names)} features used, {len(skipped)} skipped (missing columns)")

    if feature_table is not None:
        matrix = read_feature_table(feature_table, transactions, features.names)
    else:
        matrix = point_in_time_matrix(transactions, features, progress)

    periods = default_periods(
        transactions["ts"],
        label_delay=label_delay,
        test_share=settings.test_share,
        validation_share=settings.validation_share,
        **(bounds or {}),
    )
    labelled = transactions[transactions["label"].notna()]
    fit = select(labelled, periods.train_from, periods.valid_from)
    valid = select(labelled, periods.valid_from, periods.train_to)
    test = select(labelled, periods.test_from, periods.test_to)
    check_no_leakage(pd.concat([fit, valid]), test, periods)
    if test["label"].sum() == 0:
        raise TrainingError("no fraud in the test period: nothing to evaluate against")

    names = features.names
    x = {
        part: matrix.loc[rows.index].to_numpy()
        for part, rows in (("fit", fit), ("valid", valid), ("test", test))
    }
    y = {
        part: rows["label"].to_numpy().astype(int)
        for part, rows in (("fit", fit), ("valid", valid), ("test", test))
    }
    log(f"train {len(fit)} rows, validation {len(valid)}, test {len(test)}")
    booster, scale = fit_xgboost(settings, x["fit"], y["fit"], x["valid"], y["valid"], names)
    baseline = fit_baseline(x["fit"], y["fit"])

    scores = predict(booster, x["test"], names)
    trained_on = np.vstack([x["fit"], x["valid"]])
    reference = {name: reference_distribution(trained_on[:, i]) for i, name in enumerate(names)}
    reference[SCORE] = reference_distribution(predict(booster, trained_on, names))
    baseline_scores = baseline.predict_proba(x["test"])[:, 1]
    thresholds = choose_thresholds(y["valid"], predict(booster, x["valid"], names), costs)
    scored = test[["transaction_id", "customer_id", "ts", "label"]].assign(score=scores)
    importance = booster.get_score(importance_type="total_gain")

    xgb_metrics = ranking_metrics(y["test"], scores)
    base_metrics = ranking_metrics(y["test"], baseline_scores)
    report = {
        **report_header("fraud", source.to_dict(), features, names, skipped),
        "periods": periods.to_dict(),
        "rows": {"train": len(fit), "validation": len(valid), "test": len(test)},
        "xgboost": {
            **xgb_metrics,
            "best_iteration": int(booster.best_iteration),
            "scale_pos_weight": scale,
            "precision_at_k": daily_precision_at_k(scored, settings.daily_capacity),
        },
        "baseline_logistic": {
            **base_metrics,
            "precision_at_k": daily_precision_at_k(
                scored.assign(score=baseline_scores), settings.daily_capacity
            ),
        },
        "thresholds": {
            **thresholds.to_dict(),
            "costs": costs.model_dump(),
            "chosen_on": "validation",
        },
        "confusion_at_thresholds": confusion(y["test"], scores, thresholds),
        "importance_total_gain": dict(sorted(importance.items(), key=lambda kv: -kv[1])),
        "reference_distributions": reference,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    plots = save_plots(
        out_dir, y["test"], {"xgboost": scores, "logistic": baseline_scores}, importance, "fraud"
    )
    report["plots"] = plots
    result = TrainResult(report, out_dir / "fraud_report.json", plots=plots)
    if predictions_out is not None:
        write_predictions(scored[["transaction_id", "score", "label"]], predictions_out)
        result.predictions_path = predictions_out
    if save:
        from models.training.store import save_model

        result.tag = save_model("fraud", booster, model_metadata(report, features, periods))
        report["tag"] = result.tag
    result.report_path.write_text(json.dumps(report, indent=2, default=str))
    return result


def model_metadata(report: dict, features: FeatureSet, periods: Periods) -> dict:
    """What the store keeps beside the booster (plain JSON values)."""
    model = report["xgboost"]
    return {
        "feature_set": features.name,
        "feature_names": features.names,
        "feature_hash": features.hash,
        "feature_declarations": json.dumps(features.to_dict(), sort_keys=True),
        "training_table": report["input"]["path"],
        "training_format": report["input"]["format"],
        "training_delta_version": report["input"]["delta_version"],
        "periods": periods.to_dict(),
        "metrics": {k: model.get(k) for k in ("auc_roc", "average_precision", "brier")},
        "baseline_metrics": {
            k: report["baseline_logistic"].get(k) for k in ("auc_roc", "average_precision")
        },
        "thresholds": {k: report["thresholds"][k] for k in ("review", "decline")},
        "best_iteration": model.get("best_iteration"),
        # What drift monitoring compares live features and scores with (models.features.drift).
        "reference_distributions": report["reference_distributions"],
    }


def write_predictions(frame: pd.DataFrame, path: Path) -> None:
    """Parquet, or CSV when the name ends in .csv."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)
