"""The lake's table catalogue, quality rules, stream wiring and status file; no JVM."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from services.mesh.kafka.topics import TOPICS
from spark.config import SparkSettings
from spark.quality import RULES, Rule, rules_for
from spark.streaming.config import LakeSettings
from spark.streaming.job import STREAMS, select_streams
from spark.streaming.status import kafka_offsets_behind, read_status, stream_status, write_status
from spark.tables import TABLES, TableSpec, bronze_for_topic, parse_type, table, tables_in


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("ECAP_SPARK_", "ECAP_LAKE_", "ECAP_KAFKA_")):
            monkeypatch.delenv(name)


def test_the_catalogue_imports_without_pyspark() -> None:
    # The analytics service reads the catalogue and must not need a JVM or pyspark for it.
    code = (
        "import sys, spark.tables, spark.quality; "
        "assert not [m for m in sys.modules if m.startswith('pyspark')], 'pyspark imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_every_topic_but_the_dead_letters_has_a_bronze_table() -> None:
    topics = {spec.name for spec in TOPICS} - {"dead-letter"}
    assert {spec.topic for spec in tables_in("bronze")} == topics
    for topic in topics:
        spec = bronze_for_topic(topic)
        assert spec.name == "bronze_" + topic.replace("-", "_")
        assert spec.partition_by == ("ingest_date",)
        assert spec.key == ("topic", "partition", "offset")
        assert {"key", "value", "ce_type", "timestamp"} <= set(spec.columns)


def test_the_silver_and_gold_tables_are_declared() -> None:
    assert [spec.name for spec in tables_in("silver")] == [
        "transactions",
        "transaction_items",
        "events",
        "transaction_sessions",
        "products",
        "customers",
        "decisions",
        "alerts",
        "labels",
        "quarantine",
    ]
    gold = [spec.name for spec in tables_in("gold")]
    assert gold[:2] == ["kpi_minute", "traffic_minute"]
    for spec in TABLES.values():
        assert spec.description and spec.retention_days >= 1, spec.name
        assert spec.key, f"{spec.name} declares no key"


def test_tables_live_below_the_lake_by_layer() -> None:
    settings = SparkSettings(lake_uri="s3a://ecap/lake/")
    assert table("transactions").uri(settings) == "s3a://ecap/lake/silver/transactions"
    assert table("bronze_user_events").relative_path == "bronze/bronze_user_events"
    assert table("kpi_minute").uri(settings) == "s3a://ecap/lake/gold/kpi_minute"
    with pytest.raises(KeyError, match="declared: "):
        table("nope")


def test_schemas_turn_into_spark_types() -> None:
    spec = table("quarantine")
    schema = spec.spark_schema()
    assert schema.fieldNames() == spec.column_names
    assert schema["failed_rules"].dataType.simpleString() == "array<string>"
    assert schema["kafka_offset"].dataType.simpleString() == "bigint"
    assert spec.ddl().startswith("`source_table` string, `failed_rules` array<string>")
    for spec in TABLES.values():
        simple = [field.dataType.simpleString() for field in spec.spark_schema().fields]
        assert simple == list(spec.columns.values()), spec.name


def test_schemas_turn_into_duckdb_tables() -> None:
    import duckdb

    db = duckdb.connect()
    for spec in TABLES.values():
        db.execute(f'create table "{spec.name}" ({spec.duckdb_ddl()})')
        described = db.execute(f'describe "{spec.name}"').fetchall()
        assert [row[0] for row in described] == spec.column_names, spec.name
    types = {row[0]: row[1] for row in db.execute('describe "quarantine"').fetchall()}
    assert types["failed_rules"] == "VARCHAR[]"
    assert types["kafka_timestamp"] == "TIMESTAMP WITH TIME ZONE"


def test_type_strings_are_checked() -> None:
    assert parse_type("map<string, array<bigint>>") == ("map", "string", ("array", "bigint"))
    with pytest.raises(ValueError, match=r"t\.c: unsupported type 'decimal\(10,2\)'"):
        parse_type("decimal(10,2)", where="t.c")
    with pytest.raises(ValueError, match="partition column"):
        TableSpec("t", "silver", {"a": "string"}, "d", partition_by=("b",))
    with pytest.raises(ValueError, match="unsupported type"):
        TableSpec("t", "silver", {"a": "varchar"}, "d")


def test_the_streams_fill_exactly_the_tables_that_say_so() -> None:
    written = {name for stream in STREAMS for name in stream.writes}
    assert written == {spec.name for spec in TABLES.values() if spec.filled_by}
    for stream in STREAMS:
        assert all(TABLES[name].layer == stream.layer for name in stream.writes), stream.name
        assert set(stream.reads) <= set(TABLES), stream.name
    assert len({stream.name for stream in STREAMS}) == len(STREAMS)


def test_unknown_streams_are_named() -> None:
    assert [s.name for s in select_streams(["gold_kpi_minute"])] == ["gold_kpi_minute"]
    assert len(select_streams(None)) == len(STREAMS)
    with pytest.raises(ValueError, match=r"unknown lake streams \['gold_kpi_hour'\]"):
        select_streams(["gold_kpi_hour"])


def test_rules_name_declared_tables_and_are_unique_per_table() -> None:
    for rule in RULES:
        assert rule.table in TABLES and TABLES[rule.table].layer == "silver", rule.name
        assert rule.severity in ("error", "warn"), rule.name
    for name in {rule.table for rule in RULES}:
        names = [rule.name for rule in rules_for(name)]
        assert len(names) == len(set(names)), name
        # Gates come first: a rule after a gate assumes the gate held.
        gates = [rule.gate for rule in rules_for(name)]
        assert gates == sorted(gates, reverse=True), name
    assert rules_for("transactions", [Rule("r", "events", "true")]) == []


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ECAP_LAKE_TRIGGER_S", "2.5")
    monkeypatch.setenv("ECAP_LAKE_TOPICS", '{"transactions": "transactions-staging"}')
    monkeypatch.setenv("ECAP_LAKE_STREAMS", '["bronze_transactions"]')
    monkeypatch.setenv("ECAP_LAKE_URI", "s3a://ecap/lake")
    monkeypatch.setenv("ECAP_KAFKA_BOOTSTRAP", "kafka-1:9092")
    settings = LakeSettings()
    assert settings.trigger_s == 2.5
    assert settings.topic("transactions") == "transactions-staging"
    assert settings.topic("user-events") == "user-events"
    assert settings.streams == ["bronze_transactions"]
    assert settings.spark.lake_uri == "s3a://ecap/lake"
    assert settings.bootstrap_servers == "kafka-1:9092"
    assert LakeSettings(trigger_s=1).trigger_s == 1
    with pytest.raises(ValueError):
        LakeSettings(trigger_s=0)


_PROGRESS = {
    "name": "bronze_transactions",
    "batchId": 7,
    "timestamp": "2026-11-25T10:00:00.000Z",
    "numInputRows": 120,
    "inputRowsPerSecond": 24.0,
    "processedRowsPerSecond": 300.0,
    "batchDuration": 400,
    "sources": [
        {
            "description": "KafkaV2[Subscribe[transactions]]",
            "endOffset": {"transactions": {"0": 10, "1": 4}},
            "latestOffset": {"transactions": {"0": 15, "1": 4}},
        },
        {"description": "DeltaSource[file:/lake/bronze]", "endOffset": {"reservoirVersion": 3}},
    ],
}


def test_status_summarises_progress_and_kafka_lag(tmp_path: Path) -> None:
    assert kafka_offsets_behind(_PROGRESS) == 5
    assert kafka_offsets_behind({"sources": [_PROGRESS["sources"][1]]}) is None
    status = stream_status(_PROGRESS, active=True)
    assert status == {
        "active": True,
        "error": None,
        "batch_id": 7,
        "at": "2026-11-25T10:00:00.000Z",
        "input_rows": 120,
        "input_rows_per_s": 24.0,
        "processed_rows_per_s": 300.0,
        "batch_duration_ms": 400,
        "kafka_offsets_behind": 5,
    }
    assert stream_status(None, active=False)["batch_id"] is None

    path = tmp_path / "lake" / "status.json"
    assert read_status(path) is None
    write_status(path, {"bronze_transactions": status})
    assert read_status(path)["streams"] == {"bronze_transactions": status}
    assert [p.name for p in path.parent.iterdir()] == ["status.json"]


def test_a_table_not_computed_names_what_writes_it() -> None:
    from services.analytics.lake import TableNotComputed

    remedies = {
        name: str(TableNotComputed(TABLES[name]))
        for name in ("rfm", "feature_drift", "transactions")
    }
    assert "run `ecap lake jobs run rfm`" in remedies["rfm"]
    assert "run `ecap models drift`" in remedies["feature_drift"]
    assert "start the lake stream" in remedies["transactions"]
    for spec in TABLES.values():
        writers = [w for w in (spec.batch_job, spec.written_by) if w]
        assert len(writers) <= 1, f"{spec.name} names two writers: {writers}"
