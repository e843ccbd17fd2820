"""The asynchronous path: transactions that arrived through ingestion, consumed from
`transactions` and scored like synchronous ones, so every transaction gets exactly one
decision.

A background thread consumes a batch, hands it to the event loop, where the whole batch is
scored concurrently (its model calls share HTTP requests), and commits the batch's offsets
only after every decision was acknowledged by Kafka. A crash in between replays the batch;
the transactions already decided are skipped, since the scorer remembers them (and rebuilds
that memory from `decisions` at start-up). A record that is not a Transaction is logged with
its partition and offset and skipped.
"""

from __future__ import annotations

import asyncio
import threading
import time

import structlog
from confluent_kafka import Consumer, KafkaError, Message
from google.protobuf.message import DecodeError
from prometheus_client import Counter

from ecap.v1 import common_pb2
from services.mesh.kafka.logs import QUIET_NATIVE_LOG, KafkaErrorLog
from services.scoring.engine import Scorer

log = structlog.get_logger("ecap.scoring.consumer")

CONSUMED = Counter(
    "ecap_scoring_consumed_total", "Transactions consumed from Kafka, by what happened.", ["result"]
)
_RETRY_S = (0.2, 0.5, 1.0, 2.0, 5.0)


class TransactionConsumer:
    """Consumes `transactions` into the scorer on a thread of its own."""

    def __init__(
        self,
        scorer: Scorer,
        loop: asyncio.AbstractEventLoop,
        bootstrap: str,
        *,
        topic: str,
        group: str,
        batch: int = 500,
    ) -> None:
        self._scorer = scorer
        self._loop = loop
        self._topic = topic
        self._batch = batch
        self._consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": group,
                "client.id": "ecap-scoring",
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "isolation.level": "read_committed",
                "reconnect.backoff.max.ms": 1000,
                "error_cb": KafkaErrorLog("transactions-consumer"),
                **QUIET_NATIVE_LOG,
            }
        )
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="scoring-consumer", daemon=True)
        self.decided = 0

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
                    self._handle(records)
        except Exception:
            log.exception("transactions consumer stopped")
        finally:
            self._consumer.close()

    def _handle(self, records: list[Message]) -> None:
        transactions: list[common_pb2.Transaction] = []
        for record in records:
            error = record.error()
            if error is not None:
                if error.code() != KafkaError._PARTITION_EOF:
                    log.warning("kafka error", error=error.str())
                continue
            try:
                transactions.append(common_pb2.Transaction.FromString(record.value()))
            except DecodeError as exc:
                CONSUMED.labels("invalid").inc()
                log.error(
                    "skipping a record that is not a Transaction",
                    topic=record.topic(),
                    partition=record.partition(),
                    offset=record.offset(),
                    error=str(exc),
                )
        if transactions:
            self._score_with_retry(transactions)
        self._consumer.commit(asynchronous=False)

    def _score_with_retry(self, transactions: list[common_pb2.Transaction]) -> None:
        # The batch stays in hand until every decision is on Kafka: offsets are committed
        # only after, so a transaction is never left without its decision.
        for attempt in range(10_000):
            future = asyncio.run_coroutine_threadsafe(self._score(transactions), self._loop)
            try:
                fresh = future.result()
            except Exception:
                if self._stop.is_set() and attempt > 2:
                    raise
                delay = _RETRY_S[min(attempt, len(_RETRY_S) - 1)]
                log.exception("scoring a batch failed; retrying", size=len(transactions))
                time.sleep(delay)
                continue
            CONSUMED.labels("decided").inc(fresh)
            CONSUMED.labels("already_decided").inc(len(transactions) - fresh)
            self.decided += fresh
            return

    async def _score(self, transactions: list[common_pb2.Transaction]) -> int:
        results = await asyncio.gather(
            *(self._scorer.score(tx, record_transaction=False) for tx in transactions)
        )
        return sum(not replayed for _, replayed in results)
