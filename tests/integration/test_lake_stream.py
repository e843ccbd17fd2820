"""The lake's streams end to end: Kafka -> bronze -> silver (+ quarantine) -> gold.

Two rounds of records go to private topics on the session broker: valid transactions and
behaviour events, exact resends of some of them, and records that break the data-quality
rules, produced straight to Kafka as a foreign producer would. After each round the job
runs with `available_now` until caught up. Every expectation is computed here, in plain
Python, from the produced messages and the broker's acks, and compared with whole tables.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer
from deltalake import DeltaTable
from deltalake.exceptions import TableNotFoundError
from google.protobuf.message import Message
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from ecap.v1 import common_pb2
from services.mesh.kafka.producer import ProtobufProducer
from services.mesh.kafka.topics import TOPICS, ensure_topics
from spark.config import SparkSettings
from spark.streaming.config import LakeSettings
from spark.streaming.job import run
from spark.streaming.status import read_status
from spark.tables import TABLES
from tests.fixtures.kafka import make_transactions, private_copy

pytestmark = pytest.mark.integration

STREAMS = [
    "bronze_transactions",
    "bronze_user_events",
    "silver_transactions",
    "silver_events",
    "gold_kpi_minute",
    "gold_traffic_minute",
]
WRITTEN = [
    "bronze_transactions",
    "bronze_user_events",
    "transactions",
    "transaction_items",
    "events",
    "quarantine",
    "kpi_minute",
    "traffic_minute",
]
# The subprocess test runs only the transactions' path, to keep it short.
PROCESS_STREAMS = ["bronze_transactions", "silver_transactions", "gold_kpi_minute"]
START = datetime(2026, 11, 1, tzinfo=UTC)
# Generous: a JVM starts in about 20 s here, and two of them share two cores.
JOB_TIMEOUT_S = 300
_EVENT_TYPES = (
    common_pb2.BEHAVIOR_EVENT_TYPE_PAGE_VIEW,
    common_pb2.BEHAVIOR_EVENT_TYPE_PRODUCT_VIEW,
    common_pb2.BEHAVIOR_EVENT_TYPE_SEARCH,
    common_pb2.BEHAVIOR_EVENT_TYPE_ADD_TO_CART,
    common_pb2.BEHAVIOR_EVENT_TYPE_BEGIN_CHECKOUT,
    common_pb2.BEHAVIOR_EVENT_TYPE_PURCHASE,
    common_pb2.BEHAVIOR_EVENT_TYPE_MARKETING_TOUCH,
)


def make_events(count: int, *, seed: int) -> list[common_pb2.BehaviorEvent]:
    """`count` valid, deterministic behaviour events, five per session."""
    rng = random.Random(seed)
    events = []
    for n in range(count):
        kind = rng.choice(_EVENT_TYPES)
        event = common_pb2.BehaviorEvent(
            event_id=f"e-{seed}-{n:06d}",
            type=kind,
            session_id=f"s-{seed}-{n // 5:04d}",
            customer_id=rng.choice(("", f"c-{rng.randrange(50):06d}")),
            location=common_pb2.Location(country=rng.choice(("DE", "FR", "NL"))),
        )
        if kind in (
            common_pb2.BEHAVIOR_EVENT_TYPE_PRODUCT_VIEW,
            common_pb2.BEHAVIOR_EVENT_TYPE_ADD_TO_CART,
        ):
            event.product_id = f"p-{rng.randrange(1000):06d}"
            event.quantity = 1
        if kind == common_pb2.BEHAVIOR_EVENT_TYPE_PURCHASE:
            event.transaction_id = f"t-{seed}-{n:08d}"
        if kind == common_pb2.BEHAVIOR_EVENT_TYPE_MARKETING_TOUCH:
            event.touch.channel = common_pb2.CHANNEL_EMAIL
            event.touch.campaign = "black-friday"
        event.occurred_at.FromDatetime(START + timedelta(seconds=7 * n))
        events.append(event)
    return events


@dataclass
class Sent:
    """What went to Kafka: unique valid messages, and every record's coordinates."""

    transactions: dict[str, common_pb2.Transaction] = field(default_factory=dict)
    events: dict[str, common_pb2.BehaviorEvent] = field(default_factory=dict)
    # (source table, partition, offset) -> the rules the record breaks
    quarantined: dict[tuple[str, int, int], list[str]] = field(default_factory=dict)
    coordinates: dict[str, list[tuple[int, int]]] = field(default_factory=lambda: defaultdict(list))
    warned: dict[str, list[str]] = field(default_factory=dict)


