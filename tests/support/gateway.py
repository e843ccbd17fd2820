"""The REST gateway in tests: the real `gateway/bin/ecap-gateway` binary as a subprocess on a
free port, in front of the gRPC backends it is given.

    with running_gateway(backends, log_path=tmp / "gateway.log") as gateway:
        httpx.get(f"{gateway.url}/healthz")

The binary is built first (`go build`, a no-op when nothing changed). The process
is ready once `/healthz` answers (whatever the status: a test may point it at a dead backend
on purpose), and stops with SIGTERM, which must end it cleanly.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from services.stack.gateway import build_gateway
from tests.support.net import free_port

REPO = Path(__file__).resolve().parents[2]
READY_TIMEOUT_S = 60.0
LOG_TAIL_CHARS = 4000

# The backends the gateway proxies, by the name of its flag.
BACKENDS = ("ingestion", "scoring", "analytics", "cases")


def gateway_binary() -> Path:
    """The gateway binary, (re)built from gateway/ first: `go build` is a no-op when nothing
    changed, and a binary older than its sources would test the wrong code."""
    try:
        return build_gateway()
    except RuntimeError as exc:
        pytest.fail(str(exc)[-LOG_TAIL_CHARS:])


@dataclass
class RunningGateway:
    """A gateway process: its base URL and its log (JSON lines on stdout, stderr beside)."""

    url: str
    log_path: Path
    process: subprocess.Popen

    def log_tail(self) -> str:
        """The end of the process's output, for failure messages."""
        return self.log_path.read_text(errors="replace")[-LOG_TAIL_CHARS:]

    def request_log(self) -> list[dict]:
        """The JSON lines the gateway logged so far (lines that are not JSON are skipped)."""
        entries = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(entry, dict):
                entries.append(entry)
        return entries


def _wait_until_answering(gateway: RunningGateway) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        if gateway.process.poll() is not None:
            pytest.fail(
                f"the gateway exited with {gateway.process.returncode} before answering "
                f"/healthz:\n{gateway.log_tail()}"
            )
        try:
            httpx.get(f"{gateway.url}/healthz", timeout=2.0)
            return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(
                f"the gateway did not answer /healthz within {READY_TIMEOUT_S:g} s:\n"
                f"{gateway.log_tail()}"
            )
        time.sleep(0.1)


def _stop(gateway: RunningGateway, grace_period_s: float) -> int:
    """SIGTERM, then SIGKILL if it outlives its grace period by far; returns the exit code."""
    gateway.process.send_signal(signal.SIGTERM)
    try:
        return gateway.process.wait(timeout=grace_period_s + 10)
    except subprocess.TimeoutExpired:
        gateway.process.kill()
        gateway.process.wait()
        pytest.fail(f"the gateway ignored SIGTERM:\n{gateway.log_tail()}")


@contextmanager
def running_gateway(
    backends: dict[str, str],
    *,
    log_path: Path,
    cors_origins: Sequence[str] = (),
    grace_period_s: float = 2.0,
) -> Iterator[RunningGateway]:
    """The gateway on a free port of 127.0.0.1 in front of `backends` (gRPC host:port by
    name: ingestion, scoring, analytics, cases); yields it once it answers `/healthz`, and
    checks that SIGTERM ends it with exit code 0."""
    missing = [name for name in BACKENDS if name not in backends]
    if missing:
        raise ValueError(f"backends: no address for {missing}; every one of {BACKENDS} is needed")
    port = free_port()
    command = [
        str(gateway_binary()),
        f"--listen=127.0.0.1:{port}",
        *(f"--{name}={backends[name]}" for name in BACKENDS),
        f"--cors-origins={','.join(cors_origins)}",
        f"--grace-period={grace_period_s:g}",
    ]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("w") as log_file:
        process = subprocess.Popen(command, cwd=REPO, stdout=log_file, stderr=subprocess.STDOUT)
        gateway = RunningGateway(f"http://127.0.0.1:{port}", log_path, process)
        try:
            _wait_until_answering(gateway)
            yield gateway
        except BaseException:
            if process.poll() is None:
                _stop(gateway, grace_period_s)
            raise
        exit_code = _stop(gateway, grace_period_s)
        assert exit_code == 0, (
            f"the gateway exited with {exit_code} on SIGTERM:\n{gateway.log_tail()}"
        )
