"""Services started as their own processes, as deployed: is one serving, and the ingestion one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.support.net import free_port
from tests.support.wait import wait_until

REPO = Path(__file__).resolve().parents[2]


def serving(address: str) -> bool:
    """True once the gRPC server at `address` reports SERVING on its health service."""
    with grpc.insecure_channel(address) as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=1
            )
        except grpc.RpcError:
            return False
    return reply.status == health_pb2.HealthCheckResponse.SERVING


def start_ingestion(
    settings: dict[str, str], timeout_s: float = 60
) -> tuple[subprocess.Popen, str]:
    """`python -m services.ingestion` on a free port with `settings` (ECAP_* variables), once
    it serves: the process and its address. Its log is discarded (warnings only)."""
    port = free_port()
    env = {
        **os.environ,
        "ECAP_INGESTION_PORT": str(port),
        "ECAP_INGESTION_METRICS_PORT": "0",
        "ECAP_LOG_LEVEL": "WARNING",
        **settings,
    }
    service = subprocess.Popen(
        [sys.executable, "-m", "services.ingestion"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    address = f"127.0.0.1:{port}"

    def up() -> bool:
        assert service.poll() is None, f"the ingestion service exited with {service.returncode}"
        return serving(address)

    wait_until(up, f"the ingestion service at {address}", timeout_s)
    return service, address
