"""A consumer that commits a batch's offsets only after the batch was handled.

A background thread consumes up to `batch` records, decodes each (`decode`), hands the
decoded batch to `handle` and commits only then; `handle` is retried (with backoff) until it
succeeds, so nothing consumed is lost while a dependency is away, and a crash in between
replays the batch (handlers are idempotent). A record that does not decode is logged with
its partition and offset, counted, and skipped.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import structlog
from confluent_kafka import Consumer, KafkaError, Message
from google.protobuf.message import DecodeError

from services.mesh.kafka.logs import QUIET_NATIVE_LOG, KafkaErrorLog

log = structlog.get_logger("ecap.kafka.consumer")

RETRY_S = (0.2, 0.5, 1.0, 2.0, 5.0)


class BatchConsumer:
    """Consumes `topic` as `group` on a thread of its own; subclasses say how to decode a
    record and how to handle a batch."""

    def __init__(
        self,
        bootstrap: str,
        *,
        topic: str,
        group: str,
        client_id: str,
        batch: int = 500,
        on_invalid: Callable[[], None] = lambda: None,
    ) -> None:
        self._topic = topic
        self._batch = batch
        self._on_invalid = on_invalid
        self._consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": group,
                "client.id": client_id,
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "isolation.level": "read_committed",
                "reconnect.backoff.max.ms": 1000,
                "error_cb": KafkaErrorLog(f"{client_id}-consumer"),
                **QUIET_NATIVE_LOG,
            }
        )
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"{client_id}-consumer", daemon=True)

    def decode(self, value: bytes) -> Any:
        """One record's value as the handler wants it (DecodeError or ValueError: invalid)."""
        raise NotImplementedError

    def handle(self, items: Sequence[Any]) -> None:
        """Handle a decoded batch; raise to have it retried."""
        raise NotImplementedError

    def start(self) -> None:
        """Subscribe and start consuming."""
        self._consumer.subscribe([self._topic])
        self._thread.start()

    def stop(self, timeout_s: float = 15.0) -> None:
        """Finish the batch in hand, commit it, and close the consumer."""
        self._stop.set()
        self._thread.join(timeout_s)

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                records = self._consumer.consume(self._batch, timeout=0.2)
                if records:
                    self._take(records)
        except Exception:
            log.exception("consumer stopped", topic=self._topic)
        finally:
            self._consumer.close()

    def _take(self, records: list[Message]) -> None:
        items = []
        for record in records:
            error = record.error()
            if error is not None:
                if error.code() != KafkaError._PARTITION_EOF:
                    log.warning("kafka error", topic=self._topic, error=error.str())
                continue
            try:
                items.append(self.decode(record.value()))
            except (DecodeError, ValueError) as exc:
                self._on_invalid()
                log.error(
                    "skipping a record that cannot be handled",
                    topic=record.topic(),
                    partition=record.partition(),
                    offset=record.offset(),
                    error=str(exc),
                )
        if items:
            self._handle_with_retry(items)
        self._consumer.commit(asynchronous=False)

    def _handle_with_retry(self, items: list) -> None:
        # The batch stays in hand until it was handled: offsets are committed only after.
        for attempt in range(10_000):
            try:
                self.handle(items)
                return
            except Exception:
                if self._stop.is_set() and attempt > 2:
                    raise
                delay = RETRY_S[min(attempt, len(RETRY_S) - 1)]
                log.exception("handling a batch failed; retrying", size=len(items), retry_s=delay)
                time.sleep(delay)
