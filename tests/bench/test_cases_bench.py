"""Case service benchmark: alert-to-case throughput and ClaimNextCase latency, per backend.

On SQLite (WAL file) and on PostgreSQL (a durable server: fsync on), each figure is printed
beside a baseline measured in the same run on the same machine:

- alerts -> cases per second, through the real consumer on a real `fraud-alerts` topic,
  against bare batched INSERTs of as many rows into the same database;
- ClaimNextCase p50/p99 with 30 concurrent investigators over gRPC to the service running
  as its own process, first paced (each investigator thinks between claims), then
  saturated (back to back), each against a bare gRPC round trip (the health check) to the
  same process with the same callers and pattern. Each caller's first claim (a new
  channel, all 30 at once, right after the service started) is reported apart as the
  cold start: a desk keeps its channel open, so the percentiles are the steady state.

Targets (issue 8): at least 500 cases/s from alerts; claim-next p99 under 20 ms on
PostgreSQL. Figures are printed, never asserted.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from confluent_kafka import Producer
from grpc_health.v1 import health_pb2, health_pb2_grpc
from rich.console import Console
from rich.table import Table

from ecap.v1 import cases_pb2, cases_pb2_grpc, common_pb2
from services.cases.config import CasesSettings
from services.cases.db import Database, migrate
from services.cases.records import AlertFacts
from services.cases.server import build_service
from services.cases.store import CaseStore
from services.mesh import client as mesh_client
from services.mesh.config import TelemetrySettings
from services.mesh.kafka.config import KafkaSettings
from services.mesh.kafka.producer import producer_config
from services.mesh.kafka.topics import TOPICS, ensure_topics
from services.mesh.telemetry import configure_logging
from tests.fixtures.kafka import private_copy
from tests.fixtures.mesh import run_async, running_server
from tests.fixtures.postgres import PostgresServer
from tests.support.net import free_port
from tests.support.service_process import serving

ALERTS = 20_000
CUSTOMERS = 15_000
CLAIM_CASES = 2_000
INVESTIGATORS = 30
# Paced: each investigator claims this many cases, "working" an exponential think time of
# THINK_S on average before each claim. Saturated: the rest, claimed back to back.
PACED_CLAIMS_EACH = 20
THINK_S = 0.3
BATCH = 500

console = Console()


@pytest.fixture(scope="module")
def durable_postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL server with its production durability (fsync, synchronous commit)."""
    server = PostgresServer(durable=True)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _alert(n: int, prefix: str) -> common_pb2.FraudAlert:
    txn = common_pb2.Transaction(
        transaction_id=f"{prefix}-t-{n}",
        customer_id=f"{prefix}-c-{n % CUSTOMERS}",
        merchant_id="m-1",
        amount=common_pb2.Money(amount_minor=1_000 + (n * 7919) % 200_000, currency="EUR"),
        card_fingerprint=f"{n:064x}",
        ip_address=f"10.{n % 250}.{n % 7}.{n % 199}",
    )
    decision = common_pb2.Decision(
        decision_id=f"{prefix}-d-{n}",
        transaction_id=txn.transaction_id,
        customer_id=txn.customer_id,
        outcome=common_pb2.DECISION_OUTCOME_REVIEW,
        risk_score=(n % 100) / 100,
        reasons=[common_pb2.DecisionReason(code="AMOUNT_VS_MEAN")],
    )
    return common_pb2.FraudAlert(alert_id=f"{prefix}-a-{n}", decision=decision, transaction=txn)


def _produce_alerts(bootstrap: str, topic: str, prefix: str) -> None:
    producer = Producer(producer_config(bootstrap, "bench-alerts"))
    for n in range(ALERTS):
        alert = _alert(n, prefix)
        while True:
            try:
                producer.produce(topic, alert.SerializeToString(), alert.transaction.transaction_id)
                break
            except BufferError:
                producer.poll(0.01)
    assert producer.flush(60) == 0


