"""vegeta, the HTTP load generator (github.com/tsenart/vegeta), for benchmarks.

    binary = ensure_vegeta()                                 # `go install`ed on first use
    write_targets(path, url, bodies, headers={...})          # one JSON target per request
    report = run_vegeta(binary, VegetaRun(targets=path, ...)) # one load step, its report

vegeta is not ours, so the figures it reports are not flattered by our own client code. It
is built from source with `go install` into `.cache/go/bin/`, like ghz (tests/support/ghz.py).
Targets are a file of JSON lines (`-format=json`), each with its own body: vegeta reads them
all at start and sends them round-robin, so a run of at most N requests over N distinct
targets never repeats one. A step is `vegeta attack -rate R -duration D -max-workers W`
piped into `vegeta report -type=json`: an open loop at R requests per second (or, with no
rate, as fast as W workers go), each worker one request in flight over HTTP/1.1 keep-alive
connections, as a REST client would call.
"""

from __future__ import annotations

import base64
import json
import subprocess
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from tests.support.go_install import GoTool, go_install

VEGETA = GoTool("github.com/tsenart/vegeta/v12", "v12.13.0", "vegeta")
INITIAL_WORKERS = 10  # vegeta's default; it adds workers up to max_workers when all are busy


def ensure_vegeta() -> Path:
    """The vegeta binary of the pinned version, installed with `go install` on first use."""
    return go_install(VEGETA)


def write_targets(
    path: Path, url: str, bodies: Iterable[bytes], *, method: str = "POST",
    headers: Mapping[str, str] | None = None,
) -> int:  # fmt: skip
    """Write one JSON target per body (`-format=json`: the body base64-encoded) to `path`;
    returns how many."""
    header = {name: [value] for name, value in (headers or {}).items()}
    count = 0
    with path.open("w") as out:
        for body in bodies:
            target = {
                "method": method,
                "url": url,
                "body": base64.b64encode(body).decode("ascii"),
                "header": header,
            }
            out.write(json.dumps(target, separators=(",", ":")))
            out.write("\n")
            count += 1
    return count


@dataclass(frozen=True)
class VegetaRun:
    """One vegeta attack: the requests of `targets` for `duration_s`, offered at `rate` per
    second (None: as fast as `max_workers` workers go)."""

    targets: Path
    duration_s: float
    rate: int | None
    max_workers: int
    timeout_s: float = 10.0

    def __post_init__(self) -> None:
        if self.duration_s <= 0:
            raise ValueError(f"duration_s: must be > 0 seconds, got {self.duration_s}")
        if self.rate is not None and self.rate <= 0:
            raise ValueError(f"rate: must be > 0 per second or None (as fast as possible), "
                             f"got {self.rate}")  # fmt: skip
        if self.max_workers < 1:
            raise ValueError(f"max_workers: must be at least 1, got {self.max_workers}")

    def attack_command(self, binary: Path) -> list[str]:
        return [
            str(binary),
            "attack",
            "-format=json",
            f"-targets={self.targets}",
            f"-rate={self.rate or 0}",  # 0: no pacing, max_workers requests in flight
            f"-duration={self.duration_s}s",
            f"-workers={min(INITIAL_WORKERS, self.max_workers)}",
            f"-max-workers={self.max_workers}",
            f"-timeout={self.timeout_s}s",
            "-max-body=0",  # the report needs the status, not the answers
        ]

    @staticmethod
    def report_command(binary: Path) -> list[str]:
        return [str(binary), "report", "-type=json"]


@dataclass(frozen=True)
class VegetaReport:
    """What vegeta measured, in GhzReport's terms: requests, achieved rate, latency
    percentiles (ms), and failed requests by status code (0: no answer) and by message."""

    count: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    error_kinds: dict[str, int]
    error_messages: dict[str, int]

    @classmethod
    def from_json(cls, report: dict) -> VegetaReport:
        latencies = report.get("latencies") or {}
        statuses = report.get("status_codes") or {}
        error_kinds = {code: n for code, n in statuses.items() if not 200 <= int(code) < 300}
        return cls(
            count=int(report["requests"]),
            # The attack plus the wait for the last answers, as vegeta's own throughput.
            seconds=(report["duration"] + report["wait"]) / 1e9,
            rps=float(report["rate"]),
            p50_ms=latencies.get("50th", float("nan")) / 1e6,
            p99_ms=latencies.get("99th", float("nan")) / 1e6,
            errors=sum(error_kinds.values()),
            error_kinds=error_kinds,
            # vegeta lists each distinct error message once, without a count.
            error_messages={message: 1 for message in report.get("errors") or []},
        )

    @property
    def ok_per_s(self) -> float:
        """Successful requests per second."""
        return (self.count - self.errors) / self.seconds if self.seconds else 0.0


def run_vegeta(binary: Path, run: VegetaRun) -> VegetaReport:
    """`vegeta attack | vegeta report -type=json` once; the report, parsed."""
    with tempfile.TemporaryFile() as attack_errors:
        attack = subprocess.Popen(
            run.attack_command(binary), stdout=subprocess.PIPE, stderr=attack_errors
        )
        try:
            report = subprocess.run(
                run.report_command(binary),
                stdin=attack.stdout,
                capture_output=True,
                text=True,
                timeout=run.duration_s + run.timeout_s + 60,
            )
        finally:
            attack.stdout.close()  # so that the attack sees a broken pipe if the report died
            try:
                attack.wait(timeout=10)
            except subprocess.TimeoutExpired:
                attack.kill()
                attack.wait()
        attack_errors.seek(0)
        attack_stderr = attack_errors.read().decode(errors="replace")
    if attack.returncode != 0 or report.returncode != 0 or not report.stdout.strip():
        raise RuntimeError(
            f"vegeta failed (attack exit {attack.returncode}, report exit "
            f"{report.returncode}):\n{attack_stderr[-2000:]}{report.stderr[-2000:]}"
        )
    return VegetaReport.from_json(json.loads(report.stdout))
