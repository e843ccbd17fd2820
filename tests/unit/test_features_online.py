"""The online feature executor: window bounds, label delay, ties, late rows, expiry and
bounded memory, and the declarations' own checks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from models.features import OnlineFeatures, churn_features, fraud_features
from models.features.declarations import (
    CUSTOMER,
    MERCHANT,
    Agg,
    Derived,
    FeatureSet,
    Measure,
    Op,
    PreviousRow,
    WindowAggregate,
)
from models.features.geo import haversine_km
from models.features.online import to_micros

T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)  # a Monday
HOUR = timedelta(hours=1)


def _row(i: int, at: datetime, **extra) -> dict:
    return {
        "transaction_id": f"t{i:04d}",
        "customer_id": "c1",
        "merchant_id": "m1",
        "amount": 10.0,
        "ts": at,
        **extra,
    }


def _features(*features) -> FeatureSet:
    return FeatureSet("test", 1, tuple(features))


def test_a_window_holds_rows_from_t_minus_length_up_to_but_excluding_t() -> None:
    online = OnlineFeatures(
        _features(
            WindowAggregate("n_1h", CUSTOMER, Agg.COUNT, HOUR),
            WindowAggregate("sum_1h", CUSTOMER, Agg.SUM, HOUR, "amount"),
        )
    )
    online.observe(_row(1, T0, amount=5.0))
    online.observe(_row(2, T0 + 30 * timedelta(minutes=1), amount=7.0))
    assert online.compute(_row(3, T0 + HOUR)) == {"n_1h": 2.0, "sum_1h": 12.0}  # T0 included
    after = T0 + HOUR + timedelta(microseconds=1)
    assert online.compute(_row(4, after)) == {"n_1h": 1.0, "sum_1h": 7.0}  # T0 left
    assert online.compute(_row(5, T0 + 3 * HOUR)) == {"n_1h": 0.0, "sum_1h": 0.0}


def test_rows_at_the_same_instant_do_not_see_each_other() -> None:
    online = OnlineFeatures(_features(WindowAggregate("n", CUSTOMER, Agg.COUNT, HOUR)))
    first = online.compute_and_observe(_row(1, T0))
    second = online.compute_and_observe(_row(2, T0))
    third = online.compute_and_observe(_row(3, T0 + timedelta(seconds=1)))
    assert (first["n"], second["n"], third["n"]) == (0.0, 0.0, 2.0)


def test_labels_count_only_once_the_label_delay_has_passed() -> None:
    delay = timedelta(days=3)
    online = OnlineFeatures(
        _features(
            WindowAggregate("rate", MERCHANT, Agg.MEAN, timedelta(days=7), "label", delay=delay),
            WindowAggregate("known", MERCHANT, Agg.COUNT, timedelta(days=7), "label", delay=delay),
        )
    )
    online.observe(_row(1, T0, label=1.0))
    online.observe(_row(2, T0 + HOUR, label=0.0))
    online.observe(_row(3, T0 + 2 * HOUR, label=None))  # never labelled: never counts
    assert online.compute(_row(9, T0 + delay)) == {"rate": None, "known": 0.0}
    assert online.compute(_row(9, T0 + delay + HOUR)) == {"rate": 1.0, "known": 1.0}
    assert online.compute(_row(9, T0 + delay + 3 * HOUR)) == {"rate": 0.5, "known": 2.0}


def test_the_latest_previous_row_breaks_time_ties_by_transaction_id() -> None:
    online = OnlineFeatures(
        _features(
            PreviousRow("km", CUSTOMER, Measure.DISTANCE_KM, timedelta(days=30)),
            PreviousRow("kmh", CUSTOMER, Measure.SPEED_KMH, timedelta(days=30)),
            PreviousRow("since", CUSTOMER, Measure.ELAPSED_S, timedelta(days=30)),
        )
    )
    paris, london = (48.8566, 2.3522), (51.5074, -0.1278)
    online.observe(_row(2, T0, latitude=paris[0], longitude=paris[1]))
    online.observe(_row(1, T0, latitude=0.0, longitude=0.0))  # same instant, smaller id
    online.observe(_row(3, T0 + HOUR, latitude=None, longitude=None))  # no location
    values = online.compute(_row(4, T0 + 2 * HOUR, latitude=london[0], longitude=london[1]))
    expected_km = haversine_km(*paris, *london)
    assert expected_km == pytest.approx(343.5, abs=1.0)
    assert values["km"] == pytest.approx(expected_km)
    assert values["kmh"] == pytest.approx(expected_km / 2)
    assert values["since"] == 3600.0


def test_a_late_row_is_placed_in_time_order() -> None:
    online = OnlineFeatures(_features(WindowAggregate("n", CUSTOMER, Agg.COUNT, HOUR)))
    online.observe(_row(1, T0 + 40 * timedelta(minutes=1)))
    online.compute(_row(2, T0 + 50 * timedelta(minutes=1)))
    online.observe(_row(3, T0 + 10 * timedelta(minutes=1)))  # arrives after a later query
    assert online.compute(_row(4, T0 + 65 * timedelta(minutes=1)))["n"] == 2.0
    assert online.compute(_row(5, T0 + 75 * timedelta(minutes=1)))["n"] == 1.0


def test_memory_follows_the_longest_window_and_idle_entities_expire() -> None:
    online = OnlineFeatures(fraud_features())
    for i in range(2000):  # 2000 customers, one row each, spread over 100 days
        at = T0 + timedelta(hours=1.2 * i)
        online.compute_and_observe(_row(i, at, customer_id=f"c{i}"))
    held_before = online.held_rows()
    dropped = online.expire(T0 + timedelta(days=200))
    assert dropped > 0
    assert online.held_rows() == 0
    # The merchant's 30-day windows hold at most the rows of the last 30 (+3 delay) days.
    assert held_before < 2000 * len(fraud_features().features)


def test_a_capped_state_keeps_the_newest_rows() -> None:
    online = OnlineFeatures(_features(WindowAggregate("n", MERCHANT, Agg.COUNT, HOUR)), max_rows=3)
    for i in range(10):
        online.observe(_row(i, T0 + timedelta(seconds=i)))
    assert online.held_rows() == 3
    assert online.compute(_row(99, T0 + timedelta(seconds=30)))["n"] == 3.0


def test_derived_features_and_null_keys() -> None:
    features = fraud_features()
    online = OnlineFeatures(features)
    online.observe(_row(1, T0, amount=10.0, device_id="d1"))
    online.observe(_row(2, T0 + HOUR, amount=30.0, device_id="d1"))
    values = online.compute(
        _row(
            3,
            T0 + 2 * HOUR,
            amount=40.0,
            device_id="d2",
            card_fingerprint=None,
            payment_method="CARD",
        )
    )
    assert values["customer_amount_mean_30d"] == 20.0
    assert values["customer_amount_std_30d"] == 10.0
    assert values["amount_to_customer_mean_30d"] == 2.0
    assert values["amount_zscore_30d"] == 2.0
    assert values["new_device"] == 1.0
    assert values["card_count_1h"] is None  # no card: unknown, not zero
    assert values["payment_method_card"] == 1.0 and values["payment_method_wallet"] == 0.0
    assert values["is_night"] == 0.0 and values["is_weekend"] == 0.0
    sunday_night = datetime(2026, 1, 11, 2, 30, tzinfo=UTC)
    late = online.compute(_row(4, sunday_night))
    assert late["is_night"] == 1.0 and late["is_weekend"] == 1.0


def test_declarations_reject_mistakes_with_the_feature_named() -> None:
    with pytest.raises(ValueError, match="feature x: column is required"):
        WindowAggregate("x", CUSTOMER, Agg.SUM, HOUR)
    with pytest.raises(ValueError, match="duplicate feature n"):
        _features(
            WindowAggregate("n", CUSTOMER, Agg.COUNT, HOUR),
            WindowAggregate("n", CUSTOMER, Agg.COUNT, HOUR),
        )
    with pytest.raises(ValueError, match=r"feature r: inputs \['later'\] must be declared"):
        _features(
            Derived("r", Op.IS_ZERO, ("later",)),
            WindowAggregate("later", CUSTOMER, Agg.COUNT, HOUR),
        )
    with pytest.raises(ValueError, match="ts must be timezone-aware"):
        to_micros(datetime(2026, 1, 1))


def test_features_needing_missing_columns_are_skipped_by_name() -> None:
    minimum = ["transaction_id", "customer_id", "merchant_id", "amount", "ts", "label"]
    kept, skipped = fraud_features().restricted_to(minimum)
    assert "customer_count_1h" in kept.names and "merchant_fraud_rate_30d" in kept.names
    assert {"new_device", "km_from_last_location", "channel_direct"} <= set(skipped)
    assert not set(kept.names) & set(skipped)


def test_the_hash_identifies_the_declarations() -> None:
    assert fraud_features().hash == fraud_features().hash
    assert fraud_features().hash != fraud_features(timedelta(days=7)).hash
    assert churn_features().hash != fraud_features().hash
    assert len(churn_features().names) == len(set(churn_features().names))
