"""Writing silver tables and running analytics jobs in tests (real Spark and Delta)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd
from deltalake import DeltaTable
from pyspark.sql import SparkSession

from spark.config import SparkSettings
from spark.jobs.analytics.config import JobSettings
from spark.jobs.analytics.registry import JOBS
from spark.jobs.analytics.runner import JobContext, RunRecord, run_job, select_jobs
from spark.tables import TABLES


def write_rows_with_spark(
    spark: SparkSession, lake: SparkSettings, name: str, rows: Iterable[Mapping[str, Any]]
) -> None:
    """Append `rows` (dicts of some declared columns; the rest null) to table `name`.

    One file per write, not partitioned by date as the streams write it: the jobs do not
    depend on the layout, and a hundred one-row files would only slow the test down.
    """
    spec = TABLES[name]
    records = [tuple(row.get(column) for column in spec.column_names) for row in rows]
    frame = spark.createDataFrame(records, spec.spark_schema()).coalesce(1)
    frame.write.format("delta").mode("append").save(spec.uri(lake))


def read_gold(lake: SparkSettings, name: str) -> pd.DataFrame:
    """A gold table as pandas, read with delta-rs (as the analytics service does)."""
    return DeltaTable(TABLES[name].uri(lake)).to_pandas()


def job_runs(lake: SparkSettings) -> pd.DataFrame:
    """Gold `job_runs`, oldest first, with its JSON columns parsed."""
    runs = read_gold(lake, "job_runs").sort_values("started_at").reset_index(drop=True)
    for column in ("parameters", "input_versions", "output_versions", "rows_written"):
        runs[column] = runs[column].map(json.loads)
    return runs


def run(
    spark: SparkSession, lake: SparkSettings, name: str, **settings: Any
) -> tuple[RunRecord, list[str]]:
    """Run job `name` with `JobSettings(**settings)`: its run record and progress messages."""
    messages: list[str] = []
    context = JobContext(spark, lake, JobSettings(**settings), messages.append)
    (job,) = select_jobs(JOBS, [name])
    record = run_job(job, context)
    return record, messages
