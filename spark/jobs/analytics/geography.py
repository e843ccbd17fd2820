"""Geography and seasonality: where and when the shop sells, from silver transactions up to
the run's as-of time, in UTC (the Spark session's time zone).

`geo_breakdown`, at three levels of the transaction's location: per country, per (country,
region) and per (country, region, city); a finer level carries the coarser names and the
columns below its level are null. A missing name reads '(unknown)', so every transaction
counts at every level. Per row: orders (transactions), customers (distinct customer_id;
guests are not counted), revenue (sum of amount_minor), average order value (revenue /
orders) and revenue_share (revenue / all revenue; each level's shares sum to 1).

`seasonality`, three profiles of orders and revenue: hour_of_day (0..23), day_of_week
(1 = Monday .. 7 = Sunday) and month_of_year (1..12). The observed span is the UTC days from
the first transaction's day to the as-of day, both included. For each period p, D_p is the
number of days of the span on which p occurs (hour_of_day: every day of the span;
day_of_week: the span's days with that weekday; month_of_year: the span's days in that
month), and

    average_p = revenue_p / D_p          index_p = average_p / mean(average_q over q with D_q > 0)

so 1 is an average period, and a month's index compares revenue per day (months of 28 and
31 days alike). A period that never occurred in the span (D_p = 0) has zero orders and
revenue and a null index; when all revenue is zero, every index is null. The first and last
days of the span count as whole days.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

import numpy as np
import pandas as pd
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from spark.jobs.analytics.common import from_micros, timestamp_literal, within_as_of
from spark.jobs.analytics.runner import Job, JobContext, JobOutput, empty_frame
from spark.tables import TABLES

UNKNOWN = "(unknown)"
PROFILES = {"hour_of_day": range(24), "day_of_week": range(1, 8), "month_of_year": range(1, 13)}


def _named(column: str) -> Column:
    return F.coalesce(F.nullif(F.trim(F.col(column)), F.lit("")), F.lit(UNKNOWN)).alias(column)


def geo_breakdown(transactions: DataFrame) -> DataFrame:
    """Gold `geo_breakdown` (without as_of) from silver transactions."""
    located = transactions.select(
        _named("country"),
        _named("region"),
        _named("city"),
        "customer_id",
        F.coalesce(F.col("amount_minor"), F.lit(0)).alias("amount_minor"),
    )
    # grouping_id: a bit per rolled-up column, city lowest (0 city, 1 region, 3 country, 7 all).
    rolled = located.rollup("country", "region", "city").agg(
        F.grouping_id().alias("grouping"),
        F.count(F.lit(1)).alias("orders"),
        F.countDistinct("customer_id").alias("customers"),
        F.sum("amount_minor").alias("revenue_minor"),
    )
    grouping = F.col("grouping")
    level = (
        F.when(grouping == 0, "city").when(grouping == 1, "region").when(grouping == 3, "country")
    )
    total = F.max(F.when(grouping == 7, F.col("revenue_minor"))).over(Window.partitionBy())
    return (
        rolled.withColumn("level", level)
        .withColumn("revenue_share", F.try_divide(F.col("revenue_minor"), total).cast("double"))
        .where(F.col("level").isNotNull())
        .withColumn("avg_order_value_minor", F.try_divide("revenue_minor", "orders").cast("double"))
    )


def sales_cells(transactions: DataFrame) -> DataFrame:
    """Orders, revenue and the first day per (UTC hour, ISO weekday, month): at most 2,016
    rows, from one pass over the transactions."""
    return transactions.groupBy(
        F.hour("occurred_at").alias("hour_of_day"),
        # Spark's dayofweek counts from Sunday = 1; ISO weekdays from Monday = 1.
        ((F.dayofweek("occurred_at") + 5) % 7 + 1).alias("day_of_week"),
        F.month("occurred_at").alias("month_of_year"),
    ).agg(
        F.count(F.lit(1)).alias("orders"),
        F.coalesce(F.sum("amount_minor"), F.lit(0)).alias("revenue_minor"),
        F.min(F.to_date("occurred_at")).alias("first_day"),
    )


def seasonal_profiles(cells: pd.DataFrame, last_day: date) -> pd.DataFrame:
    """Gold `seasonality` (without as_of) from `sales_cells` and the as-of day: the three
    profiles with orders, revenue and the index of the module's docstring."""
    if cells.empty:
        span = pd.DatetimeIndex([])
    else:
        span = pd.date_range(pd.Timestamp(cells["first_day"].min()), pd.Timestamp(last_day))
    days_of = {
        "hour_of_day": lambda period: len(span),
        "day_of_week": lambda period: int((span.dayofweek + 1 == period).sum()),
        "month_of_year": lambda period: int((span.month == period).sum()),
    }
    rows = []
    for profile, periods in PROFILES.items():
        totals = cells.groupby(profile)[["orders", "revenue_minor"]].sum()
        totals = totals.reindex(list(periods), fill_value=0)
        days = np.array([days_of[profile](period) for period in periods], dtype=float)
        revenue = totals["revenue_minor"].to_numpy(dtype=float)
        average = np.divide(revenue, days, out=np.full(len(days), np.nan), where=days > 0)
        mean = np.nanmean(average) if (days > 0).any() else np.nan
        index = average / mean if mean > 0 else np.full(len(days), np.nan)
        for period, orders, revenue_minor, value in zip(
            periods, totals["orders"], totals["revenue_minor"], index, strict=True
        ):
            rows.append(
                (
                    profile,
                    int(period),
                    int(orders),
                    int(revenue_minor),
                    None if np.isnan(value) else float(value),
                )
            )
    return pd.DataFrame(rows, columns=["profile", "period", "orders", "revenue_minor", "index"])


def seasonality(spark: SparkSession, transactions: DataFrame, as_of_micros: int) -> DataFrame:
    """Gold `seasonality` (without as_of) from silver transactions up to `as_of_micros`."""
    cells = sales_cells(transactions).toPandas()
    profiles = seasonal_profiles(cells, from_micros(as_of_micros).date())
    records = list(profiles.itertuples(index=False, name=None))
    return spark.createDataFrame(
        records, "profile string, period int, orders bigint, revenue_minor bigint, index double"
    )


def compute(inputs: Mapping[str, DataFrame], context: JobContext) -> JobOutput:
    """The job's glue: the as-of time, then both transforms."""
    transactions, as_of = within_as_of(inputs["transactions"], context.settings)
    if as_of is None:
        empty = {name: empty_frame(context.spark, TABLES[name]) for name in JOB.writes}
        return JobOutput(empty, {"as_of": None})
    as_of_column = timestamp_literal(as_of)
    return JobOutput(
        {
            "geo_breakdown": geo_breakdown(transactions).withColumn("as_of", as_of_column),
            "seasonality": seasonality(context.spark, transactions, as_of).withColumn(
                "as_of", as_of_column
            ),
        },
        {"as_of": from_micros(as_of)},
    )


JOB = Job(
    name="geography",
    description="orders, customers and revenue per country, region and city; hour, weekday "
    "and month seasonal profiles",
    reads=("transactions",),
    writes=("geo_breakdown", "seasonality"),
    compute=compute,
)
