"""Data-quality metrics and the volume alert, computed by the real streams on real batches.

Transactions go to a private topic with Kafka timestamps chosen here: the same hour on the
three previous days at a usual rate, then today a usual minute, a spike, and a minute that
closes the spike. Some records break error rules (amount 0, bytes that do not decode), one a
warn rule. The lake job (bronze + silver transactions, available-now) runs twice; every
expectation is computed here in plain Python from what was produced, and compared with
whole Delta tables read back with Spark.
"""

from __future__ import annotations

import statistics
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from confluent_kafka import Producer
from pyspark.sql import SparkSession
from pyspark.testing import assertDataFrameEqual

from services.mesh.kafka.topics import TOPICS, ensure_topics
from spark.config import SparkSettings
from spark.quality import profile_for, rules_for
from spark.streaming.config import LakeSettings
from spark.streaming.job import run
from spark.tables import TABLES
from tests.fixtures.kafka import make_transactions, private_copy

pytestmark = pytest.mark.integration

STREAMS = ["bronze_transactions", "silver_transactions"]
# Records per minute (minutes 0.. of the hour) on the days before today.
BASELINE = {3: [10, 12, 9, 11, 10], 2: [11, 10, 10, 9, 12], 1: [9, 11, 12, 10, 10]}
# Today: a usual minute, a spike, and a minute whose records close the spike's minute.
TODAY_ROUND_ONE = [11, 60, 4]
# The second run: more records in minute 2 and one in minute 3, which closes minute 2.
TODAY_ROUND_TWO = {2: 6, 3: 1}
UNDECODABLE = b"\xff\x00 not a protobuf message"


