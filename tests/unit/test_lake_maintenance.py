"""Pure logic of lake maintenance and data quality: floors, retention, profiles, the volume band.

No JVM and no files: what is checked here is arithmetic and declarations; the integration
tests run the same functions on real Delta tables.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import threading
from datetime import UTC, date, datetime, timedelta

import pytest
from pydantic import ValidationError

from spark.config import SparkSettings
from spark.maintenance import (
    LakeMaintenanceError,
    MaintenanceSettings,
    VacuumTooShortError,
    check_vacuum_retention,
    delta_rs_uri,
    retention_cutoff,
    retention_predicate,
    run_retention_schedule,
    spec_named,
)
from spark.quality import QualitySettings, profile_for, rules_for
from spark.streaming.volume import band, baseline, judge, minutes_to_count
from spark.tables import QUALITY_TABLES, TABLES, TableSpec

NOON = datetime(2026, 11, 20, 12, 30, tzinfo=UTC)


def _settings(**changes: float) -> QualitySettings:
    values = {
        "volume_z_threshold": 3.0,
        "volume_baseline_days": 7,
        "volume_min_baseline_days": 3,
        "volume_min_std": 1.0,
        **changes,
    }
    return QualitySettings(**values)


def _history(per_day: dict[int, list[int]], hour: int = 12) -> dict[datetime, int]:
    """Counts at minutes 0.. of `hour` on the days `back` days before NOON."""
    history = {}
    for back, counts in per_day.items():
        day = NOON - timedelta(days=back)
        for minute, count in enumerate(counts):
            history[day.replace(hour=hour, minute=minute)] = count
    return history


def test_vacuum_refuses_below_the_floor_unless_forced() -> None:
    check_vacuum_retention(168, 168, force=False)
    check_vacuum_retention(0, 168, force=True)
    with pytest.raises(VacuumTooShortError, match="--retain: 167 h is below the safe floor"):
        check_vacuum_retention(167, 168, force=False)
    with pytest.raises(LakeMaintenanceError, match="--retain: -1 h; it must be 0 or more"):
        check_vacuum_retention(-1, 0, force=True)
    assert MaintenanceSettings().vacuum_floor_hours == 168


def test_maintenance_settings_reject_bad_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ECAP_LAKE_MAINTENANCE_VACUUM_FLOOR_HOURS", "-5")
    with pytest.raises(ValidationError, match="vacuum_floor_hours"):
        MaintenanceSettings()
    monkeypatch.setenv("ECAP_LAKE_MAINTENANCE_VACUUM_FLOOR_HOURS", "24")
    monkeypatch.setenv("ECAP_LAKE_MAINTENANCE_RETENTION_INTERVAL_S", "60")
    assert MaintenanceSettings().vacuum_floor_hours == 24
    assert MaintenanceSettings().retention_interval_s == 60


def test_retention_is_declared_per_table_and_judged_by_a_date_or_timestamp() -> None:
    assert TABLES["bronze_user_events"].retention_by == "ingest_date"
    assert TABLES["bronze_user_events"].retention_days == 90
    assert TABLES["quarantine"].retention_by == "quarantined_at"
    # Latest-state tables have no date to age by: retention keeps them whole.
    assert TABLES["products"].retention_by is None
    bronze_days = min(s.retention_days for s in TABLES.values() if s.layer == "bronze")
    kept_longer = [s for s in TABLES.values() if s.layer != "bronze" and s.name != "quarantine"]
    assert all(spec.retention_days > bronze_days for spec in kept_longer)

    today = date(2026, 11, 20)
    assert retention_cutoff(TABLES["bronze_user_events"], today) == date(2026, 8, 22)
    assert retention_cutoff(TABLES["products"], today) is None
    assert retention_predicate(TABLES["bronze_user_events"], date(2026, 8, 22)) == (
        "`ingest_date` < '2026-08-22'"
    )
    assert retention_predicate(TABLES["quarantine"], date(2026, 8, 22)) == (
        "`quarantined_at` < '2026-08-22T00:00:00Z'"
    )
    with pytest.raises(ValueError, match="retention_column 'name' must be a declared date"):
        TableSpec("t", "silver", {"name": "string"}, "d", retention_column="name")


def test_unknown_tables_get_an_error_that_lists_the_declared_ones() -> None:
    with pytest.raises(LakeMaintenanceError, match=r"no table 'kpi_hour'.*'kpi_minute'"):
        spec_named("kpi_hour")
    assert spec_named("volume_alerts").layer == "gold"


def test_quality_tables_are_declared_and_every_profiled_table_has_rules() -> None:
    names = [spec.name for spec in QUALITY_TABLES]
    assert names == ["quality_metrics", "topic_volume_minute", "volume_alerts"]
    assert all(TABLES[name] is spec for name, spec in zip(names, QUALITY_TABLES, strict=True))
    transactions = profile_for("transactions")
    assert {"customer_id", "amount_minor"} <= set(transactions.null_rate)
    assert "amount_minor" in transactions.min_max
    for column in (*transactions.null_rate, *transactions.distinct, *transactions.min_max):
        assert column in TABLES["transactions"].columns, column
    assert rules_for("transactions")
    # A table without a declared profile still reports its key columns.
    assert profile_for("decisions").distinct == ("decision_id",)


def test_band_is_the_mean_and_std_with_a_floor() -> None:
    assert band([10, 12, 14], 1.0) == (12.0, statistics.pstdev([10, 12, 14]))
    assert band([5, 5, 5], 1.0) == (5.0, 1.0)
    with pytest.raises(ValueError, match="no samples"):
        band([], 1.0)


def test_baseline_takes_the_same_hour_of_the_previous_days_only() -> None:
    history = _history({1: [10, 11], 2: [9], 8: [100]})
    history[NOON.replace(hour=11)] = 500  # another hour, same day
    history[NOON.replace(minute=0)] = 700  # today: not a previous day
    assert baseline(NOON, history, days=7) == {
        (NOON - timedelta(days=1)).date(): [10, 11],
        (NOON - timedelta(days=2)).date(): [9],
    }


def test_a_minute_far_outside_the_band_is_flagged_in_either_direction() -> None:
    history = _history({1: [10, 11, 9], 2: [10, 12, 8], 3: [11, 9, 10]})
    samples = [10, 11, 9, 10, 12, 8, 11, 9, 10]
    mean, std = statistics.fmean(samples), statistics.pstdev(samples)

    spike = judge("t", NOON, 40, complete=True, history=history, settings=_settings())
    assert (spike.baseline_days, spike.baseline_mean, spike.baseline_std) == (3, mean, std)
    assert spike.z_score == pytest.approx((40 - mean) / std)
    assert spike.outside_band and spike.direction == "above"

    drop = judge("t", NOON, 0, complete=True, history=history, settings=_settings())
    assert drop.outside_band and drop.direction == "below"

    usual = judge("t", NOON, 11, complete=True, history=history, settings=_settings())
    assert not usual.outside_band and usual.direction is None
    assert usual.z_score == pytest.approx((11 - mean) / std)


def test_no_judgement_while_open_or_without_enough_history() -> None:
    history = _history({1: [10], 2: [10]})
    open_minute = judge("t", NOON, 99, complete=False, history=history, settings=_settings())
    assert (open_minute.complete, open_minute.z_score, open_minute.outside_band) == (
        False,
        None,
        False,
    )
    young = judge("t", NOON, 99, complete=True, history=history, settings=_settings())
    assert (young.baseline_days, young.z_score, young.outside_band) == (2, None, False)
    enough = judge(
        "t",
        NOON,
        99,
        complete=True,
        history=history,
        settings=_settings(volume_min_baseline_days=2),
    )
    # A flat history has no spread: the floor (1.0) keeps z finite.
    assert enough.baseline_std == 1.0 and enough.z_score == 89.0 and enough.outside_band


def test_minutes_to_count_add_the_open_ones_and_the_silent_gap() -> None:
    m = [NOON + timedelta(minutes=n) for n in range(10)]
    assert minutes_to_count([m[5], m[6]], [m[2]], m[2], max_gap=60) == [
        m[2],
        m[3],
        m[4],
        m[5],
        m[6],
    ]
    assert minutes_to_count([m[9]], [], m[2], max_gap=2) == [m[7], m[8], m[9]]
    assert minutes_to_count([m[1]], [], m[5], max_gap=60) == [m[1]]  # late data: no gap
    assert minutes_to_count([m[1]], [], None, max_gap=60) == [m[1]]
    assert minutes_to_count([], [], m[1], max_gap=60) == []


def test_the_retention_schedule_runs_rounds_until_stopped(tmp_path) -> None:
    lake = SparkSettings(lake_uri=str(tmp_path / "lake"))
    stop = threading.Event()
    lines: list[str] = []

    def report(line: str) -> None:
        lines.append(line)
        if len(lines) == 2 * len(TABLES):  # the second round is done
            stop.set()

    status_path = tmp_path / "run" / "retention.json"
    settings = MaintenanceSettings(retention_interval_s=0.01, status_path=status_path)
    assert run_retention_schedule(lake, stop, settings=settings, report=report) == 2
    assert lines[0] == "bronze_transactions: skipped (not created yet)"
    assert "products: skipped (no retention column: kept)" in lines
    status = json.loads(status_path.read_text())
    assert status["rounds"] == 2 and status["error"] is None
    assert status["tables"] == lines[len(TABLES) :]  # the last round's


def test_the_lake_cli_imports_neither_pyspark_nor_a_jvm() -> None:
    code = (
        "import sys, services.cli.lake; "
        "assert not [m for m in sys.modules if m.startswith(('pyspark', 'py4j', 'delta.'))]"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_delta_rs_gets_the_lake_uri_in_its_own_spelling() -> None:
    assert delta_rs_uri("s3a://ecap/lake/gold/kpi_minute") == "s3://ecap/lake/gold/kpi_minute"
    assert delta_rs_uri("/data/lake/gold/kpi_minute") == "/data/lake/gold/kpi_minute"


def test_the_retention_schedule_keeps_to_the_tables_it_is_given(tmp_path) -> None:
    lake = SparkSettings(lake_uri=str(tmp_path / "lake"))
    stop = threading.Event()
    lines: list[str] = []

    def report(line: str) -> None:
        lines.append(line)
        stop.set()

    settings = MaintenanceSettings(retention_interval_s=0.01)
    specs = [TABLES["products"]]
    assert run_retention_schedule(lake, stop, specs=specs, settings=settings, report=report) == 1
    assert lines == ["products: skipped (no retention column: kept)"]
