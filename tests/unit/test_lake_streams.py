"""The wiring of the lake's streams and the silver tables' schema evolution, without a JVM."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2

from spark.protobuf import DESCRIPTOR_SET
from spark.quality import rules_for
from spark.streaming import gold
from spark.streaming.config import LakeSettings
from spark.streaming.job import STREAMS
from spark.streaming.silver import SILVER
from spark.tables import TABLES


def test_catching_up_runs_every_stream_after_the_writers_of_what_it_reads() -> None:
    writers = {table: stream for stream in STREAMS for table in stream.writes}
    for stream in STREAMS:
        for table in stream.reads:
            writer = writers[table]
            assert writer.stage < stream.stage, f"{stream.name} reads {table} of {writer.name}"


def test_the_enrichment_reads_the_reference_versions() -> None:
    by_name = {stream.name: stream for stream in STREAMS}
    transactions = by_name["silver_transactions"]
    assert {"customers", "products"} <= set(transactions.reads)
    assert by_name["silver_products"].stage < transactions.stage
    assert by_name["silver_customers"].stage < transactions.stage
    assert {"transactions", "decisions"} <= set(by_name["gold_kpi_minute"].reads)


def test_every_silver_table_has_rules_that_gate_on_type_and_decoding() -> None:
    for silver in SILVER.values():
        rules = rules_for(silver.name)
        assert [rule.name for rule in rules[:2]] == ["ce_type_matches", "decodes"], silver.name
        assert all(rule.gate for rule in rules[:2]), silver.name
        for table in silver.stored_in:
            assert TABLES[table].filled_by == "silver", table


def test_product_updates_split_by_header_between_products_and_customers() -> None:
    products, customers = SILVER["products"], SILVER["customers"]
    assert products.source == customers.source == "bronze_product_updates"
    assert customers.records == "ce_type = 'ecap.v1.Customer'"
    # Everything that is not a customer goes to products, where a stranger is quarantined.
    assert products.records == "ce_type IS DISTINCT FROM 'ecap.v1.Customer'"


def test_the_shipped_descriptor_set_adds_no_columns() -> None:
    descriptor_set = DESCRIPTOR_SET.read_bytes()
    for silver in SILVER.values():
        assert silver.extra_fields(descriptor_set, []) == [], silver.name


def _with_new_field(message: str, name: str, number: int) -> bytes:
    files = descriptor_pb2.FileDescriptorSet.FromString(DESCRIPTOR_SET.read_bytes())
    package, short = message.rsplit(".", 1)
    for file in files.file:
        if file.package != package:
            continue
        for proto in file.message_type:
            if proto.name == short:
                proto.field.add(
                    name=name,
                    number=number,
                    type=descriptor_pb2.FieldDescriptorProto.TYPE_STRING,
                    label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL,
                    json_name=name,
                )
                return files.SerializeToString()
    raise AssertionError(f"{message} not in the descriptor set")


@pytest.mark.parametrize(
    ("table", "message"),
    [("events", "ecap.v1.BehaviorEvent"), ("transactions", "ecap.v1.Transaction")],
)
def test_a_field_added_to_the_proto_becomes_an_extra_column(table: str, message: str) -> None:
    evolved = _with_new_field(message, "referrer", 99)
    assert SILVER[table].extra_fields(evolved, []) == ["referrer"]
    # A name silver already has for a flattened column is not added twice.
    assert SILVER[table].extra_fields(evolved, ["referrer"]) == []


def test_labels_do_not_evolve() -> None:
    evolved = _with_new_field("ecap.v1.CaseEvent", "priority", 99)
    assert SILVER["labels"].extra_fields(evolved, []) == []


def test_the_descriptor_set_is_configurable_and_a_missing_one_is_named(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    missing = tmp_path / "nope.binpb"
    monkeypatch.setenv("ECAP_LAKE_DESCRIPTOR_SET", str(missing))
    settings = LakeSettings()
    assert settings.descriptor_set == missing
    with pytest.raises(ValueError, match=r"ECAP_LAKE_DESCRIPTOR_SET.*make gen"):
        settings.descriptor_set_bytes()


def test_the_session_join_is_configured_in_minutes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ECAP_LAKE_SESSION_WINDOW_MIN", "30")
    monkeypatch.setenv("ECAP_LAKE_SESSION_WATERMARK_MIN", "45")
    settings = LakeSettings()
    assert (settings.session_window_min, settings.session_watermark_min) == (30, 45)
    monkeypatch.setenv("ECAP_LAKE_SESSION_WINDOW_MIN", "0")
    with pytest.raises(ValueError, match="session_window_min"):
        LakeSettings()


def test_a_gold_stream_that_gains_a_source_gets_a_new_checkpoint():
    # Spark refuses a checkpoint recorded with other sources; gold recomputes whole minutes.
    kpi = gold.AGGREGATES["kpi_minute"]
    assert kpi.checkpoint == "gold_kpi_minute.from-transactions-decisions"
    fewer = dataclasses.replace(kpi, via_transaction=())
    assert fewer.checkpoint != kpi.checkpoint
    by_name = {stream.name: stream for stream in STREAMS}
    assert by_name["gold_kpi_minute"].checkpoint == kpi.checkpoint
    assert by_name["silver_transactions"].checkpoint == "silver_transactions"
