"""Write ecap.v1 protobuf messages to Kafka the way every ECAP consumer expects them.

Each record's value is the message in binary, its key the entity whose records a consumer
must see in order (`KEY_FIELDS`), and its `ce_type` header the message's fully qualified
name. The producer is idempotent with `acks=all`, so a record is acknowledged once every
in-sync replica has it, never twice, and in order per partition.

    with ProtobufProducer(settings.bootstrap_servers) as producer:
        ack = producer.send("transactions", txn).result(timeout=30)  # Ack(topic, partition, …)

`send()` returns a `concurrent.futures.Future` that resolves only after Kafka acknowledged
the record (or fails with a `DeliveryError`). `send_many()` queues a batch, such as the
records of one client stream message, behind a single future whose result lists each
record's `Ack` or `DeliveryError` in order; at high rates it costs far less than a future
per record. A background thread serves the delivery reports, so nobody has to call
`poll()`; asyncio code awaits `asyncio.wrap_future(future)`. `flush()` waits for every
queued record; `close()` (or leaving the `with` block) flushes and releases the producer.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from types import MappingProxyType
from typing import Any, NamedTuple

import structlog
from confluent_kafka import KafkaError, Producer
from google.protobuf.message import Message

log = structlog.get_logger("ecap.kafka.producer")

CE_TYPE_HEADER = "ce_type"

# Message type -> the field whose value is the record key. A new message type on Kafka
# gets its line here; without one, `send()` refuses it rather than guess an ordering.
KEY_FIELDS: Mapping[str, str] = MappingProxyType(
    {
        "ecap.v1.Transaction": "customer_id",
        "ecap.v1.BehaviorEvent": "session_id",
        "ecap.v1.Decision": "transaction_id",
        "ecap.v1.Product": "product_id",
        "ecap.v1.Customer": "customer_id",
        "ecap.v1.FraudAlert": "decision.transaction_id",
        "ecap.v1.CaseEvent": "case_id",
    }
)

# Durability settings are the contract (DESIGN.md), not a tuning knob: `config` may not
# override them.
_GUARANTEES: Mapping[str, Any] = MappingProxyType({"enable.idempotence": True, "acks": "all"})

_THROUGHPUT_DEFAULTS: Mapping[str, Any] = MappingProxyType(
    {
        # Wait up to 10 ms to fill batches of up to 1 MB; lz4 is the cheapest codec per byte
        # on CPU, which is the scarce resource on a small machine.
        "linger.ms": 10,
        "batch.size": 1_000_000,
        "compression.type": "lz4",
        # The Java client's partitioner, so a key lands on the same partition whichever
        # client (Python, Spark, Java) wrote it.
        "partitioner": "murmur2_random",
    }
)


class Ack(NamedTuple):
    """Where Kafka stored an acknowledged record (a tuple: cheap at one per record)."""

    topic: str
    partition: int
    offset: int


class DeliveryError(RuntimeError):
    """Kafka did not acknowledge a record; `error` is librdkafka's reason."""

    def __init__(self, topic: str, error: KafkaError) -> None:
        super().__init__(f"record for topic {topic!r} was not acknowledged: {error.str()}")
        self.error = error


Outcome = Ack | DeliveryError


def record_key(message: Message) -> bytes:
    """The record key of `message`: its type's field (a dotted path) in `KEY_FIELDS`."""
    type_name = message.DESCRIPTOR.full_name
    try:
        field = KEY_FIELDS[type_name]
    except KeyError:
        raise ValueError(
            f"no Kafka key declared for {type_name}: add the field that orders its records "
            "to KEY_FIELDS in services/mesh/kafka/producer.py"
        ) from None
    value = functools.reduce(getattr, field.split("."), message)
    if not value:
        raise ValueError(f"{type_name}.{field} is empty, but it is the record key")
    return value.encode()


Headers = list[tuple[str, str | bytes | None]]


def record_headers(message: Message) -> Headers:
    """The headers of `message`'s record: `ce_type` = the fully qualified message name."""
    return [(CE_TYPE_HEADER, message.DESCRIPTOR.full_name.encode())]


_Record = tuple[bytes, bytes, Headers]


def _record(message: Message) -> _Record:
    return message.SerializeToString(), record_key(message), record_headers(message)


