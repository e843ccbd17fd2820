"""Publishing decisions: `decisions` always, a FraudAlert on `fraud-alerts` for REVIEW and
DECLINE, and, for a transaction that reached scoring directly (not through ingestion), the
transaction itself on `transactions`, so the lake and a restarted scoring service see it
like any other. A decision is returned only after Kafka acknowledged every record."""

from __future__ import annotations

import asyncio
import uuid

from ecap.v1 import common_pb2
from services.mesh.errors import Unavailable
from services.mesh.kafka.producer import DeliveryError, ProtobufProducer

_ALERTING = {common_pb2.DECISION_OUTCOME_REVIEW, common_pb2.DECISION_OUTCOME_DECLINE}


class DecisionPublisher:
    """Sends a decision's records and waits for Kafka's acknowledgement."""

    def __init__(
        self,
        producer: ProtobufProducer,
        *,
        topic_decisions: str,
        topic_alerts: str,
        topic_transactions: str,
    ) -> None:
        self.producer = producer
        self.topic_decisions = topic_decisions
        self.topic_alerts = topic_alerts
        self.topic_transactions = topic_transactions

    async def publish(
        self,
        decision: common_pb2.Decision,
        tx: common_pb2.Transaction,
        *,
        record_transaction: bool = False,
    ) -> None:
        """Send and wait for every acknowledgement (DeliveryError if Kafka refuses)."""
        sends = []
        if record_transaction:
            sends.append(self.producer.send(self.topic_transactions, tx))
        sends.append(self.producer.send(self.topic_decisions, decision))
        if decision.outcome in _ALERTING:
            alert = common_pb2.FraudAlert(
                alert_id=str(uuid.uuid4()), decision=decision, transaction=tx
            )
            alert.raised_at.CopyFrom(decision.decided_at)
            sends.append(self.producer.send(self.topic_alerts, alert))
        try:
            await asyncio.gather(*(asyncio.wrap_future(send) for send in sends))
        except DeliveryError as error:
            raise Unavailable(
                f"the decision could not be recorded on Kafka ({error}); retry",
                reason="KAFKA_UNAVAILABLE",
            ) from error
