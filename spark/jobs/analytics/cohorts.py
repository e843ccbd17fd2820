"""Cohorts: customers grouped by the month of their first transaction, followed month by month.

For each cohort month and each month offset from 0 up to the as-of month, the cohort's size,
how many of its customers bought in that month (retention = active / size), their orders and
revenue. Months without activity are rows of zeros, so the matrix has no holes. Guests
(no customer_id) are left out.
"""

from __future__ import annotations

from collections.abc import Mapping

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from spark.jobs.analytics.common import from_micros, timestamp_literal, within_as_of
from spark.jobs.analytics.runner import Job, JobContext, JobOutput, empty_frame
from spark.tables import TABLES


def transform(transactions: DataFrame, as_of_micros: int) -> DataFrame:
    """Gold `cohorts` from silver transactions up to `as_of_micros`."""
    bought = transactions.where(F.col("customer_id").isNotNull()).select(
        "customer_id",
        F.trunc(F.to_date("occurred_at"), "month").alias("month"),
        "amount_minor",
    )
    firsts = bought.groupBy("customer_id").agg(F.min("month").alias("cohort_month"))
    offset = F.months_between("month", "cohort_month").cast("int")
    activity = (
        bought.join(firsts, "customer_id")
        .groupBy("cohort_month", offset.alias("month_offset"))
        .agg(
            F.countDistinct("customer_id").alias("active_customers"),
            F.count(F.lit(1)).alias("orders"),
            F.coalesce(F.sum("amount_minor"), F.lit(0)).alias("revenue_minor"),
        )
    )
    as_of_month = F.trunc(F.to_date(timestamp_literal(as_of_micros)), "month")
    grid = (
        firsts.groupBy("cohort_month")
        .agg(F.count(F.lit(1)).alias("customers"))
        .withColumn(
            "month_offset",
            F.explode(
                F.sequence(F.lit(0), F.months_between(as_of_month, "cohort_month").cast("int"))
            ),
        )
    )
    return (
        grid.join(activity, ["cohort_month", "month_offset"], "left")
        .fillna(0, subset=["active_customers", "orders", "revenue_minor"])
        .withColumn("retention", F.col("active_customers") / F.col("customers"))
    )


def compute(inputs: Mapping[str, DataFrame], context: JobContext) -> JobOutput:
    """The job's glue: the as-of time, then `transform`."""
    transactions, as_of = within_as_of(inputs["transactions"], context.settings)
    if as_of is None:
        return JobOutput(
            {"cohorts": empty_frame(context.spark, TABLES["cohorts"])}, {"as_of": None}
        )
    return JobOutput({"cohorts": transform(transactions, as_of)}, {"as_of": from_micros(as_of)})


JOB = Job(
    name="cohorts",
    description="monthly acquisition cohorts: retention, orders and revenue per month since",
    reads=("transactions",),
    writes=("cohorts",),
    compute=compute,
)
