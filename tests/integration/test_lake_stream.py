"""The lake's streams end to end: Kafka -> bronze -> silver (+ quarantine) -> gold.

A fixed-seed simulator run of about 50,000 records (customers and products as upserts,
behaviour events, transactions) goes to private topics on the session broker in two rounds,
straight to Kafka as a foreign producer would, with exact resends and records that break the
data-quality rules; scoring decisions, fraud alerts and case events for its transactions are
produced the same way (their producers are other services). After each round the job runs
with `available_now` until caught up; the second run also loads the simulator's ground-truth
labels file. Every expectation is computed here, in plain Python, from the produced messages
and the broker's acks (the as-of enrichment, the sessions, the KPIs included), and compared
with whole tables. The last test kills the job process with SIGKILL mid-stream.
"""

from __future__ import annotations

import bisect
import copy
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
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
from services.mesh.kafka.producer import KEY_FIELDS, ProtobufProducer
from services.mesh.kafka.topics import TOPICS, ensure_topics
from services.simulator.config import SimulatorSettings
from services.simulator.generator import Simulation
from services.simulator.parquet import write_parquet
from services.simulator.records import Label
from spark.config import SparkSettings
from spark.streaming.config import LakeSettings
from spark.streaming.job import STREAMS as ALL_STREAMS
from spark.streaming.job import run
from spark.streaming.status import read_status
from spark.tables import ALL_CATEGORIES, TABLES
from tests.fixtures.kafka import make_transactions, private_copy

# The module's lake run (two rounds of about 50,000 records through every stream) is one
# fixture: it takes longer than the default per-test timeout.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(1800)]

E = common_pb2
STREAMS = [stream.name for stream in ALL_STREAMS]
WRITTEN = sorted({table for stream in ALL_STREAMS for table in stream.writes})
# The subprocess test runs only the transactions' path, to keep it short.
PROCESS_STREAMS = ["bronze_transactions", "silver_transactions", "gold_kpi_minute"]
START = datetime(2026, 11, 1, tzinfo=UTC)
# The simulated shop: about 50,000 records over SIM_DAYS, the first ROUND_ONE_DAYS in round one.
SIM = SimulatorSettings(seed=11, customers=2500, products=150, merchants=8)
SIM_START = datetime(2026, 11, 3, tzinfo=UTC)
SIM_DAYS = 20
ROUND_ONE_DAYS = 12
SESSION_WINDOW = timedelta(minutes=LakeSettings.model_fields["session_window_min"].default)
# Generous: a JVM starts in about 20 s here, and two of them share two cores.
JOB_TIMEOUT_S = 300
_EVENT_TYPES = (
    E.BEHAVIOR_EVENT_TYPE_PAGE_VIEW,
    E.BEHAVIOR_EVENT_TYPE_PRODUCT_VIEW,
    E.BEHAVIOR_EVENT_TYPE_SEARCH,
    E.BEHAVIOR_EVENT_TYPE_ADD_TO_CART,
    E.BEHAVIOR_EVENT_TYPE_BEGIN_CHECKOUT,
    E.BEHAVIOR_EVENT_TYPE_PURCHASE,
    E.BEHAVIOR_EVENT_TYPE_MARKETING_TOUCH,
)
_TOPIC_OF = {
    E.Transaction: "transactions",
    E.BehaviorEvent: "user-events",
    E.Product: "product-updates",
    E.Customer: "product-updates",
    E.Decision: "decisions",
    E.FraudAlert: "fraud-alerts",
    E.CaseEvent: "case-events",
}
_LAKE_TOPICS = set(_TOPIC_OF.values())


def make_events(count: int, *, seed: int) -> list[E.BehaviorEvent]:
    """`count` valid, deterministic behaviour events, five per session."""
    rng = random.Random(seed)
    events = []
    for n in range(count):
        kind = rng.choice(_EVENT_TYPES)
        event = E.BehaviorEvent(
            event_id=f"e-{seed}-{n:06d}",
            type=kind,
            session_id=f"s-{seed}-{n // 5:04d}",
            customer_id=rng.choice(("", f"c-{rng.randrange(50):06d}")),
            location=E.Location(country=rng.choice(("DE", "FR", "NL"))),
        )
        if kind in (E.BEHAVIOR_EVENT_TYPE_PRODUCT_VIEW, E.BEHAVIOR_EVENT_TYPE_ADD_TO_CART):
            event.product_id = f"p-{rng.randrange(1000):06d}"
            event.quantity = 1
        if kind == E.BEHAVIOR_EVENT_TYPE_PURCHASE:
            event.transaction_id = f"t-{seed}-{n:08d}"
        if kind == E.BEHAVIOR_EVENT_TYPE_MARKETING_TOUCH:
            event.touch.channel = E.CHANNEL_EMAIL
            event.touch.campaign = "black-friday"
        event.occurred_at.FromDatetime(START + timedelta(seconds=7 * n))
        events.append(event)
    return events


