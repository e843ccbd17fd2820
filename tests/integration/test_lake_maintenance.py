"""Lake maintenance on real Delta tables: Spark writes them, delta-rs maintains them.

Each test writes a declared table (bronze or quarantine schema) with the session's Spark and
Delta, runs `spark.maintenance` (or `ecap lake ...`) on it, then reads the result back with
Spark and checks the files on disk: time travel and restore, OPTIMIZE, VACUUM with its floor,
and the declared retention.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from delta.tables import DeltaTable as SparkDeltaTable
from deltalake import DeltaTable
from pyspark.sql import DataFrame, SparkSession
from pyspark.testing import assertDataFrameEqual
from typer.testing import CliRunner

from services.cli.main import app
from services.simulator.parquet import write_parquet
from services.simulator.records import Label, Scenario
from spark.config import SparkSettings
from spark.maintenance import (
    LakeMaintenanceError,
    MaintenanceSettings,
    VacuumTooShortError,
    apply_retention,
    describe_table,
    optimize_table,
    restore_table,
    spec_named,
    table_history,
    vacuum_table,
)
from spark.streaming.sinks import ensure_table
from spark.tables import TABLES, TableSpec

pytestmark = pytest.mark.integration

BRONZE = TABLES["bronze_transactions"]
QUARANTINE = TABLES["quarantine"]
TODAY = date(2026, 11, 20)
# The bronze partitions 400 and 366 days before TODAY, beyond bronze_transactions' 365 days.
EXPIRED_PARTITIONS = {"ingest_date=2025-10-16", "ingest_date=2025-11-19"}


def _bronze_rows(start: int, count: int, day: date) -> list[tuple]:
    moment = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
    return [
        (
            f"k{n}".encode(),
            f"v{n}".encode(),
            "transactions",
            n % 2,
            n,
            moment + timedelta(seconds=n),
            "ecap.v1.Transaction",
            day,
        )
        for n in range(start, start + count)
    ]


def _append(spark: SparkSession, spec: TableSpec, lake: SparkSettings, rows: list[tuple]) -> None:
    """Append `rows` to `spec`'s table, created (partitioned as declared) as the streams do."""
    ensure_table(spark, spec, lake)
    spark.createDataFrame(rows, spec.spark_schema()).write.format("delta").mode("append").save(
        spec.uri(lake)
    )


def _read(spark: SparkSession, spec: TableSpec, lake: SparkSettings, **options: str) -> DataFrame:
    return spark.read.format("delta").options(**options).load(spec.uri(lake))


def _parquet_on_disk(spec: TableSpec, lake: SparkSettings) -> set[str]:
    root = Path(spec.uri(lake))
    return {str(path.relative_to(root)) for path in root.rglob("*.parquet")}


def _referenced(spec: TableSpec, lake: SparkSettings) -> set[str]:
    root = Path(spec.uri(lake))
    return {str(Path(uri).relative_to(root)) for uri in DeltaTable(spec.uri(lake)).file_uris()}


@pytest.fixture
def lake(lake_dir: Path) -> SparkSettings:
    return SparkSettings(lake_uri=str(lake_dir))


def test_time_travel_and_restore_round_trip(spark: SparkSession, lake: SparkSettings) -> None:
    ensure_table(spark, BRONZE, lake)  # version 0, empty; _append keeps it
    first, second = _bronze_rows(0, 20, TODAY), _bronze_rows(20, 10, TODAY)
    _append(spark, BRONZE, lake, first)  # version 1
    _append(spark, BRONZE, lake, second)  # version 2
    SparkDeltaTable.forPath(spark, BRONZE.uri(lake)).delete("offset < 5")  # version 3

    history = table_history(BRONZE, lake)
    assert [commit["version"] for commit in history] == [3, 2, 1, 0]
    assert [commit["operation"] for commit in history] == [
        "DELETE",
        "WRITE",
        "WRITE",
        "CREATE TABLE",
    ]

    expected_v2 = spark.createDataFrame(first + second, BRONZE.spark_schema())
    assertDataFrameEqual(_read(spark, BRONZE, lake, versionAsOf="2"), expected_v2)
    restore_table(BRONZE, lake, version=2)

    info = describe_table(BRONZE, lake)
    assert (info.version, info.rows) == (4, 30)
    assertDataFrameEqual(_read(spark, BRONZE, lake), expected_v2)
    # History is kept: the deletion is still there to travel back to.
    assert _read(spark, BRONZE, lake, versionAsOf="3").count() == 25
    assert table_history(BRONZE, lake, 1)[0]["operation"] == "RESTORE"

    with pytest.raises(LakeMaintenanceError, match="has no version 9: versions run from 0 to 4"):
        restore_table(BRONZE, lake, version=9)
    with pytest.raises(LakeMaintenanceError, match="no table 'bronze_nope' in the lake catalogue"):
        spec_named("bronze_nope")
    with pytest.raises(LakeMaintenanceError, match="does not exist yet"):
        table_history(TABLES["events"], lake)


