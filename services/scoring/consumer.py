"""The asynchronous path: transactions that arrived through ingestion, consumed from
`transactions` and scored like synchronous ones, so every transaction gets exactly one
decision.

Each consumed batch is handed to the event loop, where it is scored concurrently (its model
calls share HTTP requests); its offsets are committed only after every decision was
acknowledged by Kafka (`BatchConsumer`). A crash in between replays the batch; the
transactions already decided are skipped, since the scorer remembers them (and rebuilds that
memory from `decisions` at start-up).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from prometheus_client import Counter

from ecap.v1 import common_pb2
from services.mesh.kafka.batch_consumer import BatchConsumer
from services.scoring.engine import Scorer

CONSUMED = Counter(
    "ecap_scoring_consumed_total", "Transactions consumed from Kafka, by what happened.", ["result"]
)


class TransactionConsumer(BatchConsumer):
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
        super().__init__(
            bootstrap,
            topic=topic,
            group=group,
            client_id="ecap-scoring",
            batch=batch,
            on_invalid=CONSUMED.labels("invalid").inc,
        )
        self._scorer = scorer
        self._loop = loop
        self.decided = 0

    def decode(self, value: bytes) -> common_pb2.Transaction:
        return common_pb2.Transaction.FromString(value)

    def handle(self, items: Sequence[common_pb2.Transaction]) -> None:
        fresh = asyncio.run_coroutine_threadsafe(self._score(items), self._loop).result()
        CONSUMED.labels("decided").inc(fresh)
        CONSUMED.labels("already_decided").inc(len(items) - fresh)
        self.decided += fresh

    async def _score(self, transactions: Sequence[common_pb2.Transaction]) -> int:
        results = await asyncio.gather(
            *(self._scorer.score(tx, record_transaction=False) for tx in transactions)
        )
        return sum(not replayed for _, replayed in results)