def _at(stamp: Any) -> datetime:
    return stamp.ToDatetime(tzinfo=UTC)


@dataclass
class Sent:
    """What went to Kafka: unique valid messages, and every record's coordinates."""

    transactions: dict[str, E.Transaction] = field(default_factory=dict)
    events: dict[str, E.BehaviorEvent] = field(default_factory=dict)
    products: list[E.Product] = field(default_factory=list)
    customers: list[E.Customer] = field(default_factory=list)
    decisions: dict[str, E.Decision] = field(default_factory=dict)
    # transaction id -> the first alert sent for it
    alerts: dict[str, E.FraudAlert] = field(default_factory=dict)
    resolutions: list[E.CaseEvent] = field(default_factory=list)
    ground_truth: list[Label] = field(default_factory=list)
    # (source table, partition, offset) -> the rules the record breaks
    quarantined: dict[tuple[str, int, int], list[str]] = field(default_factory=dict)
    coordinates: dict[str, list[tuple[int, int]]] = field(default_factory=lambda: defaultdict(list))
    warned: dict[str, list[str]] = field(default_factory=dict)

    def snapshot(self) -> Sent:
        """A copy that later sends do not change."""
        copies = {f.name: copy.copy(getattr(self, f.name)) for f in fields(self)}
        copies["coordinates"] = defaultdict(list, {k: list(v) for k, v in self.coordinates.items()})
        return Sent(**copies)


def _key(message: Message) -> bytes:
    if isinstance(message, E.FraudAlert):
        return message.decision.transaction_id.encode()
    if isinstance(message, E.CaseEvent):
        return message.case_id.encode()
    return getattr(message, KEY_FIELDS[message.DESCRIPTOR.full_name]).encode()


class Round:
    """Produces one round of records and remembers where Kafka put them."""

    def __init__(self, bootstrap: str, topics: dict[str, str], sent: Sent) -> None:
        self._bootstrap = bootstrap
        self._topics = topics
        self._sent = sent

    def send(self, topic: str, messages: Sequence[Message]) -> list[tuple[int, int]]:
        if not messages:
            return []
        if messages[0].DESCRIPTOR.full_name in KEY_FIELDS:
            with ProtobufProducer(self._bootstrap, client_id="lake-it") as producer:
                outcomes = producer.send_many(self._topics[topic], messages).result(60)
            acks = [(ack.partition, ack.offset) for ack in outcomes]
        else:
            records = [(m.SerializeToString(), m.DESCRIPTOR.full_name, _key(m)) for m in messages]
            acks = self._produce(topic, records)
        self._sent.coordinates[topic].extend(acks)
        return acks

    def _produce(
        self, topic: str, records: list[tuple[bytes, str, bytes]]
    ) -> list[tuple[int, int]]:
        """Produce raw (value, ce_type, key) records in order; their (partition, offset)."""
        acks: dict[int, tuple[int, int]] = {}
        producer = Producer({"bootstrap.servers": self._bootstrap, "enable.idempotence": True})
        for n, (value, ce_type, key) in enumerate(records):
            producer.produce(
                self._topics[topic],
                value=value,
                key=key,
                headers=[("ce_type", ce_type.encode())],
                on_delivery=lambda err, msg, n=n: acks.__setitem__(
                    n, (msg.partition(), msg.offset())
                ),
            )
        assert producer.flush(30) == 0
        return [acks[n] for n in range(len(records))]

    def send_raw(self, topic: str, value: bytes, ce_type: str) -> tuple[int, int]:
        (ack,) = self._produce(topic, [(value, ce_type, b"raw")])
        self._sent.coordinates[topic].append(ack)
        return ack

    def valid(self, topic: str, messages: Sequence[Message]) -> None:
        self.send(topic, messages)
        sent = self._sent
        for message in messages:
            match message:
                case E.Transaction():
                    sent.transactions[message.transaction_id] = message
                case E.BehaviorEvent():
                    sent.events[message.event_id] = message
                case E.Product():
                    sent.products.append(message)
                case E.Customer():
                    sent.customers.append(message)
                case E.Decision():
                    sent.decisions[message.decision_id] = message
                case E.FraudAlert():
                    sent.alerts.setdefault(message.decision.transaction_id, message)
                case E.CaseEvent():
                    if message.action == E.CASE_ACTION_RESOLVED:
                        sent.resolutions.append(message)

    def invalid(self, topic: str, message: Message, rules: list[str], table: str = "") -> None:
        (coordinates,) = self.send(topic, [message])
        self._sent.quarantined[(table or _source_table(topic), *coordinates)] = rules


