"""The forecast and geography jobs on real Spark and Delta: small silver tables written here,
the gold output checked against figures worked out in this file by another route (by hand
or in pandas)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import SparkSession
from scipy import stats

from spark.config import SparkSettings
from spark.tables import TABLES
from tests.support.lake_jobs import job_runs, read_gold, run, write_rows_with_spark

pytestmark = pytest.mark.integration

DAY = timedelta(days=1)
HORIZON = 14
WEEKDAY_OFFSET = {1: 50, 2: -30, 3: 20, 4: 0, 5: -10, 6: 40, 7: -70}  # ISO weekday -> minor


def _transaction(tid: str, at: datetime, amount: int, **extra: Any) -> dict:
    return {
        "transaction_id": tid,
        "amount_minor": amount,
        "currency": "EUR",
        "occurred_at": at,
        "occurred_date": at.date(),
        **extra,
    }


def _line(tid: str, at: datetime, category: str | None, total: int, line_no: int = 0) -> dict:
    return {
        "transaction_id": tid,
        "line_no": line_no,
        "product_id": f"p-{category}",
        "quantity": 1,
        "line_total_minor": total,
        "occurred_at": at,
        "occurred_date": at.date(),
        "category": category,
    }


# --- forecast ----------------------------------------------------------------------------------
# As of 1 Nov 2026 00:00 UTC: the series end on Saturday 31 Oct, the forecast covers 1..14 Nov.
#   books   23 Aug..31 Oct (70 days), every day 1000 + 10 d + a weekday offset: noiseless, so
#           the model continues it exactly; seasonal naive is 70 (one week of trend) short for
#           the first held-out week and 140 for the second: MAE 105.
#   toys    300 on Saturdays and Sundays from 17 Oct: 15 days with the weekdays zero-filled;
#           enough to forecast (14), too few to back-test (14 + 14).
#   garden  every day from 25 Oct: 7 days, skipped.
#   a line without a category (uncategorised revenue), and two books sales not in the series:
#   one at the as-of instant (on 1 Nov, a day not yet over) and one after it.
AS_OF = datetime(2026, 11, 1, tzinfo=UTC)
LAST_DAY = date(2026, 10, 31)
BOOKS_FROM = date(2026, 8, 23)


def _books_revenue(day: date) -> int:
    d = (day - BOOKS_FROM).days
    return 1000 + 10 * d + WEEKDAY_OFFSET[day.isoweekday()]


def forecast_inputs() -> tuple[list[dict], list[dict]]:
    transactions, lines = [], []

    def sale(tid: str, at: datetime, category: str | None, total: int, extra: int = 0) -> None:
        transactions.append(_transaction(tid, at, total + extra))
        lines.append(_line(tid, at, category, total))

    day = BOOKS_FROM
    while day <= LAST_DAY:
        noon = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
        sale(f"books-{day}", noon, "books", _books_revenue(day))
        if day >= date(2026, 10, 17) and day.isoweekday() >= 6:
            sale(f"toys-{day}", noon + timedelta(hours=3), "toys", 300, extra=25)
        if day >= date(2026, 10, 25):
            sale(f"garden-{day}", noon + timedelta(hours=5), "garden", 80)
        day += DAY
    sale("odd-1", datetime(2026, 10, 20, 9, tzinfo=UTC), None, 55, extra=5)
    sale("books-at-as-of", AS_OF, "books", 90_000)
    sale("books-late", AS_OF + 2 * DAY, "books", 90_000)
    return transactions, lines


def _daily(frame: pd.DataFrame, column: str) -> pd.Series:
    """Revenue per day from the first day with a sale to LAST_DAY, zeros between (pandas)."""
    days = frame["occurred_at"].dt.tz_convert("UTC").dt.normalize().dt.tz_localize(None)
    frame = frame.assign(day=days)[days <= pd.Timestamp(LAST_DAY)]
    sums = frame.groupby("day")[column].sum()
    return sums.reindex(pd.date_range(sums.index.min(), LAST_DAY), fill_value=0).astype(float)


def _seasonal_naive_backtest(series: pd.Series, interval: float) -> tuple[float, float, float]:
    """(MAE, MAPE, coverage) of the last week repeated over the held-out days, by pandas."""
    train, held = series.iloc[:-HORIZON], series.iloc[-HORIZON:].to_numpy()
    last_week = train.iloc[-7:].to_numpy()
    mean = np.array([last_week[h % 7] for h in range(HORIZON)])
    sigma = np.sqrt(((train - train.shift(7)).dropna() ** 2).mean())
    weeks_ahead = np.array([h // 7 + 1 for h in range(HORIZON)])
    spread = stats.norm.ppf(0.5 + interval / 2) * sigma * np.sqrt(weeks_ahead)
    lower, upper = np.maximum(mean - spread, 0), np.maximum(mean + spread, 0)
    errors = np.abs(held - np.maximum(mean, 0))
    positive = held > 0
    mape = (errors[positive] / held[positive]).mean()
    coverage = ((lower <= held) & (held <= upper)).mean()
    return errors.mean(), mape, coverage


def test_forecast_continues_each_category_and_backtests_it_against_seasonal_naive(
    spark: SparkSession, tmp_path: Path
) -> None:
    lake = SparkSettings(lake_uri=str(tmp_path / "lake"))
    transactions, lines = forecast_inputs()
    write_rows_with_spark(spark, lake, "transactions", transactions)
    write_rows_with_spark(spark, lake, "transaction_items", lines)
    record, messages = run(spark, lake, "forecast", as_of=AS_OF, forecast_horizon_days=HORIZON)
    assert record.status == "succeeded"

    forecast = read_gold(lake, "forecast")
    assert set(forecast["category"]) == {"*", "books", "toys"}
    horizon_days = [AS_OF.date() + h * DAY for h in range(HORIZON)]
    for category, rows in forecast.groupby("category"):
        assert sorted(rows["day"]) == horizon_days, category
    assert (forecast["lower_minor"] <= forecast["revenue_minor"]).all()
    assert (forecast["revenue_minor"] <= forecast["upper_minor"]).all()
    assert (forecast["lower_minor"] >= 0).all()
    assert (forecast["interval"] == 0.9).all()
    assert (forecast["model"] == "holt_winters").all()
    assert (forecast["as_of"] == pd.Timestamp(AS_OF)).all()
    # Noiseless series come out exactly: the books line goes on, toys sell on weekends only
    # (the zero-filled weekdays kept the pattern).
    books = forecast[forecast["category"] == "books"].sort_values("day")
    assert books["revenue_minor"].tolist() == pytest.approx(
        [_books_revenue(day) for day in books["day"]], abs=1e-3
    )
    toys = forecast[forecast["category"] == "toys"].sort_values("day")
    weekend = [300.0 if day.isoweekday() >= 6 else 0.0 for day in toys["day"]]
    assert toys["revenue_minor"].tolist() == pytest.approx(weekend, abs=1e-3)
    # A busy '*' (noisy: the toys' and garden's orders ride on the books line) gets an
    # interval with width.
    whole = forecast[forecast["category"] == "*"]
    assert (whole["upper_minor"] - whole["lower_minor"] > 1).all()

    backtest = read_gold(lake, "forecast_backtest").set_index(["category", "model"])
    assert sorted(backtest.index) == [
        ("*", "holt_winters"),
        ("*", "seasonal_naive"),
        ("books", "holt_winters"),
        ("books", "seasonal_naive"),
    ]
    assert (backtest["horizon_days"] == HORIZON).all()
    assert (backtest["as_of"] == pd.Timestamp(AS_OF)).all()
    frame_tx = pd.DataFrame(transactions)
    frame_lines = pd.DataFrame(lines)
    series = {
        "*": _daily(frame_tx, "amount_minor"),
        "books": _daily(frame_lines[frame_lines["category"] == "books"], "line_total_minor"),
    }
    assert len(series["*"]) == len(series["books"]) == 70
    for category, values in series.items():
        mae, mape, coverage = _seasonal_naive_backtest(values, 0.9)
        row = backtest.loc[(category, "seasonal_naive")]
        assert (row.mae, row.mape, row.interval_coverage) == pytest.approx((mae, mape, coverage)), (
            category
        )
    assert backtest.loc[("books", "seasonal_naive"), "mae"] == pytest.approx(105)  # by hand
    assert backtest.loc[("books", "holt_winters"), "mae"] == pytest.approx(0, abs=1e-3)
    model = backtest.loc[("*", "holt_winters")]
    assert model.mae > 0 and 0 <= model.interval_coverage <= 1 and model.mape > 0

    parameters = job_runs(lake).iloc[-1]["parameters"]
    assert parameters["horizon_days"] == HORIZON and parameters["interval"] == 0.9
    assert parameters["last_day"] == LAST_DAY.isoformat()
    assert set(parameters["fits"]) == {"*", "books", "toys"}
    assert parameters["fits"]["books"]["days"] == 70
    assert parameters["fits"]["toys"]["days"] == 15
    assert list(parameters["skipped"]) == ["garden"]
    assert "7 days of history (since 2026-10-25)" in parameters["skipped"]["garden"]
    assert list(parameters["backtest_skipped"]) == ["toys"]
    assert "it needs 28" in parameters["backtest_skipped"]["toys"]
    assert parameters["uncategorised_revenue_minor"] == 55
    assert any("garden: skipped" in message for message in messages), messages


# --- geography and seasonality ------------------------------------------------------------------
# Transactions from Friday 30 Jan to Monday 2 Mar 2026 (32 days: Jan 2, Feb 28, Mar 2), as of
# 2 Mar 18:00; the sale after it is left out.
GEO_AS_OF = datetime(2026, 3, 2, 18, tzinfo=UTC)
GEO_SALES = [
    # (id, customer, when, amount, country, region, city)
    ("g1", "a", datetime(2026, 1, 30, 9, tzinfo=UTC), 1000, "DE", "Bavaria", "Munich"),
    ("g2", "a", datetime(2026, 2, 2, 9, 30, tzinfo=UTC), 500, "DE", "Bavaria", "Munich"),
    ("g3", "b", datetime(2026, 2, 2, 21, tzinfo=UTC), 700, "DE", "Bavaria", "Nuremberg"),
    ("g4", "c", datetime(2026, 2, 10, 9, tzinfo=UTC), 300, "DE", "Berlin", "Berlin"),
    ("g5", None, datetime(2026, 2, 14, 13, tzinfo=UTC), 200, "DE", "Berlin", "Berlin"),
    ("g6", "d", datetime(2026, 2, 20, 23, tzinfo=UTC), 900, "FR", "Ile-de-France", "Paris"),
    ("g7", "d", datetime(2026, 2, 21, 0, 30, tzinfo=UTC), 100, "FR", None, "Lyon"),
    ("g8", "e", datetime(2026, 3, 1, 9, tzinfo=UTC), 400, None, None, None),
    ("g9", "a", datetime(2026, 3, 2, 17, tzinfo=UTC), 600, "FR", "Ile-de-France", "Paris"),
    ("late", "a", datetime(2026, 3, 3, 9, tzinfo=UTC), 99_999, "DE", "Bavaria", "Munich"),
]


def geo_transactions() -> list[dict]:
    return [
        _transaction(tid, at, amount, customer_id=customer, country=c, region=r, city=city)
        for tid, customer, at, amount, c, r, city in GEO_SALES
    ]


def _geo_by_pandas(sales: pd.DataFrame) -> dict[tuple, tuple]:
    sales = sales.fillna({"country": "(unknown)", "region": "(unknown)", "city": "(unknown)"})
    total = sales["amount_minor"].sum()
    expected = {}
    for level, columns in (
        ("country", ["country"]),
        ("region", ["country", "region"]),
        ("city", ["country", "region", "city"]),
    ):
        for names, rows in sales.groupby(columns):
            key = (level, *names, *([None] * (3 - len(columns))))
            revenue = rows["amount_minor"].sum()
            expected[key] = (
                len(rows),
                rows["customer_id"].nunique(),
                revenue,
                revenue / len(rows),
                revenue / total,
            )
    return expected


def _seasonality_by_pandas(sales: pd.DataFrame) -> dict[tuple[str, int], tuple]:
    at = sales["occurred_at"].dt.tz_convert("UTC")
    span = pd.date_range(at.dt.normalize().min().tz_localize(None), GEO_AS_OF.date())
    profiles = {
        "hour_of_day": (at.dt.hour, range(24), lambda p: len(span)),
        "day_of_week": (
            at.dt.dayofweek + 1,
            range(1, 8),
            lambda p: (span.dayofweek + 1 == p).sum(),
        ),
        "month_of_year": (at.dt.month, range(1, 13), lambda p: (span.month == p).sum()),
    }
    expected = {}
    for profile, (period, periods, occurrences) in profiles.items():
        grouped = sales.groupby(period)["amount_minor"].agg(["size", "sum"])
        rows = {}
        for p in periods:
            orders, revenue = grouped.loc[p] if p in grouped.index else (0, 0)
            days = occurrences(p)
            rows[p] = (int(orders), int(revenue), revenue / days if days else None)
        averages = [average for *_, average in rows.values() if average is not None]
        mean = sum(averages) / len(averages)
        for p, (orders, revenue, average) in rows.items():
            expected[(profile, p)] = (orders, revenue, None if average is None else average / mean)
    return expected


def test_geography_breaks_revenue_down_by_place_and_season(
    spark: SparkSession, tmp_path: Path
) -> None:
    lake = SparkSettings(lake_uri=str(tmp_path / "lake"))
    write_rows_with_spark(spark, lake, "transactions", geo_transactions())
    record, _ = run(spark, lake, "geography", as_of=GEO_AS_OF)
    assert record.status == "succeeded"
    assert record.rows_written["seasonality"] == 24 + 7 + 12

    sales = pd.DataFrame([row for row in geo_transactions() if row["transaction_id"] != "late"])
    geo = read_gold(lake, "geo_breakdown")
    assert list(geo.columns) == TABLES["geo_breakdown"].column_names
    found = {
        (row.level, row.country, row.region, row.city): (
            row.orders,
            row.customers,
            row.revenue_minor,
            row.avg_order_value_minor,
            row.revenue_share,
        )
        for row in geo.replace({np.nan: None}).itertuples()
    }
    expected = _geo_by_pandas(sales)
    assert set(found) == set(expected)
    for key, values in expected.items():
        assert found[key] == pytest.approx(values), key
    # By hand: Germany 5 orders by 3 customers (the guest is not one), 2700 of 4700.
    assert found[("country", "DE", None, None)] == pytest.approx((5, 3, 2700, 540, 2700 / 4700))
    assert found[("region", "FR", "(unknown)", None)] == pytest.approx((1, 1, 100, 100, 1 / 47))
    assert found[("city", "(unknown)", "(unknown)", "(unknown)")][2] == 400
    assert (geo["as_of"] == pd.Timestamp(GEO_AS_OF)).all()

    seasonality = read_gold(lake, "seasonality")
    found_profiles = {
        (row.profile, row.period): (
            row.orders,
            row.revenue_minor,
            None if pd.isna(row.index) else row.index,
        )
        for row in seasonality.itertuples()
    }
    expected_profiles = _seasonality_by_pandas(sales)
    assert set(found_profiles) == set(expected_profiles)
    for key, (orders, revenue, index) in expected_profiles.items():
        got = found_profiles[key]
        assert got[:2] == (orders, revenue), key
        assert (got[2] is None) == (index is None), key
        if index is not None:
            assert got[2] == pytest.approx(index), key
    # By hand, per day of the span (32 days): February's 2700 over 28 days, January's 1000
    # over 2, March's 1000 over 2; the mean of those three dailies is 2700/84 + 1000/3.
    mean_daily = (2700 / 28 + 500 + 500) / 3
    assert found_profiles[("month_of_year", 2)][2] == pytest.approx(2700 / 28 / mean_daily)
    assert found_profiles[("month_of_year", 7)] == (0, 0, None)  # July never occurred
    # Hours: 9 UTC holds g1, g2, g4 and g8 (2200 of 4700); every hour occurred 32 times.
    assert found_profiles[("hour_of_day", 9)] == pytest.approx((4, 2200, 2200 / (4700 / 24)))
    # Mondays: 2 Feb (g2, g3) and 2 Mar (g9), over 5 Mondays in the span.
    assert found_profiles[("day_of_week", 1)][:2] == (3, 1800)
