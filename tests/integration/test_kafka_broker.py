"""The embedded Kafka broker with our topics and producer: round trips, restarts, topics."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka import Message as KafkaMessage

from ecap.v1 import common_pb2
from services.mesh.kafka.producer import Ack, DeliveryError, ProtobufProducer
from services.mesh.kafka.topics import (
    TOPICS,
    describe_topics,
    ensure_topics,
    topic_config,
)
from tests.fixtures.kafka import TestBroker, make_transactions, private_copy

pytestmark = pytest.mark.integration

TRANSACTIONS = next(spec for spec in TOPICS if spec.name == "transactions")


def consume_all(bootstrap: str, topic: str) -> list[KafkaMessage]:
    """Every record of `topic`, read from the beginning of each partition to its end."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"test-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
        }
    )
    try:
        partitions = consumer.list_topics(topic, timeout=30).topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        records: list[KafkaMessage] = []
        at_end: set[int] = set()
        while len(at_end) < len(partitions):
            for record in consumer.consume(num_messages=1000, timeout=1.0):
                error = record.error()
                if error is None:
                    records.append(record)
                elif error.code() == KafkaError._PARTITION_EOF:
                    at_end.add(record.partition())
                else:
                    raise KafkaException(error)
        return records
    finally:
        consumer.close()


def assert_stored_as_sent(
    records: Sequence[KafkaMessage],
    sent: Sequence[common_pb2.Transaction],
    acks: Sequence[Ack],
) -> None:
    """Each sent transaction is stored once, unchanged, keyed and typed, where its ack said."""
    by_id: dict[str, KafkaMessage] = {}
    for record in records:
        decoded = common_pb2.Transaction.FromString(record.value())
        assert decoded.transaction_id not in by_id, f"{decoded.transaction_id} stored twice"
        by_id[decoded.transaction_id] = record
    assert sorted(by_id) == sorted(txn.transaction_id for txn in sent)

    placements: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for txn, ack in zip(sent, acks, strict=True):
        record = by_id[txn.transaction_id]
        assert common_pb2.Transaction.FromString(record.value()) == txn
        assert record.key() == txn.customer_id.encode()
        assert record.headers() == [("ce_type", b"ecap.v1.Transaction")]
        assert (record.topic(), record.partition(), record.offset()) == (
            ack.topic,
            ack.partition,
            ack.offset,
        )
        placements[txn.customer_id].append((record.partition(), record.offset()))

    # Per customer: one partition, and offsets in the order the transactions were sent.
    for customer, where in placements.items():
        assert len({partition for partition, _ in where}) == 1, customer
        offsets = [offset for _, offset in where]
        assert offsets == sorted(offsets), customer


def test_transactions_round_trip_and_survive_a_restart(kafka_broker: TestBroker) -> None:
    spec = private_copy(TRANSACTIONS)
    assert ensure_topics(kafka_broker.bootstrap, specs=[spec]).created == (spec.name,)
    sent = make_transactions(10_000, seed=11)

    with ProtobufProducer(kafka_broker.bootstrap, client_id="test-round-trip") as producer:
        batches = [producer.send_many(spec.name, sent[i : i + 500]) for i in range(0, 10_000, 500)]
        producer.flush()
    outcomes = [outcome for batch in batches for outcome in batch.result(timeout=0)]
    assert all(isinstance(outcome, Ack) for outcome in outcomes)

    assert_stored_as_sent(consume_all(kafka_broker.bootstrap, spec.name), sent, outcomes)

    kafka_broker.stop()
    kafka_broker.start()

    assert_stored_as_sent(consume_all(kafka_broker.bootstrap, spec.name), sent, outcomes)


def test_send_resolves_once_kafka_stored_the_record(kafka_bootstrap: str) -> None:
    spec = private_copy(TRANSACTIONS)
    ensure_topics(kafka_bootstrap, specs=[spec])
    sent = make_transactions(20, seed=5)

    with ProtobufProducer(kafka_bootstrap, client_id="test-send") as producer:
        futures = [producer.send(spec.name, txn) for txn in sent]
        acks = [future.result(timeout=60) for future in futures]

    assert_stored_as_sent(consume_all(kafka_bootstrap, spec.name), sent, acks)


def test_ensure_topics_is_idempotent_and_matches_the_declarations(kafka_bootstrap: str) -> None:
    specs = [private_copy(spec) for spec in TOPICS]
    names = tuple(spec.name for spec in specs)

    first = ensure_topics(kafka_bootstrap, specs=specs, replication_factor=1)
    second = ensure_topics(kafka_bootstrap, specs=specs, replication_factor=1)

    assert (first.created, first.existed) == (names, ())
    assert (second.created, second.existed) == ((), names)
    described = {d.name: d for d in describe_topics(kafka_bootstrap, names=names)}
    for spec in specs:
        topic = described[spec.name]
        assert topic.exists
        assert (topic.partitions, topic.replication_factor) == (spec.partitions, 1)
        assert topic.config == topic_config(spec, 1)


def test_the_session_broker_holds_every_declared_topic(kafka_bootstrap: str) -> None:
    result = ensure_topics(kafka_bootstrap, replication_factor=1)

    assert result.created == ()
    assert result.existed == tuple(spec.name for spec in TOPICS)
    assert [(d.name, d.exists, d.partitions) for d in describe_topics(kafka_bootstrap)] == [
        (spec.name, True, spec.partitions) for spec in TOPICS
    ]


def test_describe_topics_reports_a_missing_topic(kafka_bootstrap: str) -> None:
    [missing] = describe_topics(kafka_bootstrap, names=["no-such-topic"])

    assert missing.name == "no-such-topic"
    assert not missing.exists


def test_sending_to_an_undeclared_topic_fails_instead_of_creating_it(
    kafka_bootstrap: str,
) -> None:
    one, two = make_transactions(2)
    # Fail on the first metadata answer rather than waiting 30 s for the topic to appear.
    config = {"topic.metadata.propagation.max.ms": 10}
    with ProtobufProducer(kafka_bootstrap, client_id="test-typo", config=config) as producer:
        single = producer.send("transactionz", one)
        batch = producer.send_many("transactionz", [one, two])
        producer.flush()

    with pytest.raises(DeliveryError) as failure:
        single.result(timeout=0)
    outcomes = batch.result(timeout=0)
    assert [type(outcome) for outcome in outcomes] == [DeliveryError, DeliveryError]
    unknown_topic = {KafkaError._UNKNOWN_TOPIC, KafkaError.UNKNOWN_TOPIC_OR_PART}
    assert failure.value.error.code() in unknown_topic
    assert {outcome.error.code() for outcome in outcomes} <= unknown_topic
    assert not describe_topics(kafka_bootstrap, names=["transactionz"])[0].exists
