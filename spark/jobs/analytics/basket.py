"""Basket analysis: frequent product sets and association rules with Spark MLlib FP-Growth.

A basket is the set of distinct products of one transaction (silver transaction_items).
FP-Growth (Han, Pei & Yin 2000; MLlib's parallel PFP) finds the itemsets in at least
ECAP_LAKE_JOBS_BASKET_MIN_SUPPORT of the baskets, and the rules X -> {y} between them with
confidence support(X + y) / support(X) of at least ECAP_LAKE_JOBS_BASKET_MIN_CONFIDENCE; lift is
confidence / support({y}). Items in the output arrays are sorted, so a set has one spelling.
"""

from __future__ import annotations

from collections.abc import Mapping

from pyspark.ml.fpm import FPGrowth
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from spark.jobs.analytics.runner import Job, JobContext, JobOutput


def baskets(items: DataFrame) -> DataFrame:
    """One row per transaction: `items`, its distinct product ids."""
    return (
        items.where(F.col("product_id").isNotNull())
        .groupBy("transaction_id")
        .agg(F.array_sort(F.collect_set("product_id")).alias("items"))
    )


def transform(
    items: DataFrame, min_support: float, min_confidence: float
) -> tuple[DataFrame, DataFrame, int]:
    """Gold `basket_itemsets` and `basket_rules` from silver line items, and the basket count."""
    carts = baskets(items)
    count = carts.count()
    model = FPGrowth(itemsCol="items", minSupport=min_support, minConfidence=min_confidence).fit(
        carts
    )
    itemsets = model.freqItemsets.select(
        F.array_sort("items").alias("items"),
        F.size("items").alias("size"),
        F.col("freq").alias("baskets"),
        (F.col("freq") / F.lit(count)).alias("support"),
    )
    rules = model.associationRules.select(
        F.array_sort("antecedent").alias("antecedent"),
        F.array_sort("consequent").alias("consequent"),
        "support",
        "confidence",
        "lift",
    )
    return itemsets, rules, count


def compute(inputs: Mapping[str, DataFrame], context: JobContext) -> JobOutput:
    """The job's glue: the thresholds from the settings, then `transform`."""
    settings = context.settings
    itemsets, rules, count = transform(
        inputs["transaction_items"], settings.basket_min_support, settings.basket_min_confidence
    )
    parameters = {
        "baskets": count,
        "min_support": settings.basket_min_support,
        "min_confidence": settings.basket_min_confidence,
    }
    return JobOutput({"basket_itemsets": itemsets, "basket_rules": rules}, parameters)


JOB = Job(
    name="basket",
    description="frequent product sets and association rules (FP-Growth)",
    reads=("transaction_items",),
    writes=("basket_itemsets", "basket_rules"),
    compute=compute,
)
