"""RFM scores (recency, frequency, monetary quintiles) and the 11 standard RFM segments.

Scores. Each of R, F and M is a score in 1..5 from the customer's rank among all customers:

    score = 1 + floor(5 * (worse / n))

where ``n`` is the number of customers and ``worse`` the number of customers with a strictly
worse value: a larger ``recency_days`` for R (more recent scores higher), a smaller
``frequency`` for F, a smaller ``monetary`` for M. Ties are handled deterministically and
fairly: equal values always get equal scores (every tied customer gets the score of the tie
group's lowest position, like SQL ``RANK``), whatever the row order. With many ties the
quintiles are therefore uneven (if 60% of customers bought once, they all get F = 1), which
is the honest reading of such data; no tie is broken by customer id.

Segments. The map follows Putler's R vs F&M table ("RFM Analysis for Successful Customer
Segmentation", putler.com/rfm-analysis), the segment map in common RFM practice, where
FM = round_half_up((F + M) / 2). Putler's ranges (R, FM):

    Champions           R 4-5  FM 4-5    bought recently, buy often, spend the most
    Loyal               R 2-5  FM 3-5    spend good money, buy regularly
    Potential Loyalist  R 3-5  FM 1-3    recent, average frequency
    New                 R 4-5  FM <= 1   bought most recently, not often
    Promising           R 3-4  FM <= 1   recent shoppers, not spent much
    Need Attention      R 2-3  FM 2-3    above-average recency, frequency and spend
    About to Sleep      R 2-3  FM <= 2   below-average recency and frequency
    At Risk             R <= 2 FM 2-5    spent big and often, but long ago
    Can't Lose Them     R <= 1 FM 4-5    made the biggest purchases, often, but long ago
    Hibernating         R 1-2  FM 1-2    last purchase long ago, low spend, few orders
    Lost                R <= 2 FM <= 2   lowest recency, frequency and spend

Those ranges overlap, so on their own they do not place every customer once. We resolve
them into one grid in which every cell lies inside its segment's Putler range (a unit test
checks that):

    R \\ FM   1             2                   3                   4                5
    5        New           Potential Loyalist  Potential Loyalist  Champions        Champions
    4        Promising     Potential Loyalist  Potential Loyalist  Champions        Champions
    3        About to Sleep About to Sleep     Need Attention      Loyal            Loyal
    2        Hibernating   Hibernating         At Risk             At Risk          At Risk
    1        Lost          Lost                At Risk             Can't Lose Them  Can't Lose Them
"""

from __future__ import annotations

import numpy as np
import pandas as pd

CUSTOMER_ID = "customer_id"
RECENCY_DAYS = "recency_days"
FREQUENCY = "frequency"
MONETARY = "monetary"

CHAMPIONS = "Champions"
LOYAL = "Loyal"
POTENTIAL_LOYALIST = "Potential Loyalist"
NEW = "New"
PROMISING = "Promising"
NEED_ATTENTION = "Need Attention"
ABOUT_TO_SLEEP = "About to Sleep"
AT_RISK = "At Risk"
CANT_LOSE_THEM = "Can't Lose Them"
HIBERNATING = "Hibernating"
LOST = "Lost"

SEGMENTS = (
    CHAMPIONS,
    LOYAL,
    POTENTIAL_LOYALIST,
    NEW,
    PROMISING,
    NEED_ATTENTION,
    ABOUT_TO_SLEEP,
    AT_RISK,
    CANT_LOSE_THEM,
    HIBERNATING,
    LOST,
)

# SEGMENT_GRID[r - 1][fm - 1]: the grid of the module docstring, R = 1 first.
SEGMENT_GRID: tuple[tuple[str, ...], ...] = (
    (LOST, LOST, AT_RISK, CANT_LOSE_THEM, CANT_LOSE_THEM),
    (HIBERNATING, HIBERNATING, AT_RISK, AT_RISK, AT_RISK),
    (ABOUT_TO_SLEEP, ABOUT_TO_SLEEP, NEED_ATTENTION, LOYAL, LOYAL),
    (PROMISING, POTENTIAL_LOYALIST, POTENTIAL_LOYALIST, CHAMPIONS, CHAMPIONS),
    (NEW, POTENTIAL_LOYALIST, POTENTIAL_LOYALIST, CHAMPIONS, CHAMPIONS),
)

SCORE_LEVELS = 5


class RfmInputError(ValueError):
    """The customer table breaks a rule of RFM scoring; the message names column and rule."""


def quintile_scores(values: np.ndarray, higher_is_better: bool) -> np.ndarray:
    """Scores 1..5 by rank; equal values share the score of their group's lowest position."""
    ordered = np.sort(values)
    if higher_is_better:
        worse = np.searchsorted(ordered, values, side="left")
    else:
        worse = len(values) - np.searchsorted(ordered, values, side="right")
    return 1 + (SCORE_LEVELS * worse) // len(values)


