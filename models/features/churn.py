"""The churn model's features, declared once: a customer's history as of a cutoff.

Sources: transactions (`customer_id, transaction_id, amount, ts`, optional `item_count`),
behaviour events (`customer_id, session_id, ts`) and customer profiles (`customer_id,
signed_up_at`). Trends compare the last 30 days with the 90 days before them, as a rate per
30 days, so 1.0 means "as before".
"""

from __future__ import annotations

from datetime import timedelta

from models.features.declarations import (
    CUSTOMER,
    Agg,
    Attribute,
    Derived,
    Feature,
    FeatureSet,
    Measure,
    Op,
    PreviousRow,
    WindowAggregate,
)

CHURN_BASE_COLUMNS = ("transaction_id", "customer_id", "amount", "ts")
DAY = timedelta(days=1)
RECENT, PREVIOUS = 30 * DAY, 90 * DAY
LOOKBACK = 365 * DAY
# Previous 90 days -> per 30 days, to compare with the last 30 days.
TREND_SCALE = PREVIOUS / RECENT


def _trend(name: str, recent: str, previous: str) -> Derived:
    return Derived(
        name,
        Op.RATIO,
        (recent, previous),
        scale=TREND_SCALE,
        description=f"{recent} over {previous} per 30 days (1.0: unchanged; null: no history)",
    )


def _rfm() -> list[Feature]:
    return [
        PreviousRow(
            "recency_days",
            CUSTOMER,
            Measure.ELAPSED_DAYS,
            LOOKBACK,
            description="days since the last purchase (within a year)",
        ),
        WindowAggregate("frequency_30d", CUSTOMER, Agg.COUNT, RECENT),
        WindowAggregate("frequency_prev_90d", CUSTOMER, Agg.COUNT, PREVIOUS, delay=RECENT),
        WindowAggregate("frequency_365d", CUSTOMER, Agg.COUNT, LOOKBACK),
        WindowAggregate("monetary_30d", CUSTOMER, Agg.SUM, RECENT, "amount"),
        WindowAggregate("monetary_prev_90d", CUSTOMER, Agg.SUM, PREVIOUS, "amount", delay=RECENT),
        WindowAggregate("monetary_365d", CUSTOMER, Agg.SUM, LOOKBACK, "amount"),
        _trend("frequency_trend", "frequency_30d", "frequency_prev_90d"),
        _trend("monetary_trend", "monetary_30d", "monetary_prev_90d"),
        WindowAggregate("basket_size_mean_90d", CUSTOMER, Agg.MEAN, PREVIOUS, "item_count"),
        WindowAggregate("order_value_mean_365d", CUSTOMER, Agg.MEAN, LOOKBACK, "amount"),
    ]


def _engagement() -> list[Feature]:
    return [
        WindowAggregate("events_30d", CUSTOMER, Agg.COUNT, RECENT, source="events"),
        WindowAggregate(
            "sessions_30d", CUSTOMER, Agg.DISTINCT, RECENT, "session_id", source="events"
        ),
        WindowAggregate(
            "sessions_prev_90d",
            CUSTOMER,
            Agg.DISTINCT,
            PREVIOUS,
            "session_id",
            delay=RECENT,
            source="events",
        ),
        _trend("session_trend", "sessions_30d", "sessions_prev_90d"),
        Derived("events_per_session_30d", Op.RATIO, ("events_30d", "sessions_30d")),
        Attribute("days_since_signup", CUSTOMER, "signed_up_at"),
    ]


def churn_features() -> FeatureSet:
    """The churn feature set, evaluated per customer as of a cutoff."""
    return FeatureSet(
        name="churn",
        version=1,
        features=(*_rfm(), *_engagement()),
        base_columns=CHURN_BASE_COLUMNS,
    )
