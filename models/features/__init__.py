"""Feature declarations (one source for online and offline) and the online executor."""

from models.features.churn import CHURN_BASE_COLUMNS, churn_features
from models.features.declarations import FeatureSet
from models.features.fraud import DEFAULT_LABEL_DELAY, FRAUD_BASE_COLUMNS, fraud_features
from models.features.online import OnlineFeatures

__all__ = [
    "CHURN_BASE_COLUMNS",
    "DEFAULT_LABEL_DELAY",
    "FRAUD_BASE_COLUMNS",
    "FeatureSet",
    "OnlineFeatures",
    "churn_features",
    "fraud_features",
]