class Round:
    """Produces one round of records and remembers where Kafka put them."""

    def __init__(self, bootstrap: str, topics: dict[str, str], sent: Sent) -> None:
        self._bootstrap = bootstrap
        self._topics = topics
        self._sent = sent

    def send(self, topic: str, messages: Sequence[Message]) -> list[tuple[int, int]]:
        with ProtobufProducer(self._bootstrap, client_id="lake-it") as producer:
            futures = [producer.send(self._topics[topic], message) for message in messages]
            acks = [(ack.partition, ack.offset) for ack in (f.result(30) for f in futures)]
        self._sent.coordinates[topic].extend(acks)
        return acks

    def send_raw(self, topic: str, value: bytes, ce_type: str) -> tuple[int, int]:
        acks: list[tuple[int, int]] = []
        producer = Producer({"bootstrap.servers": self._bootstrap, "enable.idempotence": True})
        producer.produce(
            self._topics[topic],
            value=value,
            key=b"raw",
            headers=[("ce_type", ce_type.encode())],
            on_delivery=lambda err, msg: acks.append((msg.partition(), msg.offset())),
        )
        assert producer.flush(30) == 0
        self._sent.coordinates[topic].extend(acks)
        return acks[0]

    def valid(self, topic: str, messages: Sequence[Message]) -> None:
        self.send(topic, messages)
        for message in messages:
            if topic == "transactions":
                self._sent.transactions[message.transaction_id] = message
            else:
                self._sent.events[message.event_id] = message

    def invalid(self, topic: str, message: Message, rules: list[str]) -> None:
        (coordinates,) = self.send(topic, [message])
        self._sent.quarantined[(_source_table(topic), *coordinates)] = rules


def _source_table(topic: str) -> str:
    return {"transactions": "transactions", "user-events": "events"}[topic]


def _bad_transaction(seed: int, **changes: Any) -> common_pb2.Transaction:
    """A transaction without line items (so the items rule holds) and with `changes`."""
    txn = make_transactions(1, seed=seed)[0]
    del txn.items[:]
    for name, value in changes.items():
        if name == "amount_minor":
            txn.amount.amount_minor = value
        elif name == "currency":
            txn.amount.currency = value
        elif name == "occurred_at":
            if value is None:
                txn.ClearField("occurred_at")
            else:
                txn.occurred_at.FromDatetime(value)
    return txn


def _produce_round_one(produce: Round, sent: Sent) -> None:
    transactions = make_transactions(30, seed=51)
    produce.valid("transactions", transactions)
    produce.send("transactions", transactions[:4])  # exact resends
    mismatched = make_transactions(1, seed=52)[0]
    mismatched.transaction_id = "t-warn-items"
    mismatched.amount.amount_minor += 1
    produce.valid("transactions", [mismatched])
    sent.warned["t-warn-items"] = ["items_sum_to_amount"]
    produce.invalid("transactions", _bad_transaction(81, amount_minor=0), ["amount_positive"])
    produce.invalid("transactions", _bad_transaction(82, currency="eur"), ["currency_iso4217"])
    produce.invalid("transactions", _bad_transaction(83, occurred_at=None), ["occurred_at_present"])
    produce.invalid(
        "transactions",
        _bad_transaction(84, occurred_at=datetime.now(UTC) + timedelta(days=1)),
        ["occurred_at_not_future"],
    )
    produce.invalid(
        "transactions",
        _bad_transaction(85, amount_minor=-5, currency="EURO"),
        ["amount_positive", "currency_iso4217"],
    )
    garbage = produce.send_raw("transactions", b"\xff\xfe not protobuf", "ecap.v1.Transaction")
    sent.quarantined[("transactions", *garbage)] = ["decodes"]
    produce.invalid("transactions", make_events(1, seed=86)[0], ["ce_type_matches"])

    events = make_events(40, seed=61)
    produce.valid("user-events", events)
    produce.send("user-events", events[:5])
    unspecified = make_events(1, seed=87)[0]
    unspecified.type = common_pb2.BEHAVIOR_EVENT_TYPE_UNSPECIFIED
    produce.invalid("user-events", unspecified, ["event_type_specified"])
    future = make_events(1, seed=88)[0]
    future.occurred_at.FromDatetime(datetime.now(UTC) + timedelta(hours=1))
    produce.invalid("user-events", future, ["occurred_at_not_future"])
    anonymous_purchase = make_events(1, seed=89)[0]
    anonymous_purchase.event_id = "e-warn-purchase"
    anonymous_purchase.type = common_pb2.BEHAVIOR_EVENT_TYPE_PURCHASE
    anonymous_purchase.transaction_id = ""
    produce.valid("user-events", [anonymous_purchase])
    sent.warned["e-warn-purchase"] = ["purchase_has_transaction"]


