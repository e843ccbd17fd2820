"""Forecast: daily revenue per top-level product category (and '*' for whole orders) over the
next ECAP_LAKE_JOBS_FORECAST_HORIZON_DAYS days, with a prediction interval, back-tested
against the seasonal-naive baseline in the same run.

- Series: Spark sums silver line totals per category and day (lines without a category are
  left out; their revenue is recorded in the run's parameters) and silver transactions'
  amount_minor per day for '*'. Only whole UTC days count: the series ends the day before
  the as-of day (which is still going on), and each category's series starts on its first
  day with a sale; days between without a sale are zeros. The daily sums (categories x days,
  small) are collected to the driver.
- Model: damped additive Holt-Winters with a weekly season, fitted per category in numpy
  (spark/analytics/forecast.py, where the equations and the interval are written down); the
  forecast covers the as-of day and the horizon - 1 days after it, with an
  ECAP_LAKE_JOBS_FORECAST_INTERVAL (0.9) interval; forecasts and bounds are floored at 0.
- Back-test: the last horizon days of each series are held out; the model and the seasonal
  naive baseline (same weekday one week earlier, repeated) are fitted on the days before and
  scored on them (MAE, MAPE over days with revenue, interval coverage) into
  `forecast_backtest`.
- Skips: a category with fewer than two weeks of history gets no forecast; one with fewer
  than horizon + two weeks gets no back-test. Each skip and its reason is in the run's
  parameters (`skipped`, `backtest_skipped`), beside each fit's parameters (`fits`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from spark.analytics.forecast import (
    HOLT_WINTERS,
    SEASONAL_NAIVE,
    WEEK,
    Forecast,
    clip_at_zero,
    fit_holt_winters,
    holt_winters_forecast,
    min_history,
    score,
    seasonal_naive_forecast,
)
from spark.jobs.analytics.common import from_micros, timestamp_literal, within_as_of
from spark.jobs.analytics.config import JobSettings
from spark.jobs.analytics.runner import Job, JobContext, JobOutput, Report, empty_frame
from spark.tables import ALL_CATEGORIES, TABLES

_FORECAST_COLUMNS = ("category", "day", "revenue_minor", "lower_minor", "upper_minor")
_BACKTEST_COLUMNS = ("category", "model", "horizon_days", "mae", "mape", "interval_coverage")


def daily_revenue(transactions: DataFrame, items: DataFrame, last_day: date) -> DataFrame:
    """(category, day, revenue_minor) for each day with a sale up to `last_day`; category
    '*' sums whole orders, null the lines without a category."""
    whole = transactions.select(
        F.lit(ALL_CATEGORIES).alias("category"),
        F.to_date("occurred_at").alias("day"),
        F.coalesce(F.col("amount_minor"), F.lit(0)).alias("revenue_minor"),
    )
    lines = items.select(
        "category",
        F.to_date("occurred_at").alias("day"),
        F.coalesce(F.col("line_total_minor"), F.lit(0)).alias("revenue_minor"),
    )
    return (
        whole.unionByName(lines)
        .where(F.col("day") <= F.lit(last_day))
        .groupBy("category", "day")
        .agg(F.sum("revenue_minor").cast("double").alias("revenue_minor"))
    )


def zero_filled(daily: pd.DataFrame, last_day: date) -> dict[str, pd.Series]:
    """Per category, its revenue on every day from its first sale to `last_day` (0 without)."""
    series = {}
    for category, rows in daily.groupby("category", sort=True):
        by_day = rows.set_index(pd.DatetimeIndex(pd.to_datetime(rows["day"])))["revenue_minor"]
        days = pd.date_range(by_day.index.min(), pd.Timestamp(last_day), freq="D")
        series[str(category)] = by_day.reindex(days, fill_value=0.0).astype(float)
    return series


def _forecast_rows(category: str, forecast: Forecast, last_day: date) -> list[tuple]:
    return [
        (category, last_day + timedelta(days=h), float(mean), float(lower), float(upper))
        for h, (mean, lower, upper) in enumerate(
            zip(forecast.mean, forecast.lower, forecast.upper, strict=True), 1
        )
    ]


def _backtest_rows(category: str, y: np.ndarray, horizon: int, interval: float) -> list[tuple]:
    train, held_out = y[:-horizon], y[-horizon:]
    fitted = fit_holt_winters(train)
    candidates = {
        HOLT_WINTERS: holt_winters_forecast(fitted, horizon, interval),
        SEASONAL_NAIVE: seasonal_naive_forecast(train, horizon, interval),
    }
    rows = []
    for model, forecast in candidates.items():
        scores = score(held_out, clip_at_zero(forecast))
        mape = None if np.isnan(scores.mape) else scores.mape
        rows.append((category, model, horizon, scores.mae, mape, scores.coverage))
    return rows


def forecast_series(
    series: Mapping[str, pd.Series],
    last_day: date,
    horizon: int,
    interval: float,
    report: Report = print,
) -> tuple[list[tuple], list[tuple], dict[str, Any]]:
    """Forecast and back-test each category's series: (forecast rows, back-test rows,
    parameters: fits and skips). Rows hold the columns `_FORECAST_COLUMNS` and
    `_BACKTEST_COLUMNS`."""
    forecasts: list[tuple] = []
    backtests: list[tuple] = []
    fits: dict[str, Any] = {}
    skipped: dict[str, str] = {}
    backtest_skipped: dict[str, str] = {}
    needed, backtest_needed = min_history(WEEK), horizon + min_history(WEEK)
    for position, (category, values) in enumerate(series.items(), 1):
        y = values.to_numpy(dtype=float)
        first = values.index[0].date().isoformat()
        if len(y) < needed:
            skipped[category] = (
                f"{len(y)} days of history (since {first}); the model needs at least "
                f"{needed} (two weeks)"
            )
            report(f"forecast: [{position}/{len(series)}] {category}: skipped, {skipped[category]}")
            continue
        fitted = fit_holt_winters(y)
        forecast = clip_at_zero(holt_winters_forecast(fitted, horizon, interval))
        forecasts += _forecast_rows(category, forecast, last_day)
        fits[category] = {
            "days": len(y),
            "first_day": first,
            **asdict(fitted.params),
            "sigma": float(np.sqrt(fitted.sigma2)),
            "converged": fitted.converged,
        }
        if len(y) < backtest_needed:
            backtest_skipped[category] = (
                f"{len(y)} days of history (since {first}); a back-test holds out {horizon} "
                f"and fits on at least {needed}, so it needs {backtest_needed}"
            )
            backtest = "no back-test: too short"
        else:
            rows = _backtest_rows(category, y, horizon, interval)
            backtests += rows
            backtest = "back-test MAE " + ", ".join(f"{r[1]} {r[3]:,.0f}" for r in rows)
        p = fitted.params
        report(
            f"forecast: [{position}/{len(series)}] {category}: {len(y)} days, alpha={p.alpha:.3f} "
            f"beta={p.beta:.3f} gamma={p.gamma:.3f} phi={p.phi:.3f}; {backtest}"
        )
    parameters = {"fits": fits, "skipped": skipped, "backtest_skipped": backtest_skipped}
    return forecasts, backtests, parameters


def transform(
    spark: SparkSession,
    transactions: DataFrame,
    items: DataFrame,
    as_of_micros: int,
    settings: JobSettings,
    report: Report = print,
) -> tuple[DataFrame, DataFrame, dict[str, Any]]:
    """Gold `forecast` and `forecast_backtest` from silver transactions and line items up to
    the last whole day before `as_of_micros`, and the run's parameters."""
    last_day = from_micros(as_of_micros).date() - timedelta(days=1)
    daily = daily_revenue(transactions, items, last_day).toPandas()
    uncategorised = daily[daily["category"].isna()]
    series = zero_filled(daily.dropna(subset=["category"]), last_day)
    horizon, interval = settings.forecast_horizon_days, settings.forecast_interval
    forecasts, backtests, parameters = forecast_series(series, last_day, horizon, interval, report)
    as_of = timestamp_literal(as_of_micros)
    forecast = (
        spark.createDataFrame(forecasts, _schema("forecast", _FORECAST_COLUMNS))
        .withColumn("interval", F.lit(interval))
        .withColumn("model", F.lit(HOLT_WINTERS))
        .withColumn("as_of", as_of)
    )
    backtest = spark.createDataFrame(
        backtests, _schema("forecast_backtest", _BACKTEST_COLUMNS)
    ).withColumn("as_of", as_of)
    parameters = {
        "last_day": last_day,
        "uncategorised_revenue_minor": float(uncategorised["revenue_minor"].sum()),
        **parameters,
    }
    return forecast, backtest, parameters


