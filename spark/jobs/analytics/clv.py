"""CLV: the per-customer BG/NBD summary computed by Spark, the models fitted in the driver.

Spark reduces silver transactions to one row per customer, in days, as the models want it
(spark/analytics/clv.py; the `lifetimes` convention of purchase days):

- frequency: repeat purchase days (days with a transaction, minus the first);
- recency: days from the first to the last purchase day (0 without repeats);
- T: days from the first purchase day to the as-of day;
- monetary: the mean total of the repeat purchase days (0 without repeats).

The summary (one row per customer, small) is collected to pandas; BG/NBD is fitted on all
customers and Gamma-Gamma on the repeat buyers, both by maximum likelihood; then each
customer's P(alive), expected purchases and expected spend over the horizon
(ECAP_CLV_HORIZON_PERIODS x ECAP_CLV_PERIOD_DAYS) and the discounted CLV
(ECAP_CLV_DISCOUNT_RATE per period) are written to gold `clv`. The fitted parameters go to
gold `clv_params` and into the run's parameters in `job_runs`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict

import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from spark.analytics.clv import (
    SummaryError,
    discounted_clv,
    expected_average_spend,
    expected_purchases,
    fit_bgnbd,
    fit_gamma_gamma,
    probability_alive,
)
from spark.analytics.config import ClvSettings
from spark.jobs.analytics.common import from_micros, timestamp_literal, within_as_of
from spark.jobs.analytics.runner import Job, JobContext, JobOutput, empty_frame
from spark.tables import TABLES


def customer_summary(transactions: DataFrame, as_of_micros: int) -> DataFrame:
    """One row per customer: customer_id, frequency, recency, T, monetary (days, minor units)."""
    days = (
        transactions.where(F.col("customer_id").isNotNull())
        .groupBy("customer_id", F.to_date("occurred_at").alias("day"))
        .agg(F.coalesce(F.sum("amount_minor"), F.lit(0)).alias("value"))
    )
    per_customer = days.groupBy("customer_id").agg(
        F.min("day").alias("first_day"),
        F.max("day").alias("last_day"),
        F.count(F.lit(1)).alias("purchase_days"),
        F.sum("value").alias("total"),
        F.min_by("value", "day").alias("first_value"),
    )
    as_of_day = F.to_date(timestamp_literal(as_of_micros))
    frequency = F.col("purchase_days") - 1
    return per_customer.select(
        "customer_id",
        frequency.alias("frequency"),
        F.datediff("last_day", "first_day").cast("double").alias("recency"),
        F.datediff(as_of_day, "first_day").cast("double").alias("T"),
        F.when(frequency > 0, (F.col("total") - F.col("first_value")) / frequency)
        .otherwise(0.0)
        .alias("monetary"),
    )


def score(summary: pd.DataFrame, settings: ClvSettings) -> tuple[pd.DataFrame, dict]:
    """Fit both models on `summary` and score every customer; returns (clv rows, fit)."""
    bgnbd = fit_bgnbd(summary)
    gamma_gamma = fit_gamma_gamma(summary["frequency"], summary["monetary"])
    if gamma_gamma.params.q <= 1:
        raise SummaryError(
            f"the Gamma-Gamma fit gave q={gamma_gamma.params.q:.4g} <= 1, for which expected "
            "spend does not exist: too few or too uniform repeat buyers to value customers"
        )
    x, t_x, big_t = summary["frequency"], summary["recency"], summary["T"]
    horizon_days = settings.horizon_periods * settings.period_days
    rows = summary.assign(
        p_alive=probability_alive(bgnbd.params, x, t_x, big_t),
        horizon_days=horizon_days,
        expected_purchases=expected_purchases(bgnbd.params, horizon_days, x, t_x, big_t),
        expected_avg_spend=expected_average_spend(gamma_gamma.params, x, summary["monetary"]),
        clv=discounted_clv(
            bgnbd.params,
            gamma_gamma.params,
            summary,
            horizon_periods=settings.horizon_periods,
            period_length=settings.period_days,
            discount_rate=settings.discount_rate,
        ),
    )
    fit = {
        "bgnbd": {**asdict(bgnbd.params), **_quality(bgnbd)},
        "gamma_gamma": {**asdict(gamma_gamma.params), **_quality(gamma_gamma)},
    }
    return rows, fit


def _quality(result) -> dict:
    return {
        "log_likelihood": result.log_likelihood,
        "converged": result.converged,
        "customers": result.n_customers,
    }


def _params_frame(spark: SparkSession, fit: dict) -> DataFrame:
    rows = [
        (
            model,
            name,
            float(value),
            values["log_likelihood"],
            values["customers"],
            values["converged"],
        )
        for model, values in fit.items()
        for name, value in values.items()
        if name not in ("log_likelihood", "converged", "customers")
    ]
    return spark.createDataFrame(
        rows,
        "model string, parameter string, value double, log_likelihood double, "
        "customers bigint, converged boolean",
    )


def transform(
    spark: SparkSession, transactions: DataFrame, as_of_micros: int, settings: ClvSettings
) -> tuple[DataFrame, DataFrame, dict]:
    """Gold `clv` and `clv_params` from silver transactions, and the fit for the run record."""
    summary = customer_summary(transactions, as_of_micros).toPandas()
    rows, fit = score(summary, settings)
    as_of = timestamp_literal(as_of_micros)
    clv = spark.createDataFrame(rows.astype({"frequency": "int64"})).withColumn("as_of", as_of)
    return clv, _params_frame(spark, fit).withColumn("as_of", as_of), fit


def compute(inputs: Mapping[str, DataFrame], context: JobContext) -> JobOutput:
    """The job's glue: as-of time and CLV settings, then `transform`."""
    settings = ClvSettings()
    transactions, as_of = within_as_of(inputs["transactions"], context.settings)
    parameters: dict = {
        "as_of": None if as_of is None else from_micros(as_of),
        **settings.model_dump(),
    }
    if as_of is None:
        empty = {name: empty_frame(context.spark, TABLES[name]) for name in JOB.writes}
        return JobOutput(empty, parameters)
    clv, params, fit = transform(context.spark, transactions, as_of, settings)
    context.report(
        "clv: BG/NBD "
        + ", ".join(f"{k}={fit['bgnbd'][k]:.4g}" for k in ("r", "alpha", "a", "b"))
        + "; Gamma-Gamma "
        + ", ".join(f"{k}={fit['gamma_gamma'][k]:.4g}" for k in ("p", "q", "gamma"))
    )
    for model, fitted in fit.items():
        if not fitted["converged"]:
            context.report(
                f"clv: the {model} fit did not converge (clv_params.converged = false): the "
                "history may be too short or too uniform for the model; treat its values "
                "with care"
            )
    return JobOutput({"clv": clv, "clv_params": params}, {**parameters, "fit": fit})


JOB = Job(
    name="clv",
    description="BG/NBD and Gamma-Gamma customer lifetime value over the horizon",
    reads=("transactions",),
    writes=("clv", "clv_params"),
    compute=compute,
)