def _source_table(topic: str) -> str:
    return {
        "transactions": "transactions",
        "user-events": "events",
        "decisions": "decisions",
        "fraud-alerts": "alerts",
        "case-events": "labels",
    }[topic]


def _bad_transaction(seed: int, **changes: Any) -> E.Transaction:
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


def _simulation() -> tuple[list[Any], list[Any]]:
    """The simulator's records (with labels) of round one and of round two."""
    cut = SIM_START + timedelta(days=ROUND_ONE_DAYS)
    items = list(Simulation(SIM, start=SIM_START, days=SIM_DAYS).stream())
    first = [item for item in items if _at_us(item.at_us) < cut]
    return first, items[len(first) :]


def _at_us(us: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=us)


def _produce_simulated(produce: Round, sent: Sent, items: list[Any]) -> list[E.Transaction]:
    by_topic: dict[str, list[Message]] = defaultdict(list)
    for item in items:
        by_topic[_TOPIC_OF[type(item.record)]].append(item.record)
        if item.label is not None:
            sent.ground_truth.append(item.label)
    # Reference data first, as the ingestion publishes it.
    for topic in ("product-updates", "transactions", "user-events"):
        produce.valid(topic, by_topic[topic])
    return [m for m in by_topic["transactions"] if isinstance(m, E.Transaction)]


_OUTCOMES = (
    [E.DECISION_OUTCOME_APPROVE] * 6
    + [E.DECISION_OUTCOME_REVIEW] * 3
    + [E.DECISION_OUTCOME_DECLINE]
)
_CASE_OUTCOMES = (
    E.CASE_OUTCOME_CONFIRMED_FRAUD,
    E.CASE_OUTCOME_FALSE_POSITIVE,
    E.CASE_OUTCOME_INCONCLUSIVE,
)


def _decision(txn: E.Transaction, n: int) -> E.Decision:
    decision = E.Decision(
        decision_id=f"d-{txn.transaction_id}",
        transaction_id=txn.transaction_id,
        customer_id=txn.customer_id,
        merchant_id=txn.merchant_id,
        outcome=_OUTCOMES[n % len(_OUTCOMES)],
        risk_score=(n % 100) / 100,
        reasons=[E.DecisionReason(code="AMOUNT_VS_MEAN"), E.DecisionReason(code=f"R{n % 3}")],
        model_tag="fraud:it",
        rules_version="v1",
        degraded=n % 7 == 0,
        amount=txn.amount,
        features={"amount_vs_mean": n / 10, "velocity_1h": float(n % 5)},
    )
    decision.latency.FromMilliseconds(5 + n % 20)
    decision.decided_at.FromDatetime(_at(txn.occurred_at) + timedelta(milliseconds=40))
    return decision


def _case_event(
    alert: E.FraudAlert, n: int, action: int, outcome: int, after: timedelta
) -> E.CaseEvent:
    txn_id = alert.decision.transaction_id
    event = E.CaseEvent(
        event_id=f"ce-{txn_id}-{n}",
        case_id=f"case-{txn_id}",
        action=action,
        actor="alice" if n % 2 else "bob",
        transaction_ids=[txn_id],
        customer_id=alert.decision.customer_id,
        outcome=outcome,
    )
    event.occurred_at.FromDatetime(_at(alert.raised_at) + after)
    return event


def _produce_scoring(
    produce: Round, transactions: list[E.Transaction], offset: int
) -> list[E.FraudAlert]:
    """Decisions for every third transaction, alerts for the flagged ones, their cases."""
    decisions = [_decision(t, offset + n) for n, t in enumerate(transactions[::3])]
    produce.valid("decisions", decisions)
    produce.send("decisions", decisions[:5])  # resends
    by_id = {t.transaction_id: t for t in transactions}
    alerts = []
    for d in decisions:
        if d.outcome in (E.DECISION_OUTCOME_REVIEW, E.DECISION_OUTCOME_DECLINE):
            alert = E.FraudAlert(alert_id=f"a-{d.transaction_id}", decision=d)
            alert.transaction.CopyFrom(by_id[d.transaction_id])
            alert.raised_at.FromDatetime(_at(d.decided_at) + timedelta(milliseconds=10))
            alerts.append(alert)
    produce.valid("fraud-alerts", alerts)
    second = E.FraudAlert()
    second.CopyFrom(alerts[0])
    second.alert_id = "a-second"  # a second alert of one transaction: the first one stays
    produce.send("fraud-alerts", [second])
    events = []
    for n, alert in enumerate(alerts):
        events.append(_case_event(alert, 0, E.CASE_ACTION_CREATED, 0, timedelta(minutes=1)))
        if n % 4 != 3:  # some cases stay open
            outcome = _CASE_OUTCOMES[n % 3]
            events.append(_case_event(alert, 1, E.CASE_ACTION_RESOLVED, outcome, timedelta(days=1)))
    produce.valid("case-events", events)
    produce.send("case-events", events[:4])
    return alerts


