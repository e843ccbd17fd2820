"""Kafka benchmark: broker start-up and memory, and the producer baseline.

The raw confluent-kafka rate for ~1 KiB protobuf Transactions (idempotent, acks=all, our
batching, values serialised beforehand) is the baseline that later ingestion benchmarks
divide by; the ProtobufProducer helper (serialisation, key, header, and a future per batch
or per record) is printed as a ratio to it.
Figures are printed, never asserted.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from pathlib import Path

from confluent_kafka import Producer
from rich.console import Console
from rich.table import Table

from services.mesh.kafka.producer import Ack, ProtobufProducer, producer_config
from services.mesh.kafka.topics import TOPICS, ensure_topics
from services.stack.kafka import BrokerProcess
from tests.fixtures.kafka import broker_settings, make_transactions, private_copy

EVENTS = 200_000
WARM_UP = 10_000
DISTINCT = 2_000  # building 200k messages would take longer than sending them
BATCH = 1_000

console = Console()


def batched(messages: list, count: int) -> Iterator[list]:
    """`count` messages cycled from `messages`, in lists of BATCH."""
    stream = itertools.islice(itertools.cycle(messages), count)
    while batch := list(itertools.islice(stream, BATCH)):
        yield batch


def produce_raw(
    bootstrap: str, topic: str, records: list[tuple[bytes, bytes]], count: int
) -> float:
    """Seconds for the bare confluent-kafka Producer to have `count` records acknowledged."""
    producer = Producer(producer_config(bootstrap, "bench-raw"))
    headers = [("ce_type", b"ecap.v1.Transaction")]
    started = time.perf_counter()
    for value, key in itertools.islice(itertools.cycle(records), count):
        while True:
            try:
                producer.produce(topic, value, key, headers=headers)
                break
            except BufferError:
                producer.poll(0.01)
        producer.poll(0)
    remaining = producer.flush(120)
    elapsed = time.perf_counter() - started
    producer.close()
    assert remaining == 0, f"{remaining} records unacknowledged"
    return elapsed


def produce_batches(bootstrap: str, topic: str, messages: list, count: int) -> float:
    """Seconds for ProtobufProducer.send_many, in batches of BATCH, to have `count` acked."""
    with ProtobufProducer(bootstrap, client_id="bench-send-many") as producer:
        started = time.perf_counter()
        batches = [producer.send_many(topic, batch) for batch in batched(messages, count)]
        producer.flush(120)
        elapsed = time.perf_counter() - started
    assert all(isinstance(o, Ack) for batch in batches for o in batch.result(timeout=0))
    return elapsed


def produce_futures(bootstrap: str, topic: str, messages: list, count: int) -> float:
    """Seconds for ProtobufProducer.send, one future per record, to have `count` acked."""
    with ProtobufProducer(bootstrap, client_id="bench-send") as producer:
        started = time.perf_counter()
        previous: list = []
        # Like a service, hold only the futures still in flight, not all of them.
        for batch in batched(messages, count):
            futures = [producer.send(topic, message) for message in batch]
            for future in previous:
                future.result(timeout=120)
            previous = futures
        for future in previous:
            future.result(timeout=120)
        return time.perf_counter() - started


def test_kafka_broker_start_memory_and_producer_baseline(tmp_path: Path) -> None:
    broker = BrokerProcess(broker_settings(tmp_path / "run"), tmp_path / "kafka.log")
    started = time.perf_counter()
    broker.start()
    cold_start_s = time.perf_counter() - started
    idle_rss = broker.rss_bytes()
    try:
        spec = private_copy(next(spec for spec in TOPICS if spec.name == "transactions"))
        ensure_topics(broker.bootstrap, specs=[spec], replication_factor=1)
        messages = make_transactions(DISTINCT, seed=3)
        records = [(m.SerializeToString(), m.customer_id.encode()) for m in messages]
        mean_bytes = sum(len(value) for value, _ in records) / len(records)

        produce_raw(broker.bootstrap, spec.name, records, WARM_UP)
        raw_s = produce_raw(broker.bootstrap, spec.name, records, EVENTS)
        batches_s = produce_batches(broker.bootstrap, spec.name, messages, EVENTS)
        futures_s = produce_futures(broker.bootstrap, spec.name, messages, EVENTS)
        loaded_rss = broker.rss_bytes()

        broker.stop()
        started = time.perf_counter()
        broker.start()
        restart_s = time.perf_counter() - started
    finally:
        broker.stop()

    raw_rate = EVENTS / raw_s
    table = Table(title=f"Kafka: {EVENTS:,} Transactions of {mean_bytes:,.0f} B, 6 partitions")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("broker cold start (format + start, to ready)", f"{cold_start_s:.1f} s")
    table.add_row("broker restart on its data (to ready)", f"{restart_s:.1f} s")
    table.add_row("broker RSS, idle", f"{idle_rss / 2**20:,.0f} MiB")
    table.add_row("broker RSS, after the producer runs", f"{loaded_rss / 2**20:,.0f} MiB")
    table.add_row(
        "BASELINE raw confluent-kafka producer",
        f"{raw_rate:,.0f} events/s ({raw_rate * mean_bytes / 2**20:,.1f} MiB/s)",
    )
    for name, seconds in (
        (f"ProtobufProducer.send_many, batches of {BATCH:,}", batches_s),
        ("ProtobufProducer.send, a future per record", futures_s),
    ):
        rate = EVENTS / seconds
        table.add_row(name, f"{rate:,.0f} events/s = {rate / raw_rate:.2f} x baseline")
    console.print(table)
