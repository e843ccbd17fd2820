"""The decision's pure parts: how rules and thresholds combine, how model contributions read
in plain words, and what the scorer remembers per transaction."""

from __future__ import annotations

import numpy as np

from ecap.v1 import common_pb2
from services.scoring.engine import DecidedTransactions, combine
from services.scoring.explain import churn_drivers, describe_feature, model_reasons
from services.scoring.rows import feature_row, major_units
from services.scoring.rules import RuleHit


def _hit(action: str) -> RuleHit:
    return RuleHit(f"r-{action.lower()}", action, action, "")


def test_a_decline_rule_wins_then_allow_then_the_more_severe_of_review_and_model():
    assert combine([_hit("DECLINE"), _hit("ALLOW")], 0.0, 0.5, 0.9) == "DECLINE"
    assert combine([_hit("ALLOW"), _hit("REVIEW")], 0.99, 0.5, 0.9) == "APPROVE"
    assert combine([_hit("REVIEW")], 0.1, 0.5, 0.9) == "REVIEW"
    assert combine([_hit("REVIEW")], 0.95, 0.5, 0.9) == "DECLINE"
    assert combine([], 0.5, 0.5, 0.9) == "REVIEW"  # thresholds are inclusive
    assert combine([], 0.49, 0.5, 0.9) == "APPROVE"
    assert combine([], None, 0.5, 0.9) == "APPROVE"  # degraded, no rule fired


def test_model_reasons_are_the_largest_positive_pushes_in_plain_words():
    names = ["amount", "amount_to_customer_mean_30d", "new_device", "is_night"]
    contributions = np.array([0.2, 1.5, -0.3, 0.7])
    values = {"amount": 640.0, "amount_to_customer_mean_30d": 6.2, "new_device": 1.0}
    reasons = model_reasons(names, contributions, values, limit=3)
    assert [r.code for r in reasons] == [
        "MODEL_AMOUNT_TO_CUSTOMER_MEAN_30D",
        "MODEL_IS_NIGHT",
        "MODEL_AMOUNT",
    ]
    assert reasons[0].description == "amount 6.2x the customer's 30-day average"
    assert reasons[0].contribution == 1.5
    assert all(r.source == common_pb2.REASON_SOURCE_MODEL for r in reasons)
    # A feature that lowered the risk is never a reason for it.
    assert model_reasons(names, -np.abs(contributions), values, limit=3) == []


def test_feature_descriptions():
    assert describe_feature("card_count_1h", 7.0) == "card used 7 times in the last hour"
    assert describe_feature("new_country", 1.0) == "a country new for this customer"
    assert describe_feature("kmh_from_last_location", 2100.4) == (
        "implied travel speed 2,100 km/h since the previous transaction"
    )
    assert describe_feature("seconds_since_last_transaction", 5400.0) == (
        "1.5 hours since the customer's previous transaction"
    )
    assert describe_feature("km_from_last_location", None) == (
        "no earlier transaction of the customer in 30 days"
    )
    assert describe_feature("payment_method_gift_card", 1.0) == "paid by gift card"
    assert describe_feature("something_new", 2.5) == "something new = 2.5"


def test_churn_drivers_rank_by_size_either_way():
    drivers = churn_drivers(
        ["recency_days", "frequency_30d"], np.array([-0.2, 0.9]), {"recency_days": 3.0}, 5
    )
    assert [d.code for d in drivers] == ["CHURN_FREQUENCY_30D", "CHURN_RECENCY_DAYS"]
    assert drivers[0].description == "frequency 30d unknown raises the risk"
    assert drivers[1].description == "recency days 3.00 lowers the risk"


def test_the_memory_of_transactions_is_bounded_and_keeps_observed_and_decided_apart():
    seen = DecidedTransactions(capacity=2)
    seen.decided(common_pb2.Decision(transaction_id="t1"))
    assert seen.decision("t1") is not None and not seen.is_observed("t1")
    for n in range(3):
        seen.observed(f"o{n}")
    assert not seen.is_observed("o0") and seen.is_observed("o2")
    seen.decided(common_pb2.Decision(transaction_id="t2"))
    seen.decided(common_pb2.Decision(transaction_id="t3"))
    assert seen.decision("t1") is None and len(seen) == 2


def test_feature_rows_use_the_training_column_names_and_major_units():
    tx = common_pb2.Transaction(
        transaction_id="t-1",
        customer_id="c-1",
        merchant_id="m-1",
        amount=common_pb2.Money(amount_minor=12_345, currency="EUR"),
        payment_method=common_pb2.PAYMENT_METHOD_WALLET,
        channel=common_pb2.CHANNEL_UNSPECIFIED,
    )
    tx.occurred_at.FromSeconds(1_700_000_000)
    row = feature_row(tx)
    assert row["amount"] == 123.45 and row["payment_method"] == "WALLET"
    assert row["channel"] is None and row["device_id"] is None
    assert np.isnan(row["latitude"]) and row["ts"].tzinfo is not None
    assert major_units(common_pb2.Money(amount_minor=500, currency="JPY")) == 500
    assert major_units(common_pb2.Money(amount_minor=1500, currency="KWD")) == 1.5