def test_optimize_compacts_and_vacuum_deletes_only_unreferenced_files(
    spark: SparkSession, lake: SparkSettings
) -> None:
    days = [TODAY, TODAY - timedelta(days=1)]
    rows = []
    for batch in range(6):
        batch_rows = _bronze_rows(batch * 10, 10, days[batch % 2])
        _append(spark, BRONZE, lake, batch_rows)
        rows += batch_rows
    expected = spark.createDataFrame(rows, BRONZE.spark_schema())
    before = describe_table(BRONZE, lake)
    assert before.files >= 6 and before.rows == 60

    with pytest.raises(LakeMaintenanceError, match=r"no column\(s\) \['nope'\]"):
        optimize_table(BRONZE, lake, zorder=["nope"])
    with pytest.raises(LakeMaintenanceError, match=r"\['ingest_date'\] partition"):
        optimize_table(BRONZE, lake, zorder=["ingest_date"])
    metrics = optimize_table(BRONZE, lake, zorder=["offset", "timestamp"])
    assert metrics["numFilesRemoved"] == before.files and metrics["numFilesAdded"] == 2

    after = describe_table(BRONZE, lake)
    assert (after.files, after.rows, after.last_operation) == (2, 60, "OPTIMIZE")
    assertDataFrameEqual(_read(spark, BRONZE, lake), expected)
    # The small files stay on disk for readers of older versions until VACUUM.
    on_disk = _parquet_on_disk(BRONZE, lake)
    referenced = _referenced(BRONZE, lake)
    assert len(on_disk) == before.files + 2 and referenced <= on_disk

    settings = MaintenanceSettings(vacuum_floor_hours=168)
    with pytest.raises(VacuumTooShortError, match="--retain: 0 h is below the safe floor of 168 h"):
        vacuum_table(BRONZE, lake, retain_hours=0, settings=settings)
    assert vacuum_table(BRONZE, lake, retain_hours=168, settings=settings) == []
    dry = vacuum_table(BRONZE, lake, retain_hours=0, force=True, dry_run=True, settings=settings)
    assert len(dry) == before.files and _parquet_on_disk(BRONZE, lake) == on_disk
    removed = vacuum_table(BRONZE, lake, retain_hours=0, force=True, settings=settings)

    assert len(removed) == before.files
    assert _parquet_on_disk(BRONZE, lake) == referenced
    assertDataFrameEqual(_read(spark, BRONZE, lake), expected)


def test_retention_deletes_old_rows_then_vacuums_behind_the_floor(
    spark: SparkSession, lake: SparkSettings
) -> None:
    assert BRONZE.retention_days == 365 and BRONZE.retention_by == "ingest_date"
    ages = {400: 5, 366: 5, 365: 4, 3: 6, 0: 6}  # days old -> rows
    rows, offset = [], 0
    for age, count in ages.items():
        rows.append(_bronze_rows(offset, count, TODAY - timedelta(days=age)))
        offset += count
    for day_rows in rows:
        _append(spark, BRONZE, lake, day_rows)
    kept = [row for day_rows in rows[2:] for row in day_rows]
    old_files = _parquet_on_disk(BRONZE, lake)

    result = apply_retention(BRONZE, lake, today=TODAY, settings=MaintenanceSettings())

    assert (result.cutoff, result.rows_deleted, result.files_vacuumed) == (
        TODAY - timedelta(days=365),
        10,
        0,
    )
    assertDataFrameEqual(
        _read(spark, BRONZE, lake), spark.createDataFrame(kept, BRONZE.spark_schema())
    )
    # Within the floor the deleted days' files remain, so time travel still reaches them.
    assert _parquet_on_disk(BRONZE, lake) == old_files
    assert _read(spark, BRONZE, lake, versionAsOf=str(len(rows))).count() == 26
    # A later run once the floor has passed (here: a zero floor) deletes them.
    again = apply_retention(
        BRONZE, lake, today=TODAY, settings=MaintenanceSettings(vacuum_floor_hours=0)
    )
    expired = {path for path in old_files if path.split("/")[0] in EXPIRED_PARTITIONS}
    assert len(expired) >= 2
    assert (again.rows_deleted, again.files_vacuumed) == (0, len(expired))
    assert _parquet_on_disk(BRONZE, lake) == old_files - expired == _referenced(BRONZE, lake)


