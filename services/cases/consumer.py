"""The `fraud-alerts` consumer: opens and extends cases, committing offsets after the database.

A background thread consumes batches, turns them into cases in one database transaction
(`CaseStore.open_from_alerts`, idempotent on the transaction id), and only then commits the
batch's offsets. A crash in between replays the batch, which opens nothing twice. A record
that is not a FraudAlert is logged with its partition and offset and skipped.
"""

from __future__ import annotations

import threading
import time

import structlog
from confluent_kafka import Consumer, KafkaError, Message
from google.protobuf.message import DecodeError
from prometheus_client import Counter

from ecap.v1 import common_pb2
from services.cases.convert import alert_facts
from services.cases.records import AlertFacts
from services.cases.store import CaseStore
from services.mesh.kafka.logs import QUIET_NATIVE_LOG, KafkaErrorLog

log = structlog.get_logger("ecap.cases.alerts")

ALERTS = Counter("ecap_cases_alerts_total", "Fraud alerts consumed, by what they did.", ["result"])
_RETRY_S = (0.2, 0.5, 1.0, 2.0, 5.0)


class AlertConsumer:
    """Consumes `fraud-alerts` into the case store on a thread of its own."""

    def __init__(
        self,
        store: CaseStore,
        bootstrap: str,
        *,
        topic: str,
        group: str,
        batch: int = 500,
    ) -> None:
        self._store = store
        self._topic = topic
        self._batch = batch
        self._consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": group,
                "client.id": "ecap-cases",
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "isolation.level": "read_committed",
                "reconnect.backoff.max.ms": 1000,
                "error_cb": KafkaErrorLog("alerts-consumer"),
                **QUIET_NATIVE_LOG,
            }
        )
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cases-alerts", daemon=True)
        self.processed = 0

    def start(self) -> None:
        """Subscribe and start consuming."""
        self._consumer.subscribe([self._topic])
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Finish the batch in hand, commit it, and close the consumer."""
        self._stop.set()
        self._thread.join(timeout_s)

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                records = self._consumer.consume(self._batch, timeout=0.2)
                if records:
                    self._handle(records)
        finally:
            self._consumer.close()

    def _handle(self, records: list[Message]) -> None:
        alerts: list[AlertFacts] = []
        for record in records:
            error = record.error()
            if error is not None:
                if error.code() != KafkaError._PARTITION_EOF:
                    log.warning("kafka error", error=error.str())
                continue
            try:
                alerts.append(alert_facts(common_pb2.FraudAlert.FromString(record.value())))
            except (DecodeError, ValueError) as exc:
                ALERTS.labels("invalid").inc()
                log.error(
                    "skipping a record that is not a usable FraudAlert",
                    topic=record.topic(),
                    partition=record.partition(),
                    offset=record.offset(),
                    error=str(exc),
                )
        if alerts:
            self._store_with_retry(alerts)
        self._consumer.commit(asynchronous=False)

    def _store_with_retry(self, alerts: list[AlertFacts]) -> None:
        # The batch stays in hand until the database took it: offsets are committed only
        # after, so nothing is lost while the database is away.
        for attempt in range(10_000):
            try:
                outcome = self._store.open_from_alerts(alerts)
            except Exception:
                if self._stop.is_set() and attempt > 2:
                    raise
                delay = _RETRY_S[min(attempt, len(_RETRY_S) - 1)]
                log.exception("storing alerts failed; retrying", alerts=len(alerts), retry_s=delay)
                time.sleep(delay)
                continue
            ALERTS.labels("opened").inc(outcome.opened)
            ALERTS.labels("attached").inc(outcome.attached)
            ALERTS.labels("duplicate").inc(outcome.duplicates)
            self.processed += len(alerts)
            return
