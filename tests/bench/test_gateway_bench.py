"""ScoreTransaction through the REST gateway vs direct gRPC, in the same run (issue 10).

Everything real, on this machine, as in the scoring benchmark (tests/bench/test_scoring_bench.py,
whose processes and requests this one reuses): the session's Kafka broker with private topics,
a trained fraud model behind `bentoml serve`, the scoring service as its own process, and in
front of it the Go gateway (`gateway/bin/ecap-gateway`, built if missing) on a free port. Both
paths reach the same scoring process: gRPC straight from ghz (4 HTTP/2 connections), REST from
vegeta (`POST /v1/transactions:score`, protojson bodies, HTTP/1.1 keep-alive), each with up to
CONCURRENCY requests in flight and the same service token. Neither load generator is ours.

Requests are the scoring benchmark's: transactions of a simulated world, each with a new,
unique transaction id (a repeated id returns the cached first decision, which would flatter a
figure), the same sequence of customers on both paths.

Method: for each offered rate in RATES, then a saturation step (no rate limit), the two paths
run STEP_S seconds each in the order gRPC, REST, REST, gRPC, so that drift during a step (the
service's per-customer state grows, the broker's logs too, other work on the machine comes and
goes) weighs on both paths alike. The summary averages each path's two runs: achieved rate,
p50 and p99 as the load generators measured them, the throughput ratio REST / gRPC and the
latency the gateway adds (REST - gRPC). The gateway's CPU time (user + system, from /proc)
per 1,000 successful REST requests is the cost of the hop; the scoring process's CPU time per
1,000 decisions, on each path, is the baseline it compares with. Degraded (rules-only)
decisions and the server-side RPC p99 come from the service's Prometheus metrics, scraped
around each run: a path whose decisions degrade more is cheaper, not faster.

ghz, vegeta, the gateway, the service, BentoML and the broker share the machine's 2 cores, so
at saturation the gateway's CPU is taken from the service; the load average is printed with
each run. Figures are printed, never asserted; what is asserted is that both paths really
score (one checked REST decision, error-free warm-ups) and that no run repeated an id.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import time
import uuid
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import httpx
import pytest
from google.protobuf import json_format
from rich.console import Console
from rich.table import Table

from ecap.v1 import scoring_pb2
from tests.bench.test_scoring_bench import (
    CONCURRENCY,
    CONNECTIONS,
    PROTOSET,
    RPC_STAGE,
    SCORE_CALL,
    Requests,
    ServiceCounts,
    cpu_seconds,
    scoring_process,
    scrape,
    service_counts,
    template_transactions,
)
from tests.fixtures.bentoml import bentoml_serve
from tests.support.gateway import BACKENDS, running_gateway
from tests.support.ghz import GhzReport, GhzRun, ensure_ghz, run_ghz
from tests.support.net import free_port
from tests.support.scoring import scoring_topics
from tests.support.vegeta import (
    VegetaReport,
    VegetaRun,
    ensure_vegeta,
    run_vegeta,
    write_targets,
)

pytestmark = pytest.mark.timeout(900)

SCORE_ROUTE = "/v1/transactions:score"
GRPC = "gRPC"
REST = "REST"
# Each step runs the paths in this order: the second pair mirrors the first.
ORDER = (GRPC, REST, REST, GRPC)
STEP_S = 6
RATES = (100, 300, 600)
SATURATION_MAX_PER_S = 3_000  # requests written for a saturation run: its rate cannot exceed it
WARMUP_PER_S = 100
WARMUP_S = 2
REQUEST_TIMEOUT_S = 10.0

console = Console(width=max(Console().width, 150))


class GatewayRequests(Requests):
    """The scoring benchmark's unique requests, for ghz (binary) or vegeta (protojson)."""

    def write_rest(
        self, path: Path, url: str, token: str, name: str, count: int, per_s: float
    ) -> int:
        """`count` requests as vegeta JSON targets for `url`, ids `<run>-<name>-<n>`,
        occurring from now on at `per_s` per second; returns how many."""
        start_us = int(time.time() * 1e6)
        bodies = (
            json_format.MessageToJson(
                self._request(n, f"{self.run_id}-{name}", start_us + int(n * 1e6 / per_s)),
                indent=None,
            ).encode()
            for n in range(count)
        )
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        return write_targets(path, url, bodies, headers=headers)

    def one(self, name: str) -> scoring_pb2.ScoreTransactionRequest:
        """A single request, id `<run>-<name>-0000000`, occurring now."""
        return self._request(0, f"{self.run_id}-{name}", int(time.time() * 1e6))