def _produce_round_one(produce: Round, sent: Sent, simulated: list[Any]) -> list[E.FraudAlert]:
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
    unspecified.type = E.BEHAVIOR_EVENT_TYPE_UNSPECIFIED
    produce.invalid("user-events", unspecified, ["event_type_specified"])
    future = make_events(1, seed=88)[0]
    future.occurred_at.FromDatetime(datetime.now(UTC) + timedelta(hours=1))
    produce.invalid("user-events", future, ["occurred_at_not_future"])
    anonymous_purchase = make_events(1, seed=89)[0]
    anonymous_purchase.event_id = "e-warn-purchase"
    anonymous_purchase.type = E.BEHAVIOR_EVENT_TYPE_PURCHASE
    anonymous_purchase.transaction_id = ""
    produce.valid("user-events", [anonymous_purchase])
    sent.warned["e-warn-purchase"] = ["purchase_has_transaction"]

    simulated_transactions = _produce_simulated(produce, sent, simulated)
    produce.send("user-events", list(sent.events.values())[-7:])  # resends
    _produce_bad_reference(produce, sent)
    alerts = _produce_scoring(produce, simulated_transactions, 0)
    bad = _decision(simulated_transactions[1], 1)
    bad.decision_id, bad.outcome = "d-unspecified", E.DECISION_OUTCOME_UNSPECIFIED
    produce.invalid("decisions", bad, ["outcome_specified"])
    # A re-resolution: the later one (sent first) must stay the label.
    later = _case_event(alerts[0], 9, E.CASE_ACTION_RESOLVED, _CASE_OUTCOMES[1], timedelta(days=2))
    produce.valid("case-events", [later])
    unresolved = _case_event(alerts[1], 8, E.CASE_ACTION_RESOLVED, 0, timedelta(days=1))
    produce.invalid("case-events", unresolved, ["resolution_has_outcome"])
    return alerts


def _produce_bad_reference(produce: Round, sent: Sent) -> None:
    product = E.Product()
    product.CopyFrom(sent.products[0])
    product.product_id = "p-no-category"
    del product.category_path[:]
    produce.invalid("product-updates", product, ["category_path_present"], "products")
    customer = E.Customer()
    customer.CopyFrom(sent.customers[0])
    customer.customer_id = "c-no-signup"
    customer.ClearField("signed_up_at")
    produce.invalid("product-updates", customer, ["signed_up_at_present"], "customers")
    garbage = produce.send_raw("product-updates", b"\xff\xfe not protobuf", "ecap.v1.Product")
    sent.quarantined[("products", *garbage)] = ["decodes"]
    stray = make_transactions(1, seed=91)[0]
    produce.invalid("product-updates", stray, ["ce_type_matches"], "products")


def _produce_round_two(
    produce: Round, sent: Sent, simulated: list[Any], alerts: list[E.FraudAlert]
) -> None:
    # Same minutes as round one, so gold must merge into minutes it already wrote.
    produce.valid("transactions", make_transactions(12, seed=53))
    produce.send("transactions", list(sent.transactions.values())[5:8])
    produce.invalid("transactions", _bad_transaction(90, amount_minor=0), ["amount_positive"])
    produce.valid("user-events", make_events(20, seed=62))
    produce.send("user-events", list(sent.events.values())[10:13])
    simulated_transactions = _produce_simulated(produce, sent, simulated)
    # Decisions of round-one transactions too: their minutes must be recomputed.
    late = [_decision(t, 7) for t in list(sent.transactions.values())[40:43]]
    for decision in late:
        decision.decision_id += "-late"
    produce.valid("decisions", late)
    _produce_scoring(produce, simulated_transactions, 1000)
    earlier = _case_event(
        alerts[0], 2, E.CASE_ACTION_RESOLVED, _CASE_OUTCOMES[0], timedelta(days=1)
    )
    produce.valid("case-events", [earlier])


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