def _schema(table: str, columns: tuple[str, ...]) -> str:
    types = TABLES[table].columns
    return ", ".join(f"{column} {types[column]}" for column in columns)


def compute(inputs: Mapping[str, DataFrame], context: JobContext) -> JobOutput:
    """The job's glue: the as-of time and the forecast settings, then `transform`."""
    settings = context.settings
    transactions, as_of = within_as_of(inputs["transactions"], settings)
    parameters: dict[str, Any] = {
        "as_of": None if as_of is None else from_micros(as_of),
        "model": HOLT_WINTERS,
        "season_days": WEEK,
        "horizon_days": settings.forecast_horizon_days,
        "interval": settings.forecast_interval,
    }
    if as_of is None:
        empty = {name: empty_frame(context.spark, TABLES[name]) for name in JOB.writes}
        return JobOutput(empty, parameters)
    forecast, backtest, fitted = transform(
        context.spark,
        transactions,
        inputs["transaction_items"],
        as_of,
        settings,
        context.report,
    )
    return JobOutput(
        {"forecast": forecast, "forecast_backtest": backtest}, {**parameters, **fitted}
    )


JOB = Job(
    name="forecast",
    description="daily revenue forecast per category with intervals, back-tested against "
    "seasonal naive",
    reads=("transactions", "transaction_items"),
    writes=("forecast", "forecast_backtest"),
    compute=compute,
    requires=("transactions",),
)
