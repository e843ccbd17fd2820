"""Population stability: how far a feature's live distribution moved from its training one.

A reference distribution is the training values' decile edges (quantiles, deduplicated) with
the share of values in each bin, plus the share of missing values, which is a bin of its
own. The population stability index of live values against it is

    PSI = sum over bins of (live_share - reference_share) * ln(live_share / reference_share)

with shares floored at `EPSILON` so an empty bin does not make it infinite. Rules of thumb
(Siddiqi, "Credit Risk Scorecards", 2006): below 0.1 stable, 0.1 to 0.25 a shift worth
watching, above 0.25 a significant shift.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

BINS = 10
SCORE = "score"  # the model's probability, monitored beside the features
EPSILON = 1e-4
WATCH_FROM, SHIFT_FROM = 0.1, 0.25


def reference_distribution(values: np.ndarray, bins: int = BINS) -> dict[str, list[float]]:
    """`{"edges": inner bin edges, "shares": share per bin (len(edges) + 1), "missing": share
    of NaN}` of the training `values`."""
    values = np.asarray(values, dtype=float)
    present = values[~np.isnan(values)]
    missing = 1 - len(present) / len(values) if len(values) else 0.0
    if len(present) == 0:
        return {"edges": [], "shares": [0.0], "missing": missing}
    edges = np.unique(np.quantile(present, np.linspace(0, 1, bins + 1)[1:-1]))
    counts = np.bincount(bin_index(edges, present), minlength=len(edges) + 1)
    shares = counts / len(values)
    return {"edges": edges.tolist(), "shares": shares.tolist(), "missing": missing}


def bin_index(edges: Sequence[float], values: np.ndarray) -> np.ndarray:
    """The bin of each value: i when edges[i-1] <= value < edges[i] (0 below the first)."""
    return np.searchsorted(np.asarray(edges, dtype=float), values, side="right")


def psi(reference: dict, counts: Sequence[float], missing: float) -> float:
    """PSI of live `counts` per reference bin and `missing` live NaN count."""
    expected = np.asarray([*reference["shares"], reference["missing"]], dtype=float)
    actual = np.asarray([*counts, missing], dtype=float)
    total = actual.sum()
    if total == 0:
        return float("nan")
    actual = np.maximum(actual / total, EPSILON)
    expected = np.maximum(expected, EPSILON)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def status(value: float) -> str:
    """stable, watch or shift (see the module docstring)."""
    if value >= SHIFT_FROM:
        return "shift"
    return "watch" if value >= WATCH_FROM else "stable"
