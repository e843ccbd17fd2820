"""Attribution: credit for purchases and revenue to the marketing touches before them.

Journeys are built per customer by Spark from silver events and transactions:

- a touch is a MARKETING_TOUCH event of a known customer (touch_channel and campaign);
- a conversion is a transaction of a customer; its journey holds the customer's touches after
  their previous transaction and at most ECAP_LAKE_JOBS_ATTRIBUTION_LOOKBACK_DAYS before it,
  in time order; conversions without such a touch have nothing to credit and are counted in
  the run's parameters (`conversions_without_touches`) only;
- a non-converting journey holds a customer's touches after their last transaction, within
  the lookback before the as-of time (the Markov chain needs the paths that led nowhere).

The journeys (one row each) are collected to pandas in the driver and credited by every model
of spark/analytics/attribution.py, once with channels as the touches (level 'channel') and
once with (channel, campaign) pairs (level 'campaign'). Shapley enumerates 2^n coalitions:
when a level has more than ECAP_ATTRIBUTION_SHAPLEY_MAX_CHANNELS touch values, its Shapley
rows are left out and the run's parameters say so. Anonymous touches (no customer_id) cannot
be tied to a purchase and are left out.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from spark.analytics.attribution import MODELS, Journey, attribute, journey
from spark.analytics.config import AttributionSettings
from spark.jobs.analytics.common import (
    MICROS_PER_DAY,
    from_micros,
    timestamp_literal,
    within_as_of,
)
from spark.jobs.analytics.runner import Job, JobContext, JobOutput, empty_frame
from spark.tables import TABLES

TOUCH = "MARKETING_TOUCH"
NO_CAMPAIGN = "(none)"
# Joins channel and campaign into one touch value at the campaign level; never in a name.
_SEPARATOR = "\x1f"


def journeys_frame(
    events: DataFrame, transactions: DataFrame, as_of_micros: int, lookback_days: float
) -> DataFrame:
    """One row per journey: customer_id, converted, revenue, converted_micros and the touches
    as a time-ordered array of (micros, channel, campaign)."""
    lookback = int(lookback_days * MICROS_PER_DAY)
    touches = events.where(
        (F.col("event_type") == TOUCH)
        & F.col("customer_id").isNotNull()
        & F.col("touch_channel").isNotNull()
        & (F.unix_micros("occurred_at") <= as_of_micros)
    ).select(
        "customer_id",
        F.unix_micros("occurred_at").alias("touch_micros"),
        F.col("touch_channel").alias("channel"),
        F.coalesce(F.col("campaign"), F.lit(NO_CAMPAIGN)).alias("campaign"),
    )
    by_customer = Window.partitionBy("customer_id").orderBy("converted_micros", "transaction_id")
    conversions = (
        transactions.where(F.col("customer_id").isNotNull())
        .select(
            "customer_id",
            "transaction_id",
            F.unix_micros("occurred_at").alias("converted_micros"),
            F.coalesce(F.col("amount_minor"), F.lit(0)).alias("revenue"),
        )
        .withColumn("previous_micros", F.lag("converted_micros").over(by_customer))
    )
    touch = F.struct("touch_micros", "channel", "campaign")
    converting = (
        conversions.alias("c")
        .join(
            touches.alias("t"),
            (F.col("c.customer_id") == F.col("t.customer_id"))
            & (F.col("t.touch_micros") <= F.col("c.converted_micros"))
            & (F.col("t.touch_micros") >= F.col("c.converted_micros") - lookback)
            & (
                F.col("c.previous_micros").isNull()
                | (F.col("t.touch_micros") > F.col("c.previous_micros"))
            ),
            "left",
        )
        .groupBy("c.customer_id", "c.transaction_id", "c.converted_micros", "c.revenue")
        .agg(
            F.array_sort(F.collect_list(F.when(F.col("t.channel").isNotNull(), touch))).alias(
                "touches"
            )
        )
        .select(
            "customer_id",
            F.lit(True).alias("converted"),
            F.col("revenue").cast("double").alias("revenue"),
            "converted_micros",
            "touches",
        )
    )
    last = conversions.groupBy("customer_id").agg(F.max("converted_micros").alias("last_micros"))
    open_ = (
        touches.join(last, "customer_id", "left")
        .where(
            (F.col("last_micros").isNull() | (F.col("touch_micros") > F.col("last_micros")))
            & (F.col("touch_micros") >= as_of_micros - lookback)
        )
        .groupBy("customer_id")
        .agg(F.array_sort(F.collect_list(touch)).alias("touches"))
        .select(
            "customer_id",
            F.lit(False).alias("converted"),
            F.lit(0.0).alias("revenue"),
            F.lit(None).cast("bigint").alias("converted_micros"),
            "touches",
        )
    )
    return converting.unionByName(open_)


def journeys(rows: pd.DataFrame, level: str) -> list[Journey]:
    """The collected journey rows as model input, touches named by channel or campaign."""

    def name(touch: dict) -> str:
        if level == "channel":
            return touch["channel"]
        return f"{touch['channel']}{_SEPARATOR}{touch['campaign']}"

    result = []
    for row in rows.itertuples(index=False):
        touches = [t.asDict() if hasattr(t, "asDict") else dict(t) for t in row.touches]
        if not touches:
            continue
        result.append(
            journey(
                [name(t) for t in touches],
                bool(row.converted),
                float(row.revenue),
                [from_micros(t["touch_micros"]) for t in touches],
                None if pd.isna(row.converted_micros) else from_micros(int(row.converted_micros)),
            )
        )
    return result


def credit(
    rows: pd.DataFrame, settings: AttributionSettings
) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """Every model's credit at both levels in the `attribution` layout (as_of aside), and
    the models left out per level."""
    frames, skipped = [], {}
    for level in ("channel", "campaign"):
        paths = journeys(rows, level)
        if not paths:
            continue
        values = {touch for path in paths for touch in path.channels}
        models = list(MODELS)
        if len(values) > settings.shapley_max_channels:
            models.remove("shapley")
            skipped[level] = ["shapley"]
        credited = attribute(paths, models, settings)
        if level == "channel":
            credited = credited.assign(campaign=None)
        else:
            split = credited["channel"].str.split(_SEPARATOR, n=1, expand=True)
            credited = credited.assign(channel=split[0], campaign=split[1])
        frames.append(credited.assign(level=level))
    columns = ["model", "level", "channel", "campaign", "conversions", "revenue_minor"]
    if not frames:
        return pd.DataFrame(columns=columns), skipped
    result = pd.concat(frames, ignore_index=True).rename(columns={"revenue": "revenue_minor"})
    return result[columns], skipped


def transform(
    spark: SparkSession,
    events: DataFrame,
    transactions: DataFrame,
    as_of_micros: int,
    lookback_days: float,
    settings: AttributionSettings,
) -> tuple[DataFrame, dict]:
    """Gold `attribution` from silver events and transactions, and the run's counts."""
    rows = journeys_frame(events, transactions, as_of_micros, lookback_days).toPandas()
    with_touches = rows[rows["touches"].map(len) > 0]
    credited, skipped = credit(with_touches, settings)
    counts = {
        "journeys": len(with_touches),
        "conversions_with_touches": int(with_touches["converted"].sum()),
        "conversions_without_touches": int(
            (rows["converted"] & (rows["touches"].map(len) == 0)).sum()
        ),
        "models_skipped": skipped,
    }
    if credited.empty:
        return empty_frame(spark, TABLES["attribution"]), counts
    frame = spark.createDataFrame(
        credited.astype({"conversions": "float64", "revenue_minor": "float64"}),
        "model string, level string, channel string, campaign string, conversions double, "
        "revenue_minor double",
    )
    return frame.withColumn("as_of", timestamp_literal(as_of_micros)), counts


def compute(inputs: Mapping[str, DataFrame], context: JobContext) -> JobOutput:
    """The job's glue: as-of time, lookback and model settings, then `transform`."""
    settings = AttributionSettings()
    transactions, as_of = within_as_of(inputs["transactions"], context.settings)
    lookback = context.settings.attribution_lookback_days
    parameters: dict = {
        "as_of": None if as_of is None else from_micros(as_of),
        "lookback_days": lookback,
        **settings.model_dump(mode="json"),
    }
    if as_of is None:
        return JobOutput(
            {"attribution": empty_frame(context.spark, TABLES["attribution"])}, parameters
        )
    frame, counts = transform(
        context.spark, inputs["events"], transactions, as_of, lookback, settings
    )
    return JobOutput({"attribution": frame}, {**parameters, **counts})


JOB = Job(
    name="attribution",
    description="conversions and revenue credited to channels and campaigns by 7 models",
    reads=("events", "transactions"),
    writes=("attribution",),
    compute=compute,
)
