"""The `fraud-alerts` consumer: opens and extends cases, committing offsets after the database.

Each consumed batch becomes cases in one database transaction (`CaseStore.open_from_alerts`,
idempotent on the transaction id), and only then are the batch's offsets committed
(`BatchConsumer`). A crash in between replays the batch, which opens nothing twice. A record
that is not a usable FraudAlert is logged with its partition and offset and skipped.
"""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import Counter

from ecap.v1 import common_pb2
from services.cases.convert import alert_facts
from services.cases.records import AlertFacts
from services.cases.store import CaseStore
from services.mesh.kafka.batch_consumer import BatchConsumer

ALERTS = Counter("ecap_cases_alerts_total", "Fraud alerts consumed, by what they did.", ["result"])


class AlertConsumer(BatchConsumer):
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
        super().__init__(
            bootstrap,
            topic=topic,
            group=group,
            client_id="ecap-cases",
            batch=batch,
            on_invalid=ALERTS.labels("invalid").inc,
        )
        self._store = store
        self.processed = 0

    def decode(self, value: bytes) -> AlertFacts:
        return alert_facts(common_pb2.FraudAlert.FromString(value))

    def handle(self, items: Sequence[AlertFacts]) -> None:
        outcome = self._store.open_from_alerts(list(items))
        ALERTS.labels("opened").inc(outcome.opened)
        ALERTS.labels("attached").inc(outcome.attached)
        ALERTS.labels("duplicate").inc(outcome.duplicates)
        self.processed += len(items)
