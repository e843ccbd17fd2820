"""Lake benchmarks: freshness at a steady 5,000 events/s, catch-up throughput, driver memory.

The streaming job runs as its own process (`python -m spark.streaming.job`, default 5 s
trigger) against the session's broker and a throwaway lake; what it wrote is read with
delta-rs, as the analytics service reads it, never through the job's own JVM.

- Freshness: simulator transactions and behaviour events go through the ingestion service
  (its own process) in unary `IngestBatch` calls at a steady rate; a record's clock starts
  when the service acknowledges its batch (after Kafka acknowledged it) and stops when a
  delta-rs poll first sees its id in silver, and when `kpi_minute` first counts it.
- Throughput: a backlog produced straight to Kafka, streamed through bronze and silver to
  gold; the rate is backlog / time from the first bronze commit to the last record in silver.
  The baseline is a plain Spark batch read of the same topics into Parquet, in the same run.
- Memory: the peak of the job's process tree (driver JVM, Python driver and its workers),
  sampled while it runs.

Figures are printed, never asserted.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable
from deltalake.exceptions import TableNotFoundError
from pyspark.sql import SparkSession
from rich.console import Console
from rich.table import Table

from ecap.v1 import common_pb2, ingestion_pb2
from services.mesh import client as mesh_client
from services.mesh.kafka.topics import TOPICS, ensure_topics
from services.simulator.config import SimulatorSettings
from services.simulator.generator import Simulation
from spark.kafka import read_topic
from spark.tables import ALL_CATEGORIES, TABLES
from tests.bench.test_kafka_bench import produce_batches
from tests.fixtures.kafka import private_copy
from tests.support.service_process import start_ingestion

pytestmark = pytest.mark.timeout(1200)

RATE = 5_000  # events per second, steady
DURATION_S = 60
BATCH = 250  # records per IngestBatch call: 20 calls a second
BACKLOG = 150_000  # events of the throughput run
DRAIN_TIMEOUT_S = 300
POLL_S = 0.5
# Within the ingestion service's max_age_days, with enough events for RATE x DURATION_S.
SIM_DAYS = 20
STREAMS = [
    "bronze_transactions",
    "bronze_user_events",
    "silver_transactions",
    "silver_events",
    "gold_kpi_minute",
]
REPO = Path(__file__).resolve().parents[2]
console = Console()


@pytest.fixture(scope="module")
def simulated() -> list[common_pb2.Transaction | common_pb2.BehaviorEvent]:
    """Transactions and behaviour events of a fixed-seed simulator run ending now, in order."""
    count = max(RATE * DURATION_S, BACKLOG)
    simulation = Simulation(
        SimulatorSettings(seed=5, customers=20_000),
        start=datetime.now(UTC) - timedelta(days=SIM_DAYS),
        days=SIM_DAYS,
    )
    wanted = (common_pb2.Transaction, common_pb2.BehaviorEvent)
    records = (r for r in simulation.records() if isinstance(r, wanted))
    sample = list(itertools.islice(records, count))
    assert len(sample) == count, "simulate more days for this many events"
    return sample


def _private_topics(bootstrap: str) -> dict[str, str]:
    specs = {s.name: private_copy(s) for s in TOPICS if s.name in ("transactions", "user-events")}
    dead = private_copy(next(s for s in TOPICS if s.name == "dead-letter"))
    ensure_topics(bootstrap, specs=[*specs.values(), dead], replication_factor=1)
    return {**{name: spec.name for name, spec in specs.items()}, "dead-letter": dead.name}


class LakeJob:
    """The streaming job as its own process, with its process tree's memory sampled."""

    def __init__(self, root: Path, bootstrap: str, topics: dict[str, str]) -> None:
        self.lake = root / "lake"
        self.log = root / "lake-job.log"
        self.env = {
            **os.environ,
            "ECAP_LAKE_URI": str(self.lake),
            "ECAP_KAFKA_BOOTSTRAP": bootstrap,
            "ECAP_LAKE_TOPICS": json.dumps(topics),
            "ECAP_LAKE_STREAMS": json.dumps(STREAMS),
            "ECAP_LAKE_STATUS_PATH": str(root / "status.json"),
        }
        self.peak_rss_mb = 0.0
        self._peaks: dict[str, float] = defaultdict(float)
        self._stop = threading.Event()
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        handle = self.log.open("w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "spark.streaming.job"],
            cwd=REPO,
            env=self.env,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
        threading.Thread(target=self._sample, daemon=True).start()

    def _sample(self) -> None:
        assert self.process is not None
        root = psutil.Process(self.process.pid)
        while not self._stop.wait(0.5):
            try:
                tree = [root, *root.children(recursive=True)]
                total = 0.0
                for proc in tree:
                    rss = proc.memory_info().rss / 2**20
                    total += rss
                    kind = "JVM" if proc.name() == "java" else "Python"
                    if proc is root:
                        kind = "Python driver"
                    self._peaks[kind] = max(self._peaks[kind], rss)
                self.peak_rss_mb = max(self.peak_rss_mb, total)
            except psutil.Error:
                continue

    @property
    def peaks(self) -> dict[str, float]:
        """Peak resident MB per kind of process (one process each, workers: the largest)."""
        return dict(self._peaks)

    def table(self, name: str) -> str:
        return str(self.lake / TABLES[name].relative_path)

    def wait_ready(self, timeout_s: float = 300) -> None:
        """Until every table the job writes exists (it creates them before its streams)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.process is not None and self.process.poll() is None, self.tail()
            try:
                DeltaTable(self.table("kpi_minute"))
                return
            except TableNotFoundError:
                time.sleep(1)
        raise AssertionError(f"the lake job did not start in {timeout_s} s:\n{self.tail()}")

    def stop(self) -> None:
        self._stop.set()
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(120)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(30)

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""


class NewRows:
    """Ids of a Delta table, as delta-rs sees them: only files added since the last look."""

    def __init__(self, uri: str, column: str) -> None:
        self.uri, self.column = uri, column
        self._seen_files: set[str] = set()
        self._version = -1

    def poll(self) -> list[str]:
        try:
            table = DeltaTable(self.uri)
        except TableNotFoundError:
            return []
        if table.version() == self._version:
            return []
        self._version = table.version()
        paths = set(table.file_uris())
        new = paths - self._seen_files
        self._seen_files |= new
        ids: list[str] = []
        for path in new:
            ids += pq.read_table(path, columns=[self.column]).column(0).to_pylist()
        return ids


def _kpi_orders(uri: str) -> dict[datetime, int]:
    """Orders per minute in kpi_minute (whole-order rows), read with delta-rs."""
    try:
        table = DeltaTable(uri).to_pyarrow_table(columns=["minute", "category", "orders"])
    except TableNotFoundError:
        return {}
    table = table.filter(pc.equal(table["category"], ALL_CATEGORIES))
    totals: dict[datetime, int] = defaultdict(int)
    for minute, orders in zip(
        table["minute"].to_pylist(), table["orders"].to_pylist(), strict=True
    ):
        totals[minute.replace(tzinfo=None)] += orders or 0
    return totals


@dataclass
class Watch:
    """When each sent record became visible: in silver, and (transactions) in kpi_minute."""

    acked: dict[str, float] = field(default_factory=dict)
    silver_at: dict[str, float] = field(default_factory=dict)
    gold_at: dict[str, float] = field(default_factory=dict)
    minute_of: dict[str, datetime] = field(default_factory=dict)


def _watch(job: LakeJob, watch: Watch, stop: threading.Event) -> None:
    transactions = NewRows(job.table("transactions"), "transaction_id")
    events = NewRows(job.table("events"), "event_id")
    # Per minute, the transactions silver showed, in the order it showed them.
    shown: dict[datetime, list[str]] = defaultdict(list)
    counted: dict[datetime, int] = defaultdict(int)
    while not stop.wait(POLL_S):
        now = time.monotonic()
        for row_id in transactions.poll():
            watch.silver_at.setdefault(row_id, now)
            if row_id in watch.minute_of:
                shown[watch.minute_of[row_id]].append(row_id)
        for row_id in events.poll():
            watch.silver_at.setdefault(row_id, now)
        for minute, orders in _kpi_orders(job.table("kpi_minute")).items():
            ids = shown.get(minute, [])
            for row_id in ids[counted[minute] : min(orders, len(ids))]:
                watch.gold_at.setdefault(row_id, now)
            counted[minute] = max(counted[minute], min(orders, len(ids)))


def _percentiles(values: list[float]) -> tuple[float, float, float]:
    if len(values) < 2:
        return (float("nan"),) * 3
    cuts = statistics.quantiles(values, n=100)
    return statistics.median(values), cuts[94], max(values)


async def _send_steady(address: str, token: str, records: list, watch: Watch) -> tuple[float, int]:
    """Send `records` in IngestBatch calls at RATE per second; note each record's ack time."""
    async with mesh_client.connect(address, token=token, deadline_s=120) as channel:
        call = channel.unary_unary(
            "/ecap.v1.IngestionService/IngestBatch",
            request_serializer=ingestion_pb2.IngestBatchRequest.SerializeToString,
            response_deserializer=ingestion_pb2.IngestBatchResponse.FromString,
        )
        await mesh_client.wait_until_ready(channel)
        accepted = 0

        async def one(batch: list) -> None:
            nonlocal accepted
            request = ingestion_pb2.IngestBatchRequest(
                transactions=[r for r in batch if isinstance(r, common_pb2.Transaction)],
                events=[r for r in batch if isinstance(r, common_pb2.BehaviorEvent)],
            )
            response = await call(request)
            at = time.monotonic()
            accepted += response.transactions.accepted + response.events.accepted
            for record in batch:
                watch.acked[_id(record)] = at

        started = time.monotonic()
        tasks = []
        for n, offset in enumerate(range(0, len(records), BATCH)):
            due = started + n * BATCH / RATE
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            tasks.append(asyncio.create_task(one(records[offset : offset + BATCH])))
        await asyncio.gather(*tasks)
        return time.monotonic() - started, accepted


def _id(record: common_pb2.Transaction | common_pb2.BehaviorEvent) -> str:
    if isinstance(record, common_pb2.Transaction):
        return record.transaction_id
    return record.event_id


def _start_ingestion(bootstrap: str, topics: dict[str, str], secret: str) -> tuple:
    return start_ingestion(
        {
            "ECAP_JWT_SECRET": secret,
            "ECAP_KAFKA_BOOTSTRAP": bootstrap,
            "ECAP_INGESTION_TOPIC_TRANSACTIONS": topics["transactions"],
            "ECAP_INGESTION_TOPIC_EVENTS": topics["user-events"],
            "ECAP_INGESTION_TOPIC_DEAD_LETTER": topics["dead-letter"],
        }
    )


def test_freshness_at_a_steady_rate(kafka_broker, jwt_secret, mint, simulated, tmp_path):
    records = simulated[: RATE * DURATION_S]
    topics = _private_topics(kafka_broker.bootstrap)
    job = LakeJob(tmp_path, kafka_broker.bootstrap, topics)
    watch = Watch()
    for record in records:
        if isinstance(record, common_pb2.Transaction):
            moment = record.occurred_at.ToDatetime()
            watch.minute_of[record.transaction_id] = moment.replace(second=0, microsecond=0)
    service = None
    stop = threading.Event()
    try:
        job.start()
        job.wait_ready()
        service, address = _start_ingestion(kafka_broker.bootstrap, topics, jwt_secret)
        watcher = threading.Thread(target=_watch, args=(job, watch, stop), daemon=True)
        watcher.start()
        sent_s, accepted = asyncio.run(
            _send_steady(address, mint("service", sub="bench"), records, watch)
        )
        deadline = time.monotonic() + DRAIN_TIMEOUT_S
        transactions = list(watch.minute_of)
        while time.monotonic() < deadline and (
            len(watch.silver_at) < len(records) or len(watch.gold_at) < len(transactions)
        ):
            assert job.process is not None and job.process.poll() is None, job.tail()
            time.sleep(1)
    finally:
        stop.set()
        if service is not None:
            service.terminate()
            service.wait(60)
        job.stop()

    silver = [watch.silver_at[i] - watch.acked[i] for i in watch.silver_at if i in watch.acked]
    gold = [watch.gold_at[i] - watch.acked[i] for i in watch.gold_at if i in watch.acked]
    table = Table(title=f"Lake freshness: {len(records):,} events at {RATE:,}/s, 5 s trigger")
    for column in ("readable in", "records seen", "p50 s", "p95 s", "max s"):
        table.add_column(column)
    for name, lags, total in (
        ("silver (transactions + events)", silver, len(records)),
        ("gold kpi_minute (transactions)", gold, len(watch.minute_of)),
    ):
        p50, p95, worst = _percentiles(lags)
        table.add_row(
            name, f"{len(lags):,} / {total:,}", f"{p50:.1f}", f"{p95:.1f}", f"{worst:.1f}"
        )
    console.print(table)
    console.print(
        f"sent {len(records):,} in {sent_s:.1f} s ({len(records) / sent_s:,.0f}/s offered), "
        f"{accepted:,} accepted; target p95 < 15 s. Peak memory of the streaming job: "
        f"{job.peak_rss_mb:,.0f} MB in all "
        + ", ".join(f"{kind} {mb:,.0f} MB" for kind, mb in sorted(job.peaks.items()))
    )
    assert accepted == len(records), "a benchmark of lost records measures nothing"


def _first_write(uri: str) -> float:
    """Wall time (epoch s) of the table's first data commit."""
    history = DeltaTable(uri).history()
    writes = [c["timestamp"] for c in history if c.get("operation") != "CREATE TABLE"]
    return min(writes) / 1000


def _catch_up(
    root: Path, bootstrap: str, topics: dict[str, str], expected: dict[str, int], env: dict
) -> tuple[float, LakeJob]:
    """Events/s of a fresh job from its first bronze commit until silver holds `expected`."""
    root.mkdir(parents=True)
    job = LakeJob(root, bootstrap, topics)
    job.env.update(env)
    done_at = None
    try:
        job.start()
        job.wait_ready()
        deadline = time.monotonic() + DRAIN_TIMEOUT_S * 2
        while time.monotonic() < deadline:
            assert job.process is not None and job.process.poll() is None, job.tail()
            rows = {name: _rows(job.table(name)) for name in expected}
            if all(rows[name] >= expected[name] for name in expected):
                done_at = time.time()
                break
            time.sleep(POLL_S)
        started_at = min(
            _first_write(job.table(f"bronze_{t.replace('-', '_')}"))
            for t in ("transactions", "user-events")
        )
    finally:
        job.stop()
    assert done_at is not None, f"the stream did not catch up in time:\n{job.tail()}"
    return sum(expected.values()) / (done_at - started_at), job


def _rows(uri: str) -> int:
    actions = DeltaTable(uri).get_add_actions(flatten=True)
    return sum(n or 0 for n in actions["num_records"].to_pylist())


def test_throughput_against_a_spark_batch_read(
    kafka_broker, simulated, spark: SparkSession, tmp_path
):
    records = simulated[:BACKLOG]
    topics = _private_topics(kafka_broker.bootstrap)
    by_topic: dict[str, list] = defaultdict(list)
    for record in records:
        topic = "transactions" if isinstance(record, common_pb2.Transaction) else "user-events"
        by_topic[topic].append(record)
    for topic, messages in by_topic.items():
        # The project's producer: keys and ce_type headers as the ingestion service sets them.
        produce_batches(kafka_broker.bootstrap, topics[topic], messages, len(messages))

    # Baseline: the same topics read by plain Spark in one batch and written as Parquet.
    started = time.perf_counter()
    for topic in by_topic:
        read_topic(spark, kafka_broker.bootstrap, topics[topic]).write.parquet(
            str(tmp_path / "baseline" / topic)
        )
    batch_s = time.perf_counter() - started

    expected = {
        "transactions": len(by_topic["transactions"]),
        "events": len(by_topic["user-events"]),
    }
    with_quality, job = _catch_up(tmp_path / "with", kafka_broker.bootstrap, topics, expected, {})
    # The same backlog into a fresh lake without quality metrics and volume: their cost.
    without, _ = _catch_up(
        tmp_path / "without",
        kafka_broker.bootstrap,
        topics,
        expected,
        {"ECAP_LAKE_QUALITY_METRICS": "false", "ECAP_LAKE_QUALITY_VOLUME": "false"},
    )

    batch_rate = len(records) / batch_s
    table = Table(title=f"Lake throughput: a backlog of {len(records):,} simulator events")
    for column in ("path", "events/s", "vs batch read"):
        table.add_column(column)
    table.add_row(
        "Spark batch read of the topics -> Parquet (baseline)", f"{batch_rate:,.0f}", "1.00"
    )
    for name, rate in (
        ("stream: Kafka -> bronze -> silver (decoded, checked, merged) -> gold", with_quality),
        ("the same without quality metrics and volume", without),
    ):
        table.add_row(name, f"{rate:,.0f}", f"{rate / batch_rate:.2f}")
    console.print(table)
    console.print(
        "The stream's rate is the largest steady rate it keeps up with (its catch-up rate). "
        f"Peak memory of the streaming job: {job.peak_rss_mb:,.0f} MB in all "
        + ", ".join(f"{kind} {mb:,.0f} MB" for kind, mb in sorted(job.peaks.items()))
    )
