"""PredictChurn: a customer's churn features from the lake, the churn model's answer, and
its drivers.

The features are the churn model's own declarations (`models.features.churn_features`),
computed by the online executor over the customer's silver transactions, behaviour events
and profile as of the requested time: the same route training takes.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime

from ecap.v1 import common_pb2, scoring_pb2
from models.features import OnlineFeatures, churn_features
from models.features.churn import LOOKBACK
from models.features.churn_risk import churn_band
from services.mesh.errors import NotFound, Unavailable
from services.scoring import lake
from services.scoring.config import ScoringSettings
from services.scoring.explain import churn_drivers
from services.scoring.model_client import BatchingModelClient, ModelUnavailable
from spark.config import SparkSettings


@dataclass(frozen=True)
class ChurnPrediction:
    customer_id: str
    probability: float
    band: int
    drivers: list[common_pb2.DecisionReason]
    model_tag: str
    features: dict[str, float]
    as_of: datetime


def churn_values(
    customer_id: str, as_of: datetime, lake_settings: SparkSettings | None = None
) -> dict[str, float | None]:
    """The churn features of `customer_id` as of `as_of`, from the lake; NotFound when the
    lake holds no purchase of the customer in the year before."""
    history = lake.customer_history(
        customer_id, since=as_of - LOOKBACK, until=as_of, settings=lake_settings
    )
    if history["transactions"].empty:
        raise NotFound(
            f"customer {customer_id} has no purchase in the lake in the year before "
            f"{as_of.isoformat()}",
            reason="CUSTOMER_NOT_FOUND",
        )
    online = OnlineFeatures(churn_features())
    for source, frame in history.items():
        for row in frame.to_dict("records"):
            row["ts"] = row["ts"].to_pydatetime()
            if "signed_up_at" in row:
                row["signed_up_at"] = row["signed_up_at"].to_pydatetime()
            online.observe(row, source)
    return online.compute({"customer_id": customer_id, "ts": as_of})


def band(probability: float, settings: ScoringSettings) -> int:
    """The ChurnRiskBand of `probability` (the rule batch scoring bands with too)."""
    return scoring_pb2.ChurnRiskBand.Value(f"CHURN_RISK_BAND_{churn_band(probability, settings)}")


async def predict_churn(
    customer_id: str,
    as_of: datetime,
    model: BatchingModelClient,
    settings: ScoringSettings,
    lake_settings: SparkSettings | None = None,
) -> ChurnPrediction:
    """The churn prediction for one customer (Unavailable when the churn model is down)."""
    if not model.available:
        # A call failed moments ago: answer at once rather than read the lake first, so the
        # callers' retries of UNAVAILABLE end within their deadline.
        raise Unavailable(
            f"the churn model at {settings.churn_model_url} is unavailable (retrying shortly)",
            reason="CHURN_MODEL_UNAVAILABLE",
        )
    values = await asyncio.to_thread(churn_values, customer_id, as_of, lake_settings)
    try:
        info = await model.describe()
        prediction = await model.predict(values, info)
    except ModelUnavailable as error:
        raise Unavailable(
            f"the churn model at {settings.churn_model_url} is unavailable: {error}",
            reason="CHURN_MODEL_UNAVAILABLE",
        ) from error
    return ChurnPrediction(
        customer_id=customer_id,
        probability=prediction.probability,
        band=band(prediction.probability, settings),
        drivers=churn_drivers(
            info.feature_names, prediction.contributions, values, settings.churn_drivers
        ),
        model_tag=prediction.tag,
        features={k: v for k, v in values.items() if v is not None},
        as_of=as_of,
    )
