"""Recommendations: implicit-feedback ALS over the units each customer bought, top-N unseen
products per customer, and a held-out evaluation against a most-popular baseline.

The preference of customer u for product i is the units u bought of i (silver
transaction_items up to the run's as-of time t; lines without a customer or product are left
out). MLlib's ALS with implicitPrefs (Hu, Koren & Volinsky 2008: confidence 1 + alpha x units)
factors it with ECAP_LAKE_JOBS_RECOMMENDATIONS_RANK / _REG_PARAM / _ALPHA / _MAX_ITER and a
fixed _SEED, so a rerun over the same data gives the same factors; its user and item blocks are
the session's shuffle partitions. Line items are reduced once to one row per customer and
product (with the units before and after the held-out period's start), kept by a local
checkpoint that every later step reads. Gold `recommendations` holds, per customer, the N =
ECAP_LAKE_JOBS_RECOMMENDATIONS_TOP_N products with the highest ALS score that the customer has
not bought (ties by product_id).

Evaluation (gold `recommendation_eval`), in the same run: train_until = t -
ECAP_LAKE_JOBS_RECOMMENDATIONS_HOLDOUT_DAYS. Both models learn from the purchases up to
train_until and recommend k = N products to each customer, products bought by then excluded:

- als: the model above, fitted on those purchases only;
- most_popular: the products with the most units bought up to train_until (ties by
  product_id), the same list for every customer.

A customer is judged when they bought before train_until and, after it, bought a product they
had not bought before (the relevant products). precision@k = hits / k and recall@k = hits /
relevant, where hits are the relevant products among the k recommended, each averaged over the
judged customers. With no judged customer the table is written empty and the run says why.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pyspark.ml.feature import StringIndexer
from pyspark.ml.recommendation import ALS
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from spark.jobs.analytics.common import (
    MICROS_PER_DAY,
    from_micros,
    timestamp_literal,
    within_as_of,
)
from spark.jobs.analytics.config import JobSettings
from spark.jobs.analytics.runner import Job, JobContext, JobOutput, Report, empty_frame
from spark.tables import TABLES

ALS_MODEL, MOST_POPULAR = "als", "most_popular"
_RECOMMENDATION_COLUMNS = ("customer_id", "rank", "product_id", "score")
_EVAL_SCHEMA = "model string, precision_at_k double, recall_at_k double, customers bigint"


@dataclass(frozen=True)
class Evaluation:
    """One model's figures on the held-out period."""

    model: str
    precision_at_k: float
    recall_at_k: float
    customers: int


def purchases(items: DataFrame) -> DataFrame:
    """The line items that say who bought what: customer_id, product_id, units, occurred_at."""
    return items.where(
        F.col("customer_id").isNotNull() & F.col("product_id").isNotNull() & (F.col("quantity") > 0)
    ).select(
        "customer_id", "product_id", F.col("quantity").cast("bigint").alias("units"), "occurred_at"
    )


def customer_products(lines: DataFrame, train_until_micros: int) -> DataFrame:
    """One row per customer and product bought: units (all), training_units (up to
    `train_until_micros`) and relevant: bought only after it by a customer who bought before."""
    before = F.unix_micros("occurred_at") <= train_until_micros
    pairs = lines.groupBy("customer_id", "product_id").agg(
        F.sum("units").alias("units"),
        F.sum(F.when(before, F.col("units")).otherwise(0)).alias("training_units"),
    )
    has_history = F.max(F.col("training_units")).over(Window.partitionBy("customer_id")) > 0
    return pairs.withColumn("relevant", has_history & (F.col("training_units") == 0))


def with_ids(pairs: DataFrame) -> tuple[DataFrame, int]:
    """`pairs` with the integer user and item ids ALS wants (in id order), and the number of
    products."""
    indexer = StringIndexer(
        inputCols=["customer_id", "product_id"],
        outputCols=["user", "item"],
        stringOrderType="alphabetAsc",
    ).fit(pairs)
    indexed = indexer.transform(pairs).withColumns(
        {"user": F.col("user").cast("int"), "item": F.col("item").cast("int")}
    )
    return indexed, len(indexer.labelsArray[1])


