"""`ecap up`, `ecap status` and `ecap down` on real processes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import grpc
import pytest
import yaml
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.support.net import free_port

pytestmark = pytest.mark.integration

ECAP = str(Path(sys.executable).parent / "ecap")
REPO = Path(__file__).resolve().parents[2]
SERVICES = ["ingestion", "scoring", "analytics", "cases"]


def _ecap(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([ECAP, *args], env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture()
def stack_env(tmp_path):
    """A stack definition with the four services on free ports, and its own run dir."""
    ports = {name: (free_port(), free_port()) for name in SERVICES}
    processes = [
        {
            "name": name,
            "command": ["{python}", "-m", f"services.{name}"],
            "ready": {"grpc": f"127.0.0.1:{port}"},
            "metrics": f"http://127.0.0.1:{metrics}/metrics",
            "env": {
                f"ECAP_{name.upper()}_PORT": str(port),
                f"ECAP_{name.upper()}_METRICS_PORT": str(metrics),
            },
        }
        for name, (port, metrics) in ports.items()
    ]
    definition = tmp_path / "stack.yaml"
    definition.write_text(yaml.safe_dump({"processes": processes}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("ECAP_")}
    env |= {"ECAP_STACK_DEFINITION": str(definition), "ECAP_STACK_RUN_DIR": str(tmp_path / "run")}
    yield env, ports, tmp_path
    _ecap("down", env=env)


def test_up_status_token_down(stack_env):
    env, ports, tmp_path = stack_env
    up = _ecap("up", env=env)
    assert up.returncode == 0, up.stderr
    for name in SERVICES:
        assert f"{name}: ready" in up.stderr

    status = _ecap("status", env=env)
    assert status.returncode == 0, status.stdout + status.stderr
    assert status.stdout.count("SERVING") == len(SERVICES)
    assert (tmp_path / "run" / "logs" / "cases.log").exists()

    # `up` again is idempotent: nothing is started twice.
    again = _ecap("up", env=env)
    assert again.returncode == 0 and again.stderr.count("already running") == len(SERVICES)

    # The token from `ecap token` is signed with the stack's secret, so services accept it;
    # health answers without one, and an unknown method with a token is refused by role.
    token = _ecap("token", "--role", "viewer", "--sub", "ops", env=env).stdout.strip()
    port = ports["ingestion"][0]
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
        assert health.status == health_pb2.HealthCheckResponse.SERVING
        call = channel.unary_unary("/ecap.v1.IngestionService/NoSuchMethod")
        with pytest.raises(grpc.RpcError) as caught:
            call(b"", metadata=[("authorization", f"Bearer {token}")], timeout=5)
        assert caught.value.code() is grpc.StatusCode.UNIMPLEMENTED

    down = _ecap("down", env=env)
    assert down.returncode == 0
    assert down.stderr.count("stopped") == len(SERVICES)
    after = _ecap("status", env=env)
    assert after.returncode == 1 and after.stdout.count("STOPPED") == len(SERVICES)


def test_up_names_the_process_that_failed_and_stops_the_rest(tmp_path):
    port = free_port()
    definition = tmp_path / "stack.yaml"
    definition.write_text(
        yaml.safe_dump(
            {
                "processes": [
                    {
                        "name": "ingestion",
                        "command": ["{python}", "-m", "services.ingestion"],
                        "ready": {"grpc": f"127.0.0.1:{port}"},
                        "env": {
                            "ECAP_INGESTION_PORT": str(port),
                            "ECAP_INGESTION_METRICS_PORT": "0",
                        },
                    },
                    {
                        "name": "broken",
                        "command": [
                            "{python}",
                            "-c",
                            "print('missing ECAP_FOO'); raise SystemExit(3)",
                        ],
                        "ready": {"tcp": f"127.0.0.1:{free_port()}"},
                    },
                ]
            }
        )
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("ECAP_")}
    env |= {"ECAP_STACK_DEFINITION": str(definition), "ECAP_STACK_RUN_DIR": str(tmp_path / "run")}
    up = _ecap("up", env=env)
    assert up.returncode == 1
    assert "broken exited during start-up" in up.stderr
    assert "missing ECAP_FOO" in up.stderr  # the tail of its log
    assert "ingestion: stopped" in up.stderr  # what did start was stopped again
    status = _ecap("status", env=env)
    assert "SERVING" not in status.stdout


def test_external_kafka_bootstrap_starts_no_broker(tmp_path, kafka_broker):
    definition = tmp_path / "stack.yaml"
    kafka_only = yaml.safe_load((REPO / "compose" / "stack.yaml").read_text())["processes"][:1]
    assert kafka_only[0]["name"] == "kafka"
    definition.write_text(yaml.safe_dump({"processes": kafka_only}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("ECAP_")}
    env |= {
        "ECAP_STACK_DEFINITION": str(definition),
        "ECAP_STACK_RUN_DIR": str(tmp_path / "run"),
        "ECAP_KAFKA_BOOTSTRAP": kafka_broker.bootstrap,
        # Were a broker started anyway, it would live here.
        "ECAP_KAFKA_RUN_DIR": str(tmp_path / "would-be-broker"),
    }
    up = _ecap("up", env=env)
    assert up.returncode == 0, up.stderr
    assert f"external Kafka at {kafka_broker.bootstrap}" in up.stderr
    assert "topics created" in up.stderr
    assert not (tmp_path / "run" / "pids" / "kafka.pid").exists()
    assert not (tmp_path / "would-be-broker").exists()
    status = _ecap("status", env=env)
    assert status.returncode == 0 and "SERVING" in status.stdout
    topics = _ecap("kafka", "topics", env=env)
    assert topics.returncode == 0, topics.stdout + topics.stderr
    rows = {line.split("│")[1].strip(): line for line in topics.stdout.splitlines() if "│" in line}
    assert rows["transactions"].split("│")[2].strip() == "6"
    assert rows["user-events"].split("│")[2].strip() == "12"
    assert "cleanup.policy=compact" in rows["product-updates"]
    down = _ecap("down", env=env)
    assert down.returncode == 0
    assert kafka_broker.process.running  # the external broker is not ours to stop