def segment_of(r: int, f: int, m: int) -> str:
    """The segment of one (R, F, M) score triple, each in 1..5."""
    for name, score in (("r", r), ("f", f), ("m", m)):
        if not 1 <= score <= SCORE_LEVELS:
            raise RfmInputError(f"score {name} must be in 1..{SCORE_LEVELS}; got {score}")
    return SEGMENT_GRID[r - 1][_fm_score(f, m) - 1]


def _fm_score(f, m):
    # round half up of (f + m) / 2 on integers
    return (f + m + 1) // 2


def _validated(customers: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in (CUSTOMER_ID, RECENCY_DAYS, FREQUENCY, MONETARY) if c not in customers]
    if missing:
        raise RfmInputError(f"customer table has no column(s) {missing}")
    if len(customers) == 0:
        raise RfmInputError("customer table has no rows; RFM needs at least one customer")
    if customers[CUSTOMER_ID].isna().any():
        raise RfmInputError(f"column {CUSTOMER_ID!r} must not be null")
    duplicated = customers[CUSTOMER_ID].duplicated()
    if duplicated.any():
        first = customers[CUSTOMER_ID][duplicated].iloc[0]
        raise RfmInputError(f"column {CUSTOMER_ID!r} must be unique; {first!r} repeats")
    for column in (RECENCY_DAYS, FREQUENCY, MONETARY):
        try:
            values = customers[column].astype(float).to_numpy()
        except (TypeError, ValueError) as exc:
            raise RfmInputError(f"column {column!r} must be numeric") from exc
        bad = ~np.isfinite(values) | (values < 0)
        if bad.any():
            at = int(np.argmax(bad))
            raise RfmInputError(
                f"column {column!r} must be a finite number >= 0; {int(bad.sum())} rows are "
                f"not (first: customer {customers[CUSTOMER_ID].iloc[at]!r}, value {values[at]})"
            )
    return customers


def rfm_segments(customers: pd.DataFrame) -> pd.DataFrame:
    """Score each customer's R, F, M in 1..5 and name their segment.

    ``customers`` has one row per customer: ``customer_id``, ``recency_days`` (days since the
    last purchase), ``frequency`` (number of purchases) and ``monetary`` (total spend). The
    result keeps those columns, in the input's row order, and adds ``r``, ``f``, ``m``, ``fm``
    and ``segment``.
    """
    frame = _validated(customers)[[CUSTOMER_ID, RECENCY_DAYS, FREQUENCY, MONETARY]].copy()
    frame["r"] = quintile_scores(frame[RECENCY_DAYS].to_numpy(float), higher_is_better=False)
    frame["f"] = quintile_scores(frame[FREQUENCY].to_numpy(float), higher_is_better=True)
    frame["m"] = quintile_scores(frame[MONETARY].to_numpy(float), higher_is_better=True)
    frame["fm"] = _fm_score(frame["f"], frame["m"])
    grid = np.array(SEGMENT_GRID, dtype=object)
    frame["segment"] = grid[frame["r"].to_numpy() - 1, frame["fm"].to_numpy() - 1]
    frame = frame.reset_index(drop=True)
    return frame.astype({"r": "int64", "f": "int64", "m": "int64", "fm": "int64"})


def segment_summary(scored: pd.DataFrame) -> pd.DataFrame:
    """Customers and revenue per segment, with their shares; all 11 segments, largest first.

    ``scored`` is the output of :func:`rfm_segments`; revenue is the sum of ``monetary``.
    """
    for column in ("segment", MONETARY):
        if column not in scored:
            raise RfmInputError(f"scored table has no column {column!r}; pass rfm_segments' output")
    unknown = set(scored["segment"]) - set(SEGMENTS)
    if unknown:
        raise RfmInputError(f"column 'segment' holds unknown segment(s) {sorted(unknown)}")
    grouped = scored.groupby("segment")[MONETARY].agg(["size", "sum"])
    summary = grouped.reindex(list(SEGMENTS), fill_value=0).rename(
        columns={"size": "customers", "sum": "revenue"}
    )
    summary["customers"] = summary["customers"].astype("int64")
    summary["revenue"] = summary["revenue"].astype(float)
    total_customers = summary["customers"].sum()
    total_revenue = summary["revenue"].sum()
    summary["customer_share"] = summary["customers"] / total_customers if total_customers else 0.0
    summary["revenue_share"] = summary["revenue"] / total_revenue if total_revenue else 0.0
    summary["average_revenue"] = np.where(
        summary["customers"] > 0, summary["revenue"] / summary["customers"].clip(lower=1), 0.0
    )
    summary = summary.rename_axis("segment").reset_index()
    order = summary.sort_values(["customers", "revenue", "segment"], ascending=[False, False, True])
    return order.reset_index(drop=True)