def top_unseen(candidates: DataFrame, seen: DataFrame, n: int) -> DataFrame:
    """Per customer, the `n` best-scored candidates (customer_id, product_id, score) that are not
    in `seen` (customer_id, product_id), ranked from 1 (ties by product_id)."""
    best_first = Window.partitionBy("customer_id").orderBy(
        F.col("score").desc(), F.col("product_id")
    )
    return (
        candidates.join(
            seen.select("customer_id", "product_id"), ["customer_id", "product_id"], "left_anti"
        )
        .withColumn("rank", F.row_number().over(best_first))
        .where(F.col("rank") <= n)
        .select(*_RECOMMENDATION_COLUMNS)
    )


def als_top_n(
    indexed: DataFrame,
    units: str,
    n: int,
    candidates: int,
    settings: JobSettings,
    blocks: int,
    customers: DataFrame | None = None,
) -> DataFrame:
    """ALS fitted on column `units` of `indexed` (rows with units > 0 are what each customer
    bought): the top `n` unseen products of each customer who bought (or of those in
    `customers`), from the `candidates` best-scored products."""
    bought = indexed.where(F.col(units) > 0)
    als = ALS(
        rank=settings.recommendations_rank,
        maxIter=settings.recommendations_max_iter,
        regParam=settings.recommendations_reg_param,
        alpha=settings.recommendations_alpha,
        seed=settings.recommendations_seed,
        implicitPrefs=True,
        userCol="user",
        itemCol="item",
        ratingCol="rating",
        numUserBlocks=blocks,
        numItemBlocks=blocks,
    )
    model = als.fit(bought.select("user", "item", F.col(units).cast("float").alias("rating")))
    users = bought.select("customer_id", "user").distinct()
    if customers is not None:
        users = users.join(customers, "customer_id")
    products = indexed.select("product_id", "item").distinct()
    scored = (
        model.recommendForUserSubset(users.select("user"), candidates)
        .select("user", F.explode("recommendations").alias("r"))
        .select("user", F.col("r.item").alias("item"), F.col("r.rating").alias("score"))
        .join(users, "user")
        .join(products, "item")
        .select("customer_id", "product_id", F.col("score").cast("double").alias("score"))
    )
    return top_unseen(scored, bought, n)


def most_popular_top_n(
    indexed: DataFrame, units: str, n: int, candidates: int, customers: DataFrame
) -> DataFrame:
    """The baseline: per customer in `customers`, the `n` products with the most `units` that
    the customer has not bought (score: those units), from the `candidates` most bought."""
    bought = indexed.where(F.col(units) > 0)
    popular = (
        bought.groupBy("product_id")
        .agg(F.sum(units).cast("double").alias("score"))
        .orderBy(F.col("score").desc(), F.col("product_id"))
        .limit(candidates)
    )
    return top_unseen(customers.crossJoin(F.broadcast(popular)), bought, n)


def precision_recall(
    recommended: DataFrame, models: list[str], relevant: DataFrame, k: int
) -> list[Evaluation]:
    """Per model in `models`: the mean precision@k and recall@k of its rows in `recommended`
    (model, customer_id, rank, product_id) over the customers in `relevant` (customer_id,
    product_id), and their number."""
    per_customer = relevant.groupBy("customer_id").agg(F.count(F.lit(1)).alias("relevant"))
    hits = (
        recommended.where(F.col("rank") <= k)
        .join(relevant, ["customer_id", "product_id"])
        .groupBy("model", "customer_id")
        .agg(F.count(F.lit(1)).alias("hits"))
    )
    rows = (
        per_customer.withColumn("model", F.explode(F.array(*(F.lit(m) for m in models))))
        .join(hits, ["model", "customer_id"], "left")
        .fillna(0, subset=["hits"])
        .groupBy("model")
        .agg(
            F.avg(F.col("hits") / F.lit(k)).alias("precision"),
            F.avg(F.col("hits") / F.col("relevant")).alias("recall"),
            F.count(F.lit(1)).alias("customers"),
        )
        .orderBy("model")
        .collect()
    )
    return [
        Evaluation(r.model, float(r.precision), float(r.recall), int(r.customers)) for r in rows
    ]


