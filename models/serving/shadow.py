"""Shadow mode: a challenger fraud model scores every batch beside the served one, and both
scores go to a JSON-lines log, so the two can be compared on live traffic; only the served
model's answer is returned."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import xgboost as xgb

from models.serving.loading import ServedModel


class ShadowLog:
    """Scores batches with `challenger` and appends both models' probabilities to `path`."""

    def __init__(self, served: ServedModel, challenger: ServedModel, path: Path) -> None:
        if challenger.feature_names != served.feature_names:
            raise ValueError(
                f"challenger {challenger.tag} reads other features than {served.tag}: "
                "shadow mode needs the same feature set"
            )
        self.served = served
        self.challenger = challenger
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def record(self, rows: np.ndarray, served_probabilities: np.ndarray) -> None:
        """Score `rows` with the challenger and log both probabilities."""
        model = self.challenger
        matrix = xgb.DMatrix(rows, feature_names=model.feature_names, nthread=model.threads)
        challenger = model.booster.predict(matrix, iteration_range=(0, model.best_iteration + 1))
        line = {
            "at": datetime.now(UTC).isoformat(),
            "served": self.served.tag,
            "challenger": model.tag,
            "rows": len(rows),
            "served_probability": [round(float(p), 6) for p in served_probabilities],
            "challenger_probability": [round(float(p), 6) for p in challenger],
        }
        with self._lock, self.path.open("a") as log:
            log.write(json.dumps(line) + "\n")
