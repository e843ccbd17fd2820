"""Product performance: each product's sales in the last window against the window before,
its sales velocity, revenue rank and a trend label.

W = ECAP_LAKE_JOBS_PRODUCTS_WINDOW_DAYS. With the run's as-of time t (ECAP_LAKE_JOBS_AS_OF, or
the newest line item), the window is (t - W days, t] and the previous window
(t - 2W days, t - W days]. Over the line items of silver transaction_items in each:

- units: the quantities; orders: the distinct transactions; revenue: the line totals;
- margin: revenue - units x unit_cost_minor (the product's unit cost as of the purchase; a
  line without a known cost counts no cost, as in `revenue_daily`);
- velocity_units_per_day: units / W; velocity_change: (units - previous_units) /
  previous_units, null when the previous window sold nothing;
- revenue_rank: 1 = the most revenue in the window (ties by product_id); null for a product
  that sold nothing in the window.

A product is listed when it sold in either window. Its trend is the first that applies:

1. stopped: sold in the previous window and not in this one;
2. declining: velocity_change <= ECAP_LAKE_JOBS_PRODUCTS_DECLINING_CHANGE (default -0.25, a
   quarter fewer units); a falling best seller is declining, the signal to act on;
3. top: revenue_rank <= ECAP_LAKE_JOBS_PRODUCTS_TOP_N (default 10);
4. rising: velocity_change >= ECAP_LAKE_JOBS_PRODUCTS_RISING_CHANGE (default +0.25), or new
   (no sales in the previous window);
5. steady: the rest.

Name and category come from the product's latest version in silver products; the category
falls back to the one on its newest line item when the catalogue does not hold the product.
"""

from __future__ import annotations

from collections.abc import Mapping

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from spark.jobs.analytics.common import (
    MICROS_PER_DAY,
    from_micros,
    timestamp_literal,
    within_as_of,
)
from spark.jobs.analytics.config import JobSettings
from spark.jobs.analytics.runner import Job, JobContext, JobOutput, empty_frame
from spark.tables import TABLES

STOPPED, DECLINING, TOP, RISING, STEADY = "stopped", "declining", "top", "rising", "steady"


def window_sales(items: DataFrame, as_of_micros: int, window_days: int) -> DataFrame:
    """Per product sold in either window: units, orders, revenue and cost in the window, units
    and revenue in the one before, and the category of its newest line item."""
    at = F.unix_micros("occurred_at")
    window_start = as_of_micros - window_days * MICROS_PER_DAY
    previous_start = window_start - window_days * MICROS_PER_DAY
    quantity = F.coalesce(F.col("quantity"), F.lit(0)).cast("bigint")
    lines = (
        items.where(F.col("product_id").isNotNull())
        .where((at > previous_start) & (at <= as_of_micros))
        .select(
            "product_id",
            "transaction_id",
            "category",
            "occurred_at",
            (at > window_start).alias("current"),
            quantity.alias("quantity"),
            F.coalesce(F.col("line_total_minor"), F.lit(0)).alias("revenue"),
            (quantity * F.coalesce(F.col("unit_cost_minor"), F.lit(0))).alias("cost"),
        )
    )

    def in_window(column: str) -> F.Column:
        return F.sum(F.when(F.col("current"), F.col(column)).otherwise(0))

    def before(column: str) -> F.Column:
        return F.sum(F.when(~F.col("current"), F.col(column)).otherwise(0))

    return lines.groupBy("product_id").agg(
        in_window("quantity").alias("units"),
        F.count_distinct(F.when(F.col("current"), F.col("transaction_id"))).alias("orders"),
        in_window("revenue").alias("revenue_minor"),
        in_window("cost").alias("cost_minor"),
        before("quantity").alias("previous_units"),
        before("revenue").alias("previous_revenue_minor"),
        F.max_by("category", "occurred_at").alias("line_category"),
    )


def latest_products(products: DataFrame) -> DataFrame:
    """product_id, name and category of each product's latest version."""
    latest = F.max_by(F.struct("name", "category"), "valid_from")
    return (
        products.where(F.col("product_id").isNotNull())
        .groupBy("product_id")
        .agg(latest.alias("latest"))
        .select("product_id", "latest.name", F.col("latest.category").alias("catalogue_category"))
    )


def trend(settings: JobSettings) -> F.Column:
    """The trend label by the rule in the module's docstring."""
    change = F.col("velocity_change")
    return (
        F.when((F.col("units") == 0) & (F.col("previous_units") > 0), F.lit(STOPPED))
        .when(change <= settings.products_declining_change, F.lit(DECLINING))
        .when(F.col("revenue_rank") <= settings.products_top_n, F.lit(TOP))
        .when(change.isNull() | (change >= settings.products_rising_change), F.lit(RISING))
        .otherwise(F.lit(STEADY))
    )


def transform(
    items: DataFrame, products: DataFrame, as_of_micros: int, settings: JobSettings
) -> DataFrame:
    """Gold `product_performance` from silver line items and products as of `as_of_micros`."""
    window_days = settings.products_window_days
    sales = window_sales(items, as_of_micros, window_days).where(
        (F.col("units") > 0) | (F.col("previous_units") > 0)
    )
    # One partition: ranking needs every product in one place, and products are few.
    by_revenue = Window.orderBy(F.col("revenue_minor").desc(), F.col("product_id"))
    rank = F.when(F.col("units") > 0, F.row_number().over(by_revenue))
    return (
        sales.join(latest_products(products), "product_id", "left")
        .withColumn("category", F.coalesce("catalogue_category", "line_category"))
        .withColumn("window_days", F.lit(window_days))
        .withColumn("margin_minor", F.col("revenue_minor") - F.col("cost_minor"))
        .withColumn("velocity_units_per_day", F.col("units") / F.lit(float(window_days)))
        .withColumn(
            "velocity_change",
            F.try_divide(F.col("units") - F.col("previous_units"), F.col("previous_units")),
        )
        .withColumn("revenue_rank", rank)
        .withColumn("trend", trend(settings))
        .withColumn("as_of", timestamp_literal(as_of_micros))
    )


def compute(inputs: Mapping[str, DataFrame], context: JobContext) -> JobOutput:
    """The job's glue: the as-of time, then `transform`."""
    settings = context.settings
    items, as_of = within_as_of(inputs["transaction_items"], settings)
    if as_of is None:
        return JobOutput(
            {"product_performance": empty_frame(context.spark, TABLES["product_performance"])},
            {"as_of": None},
        )
    frame = transform(items, inputs["products"], as_of, settings)
    parameters = {
        "as_of": from_micros(as_of),
        "window_days": settings.products_window_days,
        "top_n": settings.products_top_n,
        "rising_change": settings.products_rising_change,
        "declining_change": settings.products_declining_change,
    }
    return JobOutput({"product_performance": frame}, parameters)


JOB = Job(
    name="products",
    description="sales, margin, velocity, revenue rank and trend per product over a window",
    reads=("transaction_items", "products"),
    writes=("product_performance",),
    compute=compute,
    requires=("transaction_items",),
)
