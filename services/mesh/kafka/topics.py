"""ECAP's Kafka topics as code: one topic per fact, declared once, created idempotently.

`TOPICS` declares every topic with its partition count and topic-level configs (retention
is always explicit). `ensure_topics(bootstrap)` creates the missing ones and reports what
existed; `describe_topics(bootstrap)` reads back what the cluster holds, as plain data, for
`ecap kafka topics`. The replication factor comes from `ECAP_KAFKA_REPLICATION_FACTOR`
(default 1, the embedded single-node broker).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (
    AdminClient,
    ClusterMetadata,
    ConfigResource,
    ConfigSource,
    NewTopic,
    ResourceType,
)

from services.mesh.kafka.config import KafkaSettings

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
GIB = 1 << 30


@dataclass(frozen=True)
class TopicSpec:
    """One topic as declared: name, partition count, topic-level configs and what it carries."""

    name: str
    partitions: int
    config: Mapping[str, str]
    carries: str


TOPICS: tuple[TopicSpec, ...] = (
    # Partitions bound the consumer parallelism of each fact; scoring replicas may later own
    # a share of the transactions partitions each, so that count is hard to change.
    TopicSpec(
        "transactions",
        6,
        {"retention.ms": str(7 * DAY_MS), "retention.bytes": "-1"},
        "ecap.v1.Transaction keyed by customer_id",
    ),
    TopicSpec(
        "user-events",
        12,
        # The highest-volume topic: a byte cap per partition keeps a busy simulator from
        # filling the disk of a one-machine stack.
        {"retention.ms": str(3 * DAY_MS), "retention.bytes": str(GIB)},
        "ecap.v1.BehaviorEvent keyed by session_id",
    ),
    TopicSpec(
        "product-updates",
        3,
        {
            "cleanup.policy": "compact",
            # Compaction keeps the latest version of every product for ever; tombstones
            # (delistings) stay a day so that slow consumers still see them.
            "retention.ms": "-1",
            "retention.bytes": "-1",
            "delete.retention.ms": str(DAY_MS),
            # The active segment is never compacted: roll hourly so compaction can run.
            "segment.ms": str(HOUR_MS),
        },
        "ecap.v1.Product keyed by product_id (latest version per product)",
    ),
    TopicSpec(
        "decisions",
        6,
        {"retention.ms": str(7 * DAY_MS), "retention.bytes": "-1"},
        "ecap.v1.Decision keyed by transaction_id",
    ),
    TopicSpec(
        "fraud-alerts",
        2,
        # Alerts must outlive any outage of the case service that consumes them.
        {"retention.ms": str(30 * DAY_MS), "retention.bytes": "-1"},
        "ecap.v1.FraudAlert (decisions REVIEW and DECLINE, with the transaction) keyed by "
        "transaction_id",
    ),
    TopicSpec(
        "case-events",
        2,
        {"retention.ms": str(30 * DAY_MS), "retention.bytes": "-1"},
        "ecap.v1.CaseEvent: case resolutions and reopenings (the training labels) keyed by case_id",
    ),
    TopicSpec(
        "dead-letter",
        1,
        # Kept long enough for an operator to inspect and replay rejected records.
        {"retention.ms": str(30 * DAY_MS), "retention.bytes": "-1"},
        "rejected record bytes plus a reason",
    ),
)


class KafkaUnavailableError(RuntimeError):
    """No broker answered at the configured bootstrap servers."""


@dataclass(frozen=True)
class EnsureResult:
    """What `ensure_topics` found and did."""

    created: tuple[str, ...]
    existed: tuple[str, ...]


@dataclass(frozen=True)
class TopicDescription:
    """A topic as the cluster holds it; `config` lists the topic-level overrides only."""

    name: str
    exists: bool
    partitions: int = 0
    replication_factor: int = 0
    config: dict[str, str] = field(default_factory=dict)


def min_insync_replicas(replication_factor: int) -> int:
    """The `min.insync.replicas` that lets `acks=all` survive one broker loss when it can."""
    return max(1, min(2, replication_factor - 1))


def topic_config(spec: TopicSpec, replication_factor: int) -> dict[str, str]:
    """The topic-level configs `spec` is created with at `replication_factor`."""
    return {**spec.config, "min.insync.replicas": str(min_insync_replicas(replication_factor))}


def admin_client(bootstrap: str) -> AdminClient:
    """An AdminClient for `bootstrap` that retries connections quickly and logs quietly."""
    return AdminClient(
        {
            "bootstrap.servers": bootstrap,
            "client.id": "ecap-admin",
            # The default backoff grows to 10 s, which hides a broker that just came up.
            "reconnect.backoff.max.ms": 500,
            # Connection-refused chatter while a broker starts is expected, not an error.
            "log_level": 2,
        }
    )


def cluster_metadata(admin: AdminClient, bootstrap: str, timeout_s: float) -> ClusterMetadata:
    """The cluster's metadata, or `KafkaUnavailableError` saying where nothing answered."""
    try:
        return admin.list_topics(timeout=timeout_s)
    except KafkaException as exc:
        raise KafkaUnavailableError(
            f"no Kafka broker answered at {bootstrap} within {timeout_s:g} s ({exc.args[0]}): "
            "start the local stack with `ecap up`, or point ECAP_KAFKA_BOOTSTRAP at a cluster"
        ) from exc