def _produce_round_two(produce: Round, sent: Sent) -> None:
    # Same minutes as round one, so gold must merge into minutes it already wrote.
    produce.valid("transactions", make_transactions(12, seed=53))
    produce.send("transactions", list(sent.transactions.values())[5:8])
    produce.invalid("transactions", _bad_transaction(90, amount_minor=0), ["amount_positive"])
    produce.valid("user-events", make_events(20, seed=62))
    produce.send("user-events", list(sent.events.values())[10:13])


@dataclass
class LakeRun:
    """The lake after both rounds, and what each table held after the first."""

    settings: LakeSettings
    sent_first: Sent
    sent: Sent
    first_versions: dict[str, int]
    statuses: dict[str, dict[str, Any]]

    def uri(self, table: str) -> str:
        return TABLES[table].uri(self.settings.spark)


def _snapshot(sent: Sent) -> Sent:
    return Sent(
        transactions=dict(sent.transactions),
        events=dict(sent.events),
        quarantined=dict(sent.quarantined),
        coordinates=defaultdict(list, {k: list(v) for k, v in sent.coordinates.items()}),
        warned=dict(sent.warned),
    )


@pytest.fixture(scope="module")
def lake_run(
    spark: SparkSession,
    spark_settings: SparkSettings,
    kafka_bootstrap: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> LakeRun:
    """Both rounds produced and streamed into a lake of this module's own."""
    specs = {spec.name: private_copy(spec) for spec in TOPICS if spec.name in _TOPIC_TABLES}
    ensure_topics(kafka_bootstrap, specs=list(specs.values()), replication_factor=1)
    topics = {name: spec.name for name, spec in specs.items()}
    root = tmp_path_factory.mktemp("lake-stream")
    settings = LakeSettings(
        streams=STREAMS,
        topics=topics,
        kafka_bootstrap=kafka_bootstrap,
        status_path=root / "run" / "lake" / "status.json",
        spark=spark_settings.model_copy(
            update={"lake_uri": str(root / "lake"), "checkpoint_uri": None}
        ),
    )
    sent = Sent()
    produce = Round(kafka_bootstrap, topics, sent)

    _produce_round_one(produce, sent)
    run(settings, available_now=True, spark=spark)
    sent_first = _snapshot(sent)
    versions = {name: DeltaTable(TABLES[name].uri(settings.spark)).version() for name in WRITTEN}

    _produce_round_two(produce, sent)
    statuses = run(settings, available_now=True, spark=spark)
    return LakeRun(settings, sent_first, sent, versions, statuses)


_TOPIC_TABLES = {"transactions", "user-events"}


def _read(spark: SparkSession, lake: LakeRun, table: str, version: int | None = None) -> DataFrame:
    reader = spark.read.format("delta")
    if version is not None:
        reader = reader.option("versionAsOf", version)
    return reader.load(lake.uri(table))


def _enum(value: int, enum: Any, prefix: str) -> str:
    return enum.Name(value).removeprefix(prefix)


def _expected_transactions(spark: SparkSession, sent: Sent) -> DataFrame:
    rows = [
        (
            t.transaction_id,
            t.customer_id,
            t.amount.amount_minor,
            t.amount.currency,
            len(t.items),
            _enum(t.payment_method, common_pb2.PaymentMethod, "PAYMENT_METHOD_"),
            t.location.country,
            _enum(t.channel, common_pb2.Channel, "CHANNEL_"),
            t.occurred_at.ToDatetime(tzinfo=UTC),
            sent.warned.get(t.transaction_id, []),
        )
        for t in sent.transactions.values()
    ]
    return spark.createDataFrame(
        rows,
        "transaction_id string, customer_id string, amount_minor bigint, currency string, "
        "item_count int, payment_method string, country string, channel string, "
        "occurred_at timestamp, dq_warnings array<string>",
    )


def _expected_items(spark: SparkSession, sent: Sent) -> DataFrame:
    rows = [
        (t.transaction_id, n, i.product_id, i.quantity, i.unit_price.amount_minor)
        for t in sent.transactions.values()
        for n, i in enumerate(t.items)
    ]
    return spark.createDataFrame(
        rows,
        "transaction_id string, line_no int, product_id string, quantity int, "
        "unit_price_minor bigint",
    )


def _expected_events(spark: SparkSession, sent: Sent) -> DataFrame:
    rows = [
        (
            e.event_id,
            _enum(e.type, common_pb2.BehaviorEventType, "BEHAVIOR_EVENT_TYPE_"),
            e.session_id,
            e.customer_id or None,
            e.product_id or None,
            e.transaction_id or None,
            _enum(e.touch.channel, common_pb2.Channel, "CHANNEL_") if e.HasField("touch") else None,
            e.occurred_at.ToDatetime(tzinfo=UTC),
            sent.warned.get(e.event_id, []),
        )
        for e in sent.events.values()
    ]
    return spark.createDataFrame(
        rows,
        "event_id string, event_type string, session_id string, customer_id string, "
        "product_id string, transaction_id string, touch_channel string, "
        "occurred_at timestamp, dq_warnings array<string>",
    )


def _columns_of(expected: DataFrame, actual: DataFrame) -> DataFrame:
    return actual.select(expected.columns)


def test_silver_holds_each_valid_record_once_across_runs(
    spark: SparkSession, lake_run: LakeRun
) -> None:
    cases = [
        ("transactions", _expected_transactions),
        ("transaction_items", _expected_items),
        ("events", _expected_events),
    ]
    for table, expected_of in cases:
        for sent, version in (
            (lake_run.sent_first, lake_run.first_versions[table]),
            (lake_run.sent, None),
        ):
            expected = expected_of(spark, sent)
            actual = _columns_of(expected, _read(spark, lake_run, table, version))
            assertDataFrameEqual(actual, expected)


def test_bronze_holds_every_kafka_record_exactly_once(
    spark: SparkSession, lake_run: LakeRun
) -> None:
    for topic, table in (
        ("transactions", "bronze_transactions"),
        ("user-events", "bronze_user_events"),
    ):
        expected = spark.createDataFrame(
            lake_run.sent.coordinates[topic], "partition int, offset bigint"
        )
        actual = _read(spark, lake_run, table)
        assertDataFrameEqual(actual.select("partition", "offset"), expected)
        assert actual.filter(F.col("topic") != lake_run.settings.topic(topic)).isEmpty()


def test_quarantine_holds_exactly_the_rule_breakers(spark: SparkSession, lake_run: LakeRun) -> None:
    expected = spark.createDataFrame(
        [(table, p, o, rules) for (table, p, o), rules in lake_run.sent.quarantined.items()],
        "source_table string, kafka_partition int, kafka_offset bigint, failed_rules array<string>",
    )
    quarantine = _read(spark, lake_run, "quarantine")
    assertDataFrameEqual(quarantine.select(expected.columns), expected)
    # The raw bytes are kept; the record is readable as JSON whenever it decoded.
    undecoded = quarantine.filter(F.col("record_json").isNull())
    assert [row.failed_rules for row in undecoded.collect()] == [["decodes"]]
    assert quarantine.filter(F.col("value").isNull()).isEmpty()


def _expected_kpi_rows(sent: Sent) -> list[dict[str, Any]]:
    """`kpi_minute` rows (without the average) computed from the sent transactions."""
    groups: dict[tuple[Any, ...], list[common_pb2.Transaction]] = defaultdict(list)
    for t in sent.transactions.values():
        minute = t.occurred_at.ToDatetime(tzinfo=UTC).replace(second=0, microsecond=0)
        channel = _enum(t.channel, common_pb2.Channel, "CHANNEL_")
        groups[(minute, t.location.country, channel, t.amount.currency)].append(t)
    rows = [
        {
            "minute": minute,
            "country": country,
            "channel": channel,
            "currency": currency,
            "orders": len(txns),
            "revenue_minor": sum(t.amount.amount_minor for t in txns),
            "unique_customers": len({t.customer_id for t in txns}),
        }
        for (minute, country, channel, currency), txns in groups.items()
    ]
    return sorted(rows, key=_kpi_key)


def _kpi_key(row: dict[str, Any]) -> tuple[Any, ...]:
    return (row["minute"], row["country"], row["channel"], row["currency"])


def _expected_kpi(spark: SparkSession, sent: Sent) -> DataFrame:
    rows = [
        {**row, "avg_order_value_minor": row["revenue_minor"] / row["orders"]}
        for row in _expected_kpi_rows(sent)
    ]
    return spark.createDataFrame(
        rows,
        "minute timestamp, country string, channel string, currency string, orders bigint, "
        "revenue_minor bigint, unique_customers bigint, avg_order_value_minor double",
    )


def test_kpi_minute_equals_the_minutes_of_silver(spark: SparkSession, lake_run: LakeRun) -> None:
    for sent, version in (
        (lake_run.sent_first, lake_run.first_versions["kpi_minute"]),
        (lake_run.sent, None),
    ):
        expected = _expected_kpi(spark, sent)
        actual = _read(spark, lake_run, "kpi_minute", version)
        assertDataFrameEqual(actual.select(expected.columns), expected)


def _expected_traffic(spark: SparkSession, sent: Sent) -> DataFrame:
    groups: dict[tuple[Any, ...], list[common_pb2.BehaviorEvent]] = defaultdict(list)
    for e in sent.events.values():
        minute = e.occurred_at.ToDatetime(tzinfo=UTC).replace(second=0, microsecond=0)
        groups[(minute, e.location.country)].append(e)
    rows = []
    for (minute, country), events in groups.items():
        types = [
            common_pb2.BehaviorEventType.Name(e.type).removeprefix("BEHAVIOR_EVENT_TYPE_")
            for e in events
        ]
        sessions = {e.session_id for e in events}
        converting = {
            e.session_id for e, kind in zip(events, types, strict=True) if kind == "PURCHASE"
        }
        rows.append(
            (
                minute,
                country,
                len(events),
                len(sessions),
                len({e.customer_id for e in events if e.customer_id}),
                *(
                    types.count(kind)
                    for kind in (
                        "PAGE_VIEW",
                        "PRODUCT_VIEW",
                        "ADD_TO_CART",
                        "BEGIN_CHECKOUT",
                        "PURCHASE",
                    )
                ),
                len(converting),
                len(converting) / len(sessions),
            )
        )
    return spark.createDataFrame(
        rows,
        "minute timestamp, country string, events bigint, sessions bigint, visitors bigint, "
        "page_views bigint, product_views bigint, add_to_carts bigint, checkouts bigint, "
        "purchases bigint, converting_sessions bigint, conversion_rate double",
    )


def test_traffic_minute_equals_the_minutes_of_silver_events(
    spark: SparkSession, lake_run: LakeRun
) -> None:
    for sent, version in (
        (lake_run.sent_first, lake_run.first_versions["traffic_minute"]),
        (lake_run.sent, None),
    ):
        expected = _expected_traffic(spark, sent)
        actual = _read(spark, lake_run, "traffic_minute", version)
        assertDataFrameEqual(actual.select(expected.columns), expected)


def test_every_table_is_readable_by_delta_rs_with_the_declared_schema(
    spark: SparkSession, lake_run: LakeRun
) -> None:
    for name in WRITTEN:
        spec = TABLES[name]
        delta = DeltaTable(lake_run.uri(name))
        arrow = delta.to_pyarrow_table()
        assert arrow.column_names == spec.column_names, name
        assert list(delta.metadata().partition_columns) == list(spec.partition_by), name
        assert arrow.num_rows == _read(spark, lake_run, name).count(), name


def test_status_file_reports_each_stream(lake_run: LakeRun) -> None:
    status = read_status(lake_run.settings.status_path)
    assert status is not None
    assert sorted(status["streams"]) == sorted(STREAMS)
    for name, stream in status["streams"].items():
        assert stream["active"] is False, name
        assert stream["error"] is None, name
        assert stream["batch_id"] is not None, name
    for name in ("bronze_transactions", "bronze_user_events"):
        assert status["streams"][name]["kafka_offsets_behind"] == 0
    assert lake_run.statuses == status["streams"]


def test_checkpoints_live_one_per_stream(lake_run: LakeRun) -> None:
    root = Path(lake_run.settings.spark.checkpoint_root)
    assert sorted(path.name for path in root.iterdir()) == sorted(STREAMS)


def _delta_rows(uri: str, columns: list[str]) -> list[dict[str, Any]]:
    """A Delta table's rows as delta-rs reads it (empty when it is not there yet)."""
    try:
        return DeltaTable(uri).to_pyarrow_table(columns=columns).to_pylist()
    except TableNotFoundError:
        return []


def _wait_for(what: str, done: Callable[[], bool], job: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + JOB_TIMEOUT_S
    while not done():
        if job.poll() is not None:
            pytest.fail(
                f"the job exited ({job.returncode}) before {what}:\n{log.read_text()[-4000:]}"
            )
        if time.monotonic() > deadline:
            pytest.fail(f"no {what} within {JOB_TIMEOUT_S} s:\n{log.read_text()[-4000:]}")
        time.sleep(1)


def test_job_process_killed_mid_stream_resumes_exactly_and_stops_on_sigterm(
    kafka_bootstrap: str, spark_settings: SparkSettings, tmp_path: Path
) -> None:
    specs = {spec.name: private_copy(spec) for spec in TOPICS if spec.name in _TOPIC_TABLES}
    ensure_topics(kafka_bootstrap, specs=list(specs.values()), replication_factor=1)
    topics = {name: spec.name for name, spec in specs.items()}
    sent = Sent()
    produce = Round(kafka_bootstrap, topics, sent)
    first = make_transactions(60, seed=71)
    produce.valid("transactions", first)
    produce.send("transactions", first[10:15])

    lake = SparkSettings(lake_uri=str(tmp_path / "lake"))
    status_path = tmp_path / "status.json"
    env = {
        **os.environ,
        "ECAP_LAKE_URI": lake.lake_uri,
        "ECAP_LAKE_STREAMS": json.dumps(PROCESS_STREAMS),
        "ECAP_LAKE_TOPICS": json.dumps(topics),
        "ECAP_LAKE_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "ECAP_LAKE_STATUS_PATH": str(status_path),
        "ECAP_LAKE_TRIGGER_S": "1",
        "ECAP_LAKE_STATUS_INTERVAL_S": "1",
        # Small batches, so that the kill lands in the middle of the work.
        "ECAP_LAKE_MAX_OFFSETS_PER_TRIGGER": "40",
        "ECAP_SPARK_MASTER": "local[2]",
        "ECAP_SPARK_SHUFFLE_PARTITIONS": "2",
        "ECAP_SPARK_DRIVER_MEMORY": "1g",
        "ECAP_SPARK_JARS_DIR": str(spark_settings.jars_dir),
    }
    command = [sys.executable, "-m", "spark.streaming.job"]
    bronze_uri = TABLES["bronze_transactions"].uri(lake)

    log = tmp_path / "job-1.log"
    with log.open("wb") as out:
        job = subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        _wait_for(
            "the first bronze batch",
            lambda: bool(_delta_rows(bronze_uri, ["offset"])),
            job,
            log,
        )
    finally:
        os.killpg(job.pid, signal.SIGKILL)  # the job, its JVM and its Python workers
        job.wait()

    second = make_transactions(15, seed=73)
    produce.valid("transactions", second)
    produce.send("transactions", first[:3] + second[:2])

    expected_kpi = _expected_kpi_rows(sent)

    def caught_up() -> bool:
        kpi = _delta_rows(TABLES["kpi_minute"].uri(lake), list(expected_kpi[0]))
        return sorted(kpi, key=_kpi_key) == expected_kpi

    log = tmp_path / "job-2.log"
    with log.open("wb") as out:
        job = subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        _wait_for("the lake to catch up", caught_up, job, log)
        job.send_signal(signal.SIGTERM)
        assert job.wait(timeout=JOB_TIMEOUT_S) == 0, log.read_text()[-4000:]
    finally:
        if job.poll() is None:
            os.killpg(job.pid, signal.SIGKILL)
            job.wait()

    transactions = _delta_rows(TABLES["transactions"].uri(lake), ["transaction_id"])
    assert sorted(row["transaction_id"] for row in transactions) == sorted(sent.transactions)
    items = _delta_rows(TABLES["transaction_items"].uri(lake), ["transaction_id"])
    assert len(items) == sum(len(t.items) for t in sent.transactions.values())
    bronze_rows = _delta_rows(bronze_uri, ["partition", "offset"])
    assert sorted((r["partition"], r["offset"]) for r in bronze_rows) == sorted(
        sent.coordinates["transactions"]
    )
    status = read_status(status_path)
    assert status is not None and sorted(status["streams"]) == sorted(PROCESS_STREAMS)
    assert not any(stream["active"] for stream in status["streams"].values())