class Producing:
    """Sends transactions (or raw bytes) to the test's topic with a given Kafka timestamp."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.topic = topic
        self._producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
        self._transactions = iter(make_transactions(400, seed=91, customers=40))
        self.valid: list = []
        self.values: list[bytes] = []

    def send(self, at: datetime, *, amount: int | None = None, raw: bytes | None = None) -> None:
        if raw is None:
            txn = next(self._transactions)
            del txn.items[:]  # the amount then needs no line items to add up
            txn.occurred_at.FromDatetime(at - timedelta(seconds=30))
            if amount is not None:
                txn.amount.amount_minor = amount
            raw = txn.SerializeToString()
            self.valid.append(txn)
        self.values.append(raw)
        self._producer.produce(
            self.topic,
            value=raw,
            key=b"k",
            timestamp=int(at.timestamp() * 1000),
            headers=[("ce_type", b"ecap.v1.Transaction")],
        )

    def flush(self) -> None:
        assert self._producer.flush(30) == 0


def _minute(day_back: int, hour: datetime, minute: int) -> datetime:
    return hour - timedelta(days=day_back) + timedelta(minutes=minute)


@pytest.fixture
def lake_settings(
    spark_settings: SparkSettings, kafka_bootstrap: str, tmp_path: Path
) -> LakeSettings:
    topic = private_copy(next(spec for spec in TOPICS if spec.name == "transactions"))
    ensure_topics(kafka_bootstrap, specs=[topic], replication_factor=1)
    return LakeSettings(
        streams=STREAMS,
        topics={"transactions": topic.name},
        kafka_bootstrap=kafka_bootstrap,
        status_path=tmp_path / "status.json",
        spark=spark_settings.model_copy(
            update={"lake_uri": str(tmp_path / "lake"), "checkpoint_uri": None}
        ),
    )


def test_quality_metrics_and_volume_alerts_from_real_batches(
    spark: SparkSession, lake_settings: LakeSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in {
        "ECAP_LAKE_QUALITY_VOLUME_Z_THRESHOLD": "3",
        "ECAP_LAKE_QUALITY_VOLUME_BASELINE_DAYS": "7",
        "ECAP_LAKE_QUALITY_VOLUME_MIN_BASELINE_DAYS": "3",
        "ECAP_LAKE_QUALITY_VOLUME_MIN_STD": "1",
    }.items():
        monkeypatch.setenv(name, value)
    topic = lake_settings.topic("transactions")
    lake = lake_settings.spark
    hour = (datetime.now(UTC) - timedelta(hours=2)).replace(minute=0, second=0, microsecond=0)
    producing = Producing(lake_settings.bootstrap_servers, topic)
    for back, counts in BASELINE.items():
        for minute, count in enumerate(counts):
            for n in range(count):
                producing.send(_minute(back, hour, minute) + timedelta(seconds=n))
    for minute, count in enumerate(TODAY_ROUND_ONE):
        for n in range(count):
            producing.send(_minute(0, hour, minute) + timedelta(seconds=n))
    # Broken records inside the spike: they count as volume and end in quarantine.
    spike_at = _minute(0, hour, 1) + timedelta(seconds=50)
    for _ in range(3):
        producing.send(spike_at, amount=0)
    producing.send(spike_at, raw=UNDECODABLE)
    producing.send(spike_at, raw=UNDECODABLE)
    producing.flush()

    run(lake_settings, available_now=True, spark=spark)

    # --- quality_metrics: one silver batch, every metric against plain Python ------------
    metrics = spark.read.format("delta").load(TABLES["quality_metrics"].uri(lake))
    assert {row.batch_id for row in metrics.select("batch_id").distinct().collect()} == {0}
    valid = [txn for txn in producing.valid if txn.amount.amount_minor > 0]
    zero = [txn for txn in producing.valid if txn.amount.amount_minor == 0]
    checked = len(producing.values)
    assert checked == sum(map(sum, BASELINE.values())) + sum(TODAY_ROUND_ONE) + 5
    failed = dict.fromkeys((rule.name for rule in rules_for("transactions")), 0)
    failed.update({"decodes": 2, "amount_positive": 3})
    decoded = valid + zero
    amounts = [txn.amount.amount_minor for txn in decoded]
    occurred = [txn.occurred_at.ToDatetime(tzinfo=UTC) for txn in decoded]
    profile = profile_for("transactions")
    expected = [
        ("rows_checked", None, float(checked), None),
        ("rows_quarantined", None, 5.0, None),
        ("rows_warned", None, 0.0, None),
        *(("rule_failed", name, float(count), None) for name, count in failed.items()),
        # Only the two undecodable records lack every column.
        *(("null_rate", column, 2 / checked, None) for column in profile.null_rate),
        ("distinct_count", "transaction_id", float(len(decoded)), None),
        ("distinct_count", "customer_id", float(len({t.customer_id for t in decoded})), None),
        ("distinct_count", "merchant_id", float(len({t.merchant_id for t in decoded})), None),
        ("distinct_count", "currency", 1.0, None),
        ("distinct_count", "country", float(len({t.location.country for t in decoded})), None),
        ("min", "amount_minor", float(min(amounts)), str(min(amounts))),
        ("max", "amount_minor", float(max(amounts)), str(max(amounts))),
        ("min", "item_count", 0.0, "0"),
        ("max", "item_count", 0.0, "0"),
        ("min", "occurred_at", min(occurred).timestamp(), min(occurred).isoformat()),
        ("max", "occurred_at", max(occurred).timestamp(), max(occurred).isoformat()),
    ]
    assertDataFrameEqual(
        metrics.select("metric", "subject", "value", "value_text"),
        spark.createDataFrame(
            expected, "metric string, subject string, value double, value_text string"
        ),
    )
    assert {row.source_table for row in metrics.collect()} == {"transactions"}

    # --- topic_volume_minute and volume_alerts -------------------------------------------
    samples = [count for counts in BASELINE.values() for count in counts]
    mean, std = statistics.fmean(samples), statistics.pstdev(samples)
    today = list(TODAY_ROUND_ONE)
    today[1] += 5  # the broken records were sent in the spike's minute

    def z(records: int) -> float:
        return (records - mean) / std

    expected_minutes = [
        (topic, _minute(back, hour, minute), count, True, 3 - back, None, None, None, False)
        for back, counts in BASELINE.items()
        for minute, count in enumerate(counts)
    ]
    expected_minutes += [
        (topic, _minute(0, hour, 0), today[0], True, 3, mean, std, z(today[0]), False),
        (topic, _minute(0, hour, 1), today[1], True, 3, mean, std, z(today[1]), True),
        (topic, _minute(0, hour, 2), today[2], False, 0, None, None, None, False),
    ]
    volume_columns = (
        "topic string, minute timestamp, records bigint, complete boolean, baseline_days int, "
        "baseline_mean double, baseline_std double, z_score double, outside_band boolean"
    )
    volume = spark.read.format("delta").load(TABLES["topic_volume_minute"].uri(lake))
    assertDataFrameEqual(
        volume.drop("minute_date"), spark.createDataFrame(expected_minutes, volume_columns)
    )
    alerts = spark.read.format("delta").load(TABLES["volume_alerts"].uri(lake))
    assertDataFrameEqual(
        alerts.drop("raised_at", "minute_date"),
        spark.createDataFrame(
            [(topic, _minute(0, hour, 1), today[1], mean, std, z(today[1]), "above", 3.0)],
            "topic string, minute timestamp, records bigint, baseline_mean double, "
            "baseline_std double, z_score double, direction string, threshold double",
        ),
    )

    # --- a second run: the open minute closes and is judged; metrics of batch 1 appended ---
    for minute, count in TODAY_ROUND_TWO.items():
        for n in range(count):
            producing.send(_minute(0, hour, minute) + timedelta(seconds=30 + n))
    producing.flush()
    run(lake_settings, available_now=True, spark=spark)

    closed = today[2] + TODAY_ROUND_TWO[2]
    expected_minutes[-1] = (
        topic,
        _minute(0, hour, 2),
        closed,
        True,
        3,
        mean,
        std,
        z(closed),
        False,
    )
    expected_minutes.append((topic, _minute(0, hour, 3), 1, False, 0, None, None, None, False))
    volume = spark.read.format("delta").load(TABLES["topic_volume_minute"].uri(lake))
    assertDataFrameEqual(
        volume.drop("minute_date"), spark.createDataFrame(expected_minutes, volume_columns)
    )
    assert spark.read.format("delta").load(TABLES["volume_alerts"].uri(lake)).count() == 1
    second = (
        spark.read.format("delta")
        .load(TABLES["quality_metrics"].uri(lake))
        .filter("batch_id = 1 AND subject IS NULL")
    )
    assertDataFrameEqual(
        second.select("metric", "value"),
        spark.createDataFrame(
            [("rows_checked", 7.0), ("rows_quarantined", 0.0), ("rows_warned", 0.0)],
            "metric string, value double",
        ),
    )
