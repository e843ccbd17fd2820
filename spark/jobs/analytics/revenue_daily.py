"""Revenue per day: orders, units, revenue, cost, margin and average order value per day,
product category, country and channel.

Category rows come from silver line items (revenue = line totals, cost = quantity x the
product's unit cost as of the purchase, 0 when unknown), with the transaction's country and
channel; whole-order rows (category '*') take revenue from the transaction's amount_minor and
cost from all its lines. Average order value is revenue / orders.
"""

from __future__ import annotations

from collections.abc import Mapping

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from spark.jobs.analytics.runner import Job, JobContext, JobOutput
from spark.tables import ALL_CATEGORIES

_DIMENSIONS = ("day", "category", "country", "channel")


def transform(transactions: DataFrame, items: DataFrame) -> DataFrame:
    """Gold `revenue_daily` from silver transactions and their line items."""
    orders = transactions.select(
        "transaction_id",
        F.to_date("occurred_at").alias("day"),
        "country",
        "channel",
        F.coalesce(F.col("amount_minor"), F.lit(0)).alias("amount_minor"),
    )
    lines = items.select(
        "transaction_id",
        "category",
        F.coalesce(F.col("quantity"), F.lit(0)).alias("quantity"),
        F.coalesce(F.col("line_total_minor"), F.lit(0)).alias("line_total_minor"),
        (
            F.coalesce(F.col("quantity"), F.lit(0)) * F.coalesce(F.col("unit_cost_minor"), F.lit(0))
        ).alias("cost_minor"),
    )
    per_order = lines.groupBy("transaction_id").agg(
        F.sum("quantity").alias("units"), F.sum("cost_minor").alias("cost_minor")
    )
    whole = (
        orders.join(per_order, "transaction_id", "left")
        .groupBy("day", "country", "channel")
        .agg(
            F.count(F.lit(1)).alias("orders"),
            F.coalesce(F.sum("units"), F.lit(0)).alias("units"),
            F.sum("amount_minor").alias("revenue_minor"),
            F.coalesce(F.sum("cost_minor"), F.lit(0)).alias("cost_minor"),
        )
        .withColumn("category", F.lit(ALL_CATEGORIES))
    )
    by_category = (
        lines.join(orders.drop("amount_minor"), "transaction_id")
        .groupBy("day", "category", "country", "channel")
        .agg(
            F.countDistinct("transaction_id").alias("orders"),
            F.sum("quantity").alias("units"),
            F.sum("line_total_minor").alias("revenue_minor"),
            F.sum("cost_minor").alias("cost_minor"),
        )
    )
    return (
        whole.unionByName(by_category)
        .withColumn("margin_minor", F.col("revenue_minor") - F.col("cost_minor"))
        .withColumn("avg_order_value_minor", F.try_divide("revenue_minor", "orders").cast("double"))
    )


def compute(inputs: Mapping[str, DataFrame], context: JobContext) -> JobOutput:
    """The job's glue."""
    frame = transform(inputs["transactions"], inputs["transaction_items"])
    return JobOutput({"revenue_daily": frame})


JOB = Job(
    name="revenue_daily",
    description="revenue, orders, units, margin and AOV per day, category, country, channel",
    reads=("transactions", "transaction_items"),
    writes=("revenue_daily",),
    compute=compute,
    requires=("transactions",),
)