def ensure_topics(
    bootstrap: str,
    *,
    specs: Sequence[TopicSpec] = TOPICS,
    replication_factor: int | None = None,
    timeout_s: float = 30.0,
) -> EnsureResult:
    """Create the declared topics that are missing; existing ones are left as they are."""
    if replication_factor is None:
        replication_factor = KafkaSettings().replication_factor
    admin = admin_client(bootstrap)
    present = cluster_metadata(admin, bootstrap, timeout_s).topics
    existed = [spec.name for spec in specs if spec.name in present]
    missing = [spec for spec in specs if spec.name not in present]
    created: list[str] = []
    if missing:
        futures = admin.create_topics(
            [
                NewTopic(
                    spec.name,
                    num_partitions=spec.partitions,
                    replication_factor=replication_factor,
                    config=topic_config(spec, replication_factor),
                )
                for spec in missing
            ],
            operation_timeout=timeout_s,
            request_timeout=timeout_s,
        )
        for name, future in futures.items():
            try:
                future.result()
            except KafkaException as exc:
                error: KafkaError = exc.args[0]
                # Another process may have created it since we listed: still idempotent.
                if error.code() == KafkaError.TOPIC_ALREADY_EXISTS:
                    existed.append(name)
                    continue
                raise RuntimeError(
                    f"could not create Kafka topic {name!r} at {bootstrap}: {error.str()}"
                    + _hint(error, replication_factor)
                ) from exc
            created.append(name)
    return EnsureResult(created=tuple(created), existed=tuple(existed))


def _hint(error: KafkaError, replication_factor: int) -> str:
    if error.code() == KafkaError.INVALID_REPLICATION_FACTOR:
        return (
            f" (replication factor {replication_factor} exceeds the brokers available: "
            "lower ECAP_KAFKA_REPLICATION_FACTOR)"
        )
    return ""


def describe_topics(
    bootstrap: str, *, names: Iterable[str] | None = None, timeout_s: float = 30.0
) -> list[TopicDescription]:
    """Partitions, replication and topic-level configs of `names` (default: the declared)."""
    wanted = [spec.name for spec in TOPICS] if names is None else list(names)
    admin = admin_client(bootstrap)
    present = cluster_metadata(admin, bootstrap, timeout_s).topics
    existing = [name for name in wanted if name in present]
    configs: dict[str, dict[str, str]] = {}
    if existing:
        futures = admin.describe_configs(
            [ConfigResource(ResourceType.TOPIC, name) for name in existing],
            request_timeout=timeout_s,
        )
        for resource, future in futures.items():
            configs[resource.name] = {
                key: entry.value
                for key, entry in future.result().items()
                if entry.source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value
            }
    descriptions = []
    for name in wanted:
        if name not in present:
            descriptions.append(TopicDescription(name=name, exists=False))
            continue
        partitions = present[name].partitions
        descriptions.append(
            TopicDescription(
                name=name,
                exists=True,
                partitions=len(partitions),
                replication_factor=len(next(iter(partitions.values())).replicas),
                config=configs[name],
            )
        )
    return descriptions
