"""The ingestion service against the real Kafka broker: exactly once, dead letters, outages."""

from __future__ import annotations

import asyncio
import copy
import itertools
import os
import random
import signal
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from confluent_kafka import Consumer

from ecap.v1 import common_pb2, ingestion_pb2, ingestion_pb2_grpc
from services.ingestion.config import IngestionSettings
from services.ingestion.judge import JudgePool
from services.ingestion.server import build_spec
from services.mesh import client as mesh_client
from services.mesh.errors import details_of
from services.mesh.kafka.config import KafkaSettings
from services.mesh.kafka.topics import TOPICS, ensure_topics
from services.simulator.config import SimulatorSettings
from services.simulator.corrupt import invalid_records
from services.simulator.generator import Simulation, batches
from services.simulator.sender import Sender
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


def _stream(token: str, address: str, rpc: str, field: str, records, request_type):
    async def go():
        async with mesh_client.connect(address, token=token, deadline_s=300) as channel:
            stub = ingestion_pb2_grpc.IngestionServiceStub(channel)

            async def batches():
                for start in range(0, len(records), BATCH):
                    yield request_type(**{field: records[start : start + BATCH]})

            return await getattr(stub, rpc)(batches())

    return run_async(go(), timeout_s=300)


def _simulated(count: int, seed: int) -> list:
    """The first `count` records of a fixed-seed simulator backfill ending now."""
    settings = SimulatorSettings(seed=seed, customers=2_000, products=300, merchants=20)
    simulation = Simulation(settings, start=datetime.now(UTC) - timedelta(days=9), days=9)
    records = list(itertools.islice(simulation.records(), count))
    assert len(records) == count, "the simulated days are too few for this test"
    return records


def _id(record) -> str:
    return getattr(record, ID_FIELDS[type(record)])


ID_FIELDS = {
    common_pb2.Transaction: "transaction_id",
    common_pb2.BehaviorEvent: "event_id",
    common_pb2.Product: "product_id",
    common_pb2.Customer: "customer_id",
}


def test_simulator_events_land_exactly_once_and_invalid_ones_in_dead_letter(
    ingestion, topics, kafka_bootstrap, mint
):
    """20,000 simulator records, 1% broken in several ways, 1% resent: none lost, none twice."""
    total = 20_000
    rng = random.Random(5)
    valid = _simulated(total - 400, seed=17)
    broken = invalid_records(rng, 200, valid=valid, now=datetime.now(UTC))
    streamed = [
        r for r in valid if isinstance(r, common_pb2.Transaction | common_pb2.BehaviorEvent)
    ]
    resent = [copy.deepcopy(r) for r in rng.sample(streamed, 200)]
    records = list(valid)
    for invalid in broken:  # scattered through the run
        records.insert(rng.randrange(len(records)), invalid.record)
    records += resent  # resends come later, as a client retrying would send them
    assert len(records) == total
    assert len({i.corruption for i in broken}) >= 8  # several kinds of bad input

    async def send():
        async with mesh_client.connect(ingestion.address, token=mint("service")) as channel:
            sender = Sender(channel, stream_records=5_000, stream_timeout_s=300)
            return await sender.send(batches(records, 500))

    report = run_async(send(), timeout_s=600)

    assert (report.sent, report.received) == (total, total)
    assert (report.accepted, report.rejected, report.duplicates) == (
        len(valid),
        len(broken),
        len(resent),
    )

    expected = {
        "transactions": {_id(r) for r in valid if isinstance(r, common_pb2.Transaction)},
        "user-events": {_id(r) for r in valid if isinstance(r, common_pb2.BehaviorEvent)},
    }
    decoders = {"transactions": common_pb2.Transaction, "user-events": common_pb2.BehaviorEvent}
    for topic, ids in expected.items():
        landed = consume_all(kafka_bootstrap, topics[topic], len(ids))
        counts = Counter(_id(decoders[topic].FromString(r.value())) for r in landed)
        assert set(counts) == ids, topic
        assert max(counts.values()) == 1, topic  # exactly once
        for record in landed[:50]:
            message = decoders[topic].FromString(record.value())
            assert dict(record.headers())["ce_type"] == message.DESCRIPTOR.full_name.encode()
            key_field = "customer_id" if topic == "transactions" else "session_id"
            assert record.key() == getattr(message, key_field).encode()

    # Per customer (the transactions' key), Kafka keeps the order in which they were sent.
    transactions = consume_all(
        kafka_bootstrap, topics["transactions"], len(expected["transactions"])
    )
    sent_position = {_id(r): n for n, r in enumerate(valid)}
    per_key: dict[bytes, list[int]] = {}
    for record in sorted(transactions, key=lambda r: (r.partition(), r.offset())):
        txn = common_pb2.Transaction.FromString(record.value())
        per_key.setdefault(record.key(), []).append(sent_position[txn.transaction_id])
    assert all(positions == sorted(positions) for positions in per_key.values())
    originals = {_id(r): r for r in valid if isinstance(r, common_pb2.Transaction)}
    sample = common_pb2.Transaction.FromString(transactions[0].value())
    assert sample == originals[sample.transaction_id]  # field by field

    reference = [r for r in valid if isinstance(r, common_pb2.Product | common_pb2.Customer)]
    assert len(consume_all(kafka_bootstrap, topics["product-updates"], len(reference))) == len(
        reference
    )

    dead = consume_all(kafka_bootstrap, topics["dead-letter"], len(broken))
    assert len(dead) == report.rejected
    expected_rules = Counter((i.field, i.rule) for i in broken)
    dead_rules = Counter(
        (dict(r.headers())["field"].decode(), dict(r.headers())["rule"].decode()) for r in dead
    )
    assert dead_rules == expected_rules
    assert all(dict(r.headers())["reason"] for r in dead)


