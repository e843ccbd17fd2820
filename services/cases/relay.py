"""The outbox relay: publishes committed `case-events` records to Kafka, then marks them.

A change and its outbox record commit together, so no resolution is lost; the relay marks a
record published only after Kafka acknowledged it, with an idempotent producer and the
audit event's id as the CaseEvent's `event_id`. A crash between Kafka's acknowledgement
and the mark would send that record again with the same event id, which consumers of
`case-events` deduplicate on.
"""

from __future__ import annotations

import threading

import structlog
from confluent_kafka import KafkaError, Producer

from services.cases.events import PUBLISHED_ACTIONS
from services.cases.models import OutboxRow
from services.cases.records import Change
from services.cases.store import CaseStore
from services.mesh.kafka.logs import QUIET_NATIVE_LOG, KafkaErrorLog
from services.mesh.kafka.producer import CE_TYPE_HEADER, producer_config

log = structlog.get_logger("ecap.cases.outbox")


class OutboxRelay:
    """Relays the outbox on a thread; `poke()` after a commit that wrote to it wakes it at once."""

    def __init__(
        self,
        store: CaseStore,
        bootstrap: str,
        *,
        interval_s: float = 1.0,
        batch: int = 500,
        delivery_timeout_ms: int = 15_000,
    ) -> None:
        self._store = store
        self._interval_s = interval_s
        self._batch = batch
        self._timeout_s = delivery_timeout_ms / 1000 + 5
        self._producer = Producer(
            producer_config(
                bootstrap,
                client_id="ecap-cases-outbox",
                config={
                    "linger.ms": 2,
                    "delivery.timeout.ms": delivery_timeout_ms,
                    "error_cb": KafkaErrorLog("outbox-producer"),
                    **QUIET_NATIVE_LOG,
                },
            )
        )
        self._one_at_a_time = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cases-outbox", daemon=True)
        self.published = 0

    def start(self) -> None:
        """Start relaying (records left by a previous run go first)."""
        self._thread.start()

    def poke(self, changes: list[Change]) -> None:
        """Relay now rather than at the next interval, if `changes` wrote to the outbox."""
        if any(change.event.action in PUBLISHED_ACTIONS for change in changes):
            self._wake.set()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Relay what is pending, then stop."""
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout_s)
        self._producer.flush(5)
        self._producer.close()

    def relay_once(self) -> int:
        """Publish every pending record now; returns how many."""
        # On SQLite, pending records are read without a row lock: two relays of one process
        # (the thread and a direct call) must not both pick them up.
        with self._one_at_a_time:
            total = 0
            while sent := self._store.relay_outbox(self._send, self._batch):
                total += sent
            return total

    def _run(self) -> None:
        while True:
            try:
                self.published += self.relay_once()
            except Exception:
                log.exception("relaying the outbox failed; retrying")
            if self._stop.is_set():
                return
            self._wake.wait(self._interval_s)
            self._wake.clear()

    def _send(self, rows: list[OutboxRow]) -> None:
        """Produce `rows`; return once Kafka acknowledged all, raise if any failed."""
        errors: list[KafkaError] = []
        pending = [len(rows)]

        def on_delivery(error: KafkaError | None, _record) -> None:
            pending[0] -= 1
            if error is not None:
                errors.append(error)

        for row in rows:
            self._producer.produce(
                row.topic,
                row.value,
                row.key,
                headers=[(CE_TYPE_HEADER, row.ce_type.encode())],
                on_delivery=on_delivery,
            )
        remaining = self._producer.flush(self._timeout_s)
        if remaining or errors or pending[0]:
            reason = errors[0].str() if errors else f"{remaining} unacknowledged"
            raise RuntimeError(f"Kafka did not acknowledge {len(rows)} case events: {reason}")
