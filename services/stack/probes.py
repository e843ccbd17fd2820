"""Readiness probes: gRPC health, Kafka metadata, TCP connect, HTTP GET, a file."""

from __future__ import annotations

import socket
import urllib.error
import urllib.request
from pathlib import Path

import grpc
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.stack.definition import Readiness


def grpc_health(address: str, timeout_s: float = 1.0) -> str:
    """The overall health status name at `address` (`SERVING`, …), or `UNREACHABLE`."""
    with grpc.insecure_channel(address) as channel:
        try:
            response = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=""), timeout=timeout_s
            )
        except grpc.RpcError:
            return "UNREACHABLE"
    return health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)


def tcp_open(address: str, timeout_s: float = 1.0) -> bool:
    """True when something accepts TCP connections at `host:port`."""
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout_s):
            return True
    except OSError:
        return False


def http_ok(url: str, timeout_s: float = 1.0) -> bool:
    """True when a GET of `url` answers 200."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def kafka_answers(bootstrap: str, timeout_s: float = 1.0) -> bool:
    """True when a Kafka broker at `bootstrap` answers a metadata request."""
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
    try:
        return bool(admin.list_topics(timeout=timeout_s).brokers)
    except KafkaException:
        return False


def probe(ready: Readiness) -> str:
    """`SERVING` when the process is ready, otherwise a short word saying what was seen."""
    if ready.grpc:
        return grpc_health(ready.grpc)
    if ready.kafka:
        return "SERVING" if kafka_answers(ready.kafka) else "UNREACHABLE"
    if ready.file:
        return "SERVING" if Path(ready.file).is_file() else "STARTING"
    if ready.http:
        return "SERVING" if http_ok(ready.http) else "UNREACHABLE"
    if ready.tcp:
        return "SERVING" if tcp_open(ready.tcp) else "UNREACHABLE"
    return "UNKNOWN"
