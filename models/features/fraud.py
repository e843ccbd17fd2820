"""The fraud model's features, declared once (see `declarations`).

Rows are transactions with at least `transaction_id, customer_id, merchant_id, amount, ts`
and, for the merchant fraud rates, `label` (null while unknown). Optional columns (device,
IP, coordinates, country, card, channel, payment method) enable the features that need them.
"""

from __future__ import annotations

from datetime import timedelta

from ecap.v1 import common_pb2
from models.features.declarations import (
    CARD,
    CUSTOMER,
    CUSTOMER_COUNTRY,
    CUSTOMER_DEVICE,
    CUSTOMER_IP,
    MERCHANT,
    Agg,
    Derived,
    Feature,
    FeatureSet,
    Measure,
    Op,
    PreviousRow,
    RowKind,
    RowValue,
    WindowAggregate,
)

FRAUD_BASE_COLUMNS = ("transaction_id", "customer_id", "merchant_id", "amount", "ts")
DEFAULT_LABEL_DELAY = timedelta(days=3)
HOUR, DAY = timedelta(hours=1), timedelta(days=1)
CUSTOMER_WINDOWS = {"1h": HOUR, "1d": DAY, "7d": 7 * DAY, "30d": 30 * DAY}
NOVELTY_WINDOW = 30 * DAY
NIGHT_HOURS = (0, 6)


def enum_values(enum, prefix: str) -> list[str]:
    """The names of a protobuf enum without its prefix and without *_UNSPECIFIED."""
    names = [value.name.removeprefix(prefix) for value in enum.DESCRIPTOR.values]
    return [name for name in names if name != "UNSPECIFIED"]


PAYMENT_METHODS = enum_values(common_pb2.PaymentMethod, "PAYMENT_METHOD_")
CHANNELS = enum_values(common_pb2.Channel, "CHANNEL_")


def _customer_features() -> list[Feature]:
    features: list[Feature] = [RowValue("amount", RowKind.VALUE, column="amount")]
    for label, length in CUSTOMER_WINDOWS.items():
        features += [
            WindowAggregate(f"customer_count_{label}", CUSTOMER, Agg.COUNT, length),
            WindowAggregate(f"customer_spend_{label}", CUSTOMER, Agg.SUM, length, "amount"),
        ]
    features += [
        WindowAggregate("customer_amount_mean_30d", CUSTOMER, Agg.MEAN, 30 * DAY, "amount"),
        WindowAggregate("customer_amount_std_30d", CUSTOMER, Agg.STD, 30 * DAY, "amount"),
        Derived(
            "amount_to_customer_mean_30d",
            Op.RATIO,
            ("amount", "customer_amount_mean_30d"),
            description="this amount over the customer's mean amount in the past 30 days",
        ),
        Derived(
            "amount_zscore_30d",
            Op.ZSCORE,
            ("amount", "customer_amount_mean_30d", "customer_amount_std_30d"),
        ),
        PreviousRow("seconds_since_last_transaction", CUSTOMER, Measure.ELAPSED_S, 30 * DAY),
        PreviousRow("km_from_last_location", CUSTOMER, Measure.DISTANCE_KM, 30 * DAY),
        PreviousRow("kmh_from_last_location", CUSTOMER, Measure.SPEED_KMH, 30 * DAY),
    ]
    for entity, what in (
        (CUSTOMER_DEVICE, "device"),
        (CUSTOMER_IP, "ip"),
        (CUSTOMER_COUNTRY, "country"),
    ):
        count = f"customer_{what}_count_30d"
        features += [
            WindowAggregate(count, entity, Agg.COUNT, NOVELTY_WINDOW),
            Derived(
                f"new_{what}",
                Op.IS_ZERO,
                (count,),
                description=f"first time in 30 days this customer uses this {what}",
            ),
        ]
    features += [
        WindowAggregate("card_count_1h", CARD, Agg.COUNT, HOUR),
        WindowAggregate("card_count_1d", CARD, Agg.COUNT, DAY),
    ]
    return features


def _merchant_features(label_delay: timedelta) -> list[Feature]:
    features: list[Feature] = [
        WindowAggregate("merchant_count_1d", MERCHANT, Agg.COUNT, DAY),
        WindowAggregate("merchant_count_7d", MERCHANT, Agg.COUNT, 7 * DAY),
    ]
    for label, length in (("7d", 7 * DAY), ("30d", 30 * DAY)):
        features += [
            WindowAggregate(
                f"merchant_labelled_count_{label}",
                MERCHANT,
                Agg.COUNT,
                length,
                "label",
                delay=label_delay,
                description="transactions whose label was known at scoring time",
            ),
            WindowAggregate(
                f"merchant_fraud_rate_{label}",
                MERCHANT,
                Agg.MEAN,
                length,
                "label",
                delay=label_delay,
                description="share of fraud among the labels known at scoring time",
            ),
        ]
    return features


def _context_features() -> list[Feature]:
    features: list[Feature] = [
        RowValue("is_night", RowKind.HOUR_BETWEEN, low=NIGHT_HOURS[0], high=NIGHT_HOURS[1]),
        RowValue("is_weekend", RowKind.WEEKEND),
    ]
    features += [
        RowValue(f"payment_method_{name.lower()}", RowKind.EQUALS, "payment_method", name)
        for name in PAYMENT_METHODS
    ]
    features += [
        RowValue(f"channel_{name.lower()}", RowKind.EQUALS, "channel", name) for name in CHANNELS
    ]
    return features


def fraud_features(label_delay: timedelta = DEFAULT_LABEL_DELAY) -> FeatureSet:
    """The fraud feature set; merchant fraud rates count labels `label_delay` old or older."""
    return FeatureSet(
        name="fraud",
        version=1,
        features=(
            *_customer_features(),
            *_merchant_features(label_delay),
            *_context_features(),
        ),
        base_columns=FRAUD_BASE_COLUMNS,
        metadata={"label_delay_s": str(label_delay.total_seconds())},
    )