@dataclass
class Run:
    """One load generator run on one path, with what the processes did meanwhile."""

    path: str
    offered: int | None  # None: saturation
    report: GhzReport | VegetaReport
    scoring_cpu_s: float
    gateway_cpu_s: float
    service: ServiceCounts
    load_average: float  # 1-minute, when the run started

    @property
    def answered(self) -> int:
        return self.report.count - self.report.errors

    def per_1000(self, cpu_s: float) -> float:
        """CPU seconds per 1,000 successful requests."""
        return cpu_s * 1000 / self.answered if self.answered else math.nan

    @property
    def degraded_share(self) -> float:
        decisions = self.service.decisions
        return self.service.degraded / decisions if decisions else math.nan


@dataclass
class Bench:
    """The two paths to one scoring process, and how to drive each."""

    ghz: Path
    vegeta: Path
    requests: GatewayRequests
    token: str
    scoring_address: str
    scoring_pid: int
    metrics_url: str
    gateway_url: str
    gateway_pid: int
    work_dir: Path

    def run(self, path: str, offered: int | None, name: str, duration_s: float = STEP_S) -> Run:
        """`path` at `offered` requests/s (None: as fast as it goes) for `duration_s`."""
        per_s = offered or SATURATION_MAX_PER_S
        unique = int(per_s * duration_s * 1.1) + CONCURRENCY  # pacing overshoots a little
        load_average = os.getloadavg()[0]
        if path == GRPC:
            messages = self.work_dir / "requests.bin"
            self.requests.write(messages, f"{name}-grpc", unique, per_s)
            run = GhzRun(
                target=self.scoring_address,
                call=SCORE_CALL,
                protoset=PROTOSET,
                messages=messages,
                duration_s=duration_s,
                rps=offered,
                concurrency=CONCURRENCY,
                connections=CONNECTIONS,
                metadata={"authorization": f"Bearer {self.token}"},
                timeout_s=REQUEST_TIMEOUT_S,
            )
            load = partial(run_ghz, self.ghz, run)
        else:
            targets = self.work_dir / "targets.json"
            url = f"{self.gateway_url}{SCORE_ROUTE}"
            self.requests.write_rest(targets, url, self.token, f"{name}-rest", unique, per_s)
            attack = VegetaRun(
                targets=targets,
                duration_s=duration_s,
                rate=offered,
                max_workers=CONCURRENCY,
                timeout_s=REQUEST_TIMEOUT_S,
            )
            load = partial(run_vegeta, self.vegeta, attack)

        samples_before = scrape(self.metrics_url)
        scoring_before = cpu_seconds(self.scoring_pid)
        gateway_before = cpu_seconds(self.gateway_pid)
        report = load()
        gateway_cpu_s = cpu_seconds(self.gateway_pid) - gateway_before
        scoring_cpu_s = cpu_seconds(self.scoring_pid) - scoring_before
        service = service_counts(samples_before, scrape(self.metrics_url))
        assert report.count <= unique, (
            f"{path} @ {name}: {report.count} requests over {unique} distinct ones: ids repeated"
        )
        return Run(path, offered, report, scoring_cpu_s, gateway_cpu_s, service, load_average)


