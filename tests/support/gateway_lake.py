"""A small lake for the REST gateway's route tests: a few rows of every table the scoring
and analytics routes read, written with delta-rs in about a second.

Silver: two customers' purchases, visits, profiles and decisions (history for PredictChurn,
TestRule and GetCustomer360; the last hour's purchases for GetKpis). Gold: two or three rows
of each analytics table, with values easy to tell apart. Times sit around `ANCHOR`, the
lake's "now". The tests compare each route's answer with these rows.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

ANCHOR = datetime(2026, 10, 15, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
ACTIVE, OCCASIONAL = "c-gw-active", "c-gw-occasional"


def silver_rows() -> dict[str, list[dict]]:
    """Two customers' purchases, visits, profiles and decisions: history for PredictChurn,
    TestRule and GetCustomer360, and the last hour's transactions for GetKpis."""
    transactions, decisions = [], []

    def purchase(customer: str, at: datetime, amount_minor: int) -> None:
        n = len(transactions)
        transactions.append(
            {
                "transaction_id": f"t-gw-{n:03d}",
                "customer_id": customer,
                "merchant_id": f"m-gw-{n % 3}",
                "session_id": f"s-gw-{n:03d}",
                "amount_minor": amount_minor,
                "currency": "EUR",
                "item_count": 1 + n % 4,
                "items_total_minor": amount_minor,
                "payment_method": "CARD",
                "card_fingerprint": f"card-{customer}",
                "device_id": f"dev-{customer}",
                "device_type": "MOBILE",
                "ip_address": "192.0.2.10",
                "country": "DE",
                "city": "Berlin",
                "latitude": 52.52,
                "longitude": 13.40,
                "channel": "DIRECT",
                "occurred_at": at,
                "occurred_date": at.date(),
            }
        )
        if n % 2 == 0:
            decisions.append(
                {
                    "decision_id": f"d-gw-{n:03d}",
                    "transaction_id": f"t-gw-{n:03d}",
                    "customer_id": customer,
                    "outcome": ("APPROVE", "REVIEW")[n % 4 // 2],
                    "risk_score": round(0.1 + n / 100, 2),
                    "decided_at": at + timedelta(milliseconds=40),
                    "decided_date": at.date(),
                }
            )

    for n in range(12):
        purchase(ACTIVE, ANCHOR - (60 - 5 * n) * DAY, 2_000 + 1_700 * n)
    for n in range(3):
        purchase(OCCASIONAL, ANCHOR - (200 - 40 * n) * DAY, 9_000 + 2_000 * n)
    purchase(OCCASIONAL, ANCHOR - timedelta(minutes=40), 12_500)
    purchase(ACTIVE, ANCHOR - timedelta(minutes=20), 4_100)

    events = [
        {
            "event_id": f"e-gw-{n:03d}",
            "event_type": "PAGE_VIEW",
            "session_id": f"s-gw-visit-{n // 3}",
            "customer_id": ACTIVE,
            "occurred_at": ANCHOR - (20 - n) * DAY,
            "device_id": f"dev-{ACTIVE}",
            "page_url": "https://shop.ecap.example/",
            "occurred_date": (ANCHOR - (20 - n) * DAY).date(),
        }
        for n in range(9)
    ]
    customers = []
    for customer, versions in (
        (ACTIVE, [(ANCHOR - 400 * DAY, "Lyon"), (ANCHOR - 100 * DAY, "Berlin")]),
        (OCCASIONAL, [(ANCHOR - 300 * DAY, "Munich")]),
    ):
        for n, (valid_from, city) in enumerate(versions):
            customers.append(
                {
                    "customer_id": customer,
                    "valid_from": valid_from,
                    "valid_to": versions[n + 1][0] if n + 1 < len(versions) else None,
                    "email": f"{customer}@example.org",
                    "full_name": f"Customer {customer}",
                    "country": "DE",
                    "city": city,
                    "signed_up_at": versions[0][0],
                    "acquisition_channel": "DIRECT",
                    "updated_at": valid_from,
                }
            )
    return {
        "transactions": transactions,
        "decisions": decisions,
        "events": events,
        "customers": customers,
    }


def gold_rows() -> dict[str, list[dict]]:
    """A few rows of every gold table an analytics RPC reads, with values easy to tell apart."""
    as_of = ANCHOR - timedelta(hours=1)

    def kpi(minutes_before: int, country: str, channel: str, category: str, orders: int):
        minute = ANCHOR - timedelta(minutes=minutes_before)
        return {
            "minute": minute,
            "country": country,
            "channel": channel,
            "currency": "EUR",
            "category": category,
            "orders": orders,
            "units": 2 * orders + 1,
            "revenue_minor": 1_000 * orders + 7,
            "avg_order_value_minor": (1_000 * orders + 7) / orders,
            "unique_customers": orders,
            "decisions": orders,
            "approved": orders - 1,
            "reviewed": 1,
            "declined": 0,
            "fraud_flag_rate": 1 / orders,
            "minute_date": minute.date(),
        }

    def day_revenue(day: date, category: str, orders: int) -> dict:
        return {
            "day": day,
            "category": category,
            "country": "DE",
            "channel": "DIRECT",
            "orders": orders,
            "units": 3 * orders,
            "revenue_minor": 5_000 * orders,
            "cost_minor": 3_000 * orders,
            "margin_minor": 2_000 * orders,
            "avg_order_value_minor": 5_000.0,
        }

    d1, d2 = (ANCHOR - 2 * DAY).date(), (ANCHOR - DAY).date()
    return {
        "kpi_minute": [
            kpi(90, "DE", "DIRECT", "*", 4),  # the previous hour
            kpi(30, "DE", "DIRECT", "*", 3),
            kpi(30, "DE", "DIRECT", "Electronics", 2),  # a category row: not whole orders
            kpi(10, "FR", "SOCIAL", "*", 5),
        ],
        "revenue_daily": [
            day_revenue(d1, "*", 10),
            day_revenue(d2, "*", 6),
            day_revenue(d2, "Electronics", 4),
        ],
        "rfm_segments": [
            {
                "segment": "Champions",
                "customers": 5,
                "revenue_minor": 250_000,
                "customer_share": 0.625,
                "revenue_share": 0.8,
                "average_revenue_minor": 50_000.0,
                "as_of": as_of,
            },
            {
                "segment": "At Risk",
                "customers": 3,
                "revenue_minor": 62_500,
                "customer_share": 0.375,
                "revenue_share": 0.2,
                "average_revenue_minor": 20_833.33,
                "as_of": as_of,
            },
        ],
        "rfm": [
            {
                "customer_id": ACTIVE,
                "recency_days": 0.1,
                "frequency": 13,
                "monetary": 140_300,
                "r": 5,
                "f": 5,
                "m": 5,
                "segment": "Champions",
                "as_of": as_of,
            },
            {
                "customer_id": OCCASIONAL,
                "recency_days": 120.0,
                "frequency": 4,
                "monetary": 51_500,
                "r": 2,
                "f": 2,
                "m": 3,
                "segment": "At Risk",
                "as_of": as_of,
            },
        ],
        "clv": [
            {
                "customer_id": ACTIVE,
                "frequency": 12,
                "recency": 55.0,
                "T": 400.0,
                "monetary": 10_700.0,
                "p_alive": 0.97,
                "horizon_days": 365.0,
                "expected_purchases": 9.5,
                "expected_avg_spend": 10_500.0,
                "clv": 98_000.0,
                "as_of": as_of,
            }
        ],
        "churn_scores": [
            {
                "customer_id": ACTIVE,
                "probability": 0.08,
                "band": "LOW",
                "drivers": ["recency_days"],
                "model_tag": "churn:gw",
                "as_of": as_of,
            },
            {
                "customer_id": OCCASIONAL,
                "probability": 0.71,
                "band": "HIGH",
                "drivers": ["frequency_30d", "recency_days"],
                "model_tag": "churn:gw",
                "as_of": as_of,
            },
        ],
        "cohorts": [
            {
                "cohort_month": date(2026, 8, 1),
                "month_offset": 0,
                "customers": 40,
                "active_customers": 40,
                "retention": 1.0,
                "orders": 55,
                "revenue_minor": 410_000,
            },
            {
                "cohort_month": date(2026, 8, 1),
                "month_offset": 1,
                "customers": 40,
                "active_customers": 18,
                "retention": 0.45,
                "orders": 21,
                "revenue_minor": 150_000,
            },
        ],
        "funnel": [
            {
                "channel": "*",
                "device_type": "*",
                "step_index": n,
                "step": step,
                "sessions": sessions,
                "conversion_from_previous": sessions / previous,
                "conversion_from_start": sessions / 1_000,
            }
            for n, (step, sessions, previous) in enumerate(
                (("PAGE_VIEW", 1_000, 1_000), ("ADD_TO_CART", 300, 1_000), ("PURCHASE", 90, 300))
            )
        ],
        "attribution": [
            {
                "model": "linear",
                "level": "channel",
                "channel": channel,
                "campaign": "",
                "conversions": conversions,
                "revenue_minor": conversions * 4_000,
                "as_of": as_of,
            }
            for channel, conversions in (("EMAIL", 12.5), ("SOCIAL", 30.25))
        ],
        "basket_rules": [
            {
                "antecedent": ["p-gw-1"],
                "consequent": ["p-gw-2"],
                "support": 0.04,
                "confidence": 0.6,
                "lift": 3.5,
            },
            {
                "antecedent": ["p-gw-3"],
                "consequent": ["p-gw-1"],
                "support": 0.02,
                "confidence": 0.3,
                "lift": 1.2,
            },
        ],
        "recommendations": [
            {"customer_id": ACTIVE, "rank": rank, "product_id": f"p-gw-{rank}", "score": 1 / rank}
            for rank in (1, 2, 3)
        ],
        "recommendation_eval": [
            {
                "model": model,
                "k": 10,
                "precision_at_k": precision,
                "recall_at_k": precision * 2,
                "customers": 120,
                "as_of": as_of,
            }
            for model, precision in (("als", 0.12), ("most_popular", 0.05))
        ],
        "product_performance": [
            {
                "product_id": f"p-gw-{rank}",
                "name": f"Product {rank}",
                "category": "Electronics",
                "window_days": 28,
                "units": 50 // rank,
                "orders": 40 // rank,
                "revenue_minor": 100_000 // rank,
                "margin_minor": 30_000 // rank,
                "previous_units": 20,
                "previous_revenue_minor": 40_000,
                "velocity_units_per_day": 50 / rank / 28,
                "velocity_change": 50 / rank / 20 - 1,
                "revenue_rank": rank,
                "trend": ("top", "rising")[rank - 1],
                "as_of": as_of,
            }
            for rank in (1, 2)
        ],
        "geo_breakdown": [
            {
                "level": "country",
                "country": country,
                "region": "",
                "city": "",
                "orders": orders,
                "customers": orders // 2,
                "revenue_minor": orders * 5_000,
                "avg_order_value_minor": 5_000.0,
                "revenue_share": share,
                "as_of": as_of,
            }
            for country, orders, share in (("DE", 80, 0.8), ("FR", 20, 0.2))
        ],
        "seasonality": [
            {
                "profile": "day_of_week",
                "period": period,
                "orders": 10 * period,
                "revenue_minor": 1_000 * period,
                "index": period / 4,
                "as_of": as_of,
            }
            for period in (1, 2, 3)
        ],
        "forecast": [
            {
                "category": "*",
                "day": (ANCHOR + n * DAY).date(),
                "revenue_minor": 50_000.0 + n,
                "lower_minor": 40_000.0,
                "upper_minor": 60_000.0,
                "interval": 0.8,
                "model": "ets",
                "as_of": as_of,
            }
            for n in (1, 2)
        ],
        "forecast_backtest": [
            {
                "category": "*",
                "model": model,
                "horizon_days": 14,
                "mae": mae,
                "mape": mae / 50_000,
                "interval_coverage": 0.79,
                "as_of": as_of,
            }
            for model, mae in (("ets", 4_000.0), ("seasonal_naive", 6_500.0))
        ],
        "quality_metrics": [
            {
                "source_table": "transactions",
                "batch_id": batch,
                "metric": "null_rate",
                "subject": "device_id",
                "value": value,
                "value_text": "",
                "recorded_at": ANCHOR - timedelta(minutes=minutes),
                "recorded_date": ANCHOR.date(),
            }
            for batch, value, minutes in ((1, 0.25, 30), (2, 0.125, 5))
        ],
    }
