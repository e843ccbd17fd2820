"""Time-based evaluation periods: train, a gap of the label delay, then test.

Rows are assigned by their `ts`; every period is half-open `[from, to)`. The validation
period (early stopping, threshold choice) is the end of the train period.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime, timedelta

import pandas as pd


class LeakageError(AssertionError):
    """Training data overlaps, or could know about, the test period."""


@dataclass(frozen=True)
class Periods:
    train_from: datetime
    valid_from: datetime
    train_to: datetime
    test_from: datetime
    test_to: datetime
    label_delay: timedelta

    def __post_init__(self) -> None:
        order = [
            ("train_from", self.train_from),
            ("valid_from", self.valid_from),
            ("train_to", self.train_to),
            ("test_from", self.test_from),
            ("test_to", self.test_to),
        ]
        for (a, va), (b, vb) in itertools.pairwise(order):
            if va > vb:
                raise ValueError(f"periods: {a} ({va}) must not be after {b} ({vb})")
        if self.train_from >= self.train_to or self.test_from >= self.test_to:
            raise ValueError("periods: train and test periods must not be empty")
        if self.train_to + self.label_delay > self.test_from:
            raise ValueError(
                f"periods: test_from ({self.test_from}) must be at least the label delay "
                f"({self.label_delay}) after train_to ({self.train_to})"
            )

    def to_dict(self) -> dict:
        out = {
            k: getattr(self, k).isoformat()
            for k in ("train_from", "valid_from", "train_to", "test_from", "test_to")
        }
        out["label_delay_days"] = self.label_delay.total_seconds() / 86_400
        return out


def _day(value: pd.Timestamp) -> datetime:
    return value.floor("D").to_pydatetime()


def default_periods(
    ts: pd.Series,
    *,
    label_delay: timedelta,
    test_share: float,
    validation_share: float,
    train_from: datetime | None = None,
    train_to: datetime | None = None,
    test_from: datetime | None = None,
    test_to: datetime | None = None,
) -> Periods:
    """Periods from the data's time span, on whole days, overridden by any bound given."""
    start, end = ts.min(), ts.max()
    test_to = test_to or (end.floor("D") + pd.Timedelta(days=1)).to_pydatetime()
    span = pd.Timestamp(test_to) - start
    test_from = test_from or _day(pd.Timestamp(test_to) - span * test_share)
    train_to = train_to or test_from - label_delay
    train_from = train_from or start.to_pydatetime()
    valid_from = _day(
        pd.Timestamp(train_to)
        - (pd.Timestamp(train_to) - pd.Timestamp(train_from)) * validation_share
    )
    valid_from = max(valid_from, train_from)
    return Periods(train_from, valid_from, train_to, test_from, test_to, label_delay)


def select(frame: pd.DataFrame, start: datetime, end: datetime) -> pd.DataFrame:
    return frame[(frame["ts"] >= start) & (frame["ts"] < end)]


def check_no_leakage(train: pd.DataFrame, test: pd.DataFrame, periods: Periods) -> None:
    """Raise `LeakageError` unless every training row, and its label, precedes the test
    period: labels of training rows must be known (ts + label delay) before test_from."""
    if train.empty or test.empty:
        raise LeakageError("periods: train and test must both hold rows")
    if set(train["transaction_id"]) & set(test["transaction_id"]):
        raise LeakageError("a transaction is in both the train and the test set")
    latest_label_known = train["ts"].max() + periods.label_delay
    if latest_label_known > test["ts"].min() or latest_label_known > periods.test_from:
        raise LeakageError(
            f"the last training label is known at {latest_label_known}, after the test period "
            f"starts ({min(test['ts'].min(), pd.Timestamp(periods.test_from))})"
        )
    if train["ts"].min() < periods.train_from or test["ts"].max() >= periods.test_to:
        raise LeakageError("rows outside their declared periods")
