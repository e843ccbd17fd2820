"""RFM: recency, frequency and monetary value per customer, their scores and segments.

Spark reduces silver transactions to one row per customer (`customer_summary`); that summary
is collected to pandas in the driver, where spark.analytics.rfm scores it (quintile ranks
need the whole distribution, and one row per customer is small), then written back as gold
`rfm` and `rfm_segments`. The score rules and the segment grid, with their source, are in
spark/analytics/rfm.py's docstring.

- recency_days: days from the customer's last transaction to the as-of time (the newest
  transaction, or ECAP_LAKE_JOBS_AS_OF);
- frequency: transactions; monetary: the sum of their amount_minor.

Transactions without a customer_id (guests) have no customer to score and are left out.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from spark.analytics.rfm import rfm_segments, segment_summary
from spark.jobs.analytics.common import MICROS_PER_DAY, from_micros, timestamp_literal, within_as_of
from spark.jobs.analytics.runner import Job, JobContext, JobOutput, empty_frame
from spark.tables import TABLES


def customer_summary(transactions: DataFrame, as_of_micros: int) -> DataFrame:
    """One row per customer: customer_id, recency_days, frequency, monetary."""
    return (
        transactions.where(F.col("customer_id").isNotNull())
        .groupBy("customer_id")
        .agg(
            F.max(F.unix_micros("occurred_at")).alias("last_micros"),
            F.count(F.lit(1)).alias("frequency"),
            F.coalesce(F.sum("amount_minor"), F.lit(0)).alias("monetary"),
        )
        .select(
            "customer_id",
            ((F.lit(as_of_micros) - F.col("last_micros")) / MICROS_PER_DAY).alias("recency_days"),
            "frequency",
            "monetary",
        )
    )


def transform(
    spark: SparkSession, transactions: DataFrame, as_of_micros: int
) -> tuple[DataFrame, DataFrame]:
    """Gold `rfm` and `rfm_segments` from silver transactions as of `as_of_micros`."""
    summary = customer_summary(transactions, as_of_micros).toPandas()
    if summary.empty:
        return empty_frame(spark, TABLES["rfm"]), empty_frame(spark, TABLES["rfm_segments"])
    scored = rfm_segments(summary)
    segments = segment_summary(scored).rename(
        columns={"revenue": "revenue_minor", "average_revenue": "average_revenue_minor"}
    )
    as_of = timestamp_literal(as_of_micros)
    rfm = spark.createDataFrame(_plain(scored.drop(columns=["fm"]))).withColumn("as_of", as_of)
    return rfm, spark.createDataFrame(_plain(segments)).withColumn("as_of", as_of)


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    # numpy integer/float columns as Python-friendly dtypes Spark infers without Arrow.
    return frame.astype({c: "float64" for c in frame.select_dtypes("floating").columns})


def compute(inputs: Mapping[str, DataFrame], context: JobContext) -> JobOutput:
    """The job's glue: the as-of time, then `transform`."""
    transactions, as_of = within_as_of(inputs["transactions"], context.settings)
    if as_of is None:
        empty = {name: empty_frame(context.spark, TABLES[name]) for name in JOB.writes}
        return JobOutput(empty, {"as_of": None})
    rfm, segments = transform(context.spark, transactions, as_of)
    return JobOutput({"rfm": rfm, "rfm_segments": segments}, {"as_of": from_micros(as_of)})


JOB = Job(
    name="rfm",
    description="RFM scores and segments per customer, and segment sizes and revenue",
    reads=("transactions",),
    writes=("rfm", "rfm_segments"),
    compute=compute,
)