def bare_insert_rate(url: str) -> float:
    """Rows per second of batched INSERTs (BATCH rows per transaction) into the same database."""
    database = Database(url)
    table = sa.Table(
        f"bench_bare_{uuid.uuid4().hex[:6]}",
        sa.MetaData(),
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("customer_id", sa.String(64), nullable=False),
        sa.Column("amount_minor", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    table.create(database.engine)
    now = datetime.now(UTC)
    started = time.perf_counter()
    for start in range(0, ALERTS, BATCH):
        rows = [
            {"id": f"r-{n}", "customer_id": f"c-{n}", "amount_minor": n, "created_at": now}
            for n in range(start, start + BATCH)
        ]
        with database.write() as session:
            session.execute(sa.insert(table), rows)
    elapsed = time.perf_counter() - started
    table.drop(database.engine)
    database.dispose()
    return ALERTS / elapsed


def alert_to_case_rate(url: str, bootstrap: str, auth_settings) -> tuple[float, int]:
    """Alerts per second the consumer turns into cases, and how many cases they opened."""
    spec_topic = private_copy(next(s for s in TOPICS if s.name == "fraud-alerts"))
    events_topic = private_copy(next(s for s in TOPICS if s.name == "case-events"))
    ensure_topics(bootstrap, specs=[spec_topic, events_topic], replication_factor=1)
    prefix = uuid.uuid4().hex[:6]
    _produce_alerts(bootstrap, spec_topic.name, prefix)
    settings = CasesSettings(
        port=0,
        metrics_enabled=False,
        grace_period_s=1,
        database_url=url,
        topic_alerts=spec_topic.name,
        topic_case_events=events_topic.name,
        consumer_group=f"bench-{prefix}",
        consumer_batch=BATCH,
    )
    service = build_service(settings, KafkaSettings(bootstrap=bootstrap))
    consumer = service.consumer
    with running_server(service.spec, auth_settings, settings):
        deadline = time.monotonic() + 300
        while consumer.processed == 0 and time.monotonic() < deadline:
            time.sleep(0.005)
        started, first = time.perf_counter(), consumer.processed
        while consumer.processed < ALERTS and time.monotonic() < deadline:
            time.sleep(0.005)
        elapsed = time.perf_counter() - started
        assert consumer.processed == ALERTS, "the consumer did not finish in time"
        with service.store.db.read() as session:
            opened = session.execute(sa.text("SELECT count(*) FROM cases")).scalar()
    return (ALERTS - first) / elapsed, opened


async def _all(coroutines) -> None:
    await asyncio.gather(*coroutines)


def _percentiles(latencies: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return cuts[49] * 1000, cuts[98] * 1000


@contextmanager
def cases_process(
    database_url: str, bootstrap: str, jwt_secret: str, log_path: Path
) -> Iterator[str]:
    """The cases service as its own process (as deployed), serving; yields its address."""
    port, metrics_port = free_port(), free_port()
    env = {
        **os.environ,
        "ECAP_JWT_SECRET": jwt_secret,
        "ECAP_DATABASE_URL": database_url,
        "ECAP_KAFKA_BOOTSTRAP": bootstrap,
        "ECAP_CASES_PORT": str(port),
        "ECAP_CASES_METRICS_PORT": str(metrics_port),
        "ECAP_CASES_CONSUME_ALERTS": "false",
        "ECAP_LOG_LEVEL": "WARNING",  # one log line per RPC would measure the log, not us
    }
    address = f"127.0.0.1:{port}"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "services.cases"], env=env, stdout=log, stderr=log
        )
        try:
            deadline = time.monotonic() + 120
            while not serving(address):
                assert process.poll() is None, f"the cases service exited: see {log_path}"
                assert time.monotonic() < deadline, f"the cases service never served: {log_path}"
                time.sleep(0.2)
            yield address
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(60)


def _seed_claimable(url: str, count: int) -> None:
    settings = CasesSettings(database_url=url)  # the default queues, as investigators work them
    database = Database(url)
    migrate(database)
    now = datetime.now(UTC)
    facts = [
        AlertFacts(f"a-{n}", f"t-{n}", f"c-{n}", (n % 100) / 100, 1_000 + n, "EUR", now)
        for n in range(count)
    ]
    store = CaseStore(database, settings)
    for start in range(0, count, BATCH):
        store.open_from_alerts(facts[start : start + BATCH])
    database.dispose()


async def _investigator(address, token, calls, think_s, rng, latencies, first) -> int:
    """Claim `calls` cases (None: until the queue is empty), thinking in between.

    The first claim, on a new channel and right after the service started or the phase
    began (all 30 investigators at once), is timed apart, in `first`: it pays the cold
    start of the claim path (the channel's first call of the method, each pooled
    connection's first plan of the statement), which is not the desk's steady state.
    """
    async with mesh_client.connect(address, token=token) as channel:
        stub = cases_pb2_grpc.CaseServiceStub(channel)
        started = time.perf_counter()
        response = await stub.ClaimNextCase(cases_pb2.ClaimNextCaseRequest())
        if not response.HasField("case"):
            return 0
        first.append(time.perf_counter() - started)
        done = 0
        while calls is None or done < calls:
            if think_s:
                await asyncio.sleep(rng.expovariate(1 / think_s))
            started = time.perf_counter()
            response = await stub.ClaimNextCase(cases_pb2.ClaimNextCaseRequest())
            if not response.HasField("case"):
                break
            latencies.append(time.perf_counter() - started)
            done += 1
        return done


async def _pinger(address, calls, think_s, rng, latencies) -> None:
    """The baseline caller: the same pattern of calls, to the health service."""
    async with mesh_client.connect(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        await stub.Check(health_pb2.HealthCheckRequest())  # connect, untimed
        for _ in range(calls):
            if think_s:
                await asyncio.sleep(rng.expovariate(1 / think_s))
            started = time.perf_counter()
            await stub.Check(health_pb2.HealthCheckRequest())
            latencies.append(time.perf_counter() - started)


def claim_latencies(
    url: str, bootstrap: str, jwt_secret: str, mint, log_path: Path
) -> dict[str, dict]:
    """ClaimNextCase and bare gRPC latencies (ms), 30 callers, paced and then saturated."""
    _seed_claimable(url, CLAIM_CASES)
    rng = random.Random(8)
    tokens = [mint("investigator", sub=f"inv-{n:02d}") for n in range(INVESTIGATORS)]
    results: dict[str, dict] = {}
    with cases_process(url, bootstrap, jwt_secret, log_path) as address:
        for phase, calls, think_s in (
            ("paced", PACED_CLAIMS_EACH, THINK_S),
            ("saturated", None, 0.0),
        ):
            claims: list[float] = []
            first: list[float] = []
            started = time.perf_counter()
            run_async(
                _all(_investigator(address, t, calls, think_s, rng, claims, first) for t in tokens),
                timeout_s=900,
            )
            claim_s = time.perf_counter() - started
            pings: list[float] = []
            per_caller = calls or len(claims) // INVESTIGATORS
            run_async(
                _all(_pinger(address, per_caller, think_s, rng, pings) for _ in tokens),
                timeout_s=900,
            )
            results[phase] = {
                "claim": _percentiles(claims),
                "first": (statistics.median(first) * 1000, max(first) * 1000, len(first)),
                "bare": _percentiles(pings),
                "claims": len(claims),
                "claims_per_s": len(claims) / claim_s,
            }
    claimed = sum(r["claims"] + r["first"][2] for r in results.values())
    assert claimed == CLAIM_CASES, f"{claimed} of {CLAIM_CASES} cases claimed"
    return results


def test_case_desk_throughput_and_claim_latency(
    tmp_path, kafka_bootstrap, auth_settings, jwt_secret, mint, durable_postgres
) -> None:
    # One log line per RPC would flood the report: the service logs warnings only here.
    configure_logging(TelemetrySettings(log_level="WARNING", log_format="json"), "cases")
    backends = {
        "SQLite (WAL)": lambda: f"sqlite:///{tmp_path / uuid.uuid4().hex[:6]}.db",
        "PostgreSQL (fsync on)": lambda: durable_postgres.create_database("bench"),
    }
    table = Table(
        title=f"Cases: {ALERTS:,} alerts ({CUSTOMERS:,} customers); {CLAIM_CASES:,} claims by "
        f"{INVESTIGATORS} investigators (paced: {PACED_CLAIMS_EACH} each, think time "
        f"{THINK_S * 1000:.0f} ms; then saturated, back to back)"
    )
    for column in ("backend", "measure", "value", "baseline (same run)", "ratio"):
        table.add_column(column)
    for name, new_url in backends.items():
        bare = bare_insert_rate(new_url())
        rate, opened = alert_to_case_rate(new_url(), kafka_bootstrap, auth_settings)
        table.add_row(
            name,
            f"alerts -> cases ({opened:,} cases opened)",
            f"{rate:,.0f} alerts/s",
            f"bare INSERT, batches of {BATCH}: {bare:,.0f} rows/s",
            f"{rate / bare:.2f} x",
        )
        latency = claim_latencies(
            new_url(), kafka_bootstrap, jwt_secret, mint, tmp_path / f"{name[:6]}.log"
        )
        first50, first_max, _ = latency["paced"]["first"]
        table.add_row(
            name,
            f"first ClaimNextCase of each of {INVESTIGATORS} investigators at once, "
            "right after the service started (cold, untimed below)",
            f"{first50:.1f} ms median, {first_max:.1f} ms max",
            "",
            "",
        )
        for phase, figures in latency.items():
            (p50, p99), (bare50, bare99) = figures["claim"], figures["bare"]
            table.add_row(
                name,
                f"ClaimNextCase p50 / p99, {INVESTIGATORS} investigators, {phase}",
                f"{p50:.1f} / {p99:.1f} ms ({figures['claims_per_s']:,.0f} claims/s)",
                f"bare gRPC health check: {bare50:.1f} / {bare99:.1f} ms",
                f"{p50 / bare50:.1f} x / {p99 / bare99:.1f} x",
            )
    console.print(table)
