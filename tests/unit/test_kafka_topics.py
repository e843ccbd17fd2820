"""Kafka logic without a broker: topic declarations, record keys and headers, broker config."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from ecap.v1 import common_pb2
from services.mesh.kafka.config import KafkaSettings
from services.mesh.kafka.producer import (
    KEY_FIELDS,
    producer_config,
    record_headers,
    record_key,
)
from services.mesh.kafka.topics import TOPICS, min_insync_replicas, topic_config
from services.stack.kafka import (
    BROKER_MAIN,
    PROPERTIES_TEMPLATE,
    BrokerSettings,
    BrokerSetupError,
    broker_command,
    ensure_jars,
    jars_present,
    new_cluster_id,
    render_properties,
)


def parse_properties(text: str) -> dict[str, str]:
    """A Java properties file's key=value lines (our files use no continuations)."""
    pairs = (line.split("=", 1) for line in text.splitlines() if line and line[0] not in "#!")
    return {key.strip(): value.strip() for key, value in pairs}


# --- topics -------------------------------------------------------------------------------


def test_the_declared_topics_are_the_designed_ones() -> None:
    assert [(spec.name, spec.partitions) for spec in TOPICS] == [
        ("transactions", 6),
        ("user-events", 12),
        ("product-updates", 3),
        ("decisions", 6),
        ("fraud-alerts", 2),
        ("case-events", 2),
        ("dead-letter", 1),
    ]


def test_only_product_updates_is_compacted() -> None:
    compacted = [s.name for s in TOPICS if s.config.get("cleanup.policy", "delete") == "compact"]

    assert compacted == ["product-updates"]


@pytest.mark.parametrize("spec", TOPICS, ids=lambda spec: spec.name)
def test_every_topic_states_its_retention(spec) -> None:
    assert {"retention.ms", "retention.bytes"} <= spec.config.keys()
    assert all(isinstance(value, str) for value in spec.config.values())


@pytest.mark.parametrize(("replication_factor", "expected"), [(1, 1), (2, 1), (3, 2), (5, 2)])
def test_min_insync_replicas_follows_the_replication_factor(replication_factor, expected) -> None:
    assert min_insync_replicas(replication_factor) == expected


def test_topic_config_adds_min_insync_replicas_to_the_declaration() -> None:
    transactions = TOPICS[0]

    assert topic_config(transactions, 3) == {**transactions.config, "min.insync.replicas": "2"}


def test_replication_factor_and_bootstrap_come_from_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("ECAP_KAFKA_REPLICATION_FACTOR", "3")
    monkeypatch.setenv("ECAP_KAFKA_BOOTSTRAP", "kafka-1:9092,kafka-2:9092")

    settings = KafkaSettings()

    assert settings.replication_factor == 3
    assert settings.external
    assert settings.bootstrap_servers == "kafka-1:9092,kafka-2:9092"


def test_without_a_bootstrap_the_embedded_broker_is_used(monkeypatch) -> None:
    monkeypatch.delenv("ECAP_KAFKA_BOOTSTRAP", raising=False)
    monkeypatch.setenv("ECAP_KAFKA_PORT", "19092")

    settings = KafkaSettings()

    assert not settings.external
    assert settings.bootstrap_servers == "127.0.0.1:19092"


# --- record keys and headers --------------------------------------------------------------


def test_each_message_type_is_keyed_by_the_entity_it_is_ordered_by() -> None:
    assert record_key(common_pb2.Transaction(transaction_id="t-1", customer_id="c-9")) == b"c-9"
    assert record_key(common_pb2.BehaviorEvent(event_id="e-1", session_id="s-4")) == b"s-4"
    assert record_key(common_pb2.Decision(decision_id="d-1", transaction_id="t-7")) == b"t-7"
    assert record_key(common_pb2.Product(product_id="p-3")) == b"p-3"
    alert = common_pb2.FraudAlert(
        alert_id="a-1", decision=common_pb2.Decision(transaction_id="t-8")
    )
    assert record_key(alert) == b"t-8"
    assert record_key(common_pb2.CaseEvent(event_id="v-1", case_id="case-2")) == b"case-2"


def test_the_key_table_names_real_fields_of_real_messages() -> None:
    for type_name, field in KEY_FIELDS.items():
        message_name = type_name.removeprefix("ecap.v1.")
        descriptor = common_pb2.DESCRIPTOR.message_types_by_name[message_name]
        *parents, leaf = field.split(".")
        for parent in parents:
            descriptor = descriptor.fields_by_name[parent].message_type
        assert descriptor.fields_by_name[leaf].type == descriptor.fields_by_name[leaf].TYPE_STRING


