"""The ingestion service against the real Kafka broker: exactly once, dead letters, outages."""

from __future__ import annotations

import asyncio
import copy
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from confluent_kafka import Consumer

from ecap.v1 import common_pb2, ingestion_pb2, ingestion_pb2_grpc
from services.ingestion.config import IngestionSettings
from services.ingestion.server import build_spec
from services.mesh import client as mesh_client
from services.mesh.errors import details_of
from services.mesh.kafka.config import KafkaSettings
from services.mesh.kafka.topics import TOPICS, ensure_topics
from tests.fixtures.kafka import make_transactions, private_copy
from tests.fixtures.mesh import run_async, running_server

pytestmark = pytest.mark.integration

BATCH = 500


@pytest.fixture()
def topics(kafka_bootstrap):
    """Private copies of the ingestion topics, so tests cannot see each other's records."""
    by_name = {spec.name: private_copy(spec) for spec in TOPICS}
    ensure_topics(kafka_bootstrap, specs=list(by_name.values()), replication_factor=1)
    return {name: spec.name for name, spec in by_name.items()}


@pytest.fixture()
def ingestion(kafka_bootstrap, topics, auth_settings):
    settings = IngestionSettings(
        port=0,
        metrics_enabled=False,
        grace_period_s=1,
        delivery_timeout_ms=5000,
        topic_transactions=topics["transactions"],
        topic_events=topics["user-events"],
        topic_reference=topics["product-updates"],
        topic_dead_letter=topics["dead-letter"],
    )
    spec = build_spec(settings, KafkaSettings(bootstrap=kafka_bootstrap))
    with running_server(spec, auth_settings, settings) as server:
        yield server


