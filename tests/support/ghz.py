"""ghz, the gRPC load generator (github.com/bojand/ghz), for benchmarks.

    binary = ensure_ghz()                      # `go install`ed into .cache/ on first use
    report = run_ghz(binary, GhzRun(...))      # one load step; its JSON report, parsed

ghz is not ours, so the figures it reports are not flattered by our own client code. It is
built from source with the Go toolchain (`go install`, through the Go module proxy) into
`.cache/go/bin/`, with its module and build caches under `.cache/go/` as well; later runs
reuse the binary. Requests come from a file of count-delimited binary messages (`-B`): ghz
decodes them once and sends request n with message n (modulo the count), so a file of N
distinct messages and a run of at most N requests never repeats one. A run lasts a duration
(`-z`; this ghz ignores `--total` whenever a duration is given, `--max-duration` included),
so at a fixed rate R for D seconds it sends about R x D requests.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from google.protobuf.message import Message

from tests.support.go_install import GoTool, go_install

REPO = Path(__file__).resolve().parents[2]
GHZ_VERSION = "v0.93.0"
GHZ = GoTool("github.com/bojand/ghz", GHZ_VERSION, "ghz", package="github.com/bojand/ghz/cmd/ghz")


def ensure_ghz() -> Path:
    """The ghz binary of GHZ_VERSION, installed with `go install` on first use."""
    return go_install(GHZ)


def write_messages(path: Path, messages: Iterable[Message]) -> int:
    """Write `messages` count-delimited (varint length, then the bytes) for ghz's `-B`;
    returns the largest message size in bytes."""
    largest = 0
    with path.open("wb") as out:
        for message in messages:
            data = message.SerializeToString()
            largest = max(largest, len(data))
            out.write(_varint(len(data)))
            out.write(data)
    return largest


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


@dataclass(frozen=True)
class GhzRun:
    """One ghz run: calls to `call` at `target` for `duration_s`, offered at `rps` per second
    (None: as fast as `concurrency` workers go)."""

    target: str
    call: str
    protoset: Path
    messages: Path
    duration_s: float
    rps: int | None
    concurrency: int
    connections: int = 1
    metadata: dict[str, str] = field(default_factory=dict)
    timeout_s: float = 10.0

    def command(self, binary: Path) -> list[str]:
        command = [
            str(binary),
            "--insecure",
            f"--protoset={self.protoset}",
            f"--call={self.call}",
            f"--binary-file={self.messages}",
            f"--concurrency={self.concurrency}",
            f"--connections={self.connections}",
            f"--timeout={self.timeout_s}s",
            f"--duration={self.duration_s}s",
            # At the end, wait for the calls in flight rather than cancel them.
            "--duration-stop=wait",
            "--format=json",
        ]
        if self.rps:
            command.append(f"--rps={self.rps}")
        if self.metadata:
            command.append(f"--metadata={json.dumps(self.metadata)}")
        return [*command, self.target]


@dataclass(frozen=True)
class GhzReport:
    """What ghz measured: requests, achieved rate, latency percentiles (ms) of the successful
    calls, and failed calls by status code and by message."""

    count: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    error_kinds: dict[str, int]  # by status code
    error_messages: dict[str, int]

    @classmethod
    def from_json(cls, report: dict) -> GhzReport:
        percentiles = {
            round(entry["percentage"]): entry["latency"] / 1e6
            for entry in report.get("latencyDistribution") or []
        }
        statuses = report.get("statusCodeDistribution") or {}
        error_kinds = {code: n for code, n in statuses.items() if code != "OK"}
        return cls(
            count=int(report["count"]),
            seconds=report["total"] / 1e9,
            rps=float(report["rps"]),
            p50_ms=percentiles.get(50, float("nan")),
            p99_ms=percentiles.get(99, float("nan")),
            errors=sum(error_kinds.values()),
            error_kinds=error_kinds,
            error_messages=dict(report.get("errorDistribution") or {}),
        )

    @property
    def ok_per_s(self) -> float:
        """Successful calls per second."""
        return (self.count - self.errors) / self.seconds if self.seconds else 0.0


def run_ghz(binary: Path, run: GhzRun) -> GhzReport:
    """Run ghz once and parse its JSON report."""
    result = subprocess.run(
        run.command(binary),
        capture_output=True,
        text=True,
        timeout=run.duration_s + run.timeout_s + 60,
    )
    if result.returncode != 0 or not result.stdout.strip():
        raise RuntimeError(f"ghz failed (exit {result.returncode}):\n{result.stderr[-2000:]}")
    return GhzReport.from_json(json.loads(result.stdout))