def _ack(record: Any) -> Ack:
    return Ack(record.topic(), record.partition(), record.offset())


def producer_config(
    bootstrap: str, client_id: str = "ecap", config: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The librdkafka configuration: our throughput defaults, `config`, then the guarantees."""
    overrides = dict(config or {})
    clashes = sorted(key for key in overrides if key in _GUARANTEES)
    if clashes:
        raise ValueError(
            f"{', '.join(clashes)} may not be overridden: ECAP producers are "
            "idempotent with acks=all"
        )
    return {
        "bootstrap.servers": bootstrap,
        "client.id": client_id,
        **_THROUGHPUT_DEFAULTS,
        **overrides,
        **_GUARANTEES,
    }


class ProtobufProducer:
    """An idempotent `acks=all` producer of ecap.v1 messages whose sends return futures."""

    def __init__(
        self,
        bootstrap: str,
        *,
        client_id: str = "ecap",
        config: Mapping[str, Any] | None = None,
    ) -> None:
        self._producer = Producer(producer_config(bootstrap, client_id, config))
        self._closed = threading.Event()
        self._poller = threading.Thread(
            target=self._serve_delivery_reports, name=f"kafka-delivery-{client_id}", daemon=True
        )
        self._poller.start()

    def send(self, topic: str, message: Message) -> Future[Ack]:
        """Queue `message` for `topic`; the future resolves once Kafka acknowledged it."""
        future: Future[Ack] = Future()

        def on_delivery(error: KafkaError | None, record: Any) -> None:
            if not future.set_running_or_notify_cancel():
                return  # the caller gave up waiting (e.g. its RPC was cancelled)
            if error is None:
                future.set_result(_ack(record))
            else:
                future.set_exception(DeliveryError(topic, error))

        self._produce(topic, _record(message), on_delivery)
        return future

    def send_many(self, topic: str, messages: Sequence[Message]) -> Future[list[Outcome]]:
        """Queue `messages` in order; one future resolves with every record's outcome."""
        # Keys are checked for the whole batch before any record is queued.
        records = [_record(message) for message in messages]
        future: Future[list[Outcome]] = Future()
        if not records:
            future.set_result([])
            return future
        outcomes: list[Outcome] = [None] * len(records)  # type: ignore[list-item]
        pending = len(records)
        lock = threading.Lock()  # reports may be served by the poller and a flush at once

        def on_delivery(index: int, error: KafkaError | None, record: Any) -> None:
            nonlocal pending
            outcomes[index] = _ack(record) if error is None else DeliveryError(topic, error)
            with lock:
                pending -= 1
                done = pending == 0
            if done and future.set_running_or_notify_cancel():
                future.set_result(outcomes)

        for index, record in enumerate(records):
            self._produce(topic, record, functools.partial(on_delivery, index))
        return future

    def flush(self, timeout_s: float = 30.0) -> None:
        """Wait until every queued record is acknowledged or failed; raise if time runs out."""
        remaining = self._producer.flush(timeout_s)
        if remaining:
            raise TimeoutError(
                f"{remaining} Kafka records still unacknowledged after {timeout_s:g} s: "
                "is the broker up and the topic created?"
            )

    def close(self, timeout_s: float = 30.0) -> None:
        """Flush, then release the producer; records unacknowledged by then fail their futures."""
        if self._closed.is_set():
            return
        try:
            self.flush(timeout_s)
        finally:
            self._closed.set()
            self._poller.join()
            # What the flush could not deliver fails now rather than leaving futures pending.
            self._producer.purge()
            self._producer.poll(0)
            self._producer.close()

    def __enter__(self) -> ProtobufProducer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _produce(self, topic: str, record: _Record, on_delivery: Callable[..., None]) -> None:
        if self._closed.is_set():
            raise RuntimeError("the producer is closed")
        value, key, headers = record
        while True:
            try:
                self._producer.produce(topic, value, key, headers=headers, on_delivery=on_delivery)
                return
            except BufferError:
                # The local queue is full: block the caller until deliveries make room.
                self._producer.poll(0.05)

    def _serve_delivery_reports(self) -> None:
        while not self._closed.is_set():
            try:
                self._producer.poll(0.1)
            except Exception:
                # A failing callback must not end the delivery reports of every later record.
                log.exception("a Kafka delivery callback failed")
