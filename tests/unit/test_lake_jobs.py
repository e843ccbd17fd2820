"""The analytics jobs' declarations against the catalogue, their selection and settings, and
the `ecap lake jobs` commands that need no JVM."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime

import pytest

from spark.jobs.analytics.config import JobSettings
from spark.jobs.analytics.registry import JOBS
from spark.jobs.analytics.runner import Job, JobError, JobOutput, RunRecord, select_jobs
from spark.tables import TABLES


def _nothing(inputs, context) -> JobOutput:
    return JobOutput({})


def test_each_gold_table_of_a_job_is_written_by_exactly_that_job() -> None:
    by_table = {table: job.name for job in JOBS for table in job.writes}
    declared = {spec.name: spec.batch_job for spec in TABLES.values() if spec.batch_job}
    assert by_table == declared
    for job in JOBS:
        assert all(TABLES[name].layer == "gold" for name in job.writes), job.name
        assert all(TABLES[name].layer == "silver" for name in job.reads), job.name
        assert set(job.required) <= set(job.reads), job.name
    assert len({job.name for job in JOBS}) == len(JOBS)
    assert TABLES["job_runs"].retention_by == "started_at"


def test_a_job_must_match_the_catalogue() -> None:
    with pytest.raises(JobError, match=r"job other: writes rfm, whose catalogue entry names "):
        Job("other", "d", ("transactions",), ("rfm",), _nothing)
    with pytest.raises(JobError, match=r"job x: reads undeclared table\(s\) \['orders'\]"):
        Job("x", "d", ("orders",), (), _nothing)
    with pytest.raises(JobError, match=r"requires \['events'\], which it does not read"):
        Job("rfm", "d", ("transactions",), ("rfm",), _nothing, requires=("events",))


def test_jobs_are_selected_by_name_or_all_and_unknown_names_are_listed() -> None:
    assert [job.name for job in select_jobs(JOBS, ["all"])] == [job.name for job in JOBS]
    assert [job.name for job in select_jobs(JOBS, ["basket", "rfm"])] == ["rfm", "basket"]
    with pytest.raises(JobError, match=r"unknown job\(s\) \['recs'\]; known: \["):
        select_jobs(JOBS, ["rfm", "recs"])


def test_a_run_record_is_one_job_runs_row_with_json_maps() -> None:
    moment = datetime(2026, 11, 26, 5, tzinfo=UTC)
    record = RunRecord(
        "rfm",
        "r1",
        "succeeded",
        moment,
        moment,
        1.5,
        {"as_of": moment},
        {"transactions": 3},
        {"rfm": 0},
        {"rfm": 5},
    )
    row = dict(zip(TABLES["job_runs"].column_names, record.as_row(), strict=True))
    assert json.loads(row["parameters"]) == {"as_of": "2026-11-26T05:00:00+00:00"}
    assert json.loads(row["input_versions"]) == {"transactions": 3}
    assert row["error"] is None and row["duration_s"] == 1.5


def test_job_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ECAP_LAKE_JOBS_AS_OF", "2026-11-01T00:00:00")
    monkeypatch.setenv("ECAP_LAKE_JOBS_BASKET_MIN_SUPPORT", "0.05")
    settings = JobSettings()
    assert settings.as_of == datetime(2026, 11, 1, tzinfo=UTC)
    assert settings.basket_min_support == 0.05
    assert settings.schedule_interval_s == 900
    with pytest.raises(ValueError, match="attribution_lookback_days"):
        JobSettings(attribution_lookback_days=0)


def test_the_cli_lists_the_jobs_and_names_an_unknown_one() -> None:
    command = [sys.executable, "-m", "services.cli.main", "lake", "jobs"]
    listing = subprocess.run(
        [*command, "list"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
        env={**os.environ, "COLUMNS": "250"},
    )
    for job in JOBS:
        assert job.name in listing.stdout
    unknown = subprocess.run([*command, "run", "recs"], capture_output=True, text=True, timeout=120)
    assert unknown.returncode == 2
    assert "unknown job(s) ['recs']" in unknown.stderr


def test_the_lake_cli_imports_no_pyspark() -> None:
    code = (
        "import sys, services.cli.lake; "
        "assert not [m for m in sys.modules if m.startswith('pyspark')], 'pyspark imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