async def _interrupted_stream(address, token, transactions, interrupt):
    """Stream `transactions`, running `interrupt` once the first five batches were acknowledged."""
    async with mesh_client.connect(address, token=token, deadline_s=120) as chan:
        stub = ingestion_pb2_grpc.IngestionServiceStub(chan)

        async def batches():
            for n, start in enumerate(range(0, len(transactions), BATCH)):
                if n == 5:
                    await asyncio.sleep(1)  # let the first batches be acknowledged
                    await interrupt()
                yield ingestion_pb2.IngestTransactionsRequest(
                    transactions=transactions[start : start + BATCH]
                )

        return await stub.IngestTransactions(batches())


def test_broker_outage_fails_the_stream_unavailable_and_a_resend_completes_exactly_once(
    ingestion, topics, kafka_broker, mint
):
    token = mint("service", sub="checkout")
    transactions = make_transactions(6_000, seed=33)

    async def outage():
        await asyncio.to_thread(kafka_broker.stop)

    try:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            run_async(
                _interrupted_stream(ingestion.address, token, transactions, outage), timeout_s=180
            )
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


def test_a_dead_validation_worker_fails_the_stream_unavailable_and_a_resend_completes(
    kafka_bootstrap, topics, auth_settings, mint
):
    settings = IngestionSettings(
        port=0,
        metrics_enabled=False,
        grace_period_s=1,
        validation_workers=1,
        topic_transactions=topics["transactions"],
        topic_dead_letter=topics["dead-letter"],
    )
    pool = JudgePool(settings.validation_workers)
    spec = build_spec(settings, KafkaSettings(bootstrap=kafka_bootstrap), pool=pool)
    token = mint("service", sub="checkout")
    transactions = make_transactions(6_000, seed=34)
    with running_server(spec, auth_settings, settings) as server:

        async def kill_workers():
            for pid in pool.worker_pids():
                os.kill(pid, signal.SIGKILL)

        with pytest.raises(grpc.aio.AioRpcError) as caught:
            run_async(
                _interrupted_stream(server.address, token, transactions, kill_workers),
                timeout_s=180,
            )
        assert caught.value.code() is grpc.StatusCode.UNAVAILABLE
        assert details_of(caught.value)["reason"] == "WORKER_RESTARTED"

        # A new worker took over: the resend is judged, what was acknowledged is a duplicate.
        summary = _stream(
            token,
            server.address,
            "IngestTransactions",
            "transactions",
            transactions,
            ingestion_pb2.IngestTransactionsRequest,
        )
    assert summary.rejected == 0
    assert summary.accepted + summary.duplicates == len(transactions)
    assert summary.duplicates >= 4 * BATCH
    landed = consume_all(kafka_bootstrap, topics["transactions"], len(transactions))
    ids = Counter(common_pb2.Transaction.FromString(r.value()).transaction_id for r in landed)
    assert set(ids) == {t.transaction_id for t in transactions}
    assert max(ids.values()) == 1


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
