"""Loading a served model: the booster, its feature order, which inputs may be missing, and
the checks every request passes before it joins an adaptive batch."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import xgboost as xgb

from models.training.config import ModelStoreSettings
from models.training.store import StoreError, champion_tag, load_model, open_store

# Row features that always have a value when their columns are present: NaN there is a bug
# in the caller, not a missing history.
_ALWAYS_PRESENT_KINDS = {"value", "hour_between", "weekend"}


@dataclass(frozen=True)
class ServedModel:
    kind: str
    tag: str
    booster: xgb.Booster
    feature_names: list[str]
    required: np.ndarray  # indices of features that must not be NaN
    best_iteration: int
    thresholds: dict[str, float]
    threads: int = 1
    feature_metadata: dict[str, str] | None = None
    logistic: bool = False  # binary:logistic: the probability is the margin's sigmoid

    def describe(self) -> dict[str, Any]:
        names = self.feature_names
        return {
            "kind": self.kind,
            "tag": self.tag,
            "feature_names": names,
            "required_features": [names[i] for i in self.required],
            "thresholds": self.thresholds,
            "feature_metadata": self.feature_metadata or {},
            "output_columns": ["probability", *(f"contribution:{n}" for n in names), "bias"],
        }

    def predict(self, rows: np.ndarray) -> np.ndarray:
        """One row per input: the probability, then `pred_contribs` (per feature, then bias)
        in log-odds, which sum to the probability's logit."""
        if len(rows) == 0:
            return np.empty((0, len(self.feature_names) + 2), dtype=np.float32)
        # Rows are positional (`check` counted them), so the matrix goes without feature
        # names: naming and validating them costs more than the prediction of a small batch.
        matrix = xgb.DMatrix(rows, nthread=self.threads)
        contributions = self.booster.predict(
            matrix,
            pred_contribs=True,
            iteration_range=(0, self.best_iteration + 1),
            validate_features=False,
        )
        if self.logistic:
            # The contributions sum to the margin (SHAP's efficiency), so the probability
            # is its sigmoid: one tree walk instead of two.
            margin = contributions.sum(axis=1, dtype=np.float64)
            probability = 1.0 / (1.0 + np.exp(-margin))
        else:
            probability = self.booster.predict(
                matrix, iteration_range=(0, self.best_iteration + 1), validate_features=False
            )
        answer = np.empty((len(rows), contributions.shape[1] + 1), dtype=np.float32)
        answer[:, 0] = probability
        answer[:, 1:] = contributions
        return answer

    def rows(self, values: list[list[float | None]]) -> np.ndarray:
        """JSON rows (null for a missing value) as a checked float32 matrix; ValueError
        naming the rule otherwise."""
        width = len(self.feature_names)
        for i, row in enumerate(values):
            if len(row) != width:
                raise ValueError(
                    f"rows[{i}]: each row needs {width} features in the order of /model's "
                    f"feature_names, got {len(row)}"
                )
        return self.check(np.array(values, dtype=np.float32).reshape(len(values), width))

    def check(self, rows: np.ndarray) -> np.ndarray:
        """`rows` if they are a valid request; ValueError naming the rule otherwise."""
        if rows.size == 0:
            raise ValueError("rows: the batch is empty")
        if rows.ndim != 2 or rows.shape[1] != len(self.feature_names):
            raise ValueError(
                f"rows: each row needs {len(self.feature_names)} features in the order of "
                f"/model's feature_names, got shape {list(rows.shape)}"
            )
        if np.isinf(rows).any():
            raise ValueError("rows: infinite values are not allowed (use null for missing)")
        if len(self.required):
            missing = np.isnan(rows[:, self.required])
            if missing.any():
                row, col = map(int, np.argwhere(missing)[0])
                name = self.feature_names[self.required[col]]
                raise ValueError(f"rows[{row}]: feature {name} must not be null or NaN")
        return rows


def load_served_model(kind: str, tag: str | None = None, threads: int = 1) -> ServedModel:
    """The model `tag`, or the champion of `kind`, from the configured store, predicting
    with `threads` XGBoost threads."""
    home = open_store(ModelStoreSettings())
    tag = tag or champion_tag(home, kind)
    if tag is None:
        raise StoreError(
            f"no {kind} champion in {home}: train one (`ecap train {kind}`) and promote it "
            "(`ecap models promote TAG`), or set ECAP_SERVING_<KIND>_MODEL"
        )
    booster, metadata = load_model(tag)
    booster.set_param({"nthread": threads})
    objective = json.loads(booster.save_config())["learner"]["objective"]["name"]
    names = list(metadata["feature_names"])
    feature_set = json.loads(metadata["feature_declarations"])
    declarations = feature_set["features"]
    required = [
        i
        for i, feature in enumerate(declarations)
        if feature["type"] == "RowValue" and feature.get("kind") in _ALWAYS_PRESENT_KINDS
    ]
    return ServedModel(
        kind=kind,
        tag=tag,
        booster=booster,
        feature_names=names,
        required=np.array(required, dtype=int),
        best_iteration=int(metadata.get("best_iteration", booster.num_boosted_rounds() - 1)),
        thresholds=dict(metadata.get("thresholds", {})),
        threads=threads,
        feature_metadata=dict(feature_set.get("metadata", {})),
        logistic=objective == "binary:logistic",
    )
