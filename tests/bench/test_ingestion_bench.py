"""Ingestion benchmark: sustained events/s through the gRPC client stream into Kafka.

The service runs as its own process (as in production) against the session's real broker;
the client sends pre-serialised batches so that the figure is the service's, not the
client's. The baseline is the raw confluent-kafka producer writing the very same records in
the same run; the ratio is what the service keeps of it. Peak resident memory is the
service's VmHWM. Figures are printed, never asserted.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rich.console import Console
from rich.table import Table

from ecap.v1 import common_pb2, ingestion_pb2
from services.mesh import client as mesh_client
from services.mesh.kafka.producer import record_key
from services.mesh.kafka.topics import TOPICS, ensure_topics
from services.simulator.config import SimulatorSettings
from services.simulator.generator import Simulation
from tests.bench.test_kafka_bench import produce_raw
from tests.fixtures.kafka import private_copy
from tests.support.net import free_port

EVENTS = 200_000
BATCH = 1_000
REPO = Path(__file__).resolve().parents[2]
console = Console()


def realistic_events(count: int) -> list[common_pb2.BehaviorEvent]:
    """The first `count` behaviour events of a fixed-seed simulator backfill ending now."""
    settings = SimulatorSettings(seed=3, customers=20_000)
    days = 14
    simulation = Simulation(settings, start=datetime.now(UTC) - timedelta(days=days), days=days)
    events = (r for r in simulation.records() if isinstance(r, common_pb2.BehaviorEvent))
    sample = list(itertools.islice(events, count))
    assert len(sample) == count, "simulate more days for this many events"
    return sample


def _family(pid: int) -> list[int]:
    """`pid` and its descendants (the service's validation workers)."""
    found = [pid]
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            found.extend(_family(int(child)))
    return found


def _peak_rss_mb(pids: list[int]) -> float:
    """Summed VmHWM: an upper bound, as pages the processes share count once per process."""
    total = 0
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                total += int(line.split()[1])
    return total / 1024


def _cpu_s(pids: list[int]) -> float:
    """User plus system CPU seconds the processes used so far."""
    ticks = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])  # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def _wait_serving(address: str, timeout_s: float = 60) -> None:
    from tests.integration.test_service_processes import _wait_serving as wait

    class _Alive:
        stdout = None

        @staticmethod
        def poll():
            return None

    wait(address, _Alive(), timeout_s)  # type: ignore[arg-type]


def test_ingestion_throughput_against_raw_producer(kafka_broker, jwt_secret, mint):
    events = realistic_events(EVENTS)
    raw_topic, service_topic, dead = (
        private_copy(next(s for s in TOPICS if s.name == name))
        for name in ("user-events", "user-events", "dead-letter")
    )
    ensure_topics(kafka_broker.bootstrap, specs=[raw_topic, service_topic, dead])

    records = [(e.SerializeToString(), record_key(e)) for e in events]
    mean_size = sum(len(value) for value, _ in records) / len(records)
    raw_s = produce_raw(kafka_broker.bootstrap, raw_topic.name, records, len(records))
    raw_rate = len(records) / raw_s

    port = free_port()
    env = {
        **os.environ,
        "ECAP_JWT_SECRET": jwt_secret,
        "ECAP_KAFKA_BOOTSTRAP": kafka_broker.bootstrap,
        "ECAP_INGESTION_PORT": str(port),
        "ECAP_INGESTION_METRICS_PORT": "0",
        "ECAP_INGESTION_TOPIC_EVENTS": service_topic.name,
        "ECAP_INGESTION_TOPIC_DEAD_LETTER": dead.name,
        "ECAP_LOG_LEVEL": "WARNING",
    }
    service = subprocess.Popen(
        [sys.executable, "-m", "services.ingestion"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        address = f"127.0.0.1:{port}"
        _wait_serving(address)
        processes = _family(service.pid)
        idle_rss = _peak_rss_mb(processes)
        payloads = [
            ingestion_pb2.IngestEventsRequest(events=events[i : i + BATCH]).SerializeToString()
            for i in range(0, len(events), BATCH)
        ]
        token = mint("service", sub="bench")

        async def stream() -> tuple[ingestion_pb2.IngestSummary, float]:
            async with mesh_client.connect(address, token=token, deadline_s=600) as channel:
                call = channel.stream_unary(
                    "/ecap.v1.IngestionService/IngestEvents",
                    request_serializer=lambda raw: raw,  # already serialised
                    response_deserializer=ingestion_pb2.IngestSummary.FromString,
                )
                await mesh_client.wait_until_ready(channel)

                async def batches():
                    for payload in payloads:
                        yield payload

                started = time.perf_counter()
                summary = await call(batches())
                return summary, time.perf_counter() - started

        cpu_before = _cpu_s(processes)
        summary, service_s = asyncio.run(stream())
        cpu_used = _cpu_s(processes) - cpu_before
        peak_rss = _peak_rss_mb(processes)
    finally:
        service.terminate()
        service.wait(60)

    assert summary.accepted == EVENTS, summary  # a benchmark of lost records measures nothing
    service_rate = summary.accepted / service_s
    table = Table(title=f"Ingestion: {EVENTS:,} simulated storefront events (~{mean_size:.0f} B)")
    for column in ("path", "events/s", "vs raw producer"):
        table.add_column(column)
    table.add_row("raw confluent-kafka producer (baseline)", f"{raw_rate:,.0f}", "1.00")
    table.add_row(
        "gRPC IngestEvents stream → service → Kafka",
        f"{service_rate:,.0f}",
        f"{service_rate / raw_rate:.2f}",
    )
    console.print(table)
    console.print(
        f"ingestion service ({len(processes)} processes: the server and its validation "
        f"workers): resident memory {idle_rss:.0f} MB idle, {peak_rss:.0f} MB peak; "
        f"CPU {cpu_used / summary.accepted * 1e6:.1f} µs per event "
        f"(targets: ≥ 50,000 events/s, ≥ 0.5 of raw, < 400 MB)"
    )