@pytest.fixture(scope="module")
def lake_run(
    spark: SparkSession,
    spark_settings: SparkSettings,
    kafka_bootstrap: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> LakeRun:
    """Both rounds produced and streamed into a lake of this module's own."""
    specs = {spec.name: private_copy(spec) for spec in TOPICS if spec.name in _LAKE_TOPICS}
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
    simulated_one, simulated_two = _simulation()

    alerts = _produce_round_one(produce, sent, simulated_one)
    run(settings, available_now=True, spark=spark)
    sent_first = sent.snapshot()
    versions = {name: DeltaTable(TABLES[name].uri(settings.spark)).version() for name in WRITTEN}

    _produce_round_two(produce, sent, simulated_two, alerts)
    labels_file = write_parquet(root / "sim", [], sent.ground_truth)["labels"]
    settings = settings.model_copy(update={"ground_truth_labels": labels_file})
    statuses = run(settings, available_now=True, spark=spark)
    return LakeRun(settings, sent_first, sent, versions, statuses)


def test_the_run_is_the_size_the_issue_asks_for(lake_run: LakeRun) -> None:
    sent = lake_run.sent
    records = sum(len(c) for c in sent.coordinates.values())
    simulated = len(sent.products) + len(sent.customers) + len(sent.transactions) + len(sent.events)
    assert simulated >= 50_000, simulated
    assert records > simulated  # resends and rule breakers on top


def _read(spark: SparkSession, lake: LakeRun, table: str, version: int | None = None) -> DataFrame:
    reader = spark.read.format("delta")
    if version is not None:
        reader = reader.option("versionAsOf", version)
    return reader.load(lake.uri(table))


def _enum(value: int, enum: Any, prefix: str) -> str:
    return enum.Name(value).removeprefix(prefix)


def _versions(messages: list[Any], key: str) -> dict[str, list[tuple[datetime, Any]]]:
    """Each entity's versions by updated_at, the last one sent winning a tie, in time order."""
    by_time: dict[str, dict[datetime, Any]] = defaultdict(dict)
    for message in messages:
        by_time[getattr(message, key)][_at(message.updated_at)] = message
    return {k: sorted(v.items(), key=lambda kv: kv[0]) for k, v in by_time.items()}


def _as_of(
    versions: dict[str, list[tuple[datetime, Any]]], key: str, at: datetime
) -> tuple[datetime, Any] | None:
    history = versions.get(key, [])
    index = bisect.bisect_right([valid_from for valid_from, _ in history], at)
    return history[index - 1] if index else None


def _expected_transactions(spark: SparkSession, sent: Sent) -> DataFrame:
    customers = _versions(sent.customers, "customer_id")
    rows = []
    for t in sent.transactions.values():
        version = _as_of(customers, t.customer_id, _at(t.occurred_at))
        profile: tuple[Any, ...] = (None,) * 5
        if version is not None:
            valid_from, c = version
            profile = (
                c.home.country or None,
                c.home.city or None,
                _at(c.signed_up_at),
                _enum(c.acquisition_channel, E.Channel, "CHANNEL_"),
                valid_from,
            )
        rows.append(
            (
                t.transaction_id,
                t.customer_id,
                t.amount.amount_minor,
                t.amount.currency,
                len(t.items),
                _enum(t.payment_method, E.PaymentMethod, "PAYMENT_METHOD_"),
                t.location.country or None,
                _enum(t.channel, E.Channel, "CHANNEL_"),
                _at(t.occurred_at),
                sent.warned.get(t.transaction_id, []),
                *profile,
            )
        )
    return spark.createDataFrame(
        rows,
        "transaction_id string, customer_id string, amount_minor bigint, currency string, "
        "item_count int, payment_method string, country string, channel string, "
        "occurred_at timestamp, dq_warnings array<string>, customer_country string, "
        "customer_city string, customer_signed_up_at timestamp, "
        "customer_acquisition_channel string, customer_version_from timestamp",
    )


def _line_categories(
    sent: Sent,
) -> list[tuple[E.Transaction, int, E.LineItem, tuple[datetime, Any] | None]]:
    products = _versions(sent.products, "product_id")
    return [
        (t, n, item, _as_of(products, item.product_id, _at(t.occurred_at)))
        for t in sent.transactions.values()
        for n, item in enumerate(t.items)
    ]


def _expected_items(spark: SparkSession, sent: Sent) -> DataFrame:
    rows = []
    for t, n, item, version in _line_categories(sent):
        product: tuple[Any, ...] = (None,) * 4
        if version is not None:
            valid_from, p = version
            cost = p.unit_cost.amount_minor if p.HasField("unit_cost") else None
            product = (list(p.category_path), p.category_path[0], cost, valid_from)
        rows.append(
            (
                t.transaction_id,
                n,
                item.product_id,
                item.quantity,
                item.unit_price.amount_minor,
                *product,
            )
        )
    return spark.createDataFrame(
        rows,
        "transaction_id string, line_no int, product_id string, quantity int, "
        "unit_price_minor bigint, category_path array<string>, category string, "
        "unit_cost_minor bigint, product_version_from timestamp",
    )


def _expected_events(spark: SparkSession, sent: Sent) -> DataFrame:
    rows = [
        (
            e.event_id,
            _enum(e.type, E.BehaviorEventType, "BEHAVIOR_EVENT_TYPE_"),
            e.session_id,
            e.customer_id or None,
            e.product_id or None,
            e.transaction_id or None,
            _enum(e.touch.channel, E.Channel, "CHANNEL_") if e.HasField("touch") else None,
            _at(e.occurred_at),
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


def test_silver_holds_each_valid_record_once_enriched_as_of_its_time(
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


def test_the_enrichment_found_versions_and_saw_changes(lake_run: LakeRun) -> None:
    # Not vacuous: most simulated transactions meet a customer version, and some customer
    # and some product changed between versions that transactions used.
    customers = _versions(lake_run.sent.customers, "customer_id")
    assert sum(len(v) > 1 for v in customers.values()) > 0
    used = {
        (item.product_id, version[0])
        for _, _, item, version in _line_categories(lake_run.sent)
        if version is not None
    }
    assert len({product for product, _ in used}) < len(used)


def _expected_versions(
    spark: SparkSession,
    messages: list[Any],
    key: str,
    columns: Callable[[Any], tuple[Any, ...]],
    ddl: str,
) -> DataFrame:
    rows = []
    for entity, history in _versions(messages, key).items():
        for n, (valid_from, message) in enumerate(history):
            valid_to = history[n + 1][0] if n + 1 < len(history) else None
            rows.append((entity, valid_from, valid_to, *columns(message)))
    return spark.createDataFrame(
        rows, f"{key} string, valid_from timestamp, valid_to timestamp, {ddl}"
    )


def test_products_and_customers_keep_every_version_with_its_interval(
    spark: SparkSession, lake_run: LakeRun
) -> None:
    products = _expected_versions(
        spark,
        lake_run.sent.products,
        "product_id",
        lambda p: (
            list(p.category_path),
            p.price.amount_minor,
            p.unit_cost.amount_minor,
            p.stock,
            p.active,
        ),
        "category_path array<string>, price_minor bigint, unit_cost_minor bigint, stock int, "
        "active boolean",
    )
    assertDataFrameEqual(_columns_of(products, _read(spark, lake_run, "products")), products)
    customers = _expected_versions(
        spark,
        lake_run.sent.customers,
        "customer_id",
        lambda c: (c.email, c.home.country or None, _at(c.signed_up_at)),
        "email string, country string, signed_up_at timestamp",
    )
    assertDataFrameEqual(_columns_of(customers, _read(spark, lake_run, "customers")), customers)


def _latest_decisions(sent: Sent) -> dict[str, E.Decision]:
    latest: dict[str, E.Decision] = {}
    for d in sent.decisions.values():
        current = latest.get(d.transaction_id)
        if current is None or (_at(d.decided_at), d.decision_id) > (
            _at(current.decided_at),
            current.decision_id,
        ):
            latest[d.transaction_id] = d
    return latest


def test_decisions_and_alerts_land_once_with_outcome_and_features(
    spark: SparkSession, lake_run: LakeRun
) -> None:
    decisions = spark.createDataFrame(
        [
            (
                d.decision_id,
                d.transaction_id,
                d.merchant_id,
                _enum(d.outcome, E.DecisionOutcome, "DECISION_OUTCOME_"),
                d.risk_score,
                [r.code for r in d.reasons],
                d.degraded,
                d.latency.ToMilliseconds() * 1.0,
                d.amount.amount_minor,
                dict(d.features),
                _at(d.decided_at),
            )
            for d in lake_run.sent.decisions.values()
        ],
        "decision_id string, transaction_id string, merchant_id string, outcome string, "
        "risk_score double, reason_codes array<string>, degraded boolean, latency_ms double, "
        "amount_minor bigint, features map<string,double>, decided_at timestamp",
    )
    actual = _columns_of(decisions, _read(spark, lake_run, "decisions"))
    assertDataFrameEqual(actual, decisions)
    alerts = spark.createDataFrame(
        [
            (
                txn,
                a.alert_id,
                a.decision.decision_id,
                _enum(a.decision.outcome, E.DecisionOutcome, "DECISION_OUTCOME_"),
                _at(a.transaction.occurred_at),
                _at(a.raised_at),
            )
            for txn, a in lake_run.sent.alerts.items()
        ],
        "transaction_id string, alert_id string, decision_id string, outcome string, "
        "transaction_at timestamp, raised_at timestamp",
    )
    assertDataFrameEqual(_columns_of(alerts, _read(spark, lake_run, "alerts")), alerts)


def test_labels_hold_the_latest_resolution_and_the_ground_truth(
    spark: SparkSession, lake_run: LakeRun
) -> None:
    latest: dict[str, E.CaseEvent] = {}
    for event in lake_run.sent.resolutions:
        for txn in event.transaction_ids:
            current = latest.get(txn)
            order = (_at(event.occurred_at), event.event_id)
            if current is None or order > (_at(current.occurred_at), current.event_id):
                latest[txn] = event
    fraud = {E.CASE_OUTCOME_CONFIRMED_FRAUD: True, E.CASE_OUTCOME_FALSE_POSITIVE: False}
    rows = [
        (
            txn,
            "investigator",
            fraud.get(e.outcome),
            _enum(e.outcome, E.CaseOutcome, "CASE_OUTCOME_"),
            None,
            e.case_id,
            e.actor,
            _at(e.occurred_at),
        )
        for txn, e in latest.items()
    ]
    rows += [
        (
            label.transaction_id,
            "ground_truth",
            label.label == 1,
            None,
            label.scenario.value,
            None,
            "simulator",
            label.occurred_at,
        )
        for label in lake_run.sent.ground_truth
    ]
    expected = spark.createDataFrame(
        rows,
        "transaction_id string, source string, is_fraud boolean, outcome string, "
        "scenario string, case_id string, labelled_by string, labelled_at timestamp",
    )
    assertDataFrameEqual(_columns_of(expected, _read(spark, lake_run, "labels")), expected)
    # The re-resolved case: the later resolution (sent first) is the label.
    assert latest[lake_run.sent.resolutions[-1].transaction_ids[0]].event_id.endswith("-9")
    assert any(label.label for label in lake_run.sent.ground_truth)


def test_transaction_sessions_join_each_purchase_to_its_session_events(
    spark: SparkSession, lake_run: LakeRun
) -> None:
    by_session: dict[str, list[E.BehaviorEvent]] = defaultdict(list)
    for e in lake_run.sent.events.values():
        by_session[e.session_id].append(e)
    pairs = [
        (t.transaction_id, e.event_id, (_at(t.occurred_at) - _at(e.occurred_at)).total_seconds())
        for t in lake_run.sent.transactions.values()
        if t.session_id
        for e in by_session.get(t.session_id, [])
        if _at(t.occurred_at) - SESSION_WINDOW <= _at(e.occurred_at) <= _at(t.occurred_at)
    ]
    # Sessions span the two rounds: some pairs join a transaction of one round to events
    # of the other, through the join's state.
    assert len(pairs) > 1000
    expected = spark.createDataFrame(
        pairs, "transaction_id string, event_id string, seconds_before double"
    )
    actual = _read(spark, lake_run, "transaction_sessions")
    assertDataFrameEqual(actual.select(expected.columns), expected)


def test_bronze_holds_every_kafka_record_exactly_once(
    spark: SparkSession, lake_run: LakeRun
) -> None:
    for topic in sorted(_LAKE_TOPICS):
        table = "bronze_" + topic.replace("-", "_")
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
    assert [row.failed_rules for row in undecoded.collect()] == [["decodes"], ["decodes"]]
    assert quarantine.filter(F.col("value").isNull()).isEmpty()


def _minute_of(t: E.Transaction) -> datetime:
    return _at(t.occurred_at).replace(second=0, microsecond=0)


def _expected_kpi_rows(sent: Sent) -> list[dict[str, Any]]:
    """`kpi_minute` rows without the ratios, computed from the sent messages."""
    outcomes = {
        txn: _enum(d.outcome, E.DecisionOutcome, "DECISION_OUTCOME_")
        for txn, d in _latest_decisions(sent).items()
        if txn in sent.transactions
    }
    lines: dict[str, dict[str | None, list[E.LineItem]]] = defaultdict(lambda: defaultdict(list))
    for t, _, item, version in _line_categories(sent):
        lines[t.transaction_id][version[1].category_path[0] if version else None].append(item)
    groups: dict[tuple[Any, ...], list[tuple[E.Transaction, int, int]]] = defaultdict(list)
    for t in sent.transactions.values():
        dims = (
            _minute_of(t),
            t.location.country or None,
            _enum(t.channel, E.Channel, "CHANNEL_"),
            t.amount.currency,
        )
        units = sum(i.quantity for i in t.items)
        groups[(*dims, ALL_CATEGORIES)].append((t, units, t.amount.amount_minor))
        for category, items in lines[t.transaction_id].items():
            revenue = sum(i.quantity * i.unit_price.amount_minor for i in items)
            groups[(*dims, category)].append((t, sum(i.quantity for i in items), revenue))
    rows = []
    for (minute, country, channel, currency, category), members in groups.items():
        decided = [
            outcomes[t.transaction_id] for t, _, _ in members if t.transaction_id in outcomes
        ]
        rows.append(
            {
                "minute": minute,
                "country": country,
                "channel": channel,
                "currency": currency,
                "category": category,
                "orders": len(members),
                "units": sum(units for _, units, _ in members),
                "revenue_minor": sum(revenue for _, _, revenue in members),
                "unique_customers": len({t.customer_id for t, _, _ in members}),
                "decisions": len(decided),
                "approved": decided.count("APPROVE"),
                "reviewed": decided.count("REVIEW"),
                "declined": decided.count("DECLINE"),
            }
        )
    return sorted(rows, key=_kpi_key)


def _kpi_key(row: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(str(row[k]) for k in ("minute", "country", "channel", "currency", "category"))


def _expected_kpi(spark: SparkSession, sent: Sent) -> DataFrame:
    rows = [
        {
            **row,
            "avg_order_value_minor": row["revenue_minor"] / row["orders"],
            "fraud_flag_rate": (row["reviewed"] + row["declined"]) / row["decisions"]
            if row["decisions"]
            else None,
        }
        for row in _expected_kpi_rows(sent)
    ]
    return spark.createDataFrame(
        rows,
        "minute timestamp, country string, channel string, currency string, category string, "
        "orders bigint, units bigint, revenue_minor bigint, unique_customers bigint, "
        "decisions bigint, approved bigint, reviewed bigint, declined bigint, "
        "avg_order_value_minor double, fraud_flag_rate double",
    )


def test_kpi_minute_equals_the_minutes_of_silver(spark: SparkSession, lake_run: LakeRun) -> None:
    for sent, version in (
        (lake_run.sent_first, lake_run.first_versions["kpi_minute"]),
        (lake_run.sent, None),
    ):
        expected = _expected_kpi(spark, sent)
        actual = _read(spark, lake_run, "kpi_minute", version)
        assertDataFrameEqual(actual.select(expected.columns), expected)


def test_kpi_minute_revenue_of_a_minute_equals_its_sum_in_silver(
    spark: SparkSession, lake_run: LakeRun
) -> None:
    transactions = _read(spark, lake_run, "transactions")
    busiest = (
        transactions.groupBy(F.date_trunc("minute", "occurred_at").alias("minute"))
        .count()
        .orderBy(F.desc("count"), "minute")
        .first()
    )
    assert busiest is not None and busiest["count"] > 1
    minute = busiest["minute"]
    in_silver = transactions.filter(F.date_trunc("minute", "occurred_at") == F.lit(minute))
    kpi = _read(spark, lake_run, "kpi_minute").filter(
        (F.col("minute") == F.lit(minute)) & (F.col("category") == ALL_CATEGORIES)
    )
    assert (
        kpi.agg(F.sum("revenue_minor")).first()[0]
        == in_silver.agg(F.sum("amount_minor")).first()[0]
    )
    items = _read(spark, lake_run, "transaction_items").filter(
        F.date_trunc("minute", "occurred_at") == F.lit(minute)
    )
    by_category = _read(spark, lake_run, "kpi_minute").filter(
        (F.col("minute") == F.lit(minute)) & ~F.col("category").eqNullSafe(ALL_CATEGORIES)
    )
    assert (
        by_category.agg(F.sum("revenue_minor")).first()[0]
        == items.agg(F.sum("line_total_minor")).first()[0]
    )


def _expected_traffic(spark: SparkSession, sent: Sent) -> DataFrame:
    groups: dict[tuple[Any, ...], list[E.BehaviorEvent]] = defaultdict(list)
    for e in sent.events.values():
        minute = e.occurred_at.ToDatetime(tzinfo=UTC).replace(second=0, microsecond=0)
        groups[(minute, e.location.country or None)].append(e)
    rows = []
    for (minute, country), events in groups.items():
        types = [
            E.BehaviorEventType.Name(e.type).removeprefix("BEHAVIOR_EVENT_TYPE_") for e in events
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
    for name in STREAMS:
        if name.startswith("bronze_"):
            assert status["streams"][name]["kafka_offsets_behind"] == 0, name
    assert lake_run.statuses == status["streams"]


def test_checkpoints_live_one_per_stream(lake_run: LakeRun) -> None:
    root = Path(lake_run.settings.spark.checkpoint_root)
    expected = [stream.checkpoint for stream in ALL_STREAMS]
    assert sorted(path.name for path in root.iterdir()) == sorted(expected)


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
    specs = {spec.name: private_copy(spec) for spec in TOPICS if spec.name == "transactions"}
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
