"""Each service as a real subprocess: health, metrics, tokens from `ecap token`, SIGTERM drain."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from ecap.v1 import common_pb2
from tests.support import probe_service as probe
from tests.support.net import free_port

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
ECAP = str(Path(sys.executable).parent / "ecap")
GRACE_S = 5.0


def _wait_serving(address: str, process: subprocess.Popen, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            assert process.poll() is None, process.stdout.read().decode()
            try:
                reply = stub.Check(health_pb2.HealthCheckRequest(), timeout=1)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            time.sleep(0.1)
    raise AssertionError(f"{address} never reported SERVING")


def _metrics(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        return reply.read().decode()


def _in_flight(port: int, service: str) -> float:
    for line in _metrics(port).splitlines():
        if line.startswith(f'ecap_grpc_server_in_flight{{service="{service}"}}'):
            return float(line.split()[-1])
    return 0.0


@pytest.mark.parametrize("service", ["ingestion", "scoring", "analytics", "cases"])
def test_service_serves_and_drains_on_sigterm(service, jwt_secret):
    port, metrics_port = free_port(), free_port()
    prefix = f"ECAP_{service.upper()}_"
    env = {
        **os.environ,
        "ECAP_JWT_SECRET": jwt_secret,
        f"{prefix}PORT": str(port),
        f"{prefix}METRICS_PORT": str(metrics_port),
        f"{prefix}GRACE_PERIOD_S": str(GRACE_S),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.support.serve_with_probe", service],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    address = f"127.0.0.1:{port}"
    try:
        _wait_serving(address, process)
        # A token minted by the CLI is accepted by the running service.
        token = subprocess.run(
            [ECAP, "token", "--role", "service", "--sub", "ci-bot"],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()

        slow = common_pb2.Transaction(
            transaction_id="slow-1",
            customer_id="c-1",
            merchant_id="m-1",
            amount=common_pb2.Money(amount_minor=2000, currency="EUR"),  # 2000 ms
        )
        slow.occurred_at.GetCurrentTime()
        outcome: dict[str, object] = {}

        def call_slow() -> None:
            with grpc.insecure_channel(address) as channel:
                try:
                    outcome["reply"] = probe.call(
                        channel,
                        probe.SLOW,
                        slow,
                        metadata=[("authorization", f"Bearer {token}")],
                        timeout=30,
                    )
                except grpc.RpcError as exc:
                    outcome["error"] = exc

        caller = threading.Thread(target=call_slow)
        caller.start()
        deadline = time.monotonic() + 10
        while _in_flight(metrics_port, service) < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert _in_flight(metrics_port, service) == 1, "the slow RPC never started"

        process.send_signal(signal.SIGTERM)
        caller.join(30)
        exit_code = process.wait(timeout=GRACE_S + 20)
        log = process.stdout.read().decode()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    assert "error" not in outcome, outcome.get("error")
    assert outcome["reply"].transaction_id == "slow-1"  # the in-flight RPC completed
    assert exit_code == 0, log
    assert '"event": "draining"' in log and '"event": "stopped"' in log
    assert '"principal": "ci-bot"' in log  # the RPC log line names the token's subject


def test_service_without_a_key_source_fails_fast(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ECAP_JWT")} | {
        "ECAP_JWT_SECRET_FILE": str(tmp_path / "absent"),
        "ECAP_CASES_PORT": str(free_port()),
    }
    result = subprocess.run(
        [sys.executable, "-m", "services.cases"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "ECAP_JWT_SECRET" in result.stdout
