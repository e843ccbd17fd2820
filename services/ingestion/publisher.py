"""Writes batches of records to Kafka and waits until Kafka acknowledged every one of them."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence

from confluent_kafka import KafkaError, Producer

from services.mesh.errors import Unavailable
from services.mesh.kafka.producer import Headers, producer_config

# One Kafka record: topic, key, value and headers. A plain tuple, as there is one per record.
OutgoingRecord = tuple[str, bytes, bytes, Headers]


class BatchAcks:
    """Counts one batch's delivery reports; resolves an asyncio future when all are in."""

    def __init__(self, loop: asyncio.AbstractEventLoop, expected: int) -> None:
        self.loop = loop
        self.expected = expected
        self.remaining = expected
        self.errors: list[KafkaError] = []
        self.done: asyncio.Future[None] = loop.create_future()

    def on_delivery(self, error: KafkaError | None, _record) -> None:
        # Runs on the delivery-report thread.
        if error is not None:
            self.errors.append(error)
        self.remaining -= 1
        if self.remaining == 0:
            self.loop.call_soon_threadsafe(self._resolve)

    def _resolve(self) -> None:
        if not self.done.done():
            self.done.set_result(None)


class KafkaPublisher:
    """An idempotent `acks=all` producer whose `publish` returns once a whole batch is durable."""

    def __init__(
        self,
        bootstrap: str,
        *,
        delivery_timeout_ms: int,
        queue_kbytes: int,
        linger_ms: float,
        client_id: str,
    ) -> None:
        config = producer_config(
            bootstrap,
            client_id=client_id,
            config={
                "delivery.timeout.ms": delivery_timeout_ms,
                "queue.buffering.max.kbytes": queue_kbytes,
                "queue.buffering.max.messages": 500_000,
                "linger.ms": linger_ms,
            },
        )
        self._producer = Producer(config)
        self._order = asyncio.Lock()
        self._closed = threading.Event()
        self._poller = threading.Thread(
            target=self._serve_delivery_reports, name="kafka-delivery", daemon=True
        )
        self._poller.start()

    async def publish(self, records: Sequence[OutgoingRecord]) -> None:
        """Produce `records`; return when Kafka acknowledged all, raise Unavailable otherwise."""
        await self.acknowledged(await self.enqueue(records))

    async def enqueue(self, records: Sequence[OutgoingRecord]) -> BatchAcks:
        """Hand `records` to the producer, in order; `acknowledged` then waits for Kafka."""
        acks = BatchAcks(asyncio.get_running_loop(), len(records))
        if not records:
            acks.done.set_result(None)
            return acks
        produce = self._producer.produce
        on_delivery = acks.on_delivery
        # Batches enter the producer whole and in the order they arrived (asyncio.Lock is
        # FIFO), so that records of one key keep their order even when a full buffer makes
        # a batch wait halfway.
        async with self._order:
            for topic, key, value, headers in records:
                try:
                    produce(topic, value, key, headers=headers, on_delivery=on_delivery)
                except BufferError:
                    await self._produce_when_room(topic, key, value, headers, on_delivery)
        return acks

    async def acknowledged(self, acks: BatchAcks) -> None:
        """Wait until Kafka acknowledged a whole enqueued batch; Unavailable if it did not."""
        await acks.done
        if acks.errors:
            first = acks.errors[0]
            raise Unavailable(
                f"Kafka did not acknowledge {len(acks.errors)} of {acks.expected} records "
                f"({first.str()}); nothing of this batch counts as accepted, resend it",
                reason="KAFKA_UNAVAILABLE",
                metadata={"kafka_error": first.name()},
            )

    async def _produce_when_room(self, topic, key, value, headers, on_delivery) -> None:
        # The bounded producer buffer is full: wait for deliveries instead of queueing more,
        # which in turn stops reading the client's stream.
        while True:
            await asyncio.sleep(0.002)
            try:
                self._producer.produce(topic, value, key, headers=headers, on_delivery=on_delivery)
                return
            except BufferError:
                continue

    def close(self, timeout_s: float = 30.0) -> int:
        """Flush what is queued, stop the report thread; returns records left undelivered."""
        remaining = self._producer.flush(timeout_s)
        self._closed.set()
        self._poller.join()
        self._producer.close()  # stop librdkafka's threads and reconnect attempts
        return remaining

    def _serve_delivery_reports(self) -> None:
        while not self._closed.is_set():
            self._producer.poll(0.05)