def test_a_message_type_without_a_declared_key_is_refused() -> None:
    with pytest.raises(ValueError, match=r"no Kafka key declared for ecap\.v1\.Money"):
        record_key(common_pb2.Money(amount_minor=1, currency="EUR"))


def test_an_empty_key_is_refused() -> None:
    with pytest.raises(ValueError, match=r"ecap\.v1\.Transaction\.customer_id is empty"):
        record_key(common_pb2.Transaction(transaction_id="t-1"))


def test_the_ce_type_header_is_the_fully_qualified_message_name() -> None:
    assert record_headers(common_pb2.Decision()) == [("ce_type", b"ecap.v1.Decision")]


def test_producers_are_idempotent_with_acks_all_whatever_the_tuning() -> None:
    config = producer_config("127.0.0.1:9092", "ingestion", {"linger.ms": 50})

    assert config["enable.idempotence"] is True
    assert config["acks"] == "all"
    assert config["linger.ms"] == 50
    assert config["client.id"] == "ingestion"


@pytest.mark.parametrize("override", [{"acks": "1"}, {"enable.idempotence": False}])
def test_the_delivery_guarantees_cannot_be_overridden(override) -> None:
    with pytest.raises(ValueError, match="may not be overridden"):
        producer_config("127.0.0.1:9092", config=override)


# --- the embedded broker's configuration --------------------------------------------------


def broker_settings(tmp_path: Path) -> BrokerSettings:
    return BrokerSettings(
        bootstrap=None,
        host="127.0.0.1",
        port=19092,
        controller_port=19093,
        run_dir=tmp_path / "run",
        cache_dir=tmp_path / "cache",
        heap="384m",
        java="java",
    )


def test_rendered_properties_configure_a_single_kraft_node(tmp_path: Path) -> None:
    settings = broker_settings(tmp_path)

    rendered = render_properties(PROPERTIES_TEMPLATE.read_text(), settings)
    properties = parse_properties(rendered)

    assert "$" not in rendered
    assert properties["process.roles"] == "broker,controller"
    assert properties["node.id"] == "1"
    assert properties["listeners"] == ("PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093")
    assert properties["controller.quorum.bootstrap.servers"] == "127.0.0.1:19093"
    assert properties["log.dirs"] == str((tmp_path / "run" / "data").resolve())
    assert properties["auto.create.topics.enable"] == "false"
    replication = {k: v for k, v in properties.items() if "replication.factor" in k}
    assert replication and set(replication.values()) == {"1"}
    assert properties["transaction.state.log.min.isr"] == "1"


def test_an_unknown_placeholder_in_the_template_is_reported(tmp_path: Path) -> None:
    with pytest.raises(BrokerSetupError, match="placeholder"):
        render_properties("log.dirs=${nowhere}\n", broker_settings(tmp_path))


def test_the_broker_command_runs_kafka_from_the_cached_jars(tmp_path: Path) -> None:
    settings = broker_settings(tmp_path)

    command = broker_command(settings)

    assert command[0] == "java"
    assert "-Xmx384m" in command
    assert command[command.index("-cp") + 1] == f"{(tmp_path / 'cache' / 'lib').resolve()}/*"
    assert command[-2:] == [BROKER_MAIN, str(settings.properties_file.resolve())]


def test_jars_count_as_present_only_for_the_pom_they_were_fetched_for(tmp_path: Path) -> None:
    settings = broker_settings(tmp_path)
    assert not jars_present(settings)

    settings.lib_dir.mkdir(parents=True)
    (settings.lib_dir / ".pom-sha256").write_text("a-different-pom\n")
    assert not jars_present(settings)


def test_fetching_jars_without_maven_says_what_to_install(tmp_path: Path) -> None:
    settings = broker_settings(tmp_path).model_copy(update={"mvn": "no-such-mvn"})

    with pytest.raises(BrokerSetupError, match=r"Maven \('no-such-mvn'\) is needed once"):
        ensure_jars(settings)


def test_a_failed_fetch_leaves_no_jars_that_look_complete(tmp_path: Path) -> None:
    settings = broker_settings(tmp_path).model_copy(update={"mvn": "false"})

    with pytest.raises(BrokerSetupError, match=r"failed \(exit 1\)"):
        ensure_jars(settings)
    assert not settings.lib_dir.exists()
    assert not jars_present(settings)


def test_cluster_ids_are_random_16_byte_uuids_in_url_safe_base64() -> None:
    first, second = new_cluster_id(), new_cluster_id()

    assert first != second
    assert len(first) == 22
    assert len(base64.urlsafe_b64decode(first + "==")) == 16


def test_cluster_ids_never_start_with_a_dash() -> None:
    # One in 64 random ids would; `kafka-storage format --cluster-id -x...` reads it as an option.
    assert not any(new_cluster_id().startswith("-") for _ in range(2_000))
