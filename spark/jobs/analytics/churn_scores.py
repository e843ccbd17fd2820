"""Churn scores: every recent customer's churn probability, risk band and drivers.

The batch twin of PredictChurn (services/scoring/churn.py), so both give the same answer for
a customer as of the same time:

1. **as_of**: `ECAP_LAKE_JOBS_AS_OF`, else the newest silver transaction;
2. **customers**: those with a purchase in the year (`models.features.churn.LOOKBACK`)
   before as_of, the ones PredictChurn answers for (guests have no customer_id);
3. **features**: the churn model's own declarations (`models.features.churn_features`) by the
   Spark executor (`spark.features.features_as_of`) over the rows strictly before as_of of
   silver transactions (amount in major units of their currency), behaviour events and
   customer profile versions; PredictChurn runs the online executor over the same rows;
4. **model**: `ECAP_SERVING_CHURN_MODEL`, else the churn champion of the model store, loaded
   as the BentoML churn service loads it (`models.serving.loading`), in process, without a
   server. Without a model the run fails, saying how to train one;
5. **scores**: per Arrow batch of customers (`mapInPandas`), the probability and XGBoost
   `pred_contribs`; the band from `ECAP_SCORING_CHURN_MEDIUM_FROM` / `_HIGH_FROM`, and as
   drivers up to `ECAP_SCORING_CHURN_DRIVERS` features that raise the risk, largest push
   first (`models.features.churn_risk`, the rule PredictChurn bands with).

As in PredictChurn, a purchase at as_of itself is not yet history: it counts from a later
as_of on (with the default as_of, from the run after a newer transaction arrived).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from models.features import churn_features
from models.features.churn import LOOKBACK
from models.features.churn_risk import ChurnRiskSettings, churn_bands, risk_raising_drivers
from models.features.money import DEFAULT_MINOR_DIGITS, MINOR_DIGITS
from models.serving.config import ServingSettings
from models.serving.loading import ServedModel, load_served_model
from models.training.config import ModelStoreSettings
from models.training.store import StoreError, champion_tag, open_store
from spark.features import features_as_of
from spark.jobs.analytics.common import timestamp_literal, to_micros, within_as_of
from spark.jobs.analytics.runner import Job, JobContext, JobError, JobOutput, empty_frame
from spark.tables import TABLES

JOB_NAME = "churn_scores"
SCORES_SCHEMA = "customer_id string, probability double, band string, drivers array<string>"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
TRAIN_HINT = (
    "train and promote one with `ecap train churn PATH --promote` (PATH: a lake or a "
    "simulator world), or `ecap models bootstrap churn` for a first one on a simulated shop"
)


def amount_in_major_units(amount_minor: Column, currency: Column) -> Column:
    """`amount_minor` in major units of `currency` (models.features.money's digits)."""
    digits = F.lit(DEFAULT_MINOR_DIGITS)
    for code, places in MINOR_DIGITS.items():
        digits = F.when(currency == F.lit(code), F.lit(places)).otherwise(digits)
    return amount_minor / F.pow(F.lit(10.0), digits)


def churn_sources(
    transactions: DataFrame, events: DataFrame, customers: DataFrame
) -> dict[str, DataFrame]:
    """Silver tables as the churn features' sources (columns as the declarations name them,
    time as `ts`), the rows PredictChurn reads from the lake."""
    return {
        "transactions": transactions.select(
            "transaction_id",
            "customer_id",
            amount_in_major_units(F.col("amount_minor"), F.col("currency")).alias("amount"),
            F.col("occurred_at").alias("ts"),
            "item_count",
        ),
        "events": events.select("customer_id", "session_id", F.col("occurred_at").alias("ts")),
        # Profile versions (SCD2): a version counts from when it became valid.
        "customers": customers.where(F.col("signed_up_at").isNotNull()).select(
            "customer_id",
            "signed_up_at",
            F.coalesce("valid_from", "updated_at").alias("ts"),
        ),
    }


def instant(micros: int) -> datetime:
    """The UTC datetime of epoch microseconds `micros`, exactly (no float on the way)."""
    return EPOCH + timedelta(microseconds=micros)


def recent_customers(transactions: DataFrame, as_of_micros: int) -> DataFrame:
    """`customer_id` of every customer with a purchase in the year before as_of."""
    since = as_of_micros - LOOKBACK // timedelta(microseconds=1)
    at = F.unix_micros("occurred_at")
    return (
        transactions.where(F.col("customer_id").isNotNull() & (at >= since) & (at < as_of_micros))
        .select("customer_id")
        .distinct()
    )


def churn_feature_frame(
    transactions: DataFrame, events: DataFrame, customers: DataFrame, as_of: datetime
) -> DataFrame:
    """`customer_id` plus every churn feature as of `as_of`, one row per recent customer."""
    sources = churn_sources(transactions, events, customers)
    entities = recent_customers(transactions, to_micros(as_of))
    return features_as_of(sources, churn_features(), as_of, entities)


def score_frame(
    features: pd.DataFrame, model: ServedModel, risk: ChurnRiskSettings
) -> pd.DataFrame:
    """`customer_id`, probability, band and drivers of each row of `features` (a column per
    feature of the model; NaN: no value)."""
    rows = features[model.feature_names].to_numpy(dtype=np.float32, na_value=np.nan)
    if len(rows) == 0:  # XGBoost answers an empty matrix without the contribution columns
        text = pd.Series([], dtype=object)
        return pd.DataFrame(
            {"customer_id": text, "probability": pd.Series([], dtype="float64")}
        ).assign(band=text, drivers=text)
    answers = model.predict(rows)
    probability = answers[:, 0].astype(np.float64)
    contributions = answers[:, 1:-1]
    return pd.DataFrame(
        {
            "customer_id": features["customer_id"].to_numpy(),
            "probability": probability,
            "band": churn_bands(probability, risk),
            "drivers": risk_raising_drivers(model.feature_names, contributions, risk.churn_drivers),
        }
    )


def transform(
    transactions: DataFrame,
    events: DataFrame,
    customers: DataFrame,
    as_of_micros: int,
    model: ServedModel,
    risk: ChurnRiskSettings,
) -> DataFrame:
    """Gold `churn_scores` as of `as_of_micros`, scored by `model`."""
    unknown = sorted(set(model.feature_names) - set(churn_features().names))
    if unknown:
        raise JobError(
            f"job {JOB_NAME}: model {model.tag} uses feature(s) {unknown} that the churn "
            "declarations (models.features.churn) no longer define; " + TRAIN_HINT
        )
    features = churn_feature_frame(transactions, events, customers, instant(as_of_micros))
    wanted = features.select("customer_id", *model.feature_names)

    def score_batches(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for batch in batches:
            yield score_frame(batch, model, risk)

    return wanted.mapInPandas(score_batches, SCORES_SCHEMA).select(
        "*",
        F.lit(model.tag).alias("model_tag"),
        timestamp_literal(as_of_micros).alias("as_of"),
    )


def load_churn_model() -> ServedModel:
    """The model the churn service serves (ECAP_SERVING_CHURN_MODEL, else the churn champion
    of the model store); JobError saying how to get one when there is none."""
    tag = ServingSettings().churn_model
    if tag is None:
        home = open_store(ModelStoreSettings())
        tag = champion_tag(home, "churn")
        if tag is None:
            raise JobError(
                f"job {JOB_NAME}: no churn model to score with: the model store {home} has no "
                f"churn champion and ECAP_SERVING_CHURN_MODEL is not set; {TRAIN_HINT}"
            )
    try:
        return load_served_model("churn", tag)
    except StoreError as error:
        raise JobError(f"job {JOB_NAME}: cannot load churn model {tag}: {error}") from error


def compute(inputs: Mapping[str, DataFrame], context: JobContext) -> JobOutput:
    """The job's glue: the as-of time, the model, then `transform`."""
    transactions, as_of = within_as_of(inputs["transactions"], context.settings)
    if as_of is None:
        return JobOutput({JOB_NAME: empty_frame(context.spark, TABLES[JOB_NAME])}, {"as_of": None})
    model = load_churn_model()
    risk = ChurnRiskSettings()
    context.report(
        f"{JOB_NAME}: scoring the customers with a purchase in the {LOOKBACK.days} days "
        f"before {instant(as_of).isoformat()} with {model.tag}"
    )
    scores = transform(transactions, inputs["events"], inputs["customers"], as_of, model, risk)
    parameters = {
        "as_of": instant(as_of),
        "model_tag": model.tag,
        "features": model.feature_names,
        **risk.model_dump(),
    }
    return JobOutput({JOB_NAME: scores}, parameters)


JOB = Job(
    name=JOB_NAME,
    description="churn probability, risk band and drivers of every customer who bought in the "
    "last year, from the churn model the churn service serves",
    reads=("transactions", "events", "customers"),
    writes=(JOB_NAME,),
    compute=compute,
    requires=("transactions",),
)
