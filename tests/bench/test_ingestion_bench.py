"""Ingestion benchmark: sustained events/s through the gRPC client stream into Kafka.

The service runs as its own process (as in production) against the session's real broker;
the client sends pre-serialised batches so that the figure is the service's, not the
client's. The baseline is the raw confluent-kafka producer writing the very same records in
the same run; the ratio is what the service keeps of it. Both paths are warmed up first
(connections, topic metadata, producer ids), and each round pairs a baseline with a fresh
service, as this machine's speed varies from one minute to the next; the medians are the
figures. Peak resident memory is the service's VmHWM. Figures are printed, never asserted.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from statistics import median

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
from tests.support.service_process import start_ingestion

EVENTS = 200_000
WARM_UP = 20_000  # first sent on each path untimed: connections, metadata, producer ids
BATCH = 1_000
ROUNDS = 3  # this machine is noisy: the median of a few rounds, each with its own baseline
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


@dataclass
class Round:
    """One measured pass of the raw producer and then the service over the same events."""

    raw_rate: float
    service_rate: float
    server_us: float  # CPU per event, by process
    workers_us: float
    broker_us: float
    raw_broker_us: float
    raw_producer_us: float  # the baseline's own process, librdkafka's threads included
    children: int  # validation workers and multiprocessing's resource tracker
    idle_rss_mb: float
    peak_rss_mb: float

    @property
    def ratio(self) -> float:
        return self.service_rate / self.raw_rate


def _service_round(settings: dict[str, str], token: str, payloads: list[bytes], broker: list[int]):
    """Start a fresh service (an empty dedup window), warm it up, time the rest of `payloads`.

    Returns the summary, the seconds, and the CPU seconds of the server, its children and
    the `broker` while it ran.
    """
    service, address = start_ingestion(settings)
    try:
        processes = _family(service.pid)
        idle_rss = _peak_rss_mb(processes)
        warm_up, _ = asyncio.run(_stream(address, token, payloads[: WARM_UP // BATCH]))
        assert warm_up.accepted == WARM_UP, warm_up
        groups = (processes[:1], processes[1:], broker)
        before = [_cpu_s(group) for group in groups]
        summary, elapsed = asyncio.run(_stream(address, token, payloads[WARM_UP // BATCH :]))
        cpu = [_cpu_s(group) - start for group, start in zip(groups, before, strict=True)]
        return summary, elapsed, cpu, len(processes) - 1, idle_rss, _peak_rss_mb(processes)
    finally:
        service.terminate()
        service.wait(60)


async def _stream(address: str, token: str, payloads: list[bytes]):
    """Send `payloads` (serialised IngestEventsRequests) as one stream: summary and seconds."""
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


def test_ingestion_throughput_against_raw_producer(kafka_broker, jwt_secret, mint):
    events = realistic_events(WARM_UP + EVENTS)
    raw_topic, service_topic, dead = (
        private_copy(next(s for s in TOPICS if s.name == name))
        for name in ("user-events", "user-events", "dead-letter")
    )
    ensure_topics(kafka_broker.bootstrap, specs=[raw_topic, service_topic, dead])
    records = [(e.SerializeToString(), record_key(e)) for e in events]
    mean_size = sum(len(value) for value, _ in records) / len(records)
    payloads = [
        ingestion_pb2.IngestEventsRequest(events=events[i : i + BATCH]).SerializeToString()
        for i in range(0, len(events), BATCH)
    ]
    settings = {
        "ECAP_JWT_SECRET": jwt_secret,
        "ECAP_KAFKA_BOOTSTRAP": kafka_broker.bootstrap,
        "ECAP_INGESTION_TOPIC_EVENTS": service_topic.name,
        "ECAP_INGESTION_TOPIC_DEAD_LETTER": dead.name,
    }
    token = mint("service", sub="bench")
    broker = [kafka_broker.process.pid]
    per_event = 1e6 / EVENTS

    rounds: list[Round] = []
    for _ in range(ROUNDS):
        produce_raw(kafka_broker.bootstrap, raw_topic.name, records[:WARM_UP], WARM_UP)
        broker_before = _cpu_s(broker)
        producer_before = time.process_time()
        raw_s = produce_raw(kafka_broker.bootstrap, raw_topic.name, records[WARM_UP:], EVENTS)
        raw_producer = time.process_time() - producer_before
        raw_broker = _cpu_s(broker) - broker_before
        summary, service_s, cpu, children, idle_rss, peak_rss = _service_round(
            settings, token, payloads, broker
        )
        server, workers, service_broker = cpu
        assert summary.accepted == EVENTS, summary  # a benchmark of lost records measures nothing
        rounds.append(
            Round(
                raw_rate=EVENTS / raw_s,
                service_rate=EVENTS / service_s,
                server_us=server * per_event,
                workers_us=workers * per_event,
                broker_us=service_broker * per_event,
                raw_broker_us=raw_broker * per_event,
                raw_producer_us=raw_producer * per_event,
                children=children,
                idle_rss_mb=idle_rss,
                peak_rss_mb=peak_rss,
            )
        )

    table = Table(
        title=f"Ingestion: {EVENTS:,} simulated storefront events (~{mean_size:.0f} B) per "
        f"round, after {WARM_UP:,} untimed on each path"
    )
    for column in (
        "round",
        "raw producer events/s",
        "service events/s",
        "service / raw",
        "CPU µs/event: server",
        "its children",
        "broker (raw path)",
        "raw producer",
        "service RSS MB idle / peak",
    ):
        table.add_column(column)
    for number, r in enumerate(rounds, 1):
        table.add_row(
            str(number),
            f"{r.raw_rate:,.0f}",
            f"{r.service_rate:,.0f}",
            f"{r.ratio:.2f}",
            f"{r.server_us:.1f}",
            f"{r.workers_us:.1f}",
            f"{r.broker_us:.1f} ({r.raw_broker_us:.1f})",
            f"{r.raw_producer_us:.1f}",
            f"{r.idle_rss_mb:.0f} / {r.peak_rss_mb:.0f}",
        )
    console.print(table)
    console.print(
        f"median of {ROUNDS} rounds: service {median(r.service_rate for r in rounds):,.0f} "
        f"events/s, {median(r.ratio for r in rounds):.2f} of the raw producer; peak resident "
        f"memory {max(r.peak_rss_mb for r in rounds):.0f} MB (the server and its "
        f"{rounds[0].children} child processes, summed). "
        "Targets: ≥ 50,000 events/s, ≥ 0.5 of raw, < 400 MB."
    )
