"""Training without a JVM: input checks, the time split and its no-leakage guard, cost-chosen
thresholds and the ranking metrics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from models.training.config import CostSettings
from models.training.data import InputError, normalise_transactions
from models.training.evaluate import (
    choose_thresholds,
    confusion,
    daily_precision_at_k,
    lift_top_decile,
)
from models.training.periods import LeakageError, check_no_leakage, default_periods, select

START = datetime(2026, 1, 1, tzinfo=UTC)


def _transactions(days: int = 30, per_day: int = 10) -> pd.DataFrame:
    n = days * per_day
    return pd.DataFrame(
        {
            "transaction_id": [f"t{i}" for i in range(n)],
            "customer_id": [f"c{i % 7}" for i in range(n)],
            "merchant_id": ["m1"] * n,
            "amount_minor": np.arange(n) * 100,
            "occurred_at": [START + timedelta(hours=24 * i / per_day) for i in range(n)],
            "is_fraud": [i % 13 == 0 for i in range(n)],
            "channel": ["CHANNEL_DIRECT"] * n,
        }
    )


def test_lake_column_names_are_accepted_and_normalised() -> None:
    frame = normalise_transactions(_transactions())
    assert list(frame.columns[:6]) == [
        "transaction_id",
        "customer_id",
        "merchant_id",
        "amount",
        "ts",
        "label",
    ]
    assert frame["amount"].iloc[3] == 3.0  # minor units -> major
    assert frame["channel"].iloc[0] == "DIRECT"  # enum prefix stripped
    assert set(frame["label"].unique()) == {0.0, 1.0}


def test_bad_input_names_the_column_and_the_rule() -> None:
    with pytest.raises(InputError, match=r"missing required column\(s\) \['merchant_id'\]"):
        normalise_transactions(_transactions().drop(columns=["merchant_id"]))
    bad = _transactions().assign(is_fraud=2)
    with pytest.raises(InputError, match="column label must be 0, 1 or null"):
        normalise_transactions(bad)
    duplicated = _transactions().assign(transaction_id="same")
    with pytest.raises(InputError, match="transaction_id must be unique"):
        normalise_transactions(duplicated)


def test_default_periods_leave_the_label_delay_between_train_and_test() -> None:
    frame = normalise_transactions(_transactions())
    delay = timedelta(days=3)
    periods = default_periods(frame["ts"], label_delay=delay, test_share=0.3, validation_share=0.2)
    assert periods.test_from - periods.train_to == delay
    assert periods.train_from <= periods.valid_from < periods.train_to
    train = select(frame, periods.train_from, periods.train_to)
    test = select(frame, periods.test_from, periods.test_to)
    check_no_leakage(train, test, periods)
    assert train["ts"].max() + delay <= test["ts"].min()
    assert len(test) > 0 and len(train) > len(test)


def test_the_leakage_guard_rejects_a_split_without_the_gap() -> None:
    frame = normalise_transactions(_transactions())
    periods = default_periods(
        frame["ts"], label_delay=timedelta(days=3), test_share=0.3, validation_share=0.2
    )
    leaky_train = select(frame, periods.train_from, periods.test_from)  # up to the test start
    test = select(frame, periods.test_from, periods.test_to)
    with pytest.raises(LeakageError, match="last training label is known"):
        check_no_leakage(leaky_train, test, periods)
    with pytest.raises(LeakageError, match="both the train and the test set"):
        check_no_leakage(
            pd.concat([select(frame, periods.train_from, periods.train_to), test.head(1)]),
            test,
            periods,
        )
    with pytest.raises(ValueError, match="at least the label delay"):
        default_periods(
            frame["ts"],
            label_delay=timedelta(days=3),
            test_share=0.3,
            validation_share=0.2,
            train_to=periods.test_from,
        )


def _brute_force_cost(labels, scores, review, decline, costs: CostSettings) -> float:
    approve = scores < review
    reviewed = (scores >= review) & (scores < decline)
    declined = scores >= decline
    return (
        labels[approve].sum() * costs.missed_fraud
        + reviewed.sum() * costs.review
        + (1 - labels[declined]).sum() * costs.false_decline
    )


def test_thresholds_minimise_the_cost_of_decisions() -> None:
    rng = np.random.default_rng(1)
    labels = (rng.random(3000) < 0.05).astype(int)
    scores = np.clip(rng.normal(0.2 + 0.5 * labels, 0.15), 0, 1)
    costs = CostSettings(missed_fraud=100, review=5, false_decline=30)
    chosen = choose_thresholds(labels, scores, costs)
    assert chosen.review <= chosen.decline
    best = _brute_force_cost(labels, scores, chosen.review, chosen.decline, costs)
    assert chosen.expected_cost_per_row == pytest.approx(best / len(labels))
    for review in np.quantile(scores, [0.5, 0.8, 0.9, 0.95]):
        for decline in np.quantile(scores, [0.95, 0.99, 1.0]):
            if review <= decline:
                assert best <= _brute_force_cost(labels, scores, review, decline, costs)
    table = confusion(labels, scores, chosen)
    assert sum(v["fraud"] for v in table.values()) == labels.sum()
    assert sum(v["legitimate"] for v in table.values()) == len(labels) - labels.sum()


def test_customer_precision_at_k_ranks_customers_by_their_highest_daily_score() -> None:
    day1, day2 = START, START + timedelta(days=1)
    frame = pd.DataFrame(
        {
            "customer_id": ["a", "a", "b", "c", "a", "b"],
            "ts": [day1, day1 + timedelta(hours=1), day1, day1, day2, day2],
            "score": [0.9, 0.1, 0.8, 0.2, 0.3, 0.7],
            "label": [0, 1, 0, 1, 1, 0],
        }
    )
    result = daily_precision_at_k(frame, k=2)
    # day 1: a (0.9, defrauded) and b (0.8, not) -> 0.5; day 2: b then a -> 0.5
    assert result["per_day"]["2026-01-01"] == {
        "precision": 0.5,
        "customers": 2,
        "defrauded_customers": 2,
    }
    assert result["mean"] == 0.5


def test_lift_in_the_top_decile() -> None:
    labels = np.array([1] * 10 + [0] * 90)
    perfect = np.linspace(1, 0, 100)
    assert lift_top_decile(labels, perfect) == pytest.approx(10.0)
    assert lift_top_decile(labels, -perfect) == 0.0