def consume_all(bootstrap: str, topic: str, expected: int, idle_s: float = 5.0):
    """Every record of `topic`: reads until `expected` arrived and nothing more came for a while."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"test-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    records = []
    loop = asyncio.new_event_loop()
    deadline = loop.time() + 120
    quiet_since = loop.time()
    try:
        while loop.time() < deadline:
            batch = consumer.consume(1000, timeout=0.5)
            if batch:
                quiet_since = loop.time()
                for record in batch:
                    assert record.error() is None, record.error()
                    records.append(record)
            elif len(records) >= expected and loop.time() - quiet_since > idle_s:
                break
    finally:
        consumer.close()
        loop.close()
    return records


def _events(count: int, seed: int = 11) -> list[common_pb2.BehaviorEvent]:
    start = datetime(2026, 11, 20, tzinfo=UTC)
    kinds = [
        common_pb2.BEHAVIOR_EVENT_TYPE_PAGE_VIEW,
        common_pb2.BEHAVIOR_EVENT_TYPE_PRODUCT_VIEW,
        common_pb2.BEHAVIOR_EVENT_TYPE_ADD_TO_CART,
    ]
    events = []
    for n in range(count):
        event = common_pb2.BehaviorEvent(
            event_id=f"e-{seed}-{n:07d}",
            type=kinds[n % len(kinds)],
            session_id=f"s-{n // 7:06d}",
            customer_id=f"c-{n // 21:05d}",
            page_url=f"https://shop.example/p/{n % 97}",
            product_id=f"p-{n % 97:05d}",
        )
        event.occurred_at.FromDatetime(start + timedelta(seconds=n))
        events.append(event)
    return events


CORRUPTIONS = {
    "string.pattern": lambda t: setattr(t.amount, "currency", "eur"),
    "int32.gt_lte": lambda t: setattr(t.items[0], "quantity", -1),
    "amount.sum_of_items": lambda t: setattr(t.amount, "amount_minor", t.amount.amount_minor + 1),
    "timestamp.not_future": lambda t: t.occurred_at.FromDatetime(
        datetime.now(UTC) + timedelta(days=2)
    ),
    "string.min_len": lambda t: t.ClearField("customer_id"),
    "currency.iso4217": lambda t: [
        setattr(m, "currency", "XXX") for m in (t.amount, *(i.unit_price for i in t.items))
    ],
}


def _stream(token: str, address: str, rpc: str, field: str, records, request_type):
    async def go():
        async with mesh_client.connect(address, token=token, deadline_s=300) as channel:
            stub = ingestion_pb2_grpc.IngestionServiceStub(channel)

            async def batches():
                for start in range(0, len(records), BATCH):
                    yield request_type(**{field: records[start : start + BATCH]})

            return await getattr(stub, rpc)(batches())

    return run_async(go(), timeout_s=300)


def test_every_valid_record_lands_exactly_once_and_every_invalid_one_in_dead_letter(
    ingestion, topics, kafka_bootstrap, mint
):
    token = mint("service", sub="checkout")
    transactions = make_transactions(10_000, seed=21)
    rules = list(CORRUPTIONS)
    invalid: dict[str, str] = {}
    for n in range(100):  # 1% invalid, of several kinds
        target = transactions[n * 97 + 3]
        rule = rules[n % len(rules)]
        CORRUPTIONS[rule](target)
        invalid[target.transaction_id] = rule
    resent = [copy.deepcopy(t) for t in transactions[:100] if t.transaction_id not in invalid]
    stream = transactions + resent  # 1% resent duplicates, later in the same stream

    summary = _stream(
        token,
        ingestion.address,
        "IngestTransactions",
        "transactions",
        stream,
        ingestion_pb2.IngestTransactionsRequest,
    )
    events = _events(10_000)
    event_summary = _stream(
        token,
        ingestion.address,
        "IngestEvents",
        "events",
        events,
        ingestion_pb2.IngestEventsRequest,
    )
    # A second stream resending the first 500 transactions: all duplicates.
    again = _stream(
        token,
        ingestion.address,
        "IngestTransactions",
        "transactions",
        transactions[200:700],
        ingestion_pb2.IngestTransactionsRequest,
    )

    valid_ids = {t.transaction_id for t in transactions} - set(invalid)
    assert (summary.received, summary.accepted, summary.duplicates, summary.rejected) == (
        len(stream),
        len(valid_ids),
        len(resent),
        len(invalid),
    )
    by_id = {r.id: r for r in summary.rejections}
    assert {i: r.rule for i, r in by_id.items()} == invalid
    assert all(stream[r.index].transaction_id == r.id for r in summary.rejections)
    assert (event_summary.accepted, event_summary.rejected) == (len(events), 0)
    invalid_in_again = sum(t.transaction_id in invalid for t in transactions[200:700])
    assert again.duplicates == 500 - invalid_in_again

    landed = consume_all(kafka_bootstrap, topics["transactions"], len(valid_ids))
    landed_ids = Counter(
        common_pb2.Transaction.FromString(r.value()).transaction_id for r in landed
    )
    assert set(landed_ids) == valid_ids and max(landed_ids.values()) == 1
    sample = (
        next(r for r in landed if r.key() == b"c-00007")
        if any(r.key() == b"c-00007" for r in landed)
        else landed[0]
    )
    decoded = common_pb2.Transaction.FromString(sample.value())
    assert sample.key() == decoded.customer_id.encode()
    assert dict(sample.headers())["ce_type"] == b"ecap.v1.Transaction"
    # Per customer (the record key), Kafka holds the transactions in the order they were sent.
    sent_position = {t.transaction_id: n for n, t in enumerate(transactions)}
    per_key: dict[bytes, list[int]] = {}
    for record in sorted(landed, key=lambda r: (r.partition(), r.offset())):
        txn_id = common_pb2.Transaction.FromString(record.value()).transaction_id
        per_key.setdefault(record.key(), []).append(sent_position[txn_id])
    assert all(positions == sorted(positions) for positions in per_key.values())
    originals = {t.transaction_id: t for t in transactions}
    assert decoded == originals[decoded.transaction_id]

    event_ids = Counter(
        common_pb2.BehaviorEvent.FromString(r.value()).event_id
        for r in consume_all(kafka_bootstrap, topics["user-events"], len(events))
    )
    assert set(event_ids) == {e.event_id for e in events} and max(event_ids.values()) == 1

    # The second stream resent a few invalid records too: they are dead-lettered again.
    dead = consume_all(kafka_bootstrap, topics["dead-letter"], len(invalid))
    assert len(dead) == summary.rejected + again.rejected == len(invalid) + invalid_in_again
    dead_rules = {}
    for record in dead:
        headers = dict(record.headers())
        rejected = common_pb2.Transaction.FromString(record.value())
        dead_rules[rejected.transaction_id] = headers["rule"].decode()
        assert headers["source_topic"].decode() == topics["transactions"]
        assert headers["reason"]
    assert dead_rules == invalid


def test_broker_outage_fails_the_stream_unavailable_and_a_resend_completes_exactly_once(
    ingestion, topics, kafka_broker, mint
):
    token = mint("service", sub="checkout")
    transactions = make_transactions(6_000, seed=33)

    async def stream_with_outage():
        async with mesh_client.connect(ingestion.address, token=token, deadline_s=120) as chan:
            stub = ingestion_pb2_grpc.IngestionServiceStub(chan)

            async def batches():
                for n, start in enumerate(range(0, len(transactions), BATCH)):
                    if n == 5:
                        await asyncio.sleep(1)  # let the first batches be acknowledged
                        await asyncio.to_thread(kafka_broker.stop)
                    yield ingestion_pb2.IngestTransactionsRequest(
                        transactions=transactions[start : start + BATCH]
                    )

            return await stub.IngestTransactions(batches())

    try:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            run_async(stream_with_outage(), timeout_s=180)
    finally:
        kafka_broker.start()
    assert caught.value.code() is grpc.StatusCode.UNAVAILABLE
    assert details_of(caught.value)["reason"] == "KAFKA_UNAVAILABLE"
    assert "resend" in caught.value.details()

    # The client resends everything it has no summary for: whatever Kafka had acknowledged
    # is a duplicate now, and the rest is written.
    summary = _stream(
        token,
        ingestion.address,
        "IngestTransactions",
        "transactions",
        transactions,
        ingestion_pb2.IngestTransactionsRequest,
    )
    assert summary.rejected == 0
    assert summary.accepted + summary.duplicates == len(transactions)
    assert summary.duplicates >= 5 * BATCH - BATCH  # what was acknowledged before the outage

    landed = consume_all(kafka_broker.bootstrap, topics["transactions"], len(transactions))
    ids = Counter(common_pb2.Transaction.FromString(r.value()).transaction_id for r in landed)
    assert set(ids) == {t.transaction_id for t in transactions}
    assert max(ids.values()) == 1, [i for i, c in ids.items() if c > 1][:5]


def test_bad_input_over_the_wire_gets_a_readable_error_and_the_service_keeps_serving(
    ingestion, mint
):
    token = mint("service", sub="checkout")
    good = make_transactions(1, seed=5)[0]

    async def go():
        async with mesh_client.connect(ingestion.address, token=token) as chan:
            stub = ingestion_pb2_grpc.IngestionServiceStub(chan)
            outcomes = {}
            # Records with missing fields, a negative amount, a wrong currency: rejected one
            # by one, named by index, field and rule.
            missing = common_pb2.Transaction(transaction_id="t-missing")
            negative = copy.deepcopy(good)
            negative.transaction_id = "t-negative"
            del negative.items[:]
            negative.amount.amount_minor = -500
            wrong_currency = copy.deepcopy(good)
            wrong_currency.transaction_id = "t-currency"
            wrong_currency.amount.currency = "EURO"
            batch = await stub.IngestBatch(
                ingestion_pb2.IngestBatchRequest(transactions=[missing, negative, wrong_currency])
            )
            outcomes["batch"] = batch.transactions
            # Too many records in one request: INVALID_ARGUMENT naming the field and the rule.
            with pytest.raises(grpc.aio.AioRpcError) as too_many:
                await stub.IngestBatch(
                    ingestion_pb2.IngestBatchRequest(
                        events=[common_pb2.BehaviorEvent(event_id="e")] * 10_001
                    )
                )
            outcomes["too_many"] = too_many.value
            with pytest.raises(grpc.aio.AioRpcError) as empty:
                await stub.UpsertProducts(ingestion_pb2.UpsertProductsRequest())
            outcomes["empty"] = empty.value
            # A 10 MB message: RESOURCE_EXHAUSTED before any handler runs.
            huge = copy.deepcopy(good)
            huge.card_fingerprint = "x" * (10 * 1024 * 1024)
            with pytest.raises(grpc.aio.AioRpcError) as too_big:
                await stub.IngestBatch(ingestion_pb2.IngestBatchRequest(transactions=[huge]))
            outcomes["too_big"] = too_big.value
            # And the service still serves.
            outcomes["after"] = await stub.IngestBatch(
                ingestion_pb2.IngestBatchRequest(transactions=[good])
            )
            return outcomes

    outcomes = run_async(go(), timeout_s=120)
    batch = outcomes["batch"]
    assert (batch.received, batch.accepted, batch.rejected) == (3, 0, 3)
    seen = {(r.index, r.id, r.field, r.rule) for r in batch.rejections}
    assert seen == {
        (0, "t-missing", "customer_id", "string.min_len"),
        (1, "t-negative", "amount.amount_minor", "amount.positive"),
        (2, "t-currency", "amount.currency", "string.pattern"),
    }
    too_many = outcomes["too_many"]
    assert too_many.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert [(v.field, v.rule) for v in details_of(too_many)["field_violations"]] == [
        ("events", "repeated.max_items")
    ]
    assert outcomes["empty"].code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "at least 1" in outcomes["empty"].details()
    assert outcomes["too_big"].code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "larger than max" in outcomes["too_big"].details()
    assert outcomes["after"].transactions.accepted == 1


def test_roles_guard_ingestion(ingestion, mint):
    async def go():
        async with mesh_client.connect(ingestion.address, token=mint("viewer")) as chan:
            stub = ingestion_pb2_grpc.IngestionServiceStub(chan)
            await stub.IngestBatch(ingestion_pb2.IngestBatchRequest())

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        run_async(go())
    assert caught.value.code() is grpc.StatusCode.PERMISSION_DENIED
