"""Feature parity: the Spark executor and the online executor, compiled from the same
declarations, give the same vectors at every point in time, for every row of a small world
(one customer's and one merchant's whole histories among them) and for edge cases.

The input is a small fixed-seed simulator world; Spark runs for real (window functions over
the Parquet file), the online executor replays the same rows in time order.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest
from pyspark.sql import SparkSession

from models.features import churn_features, fraud_features
from models.features.online import OnlineFeatures, replay
from models.training.churn_data import load_churn_sources
from models.training.data import load_labelled_transactions
from services.simulator.config import SimulatorSettings
from services.simulator.run import simulate
from spark.features import features_as_of, point_in_time_features

pytestmark = pytest.mark.integration

REL, ABS = 1e-9, 1e-6


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("world")
    simulate(
        SimulatorSettings(seed=11, customers=600),
        start=datetime(2026, 3, 1, tzinfo=UTC),
        days=21,
        out=out,
    )
    return out


def _assert_same(name: str, where: str, spark_value, online_value) -> None:
    spark_null = spark_value is None or (isinstance(spark_value, float) and math.isnan(spark_value))
    if spark_null or online_value is None:
        assert spark_null and online_value is None, (
            f"{where} {name}: spark {spark_value!r} vs online {online_value!r}"
        )
        return
    assert online_value == pytest.approx(spark_value, rel=REL, abs=ABS), (
        f"{where} {name}: spark {spark_value!r} vs online {online_value!r}"
    )


def _with_edge_cases(transactions: pd.DataFrame) -> pd.DataFrame:
    """The world plus a customer who pays the same amount every time (a standard deviation
    of exactly zero, which rounding must not turn into a z-score) and twice at one instant."""
    template = transactions.iloc[[0]]
    start = transactions["ts"].iloc[len(transactions) // 2]
    offsets = [0, 3600, 7200, 7200, 90_000]
    extra = pd.concat(
        [
            template.assign(
                transaction_id=f"t-edge-{i}",
                customer_id="c-edge",
                amount=19.99,
                ts=start + pd.Timedelta(seconds=offset),
            )
            for i, offset in enumerate(offsets)
        ]
    )
    return (
        pd.concat([transactions, extra])
        .astype({"ts": "datetime64[us, UTC]"})
        .sort_values(["ts", "transaction_id"], kind="stable")
        .reset_index(drop=True)
    )


def test_fraud_vectors_agree_for_a_customer_and_a_merchant_at_every_point_in_time(
    spark: SparkSession, world: Path, tmp_path: Path
) -> None:
    transactions = _with_edge_cases(load_labelled_transactions(world)[0])
    features = fraud_features()
    frequent_customer = transactions["customer_id"].value_counts().index[0]
    fraud_by_merchant = transactions.groupby("merchant_id")["label"].sum()
    merchant = fraud_by_merchant.idxmax()
    assert fraud_by_merchant[merchant] > 0, "the world must give the merchant known frauds"

    path = tmp_path / "transactions.parquet"
    transactions.to_parquet(path)
    # Every row of the world is compared; the customer's and the merchant's are counted.
    spark_rows = (
        point_in_time_features(spark.read.parquet(str(path)), features)
        .toPandas()
        .set_index("transaction_id")
    )
    online_rows = dict(
        zip(
            transactions["transaction_id"],
            replay(features, transactions.to_dict("records")),
            strict=True,
        )
    )
    assert len(spark_rows) == len(online_rows)

    checked = {"customer": 0, "merchant": 0}
    for transaction_id, spark_row in spark_rows.iterrows():
        online = online_rows[transaction_id]
        for name in features.names:
            _assert_same(name, transaction_id, spark_row[name], online[name])
        checked["customer"] += spark_row["customer_id"] == frequent_customer
        checked["merchant"] += spark_row["merchant_id"] == merchant
    assert checked["customer"] >= 5 and checked["merchant"] >= 20, checked
    # The histories exercise the interesting features, not only their empty values.
    merchant_rows = spark_rows[spark_rows["merchant_id"] == merchant]
    assert (merchant_rows["merchant_fraud_rate_30d"] > 0).any()
    customer_rows = spark_rows[spark_rows["customer_id"] == frequent_customer]
    assert customer_rows["km_from_last_location"].notna().any()
    assert (customer_rows["customer_count_30d"] > 0).any()
    edge = spark_rows[spark_rows["customer_id"] == "c-edge"]
    assert edge["customer_amount_std_30d"].dropna().abs().max() < 1e-9
    assert edge["amount_zscore_30d"].isna().all()
    # 0 s, 1 h, 2 h twice (not seeing each other), then 25 h (the first has left the day).
    assert edge.sort_index()["customer_count_1d"].tolist() == [0.0, 1.0, 2.0, 2.0, 3.0]


def test_churn_vectors_agree_as_of_a_cutoff(
    spark: SparkSession, world: Path, tmp_path: Path
) -> None:
    sources = load_churn_sources(world)
    features = churn_features()
    cutoff = datetime(2026, 3, 15, tzinfo=UTC)
    online = OnlineFeatures(features)
    for source, frame in sources.items():
        for row in frame[frame["ts"] < cutoff].to_dict("records"):
            online.observe(row, source)
    purchases = sources["transactions"]
    buyers = purchases[purchases["ts"] < cutoff]["customer_id"].value_counts().index[:40]
    spark_sources = {}
    for source, frame in sources.items():
        path = tmp_path / f"{source}.parquet"
        frame.to_parquet(path)
        spark_sources[source] = spark.read.parquet(str(path))
    entities = spark.createDataFrame(pd.DataFrame({"customer_id": list(buyers)}))
    spark_rows = (
        features_as_of(spark_sources, features, cutoff, entities)
        .toPandas()
        .set_index("customer_id")
    )
    assert len(spark_rows) == len(buyers)
    for customer_id, spark_row in spark_rows.iterrows():
        values = online.compute({"customer_id": customer_id, "ts": cutoff})
        for name in features.names:
            _assert_same(name, customer_id, spark_row[name], values[name])
    assert (spark_rows["sessions_30d"] > 0).any()
    assert spark_rows["days_since_signup"].notna().all()
