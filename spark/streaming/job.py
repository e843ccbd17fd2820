"""The lake's streaming job: every stream from Kafka to gold, each with its own checkpoint.

    python -m spark.streaming.job                  # run until SIGTERM, a batch every 5 s
    python -m spark.streaming.job --available-now  # catch up on everything, then exit
    spark-submit spark/streaming/job.py            # the same on a cluster

The streams (`STREAMS`) are bronze per Kafka topic; silver products and customers (versioned
reference data), transactions (with their line items, enriched as of their time), events,
decisions, alerts and labels from bronze; `transaction_sessions` joining silver transactions
and events; and gold `kpi_minute` from silver transactions and decisions and
`traffic_minute` from silver events. Long-running, they all start at once and each follows
the tables it reads as they grow. With `available_now`, the stages run one after the other
(bronze, silver reference data, the other silver tables, then the session join and gold), each
until it has consumed everything there was when it started, so one call takes all data
through to gold and enriches transactions with every reference version sent before them.
`LakeSettings.ground_truth_labels`, when set, is loaded into silver labels first. SIGTERM or SIGINT
stop the queries between batches; the checkpoints make a restart resume exactly there.
The streams' progress goes to `LakeSettings.status_path` as they run.
"""

from __future__ import annotations

import json
import logging
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import FrameType
from typing import Any

import typer
from pyspark.sql import SparkSession
from pyspark.sql.streaming import StreamingQuery

from spark.session import get_spark
from spark.streaming import bronze, gold, sessions, silver
from spark.streaming.config import LakeSettings
from spark.streaming.sinks import Trigger, ensure_table
from spark.streaming.status import stream_status, write_status
from spark.tables import TABLES, Layer, TableSpec, tables_in

log = logging.getLogger(__name__)

Starter = Callable[[SparkSession, LakeSettings, Trigger], StreamingQuery]


@dataclass(frozen=True)
class Stream:
    """One streaming query: its name, layer, tables read and written, and checkpoint."""

    name: str
    layer: Layer
    reads: tuple[str, ...]
    writes: tuple[str, ...]
    start: Starter
    # Catching up (`available_now`), stages run in increasing order.
    stage: int = 0
    # The checkpoint directory's name, when it is not the stream's name.
    checkpoint_name: str | None = None

    @property
    def checkpoint(self) -> str:
        """The name of the stream's checkpoint directory."""
        return self.checkpoint_name or self.name


class StreamFailedError(RuntimeError):
    """A streaming query stopped with an error."""


def _bronze(spec: TableSpec) -> Stream:
    return Stream(
        spec.name, "bronze", (), (spec.name,), lambda spark, s, t: bronze.start(spark, s, spec, t)
    )


def _silver(table: silver.SilverTable) -> Stream:
    def start(spark: SparkSession, settings: LakeSettings, trigger: Trigger) -> StreamingQuery:
        return silver.start(spark, settings, table, trigger)

    stage = 1 if table.reference else 2
    reads = (table.source, *table.looks_up)
    return Stream(table.stream, "silver", reads, table.writes, start, stage)


def _gold(aggregate: gold.GoldAggregate) -> Stream:
    def start(spark: SparkSession, settings: LakeSettings, trigger: Trigger) -> StreamingQuery:
        return gold.start(spark, settings, aggregate, trigger)

    return Stream(
        aggregate.stream, "gold", aggregate.reads, (aggregate.name,), start, 3, aggregate.checkpoint
    )


# Beside gold: both only read silver tables of the stages before.
_SESSIONS = Stream(sessions.STREAM, "silver", sessions.READS, (sessions.TABLE,), sessions.start, 3)


STREAMS: tuple[Stream, ...] = (
    *(_bronze(spec) for spec in tables_in("bronze")),
    *(_silver(table) for table in silver.SILVER.values()),
    _SESSIONS,
    *(_gold(aggregate) for aggregate in gold.AGGREGATES.values()),
)


def select_streams(names: Sequence[str] | None) -> list[Stream]:
    """The streams called `names` (all when None), or a ValueError naming the unknown ones."""
    if names is None:
        return list(STREAMS)
    known = {stream.name: stream for stream in STREAMS}
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise ValueError(f"unknown lake streams {unknown}; the streams are {sorted(known)}")
    return [stream for stream in STREAMS if stream.name in names]


