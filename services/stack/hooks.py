"""Launch and after-ready hooks that `compose/stack.yaml` names for its non-Python processes."""

from __future__ import annotations

from services.mesh.kafka.config import KafkaSettings
from services.mesh.kafka.topics import ensure_topics
from services.stack.definition import Delegated
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