def evaluate(
    indexed: DataFrame, candidates: int, settings: JobSettings, blocks: int
) -> list[Evaluation]:
    """ALS and the most-popular baseline trained on `training_units` and judged on the
    `relevant` products of `indexed` (see `customer_products`)."""
    k = settings.recommendations_top_n
    relevant = indexed.where(F.col("relevant")).select("customer_id", "product_id")
    judged = relevant.select("customer_id").distinct()
    als = als_top_n(indexed, "training_units", k, candidates, settings, blocks, judged)
    popular = most_popular_top_n(indexed, "training_units", k, candidates, judged)
    recommended = als.withColumn("model", F.lit(ALS_MODEL)).unionByName(
        popular.withColumn("model", F.lit(MOST_POPULAR))
    )
    return precision_recall(recommended, [ALS_MODEL, MOST_POPULAR], relevant, k)


def transform(
    spark: SparkSession,
    items: DataFrame,
    as_of_micros: int,
    settings: JobSettings,
    blocks: int,
    report: Report,
) -> tuple[DataFrame, DataFrame, dict]:
    """Gold `recommendations` and `recommendation_eval` from silver line items as of
    `as_of_micros`, and the evaluation's figures for the run's parameters."""
    k = settings.recommendations_top_n
    train_until = as_of_micros - round(settings.recommendations_holdout_days * MICROS_PER_DAY)
    pairs, products = with_ids(customer_products(purchases(items), train_until))
    # Every step below reads these rows, the line items' reduction; compute them once.
    indexed = pairs.localCheckpoint()
    most_bought, judged = (
        indexed.groupBy("customer_id")
        .agg(F.count(F.lit(1)).alias("products"), F.max("relevant").alias("judged"))
        .agg(F.max("products"), F.count_if("judged"))
        .first()
    )
    # Enough candidates that k remain after leaving out what any customer bought.
    candidates = min(k + int(most_bought), products)
    if judged:
        results = evaluate(indexed, candidates, settings, blocks)
    else:
        report(
            "recommendations: no customer bought before the held-out period and something new "
            "in it; writing recommendation_eval empty"
        )
        results = []
    for result in results:
        report(
            f"recommendations: {result.model} precision@{k}={result.precision_at_k:.4f} "
            f"recall@{k}={result.recall_at_k:.4f} over {result.customers} customers"
        )
    eval_frame = spark.createDataFrame(
        [(r.model, r.precision_at_k, r.recall_at_k, r.customers) for r in results], _EVAL_SCHEMA
    ).select(
        "model",
        F.lit(k).alias("k"),
        "precision_at_k",
        "recall_at_k",
        "customers",
        timestamp_literal(train_until).alias("train_until"),
        timestamp_literal(as_of_micros).alias("as_of"),
    )
    recommended = als_top_n(indexed, "units", k, candidates, settings, blocks).withColumn(
        "as_of", timestamp_literal(as_of_micros)
    )
    figures = {
        f"{r.model}_{name}": getattr(r, name)
        for r in results
        for name in ("precision_at_k", "recall_at_k", "customers")
    }
    return recommended, eval_frame, {"train_until": from_micros(train_until), **figures}


def compute(inputs: Mapping[str, DataFrame], context: JobContext) -> JobOutput:
    """The job's glue: the as-of time and ALS blocks, then `transform`."""
    settings = context.settings
    items, as_of = within_as_of(inputs["transaction_items"], settings)
    if as_of is None:
        empty = {name: empty_frame(context.spark, TABLES[name]) for name in JOB.writes}
        return JobOutput(empty, {"as_of": None})
    blocks = int(context.spark.conf.get("spark.sql.shuffle.partitions"))
    recommended, eval_frame, figures = transform(
        context.spark, items, as_of, settings, blocks, context.report
    )
    parameters = {
        "as_of": from_micros(as_of),
        "top_n": settings.recommendations_top_n,
        "holdout_days": settings.recommendations_holdout_days,
        "rank": settings.recommendations_rank,
        "reg_param": settings.recommendations_reg_param,
        "alpha": settings.recommendations_alpha,
        "max_iter": settings.recommendations_max_iter,
        "seed": settings.recommendations_seed,
        "blocks": blocks,
        **figures,
    }
    return JobOutput(
        {"recommendations": recommended, "recommendation_eval": eval_frame}, parameters
    )


JOB = Job(
    name="recommendations",
    description="top-N products per customer (implicit ALS), evaluated against most-popular",
    reads=("transaction_items",),
    writes=("recommendations", "recommendation_eval"),
    compute=compute,
)
