"""Start-up: rebuild what the scorer knows, so a restart resets neither velocity nor
idempotency.

Kafka being away does not stop the start (it is logged; deciding then fails until Kafka is
back, since a decision is answered only once it is on `decisions`).

1. Decisions of the last `rebuild_tail_hours` from `decisions`: those transactions are
   decided already (a second request, or the consumer replaying a batch, gets the first
   decision back).
2. Silver transactions of the last `rebuild_days` from the lake, with their labels, into
   the feature state.
3. Transactions of the last `rebuild_tail_hours` from `transactions` that the lake does not
   hold yet, into the feature state.

A transaction id enters the feature state once, however many of these sources hold it.
"""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime, timedelta

import structlog
from confluent_kafka import KafkaException

from ecap.v1 import common_pb2
from services.mesh.kafka.tail import read_since
from services.scoring import lake
from services.scoring.config import ScoringSettings
from services.scoring.engine import Scorer
from services.scoring.rows import feature_row
from spark.config import SparkSettings

log = structlog.get_logger("ecap.scoring.warmup")
_PROGRESS_EVERY = 100_000


def rebuild(
    scorer: Scorer,
    settings: ScoringSettings,
    bootstrap: str,
    lake_settings: SparkSettings | None = None,
) -> dict[str, int]:
    """Replay decisions, the lake and the transactions tail into `scorer`; returns counts."""
    started = time.monotonic()
    now = datetime.now(UTC)
    tail_since = now - timedelta(hours=settings.rebuild_tail_hours)
    counts = {"decisions": 0, "lake_transactions": 0, "tail_transactions": 0}

    try:
        for record in read_since(bootstrap, settings.topic_decisions, tail_since):
            scorer.remember(common_pb2.Decision.FromString(record.value()))
            counts["decisions"] += 1
    except KafkaException as error:
        log.error("cannot read the decisions already made: Kafka unavailable", error=str(error))

    if settings.rebuild_from_lake and settings.rebuild_days > 0:
        frame = lake.transaction_rows(
            since=now - timedelta(days=settings.rebuild_days), settings=lake_settings
        )
        for index, row in enumerate(frame.to_dict("records"), start=1):
            row["ts"] = row["ts"].to_pydatetime()
            row["label"] = (
                None if row["label"] is None or math.isnan(row["label"]) else row["label"]
            )
            scorer.observe(row)
            if index % _PROGRESS_EVERY == 0:
                log.info("rebuilding features from the lake", rows=index, of=len(frame))
        counts["lake_transactions"] = len(frame)

    try:
        for record in read_since(bootstrap, settings.topic_transactions, tail_since):
            tx = common_pb2.Transaction.FromString(record.value())
            if not scorer.seen.is_observed(tx.transaction_id):
                scorer.observe(feature_row(tx))
                counts["tail_transactions"] += 1
    except KafkaException as error:
        log.error(
            "cannot read the recent transactions: Kafka unavailable; features start from the "
            "lake alone",
            error=str(error),
        )

    scorer.features.expire(now)
    log.info(
        "feature state rebuilt",
        seconds=round(time.monotonic() - started, 1),
        held_rows=scorer.features.held_rows(),
        **counts,
    )
    return counts