def check_rest_decision(bench: Bench) -> None:
    """One ScoreTransaction through the gateway answers a decision, or the bench stops."""
    request = bench.requests.one("check")
    response = httpx.post(
        f"{bench.gateway_url}{SCORE_ROUTE}",
        content=json_format.MessageToJson(request, indent=None),
        headers={"Authorization": f"Bearer {bench.token}", "Content-Type": "application/json"},
        timeout=REQUEST_TIMEOUT_S,
    )
    assert response.status_code == 200, (
        f"POST {SCORE_ROUTE} answered {response.status_code}: {response.text[:1000]}"
    )
    answer = json_format.ParseDict(response.json(), scoring_pb2.ScoreTransactionResponse())
    decision = answer.decision
    assert decision.transaction_id == request.transaction.transaction_id, response.text[:1000]
    assert decision.outcome, f"a decision without an outcome: {response.text[:1000]}"


# -- the report -----------------------------------------------------------------------------


def _ms(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.1f}"


def _offered(offered: int | None) -> str:
    return "saturation" if offered is None else f"{offered:,}"


def _errors(report: GhzReport | VegetaReport) -> str:
    errors = f"{report.errors:,}"
    if report.error_kinds:
        errors += " (" + ", ".join(f"{k}: {n}" for k, n in report.error_kinds.items())[:40] + ")"
    return errors


def _by_reason(counts: dict[str, float]) -> str:
    if not counts:
        return ""
    return " (" + ", ".join(f"{reason} {n:,.0f}" for reason, n in counts.items()) + ")"


def print_runs(runs: list[Run]) -> None:
    table = Table(
        title=f"ScoreTransaction, each run: {STEP_S} s, up to {CONCURRENCY} requests in flight "
        f"(gRPC: ghz over {CONNECTIONS} HTTP/2 connections; REST: vegeta over HTTP/1.1 "
        f"keep-alive, through the gateway). CPU s per 1,000 successful requests, from /proc; "
        f"server RPC p99 = the scoring service's own RPC histogram"
    )
    for column in (
        "offered/s",
        "path",
        "load avg",
        "achieved/s",
        "p50 ms",
        "p99 ms",
        "errors",
        "decisions",
        "degraded",
        "server RPC p99 ms",
        "scoring CPU s/1k",
        "gateway CPU s/1k",
    ):
        table.add_column(column, justify="left" if column == "path" else "right")
    for run in runs:
        report = run.report
        table.add_row(
            _offered(run.offered),
            run.path,
            f"{run.load_average:.1f}",
            f"{report.ok_per_s:,.0f}",
            _ms(report.p50_ms),
            _ms(report.p99_ms),
            _errors(report),
            f"{run.service.decisions:,.0f}",
            f"{run.degraded_share:.1%}",
            _ms(run.service.stages[RPC_STAGE][1]),
            f"{run.per_1000(run.scoring_cpu_s):.2f}",
            f"{run.per_1000(run.gateway_cpu_s):.2f}" if run.path == REST else "-",
        )
    console.print(table)


@dataclass
class PathSummary:
    """A path's runs at one offered rate, averaged."""

    achieved: float
    p50_ms: float
    p99_ms: float
    scoring_cpu_per_1000: float
    gateway_cpu_per_1000: float

    @classmethod
    def of(cls, runs: list[Run]) -> PathSummary:
        answered = sum(run.answered for run in runs)

        def per_1000(cpu_s: float) -> float:
            return cpu_s * 1000 / answered if answered else math.nan

        return cls(
            achieved=statistics.fmean(run.report.ok_per_s for run in runs),
            p50_ms=statistics.fmean(run.report.p50_ms for run in runs),
            p99_ms=statistics.fmean(run.report.p99_ms for run in runs),
            scoring_cpu_per_1000=per_1000(sum(run.scoring_cpu_s for run in runs)),
            gateway_cpu_per_1000=per_1000(sum(run.gateway_cpu_s for run in runs)),
        )


