"""Launch and after-ready hooks that `compose/stack.yaml` names for its non-Python processes."""

from __future__ import annotations

import subprocess
import sys

from services.mesh.kafka.config import KafkaSettings
from services.mesh.kafka.topics import ensure_topics
from services.stack.config import ModelServerSettings
from services.stack.definition import Delegated
from services.stack.gateway import gateway_command
from services.stack.kafka import BrokerSettings, prepare


def kafka_broker() -> list[str] | Delegated:
    """The embedded broker's command (jars fetched, storage formatted), or the external cluster."""
    settings = BrokerSettings()
    if settings.external:
        return Delegated(f"external Kafka at {settings.bootstrap}")
    return prepare(settings)


def kafka_topics() -> str:
    """Create the declared topics that are missing; say what was done."""
    result = ensure_topics(KafkaSettings().bootstrap_servers)
    return f"topics created: {len(result.created)}, already there: {len(result.existed)}"


def _model_server(kind: str) -> list[str]:
    """The BentoML service of `kind`; on a machine whose model store has no champion yet, a
    first model is trained on a simulated world before (`ecap models bootstrap`)."""
    bootstrap = [sys.executable, "-m", "models.training", "models", "bootstrap", kind]
    subprocess.run(bootstrap, check=True)
    settings = ModelServerSettings()
    port = settings.fraud_port if kind == "fraud" else settings.churn_port
    return [
        sys.executable,
        "-m",
        "bentoml",
        "serve",
        f"models.serving.services:{kind.capitalize()}",
        "--host",
        settings.host,
        "--port",
        str(port),
    ]


def fraud_model_server() -> list[str]:
    """`bentoml serve` of the fraud model (its champion; trained first if there is none)."""
    return _model_server("fraud")


def churn_model_server() -> list[str]:
    """`bentoml serve` of the churn model (its champion; trained first if there is none)."""
    return _model_server("churn")


def gateway() -> list[str]:
    """The REST gateway's command, built from `gateway/` first when its sources changed."""
    return gateway_command()
