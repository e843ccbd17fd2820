"""Evaluation: ranking and calibration metrics, cost-chosen thresholds, daily precision@k,
lift, and the report's plots."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    precision_recall_curve,
    roc_auc_score,
    roc_curve,
)

from models.training.config import CostSettings

CANDIDATE_THRESHOLDS = 200


def ranking_metrics(labels: np.ndarray, scores: np.ndarray) -> dict[str, float | None]:
    """AUC-ROC, average precision and Brier score (None where one class is missing)."""
    both = len(np.unique(labels)) == 2
    return {
        "auc_roc": float(roc_auc_score(labels, scores)) if both else None,
        "average_precision": float(average_precision_score(labels, scores)) if both else None,
        "brier": float(brier_score_loss(labels, scores)),
        "positives": int(labels.sum()),
        "rows": len(labels),
        "base_rate": float(labels.mean()) if len(labels) else None,
    }


@dataclass(frozen=True)
class Thresholds:
    """score >= decline -> DECLINE; review <= score < decline -> REVIEW; else APPROVE."""

    review: float
    decline: float
    expected_cost_per_row: float

    def to_dict(self) -> dict:
        return {
            "review": self.review,
            "decline": self.decline,
            "expected_cost_per_row": self.expected_cost_per_row,
        }


def choose_thresholds(labels: np.ndarray, scores: np.ndarray, costs: CostSettings) -> Thresholds:
    """The REVIEW and DECLINE thresholds with the least total cost on (validation) rows:
    approved frauds cost `missed_fraud`, each review `review`, each declined good customer
    `false_decline` (reviews and declines stop the fraud)."""
    quantiles = np.linspace(0, 1, CANDIDATE_THRESHOLDS + 1)
    candidates = np.unique(np.concatenate([np.quantile(scores, quantiles), [np.inf]]))
    order = np.argsort(scores)
    sorted_scores, sorted_labels = scores[order], labels[order]
    # frauds / goods with score below each candidate
    below = np.searchsorted(sorted_scores, candidates, side="left")
    fraud_below = np.concatenate([[0], np.cumsum(sorted_labels)])[below]
    good_below = below - fraud_below
    total_good = len(labels) - sorted_labels.sum()
    best = (np.inf, np.inf, np.inf)
    for i, review in enumerate(candidates):
        approved_fraud = fraud_below[i]
        for j in range(i, len(candidates)):
            reviewed = below[j] - below[i]
            declined_good = total_good - good_below[j]
            cost = (
                approved_fraud * costs.missed_fraud
                + reviewed * costs.review
                + declined_good * costs.false_decline
            )
            if cost < best[0]:
                best = (cost, review, candidates[j])
    cost, review, decline = best
    return Thresholds(float(review), float(decline), float(cost / max(len(labels), 1)))


def confusion(labels: np.ndarray, scores: np.ndarray, thresholds: Thresholds) -> dict:
    """Rows per decision and class at the chosen thresholds."""
    decision = np.where(
        scores >= thresholds.decline,
        "DECLINE",
        np.where(scores >= thresholds.review, "REVIEW", "APPROVE"),
    )
    table = {}
    for name in ("APPROVE", "REVIEW", "DECLINE"):
        chosen = decision == name
        table[name] = {
            "fraud": int((labels[chosen] == 1).sum()),
            "legitimate": int((labels[chosen] == 0).sum()),
        }
    return table


def daily_precision_at_k(frame: pd.DataFrame, k: int) -> dict:
    """Per day: of the k customers with the highest risk (their highest score that day),
    the share with a fraud that day. `frame` has customer_id, ts, score, label."""
    day = frame["ts"].dt.floor("D")
    daily = (
        frame.assign(day=day)
        .groupby(["day", "customer_id"], as_index=False)
        .agg(risk=("score", "max"), fraud=("label", "max"))
    )
    per_day = {}
    for stamp, group in daily.groupby("day"):
        top = group.nlargest(k, "risk")
        per_day[stamp.date().isoformat()] = {
            "precision": float(top["fraud"].mean()),
            "customers": len(top),
            "defrauded_customers": int(group["fraud"].sum()),
        }
    values = [entry["precision"] for entry in per_day.values()]
    return {"k": k, "mean": float(np.mean(values)) if values else None, "per_day": per_day}


def lift_top_decile(labels: np.ndarray, scores: np.ndarray) -> float | None:
    """Positive rate among the top 10 % of scores over the overall positive rate."""
    if not len(labels) or labels.mean() == 0:
        return None
    top = np.argsort(-scores)[: max(1, len(scores) // 10)]
    return float(labels[top].mean() / labels.mean())


def save_plots(
    out_dir: Path,
    labels: np.ndarray,
    scores: dict[str, np.ndarray],
    importance: dict[str, float],
    prefix: str,
) -> list[str]:
    """PR and ROC curves (every model in `scores`), the score distribution by class (first
    model) and feature importance; returns the files written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    files = []

    fig, ax = plt.subplots(figsize=(6, 5))
    for name, score in scores.items():
        precision, recall, _ = precision_recall_curve(labels, score)
        ax.plot(
            recall, precision, label=f"{name} (AP {average_precision_score(labels, score):.3f})"
        )
    ax.set(xlabel="recall", ylabel="precision", title="Precision-recall, test period")
    ax.legend()
    files.append(_save(fig, out_dir / f"{prefix}_pr.png"))

    fig, ax = plt.subplots(figsize=(6, 5))
    for name, score in scores.items():
        fpr, tpr, _ = roc_curve(labels, score)
        ax.plot(fpr, tpr, label=f"{name} (AUC {roc_auc_score(labels, score):.3f})")
    ax.plot([0, 1], [0, 1], linestyle=":", color="grey")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC, test period")
    ax.legend()
    files.append(_save(fig, out_dir / f"{prefix}_roc.png"))

    first = next(iter(scores.values()))
    fig, ax = plt.subplots(figsize=(6, 5))
    bins = np.linspace(0, 1, 41)
    ax.hist(first[labels == 0], bins=bins, alpha=0.6, density=True, label="negative")
    ax.hist(first[labels == 1], bins=bins, alpha=0.6, density=True, label="positive")
    ax.set(xlabel="score", ylabel="density", title="Score distribution by class")
    ax.legend()
    files.append(_save(fig, out_dir / f"{prefix}_scores.png"))

    top = sorted(importance.items(), key=lambda item: item[1], reverse=True)[:20]
    fig, ax = plt.subplots(figsize=(7, 6))
    ax.barh([name for name, _ in reversed(top)], [value for _, value in reversed(top)])
    ax.set(xlabel="total gain", title="Feature importance (XGBoost)")
    fig.tight_layout()
    files.append(_save(fig, out_dir / f"{prefix}_importance.png"))
    return files


def _save(fig, path: Path) -> str:
    fig.savefig(path, dpi=90, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return str(path)