class _Monitor:
    """Keeps the status file up to date with the running queries' progress."""

    def __init__(self, settings: LakeSettings) -> None:
        self._settings = settings
        self._statuses: dict[str, dict[str, Any]] = {}
        self._written_at = 0.0

    @property
    def statuses(self) -> dict[str, dict[str, Any]]:
        return self._statuses

    def update(self, queries: Sequence[StreamingQuery], *, force: bool = False) -> None:
        for query in queries:
            error = query.exception()
            self._statuses[query.name] = stream_status(
                _progress(query), active=query.isActive, error=None if error is None else str(error)
            )
        if force or time.monotonic() - self._written_at >= self._settings.status_interval_s:
            write_status(self._settings.status_path, self._statuses)
            self._written_at = time.monotonic()


def _progress(query: StreamingQuery) -> dict[str, Any] | None:
    progress = query.lastProgress
    return json.loads(progress.json) if progress is not None else None


def _raise_if_failed(queries: Sequence[StreamingQuery]) -> None:
    failed = [(query.name, query.exception()) for query in queries]
    messages = [f"stream {name} failed: {error}" for name, error in failed if error is not None]
    if messages:
        raise StreamFailedError("; ".join(messages))


def _supervise(queries: Sequence[StreamingQuery], monitor: _Monitor, stop: threading.Event) -> None:
    """Wait until every query has ended or `stop` is set; raise if a query failed."""
    try:
        while any(query.isActive for query in queries) and not stop.wait(0.5):
            monitor.update(queries)
            _raise_if_failed(queries)
        _raise_if_failed(queries)
    finally:
        for query in queries:
            # stop() interrupts a running batch; the checkpoint makes the restart redo it.
            query.stop()
        monitor.update(queries, force=True)


def run(
    settings: LakeSettings | None = None,
    *,
    available_now: bool = False,
    spark: SparkSession | None = None,
    stop: threading.Event | None = None,
) -> dict[str, dict[str, Any]]:
    """Run the lake's streams until `stop` is set (or, `available_now`, until caught up).

    Returns each stream's last status. Raises `StreamFailedError` when a query fails; the
    others are stopped first.
    """
    settings = settings or LakeSettings()
    stop = stop or threading.Event()
    streams = select_streams(settings.streams)
    spark = spark or get_spark("ecap-lake", settings.spark)
    # Created up front so that readers (Delta stream sources, the analytics service) find
    # every table, if empty, before its writer's first batch.
    tables = [t for stream in streams for t in (*stream.reads, *stream.writes)]
    if settings.ground_truth_labels is not None:
        tables.append("labels")
    for name in dict.fromkeys(tables):
        ensure_table(spark, TABLES[name], settings.spark)
    if settings.ground_truth_labels is not None:
        loaded = silver.load_ground_truth(spark, settings.spark, settings.ground_truth_labels)
        log.info("lake: %d ground-truth labels from %s", loaded, settings.ground_truth_labels)
    monitor = _Monitor(settings)
    if available_now:
        for stage in sorted({stream.stage for stream in streams}):
            stage_streams = [stream for stream in streams if stream.stage == stage]
            if not stop.is_set():
                started = time.monotonic()
                queries = [s.start(spark, settings, Trigger()) for s in stage_streams]
                _supervise(queries, monitor, stop)
                log.info(
                    "lake: caught up %s in %.1f s",
                    ", ".join(s.name for s in stage_streams),
                    time.monotonic() - started,
                )
    else:
        trigger = Trigger(settings.trigger_s)
        _supervise([stream.start(spark, settings, trigger) for stream in streams], monitor, stop)
    return monitor.statuses


cli = typer.Typer(add_completion=False, help="Run the lake's streaming job.")


@cli.command()
def main(
    available_now: bool = typer.Option(
        False, "--available-now", help="process everything available, then exit"
    ),
) -> None:
    """Stream Kafka into the lake (bronze, silver, gold) until SIGTERM or SIGINT."""
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(message)s")
    log.setLevel(logging.INFO)  # ours only: py4j is chatty at INFO
    stop = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        log.info("lake: %s received, stopping the streams", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    settings = LakeSettings()
    spark = get_spark("ecap-lake", settings.spark)
    try:
        statuses = run(settings, available_now=available_now, spark=spark, stop=stop)
    finally:
        spark.stop()
    log.info("lake: streams stopped: %s", ", ".join(sorted(statuses)))


if __name__ == "__main__":
    cli()