def print_summary(runs: list[Run], load_before: float) -> None:
    table = Table(
        title=f"ScoreTransaction, REST through the gateway vs direct gRPC (each path's "
        f"{ORDER.count(GRPC)} runs per step averaged; order {', '.join(ORDER)}). Load average "
        f"before the steps {load_before:.1f}, after {os.getloadavg()[0]:.1f} (2 cores)"
    )
    for column in (
        "offered/s",
        "gRPC achieved/s",
        "REST achieved/s",
        "ratio REST/gRPC",
        "gRPC p50 / p99 ms",
        "REST p50 / p99 ms",
        "added p50 ms",
        "added p99 ms",
        "gateway CPU s/1k",
        "scoring CPU s/1k gRPC / REST",
        "gateway / scoring CPU",
    ):
        table.add_column(column, justify="right")
    for offered in dict.fromkeys(run.offered for run in runs):
        grpc = PathSummary.of([r for r in runs if r.offered == offered and r.path == GRPC])
        rest = PathSummary.of([r for r in runs if r.offered == offered and r.path == REST])
        table.add_row(
            _offered(offered),
            f"{grpc.achieved:,.0f}",
            f"{rest.achieved:,.0f}",
            f"{rest.achieved / grpc.achieved:.2f}" if grpc.achieved else "-",
            f"{_ms(grpc.p50_ms)} / {_ms(grpc.p99_ms)}",
            f"{_ms(rest.p50_ms)} / {_ms(rest.p99_ms)}",
            f"{rest.p50_ms - grpc.p50_ms:+.1f}",
            f"{rest.p99_ms - grpc.p99_ms:+.1f}",
            f"{rest.gateway_cpu_per_1000:.2f}",
            f"{grpc.scoring_cpu_per_1000:.2f} / {rest.scoring_cpu_per_1000:.2f}",
            f"{rest.gateway_cpu_per_1000 / rest.scoring_cpu_per_1000:.0%}"
            if rest.scoring_cpu_per_1000
            else "-",
        )
    console.print(table)
    for run in runs:
        if run.report.error_messages:
            messages = json.dumps(run.report.error_messages)[:300]
            console.print(f"{run.path} @ {_offered(run.offered)}: errors {messages}")


# -- the benchmark --------------------------------------------------------------------------


def test_score_transaction_rest_vs_grpc(
    tmp_path, kafka_bootstrap, jwt_secret, mint, fraud_model
) -> None:
    ghz, vegeta = ensure_ghz(), ensure_vegeta()
    console.print("simulating the requests' world")
    requests = GatewayRequests(template_transactions(), uuid.uuid4().hex[:8])
    token = mint("service", sub="bench-checkout", ttl_s=3600)
    topics = scoring_topics(kafka_bootstrap)
    # Only scoring is measured; the other backends point at ports nothing listens on.
    backends = {name: f"127.0.0.1:{free_port()}" for name in BACKENDS}

    with (
        bentoml_serve(fraud_model.home, fraud_model.tag) as model_url,
        scoring_process(tmp_path, kafka_bootstrap, jwt_secret, model_url, topics) as scoring,
        running_gateway(
            {**backends, "scoring": scoring.address}, log_path=tmp_path / "gateway.log"
        ) as gateway,
    ):
        console.print(f"model, scoring service and gateway up; {len(ORDER)} runs per step")
        bench = Bench(
            ghz,
            vegeta,
            requests,
            token,
            scoring.address,
            scoring.pid,
            scoring.metrics_url,
            gateway.url,
            gateway.process.pid,
            tmp_path,
        )
        check_rest_decision(bench)
        for path in (GRPC, REST):  # not reported
            warmup = bench.run(path, WARMUP_PER_S, "warmup", WARMUP_S)
            assert warmup.report.errors == 0 and warmup.answered > 0, (
                f"{path} warm-up: {_errors(warmup.report)} {warmup.report.error_messages}"
            )

        load_before = os.getloadavg()[0]
        runs = []
        for offered in (*RATES, None):
            step = f"r{offered}" if offered else "saturation"
            for position, path in enumerate(ORDER):
                run = bench.run(path, offered, f"{step}-{position}")
                runs.append(run)
                console.print(
                    f"{path} @ {_offered(offered)}: {run.report.ok_per_s:,.0f}/s, p50 "
                    f"{_ms(run.report.p50_ms)} ms, p99 {_ms(run.report.p99_ms)} ms, "
                    f"{run.report.errors} errors, {run.degraded_share:.1%} degraded"
                    + _by_reason(run.service.degraded_by_reason)
                )

    print_runs(runs)
    print_summary(runs, load_before)