def test_retention_by_timestamp_and_tables_that_keep_everything(
    spark: SparkSession, lake: SparkSettings
) -> None:
    assert QUARANTINE.retention_by == "quarantined_at" and QUARANTINE.retention_days == 90
    now = datetime(2026, 11, 20, 8, tzinfo=UTC)
    ages = [120, 91, 89, 1]
    quarantined = [
        ("transactions", ["amount_positive"], None, b"x", "ecap.v1.Transaction", "transactions", 0,
         n, now, now - timedelta(days=age))
        for n, age in enumerate(ages)
    ]  # fmt: skip
    _append(spark, QUARANTINE, lake, quarantined)

    result = apply_retention(QUARANTINE, lake, today=TODAY)

    assert result.rows_deleted == 2
    offsets = sorted(row.kafka_offset for row in _read(spark, QUARANTINE, lake).collect())
    assert offsets == [2, 3]
    products = apply_retention(TABLES["products"], lake, today=TODAY)
    assert products.skipped == "no retention column: kept"
    assert apply_retention(TABLES["kpi_minute"], lake, today=TODAY).skipped == "not created yet"


def test_the_cli_shows_tables_and_refuses_what_is_unsafe_or_unknown(
    spark: SparkSession, lake: SparkSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ECAP_LAKE_URI", lake.lake_uri)
    for variable in ("ECAP_LAKE_MAINTENANCE_VACUUM_FLOOR_HOURS", "COLUMNS"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("COLUMNS", "250")
    _append(spark, BRONZE, lake, _bronze_rows(0, 7, TODAY))
    _append(spark, BRONZE, lake, _bronze_rows(7, 5, TODAY))
    runner = CliRunner()

    listing = runner.invoke(app, ["lake", "tables"])
    assert listing.exit_code == 0, listing.output
    line = next(line for line in listing.output.splitlines() if "bronze_transactions" in line)
    cells = [cell.strip() for cell in line.split("│") if cell.strip()]
    assert cells[:5] == ["bronze_transactions", "bronze", "2", "12", "4"], cells
    assert "not created" in next(line for line in listing.output.splitlines() if " events " in line)

    refused = runner.invoke(app, ["lake", "vacuum", "--retain", "24", "bronze_transactions"])
    assert refused.exit_code == 2
    assert "below the safe floor of 168 h" in refused.output

    restored = runner.invoke(app, ["lake", "restore", "bronze_transactions", "--version", "1"])
    assert restored.exit_code == 0, restored.output
    assert describe_table(BRONZE, lake).rows == 7

    unknown = runner.invoke(app, ["lake", "restore", "bronze_transactions", "--version", "9"])
    assert unknown.exit_code == 2 and "has no version 9" in unknown.output
    missing = runner.invoke(app, ["lake", "history", "kpi_minute"])
    assert missing.exit_code == 2 and "does not exist yet" in missing.output
    history = runner.invoke(app, ["lake", "history", "bronze_transactions"])
    assert history.exit_code == 0 and "RESTORE" in history.output


def test_load_labels_puts_the_simulators_ground_truth_into_silver_labels(tmp_path) -> None:
    labels = [
        Label("t-1", 1, Scenario.CARD_TESTING, 1_764_000_000_000_000),
        Label("t-2", 0, Scenario.LEGIT, 1_764_000_060_000_000),
    ]
    labels_file = write_parquet(tmp_path / "sim", [], labels)["labels"]
    env = {**os.environ, "ECAP_LAKE_URI": str(tmp_path / "lake")}
    command = [sys.executable, "-m", "services.cli.main", "lake", "load-labels"]

    missing = subprocess.run(
        [*command, str(tmp_path / "nowhere.parquet")], env=env, capture_output=True, text=True
    )
    assert missing.returncode == 2 and "no labels file at" in missing.stderr

    loaded = subprocess.run(
        [*command, str(labels_file)], env=env, capture_output=True, text=True, timeout=600
    )
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    assert "loaded 2 ground-truth labels" in loaded.stdout
    lake = SparkSettings(lake_uri=str(tmp_path / "lake"))
    rows = DeltaTable(TABLES["labels"].uri(lake)).to_pyarrow_table().to_pylist()
    found = {(r["transaction_id"], r["is_fraud"], r["scenario"], r["source"]) for r in rows}
    assert found == {
        ("t-1", True, "card_testing", "ground_truth"),
        ("t-2", False, "legit", "ground_truth"),
    }
    assert len(rows) == 2
