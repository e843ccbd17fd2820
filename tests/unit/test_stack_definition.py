"""The stack definition file and the client service config."""

import json
import sys

import pytest

from services.mesh.client import service_config
from services.mesh.config import ClientSettings
from services.stack.config import REPO_ROOT
from services.stack.definition import load_definition


def test_the_shipped_stack_runs_the_four_services_on_their_default_ports():
    definition = load_definition(REPO_ROOT / "compose" / "stack.yaml")
    addresses = {p.name: p.ready.address for p in definition.processes}
    assert {
        "ingestion": "127.0.0.1:50051",
        "scoring": "127.0.0.1:50052",
        "analytics": "127.0.0.1:50053",
        "cases": "127.0.0.1:50054",
    }.items() <= addresses.items()


def test_python_placeholder_is_the_running_interpreter():
    definition = load_definition(REPO_ROOT / "compose" / "stack.yaml")
    ingestion = next(p for p in definition.processes if p.name == "ingestion")
    assert ingestion.argv()[0] == sys.executable


def test_kafka_is_started_first_through_its_launcher():
    definition = load_definition(
        REPO_ROOT / "compose" / "stack.yaml", {"kafka_bootstrap": "broker:29092"}
    )
    kafka = definition.processes[0]
    assert kafka.name == "kafka" and kafka.command is None
    assert kafka.launcher == "services.stack.hooks:kafka_broker"
    assert kafka.ready.kafka == "broker:29092"


def test_invalid_definition_names_the_file_and_field(tmp_path):
    path = tmp_path / "stack.yaml"
    path.write_text("processes:\n  - name: Bad Name\n    command: []\n    ready: {}\n")
    with pytest.raises(ValueError) as caught:
        load_definition(path)
    message = str(caught.value)
    assert str(path) in message and "name" in message and "command" in message


def test_retry_policy_retries_only_unavailable():
    config = json.loads(service_config(ClientSettings(retry_max_attempts=3)))
    policy = config["methodConfig"][0]["retryPolicy"]
    assert policy["retryableStatusCodes"] == ["UNAVAILABLE"]
    assert policy["maxAttempts"] == 3
