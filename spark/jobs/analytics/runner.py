"""The analytics jobs' runner: pinned inputs, whole-table gold outputs, a lineage row per run.

A job is a `Job`: the silver (or gold) tables it reads, the gold tables it writes, and a
`compute` function that turns the input DataFrames into the output DataFrames; each job's
module keeps the logic in pure `transform` functions and `compute` as the thin glue.
`run_job` does the rest, the same for every job:

1. reads each input with `TableSpec.read` at the Delta version current when the run starts
   (found with delta-rs), so the run's lineage names exactly the data it saw; a table that
   was never written reads as empty;
2. when a required input holds no rows, writes every output empty and says so;
3. otherwise calls `compute` and overwrites each output table whole (Delta `overwrite`
   with `overwriteSchema`), after casting its columns to the catalogue's;
4. appends the run to gold `job_runs`: input versions, output versions and rows written,
   parameters (settings and fitted values), duration, status; a failed run is recorded too,
   and its error raised again.
"""

from __future__ import annotations

import json
import time
import traceback
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from deltalake import DeltaTable
from deltalake.exceptions import TableNotFoundError
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from spark.config import SparkSettings
from spark.jobs.analytics.config import JobSettings
from spark.maintenance import delta_rs_uri
from spark.tables import TABLES, TableSpec

Report = Callable[[str], None]
JOB_RUNS = TABLES["job_runs"]
SUCCEEDED = "succeeded"
FAILED = "failed"


class JobError(ValueError):
    """A job cannot run as asked; the message names the job, the table or column, and why."""


@dataclass(frozen=True)
class JobContext:
    """What a job runs with: the session, the lake, the job settings and a progress sink."""

    spark: SparkSession
    lake: SparkSettings
    settings: JobSettings = field(default_factory=JobSettings)
    report: Report = print


@dataclass
class JobOutput:
    """A job's result: one DataFrame per output table, and the parameters to record."""

    tables: dict[str, DataFrame]
    parameters: dict[str, Any] = field(default_factory=dict)


Compute = Callable[[Mapping[str, DataFrame], JobContext], JobOutput]


@dataclass(frozen=True)
class Job:
    """A batch job: the tables it reads and writes, and the function from the one to the other.

    `requires` are the inputs without whose rows the outputs are empty (default: all reads);
    when one is empty the runner writes empty outputs without calling `compute`.
    """

    name: str
    description: str
    reads: tuple[str, ...]
    writes: tuple[str, ...]
    compute: Compute
    requires: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        for role, names in (("reads", self.reads), ("writes", self.writes)):
            unknown = [name for name in names if name not in TABLES]
            if unknown:
                raise JobError(f"job {self.name}: {role} undeclared table(s) {unknown}")
        for name in self.writes:
            if TABLES[name].batch_job != self.name:
                raise JobError(
                    f"job {self.name}: writes {name}, whose catalogue entry names batch_job="
                    f"{TABLES[name].batch_job!r}; declare batch_job={self.name!r} there "
                    "(spark/tables.py)"
                )
        stray = [name for name in self.required if name not in self.reads]
        if stray:
            raise JobError(f"job {self.name}: requires {stray}, which it does not read")

    @property
    def required(self) -> tuple[str, ...]:
        """The inputs that must hold rows for the outputs to hold any."""
        return self.reads if self.requires is None else self.requires


@dataclass(frozen=True)
class RunRecord:
    """One run's lineage: the row appended to gold `job_runs`."""

    job: str
    run_id: str
    status: str
    started_at: datetime
    finished_at: datetime
    duration_s: float
    parameters: dict[str, Any]
    input_versions: dict[str, int | None]
    output_versions: dict[str, int]
    rows_written: dict[str, int]
    error: str | None = None

    def as_row(self) -> tuple:
        """The record in `job_runs`' column order (JSON text for the maps)."""
        return (
            self.job,
            self.run_id,
            self.status,
            self.started_at,
            self.finished_at,
            self.duration_s,
            _json(self.parameters),
            _json(self.input_versions),
            _json(self.output_versions),
            _json(self.rows_written),
            self.error,
        )


def _json(value: Mapping[str, Any]) -> str:
    return json.dumps(value, sort_keys=True, default=_json_default)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return str(value)


def delta_version(spec: TableSpec, lake: SparkSettings) -> int | None:
    """The current Delta version of `spec`'s table, or None when it was never written."""
    try:
        return DeltaTable(delta_rs_uri(spec.uri(lake))).version()
    except TableNotFoundError:
        return None


def empty_frame(spark: SparkSession, spec: TableSpec) -> DataFrame:
    """An empty DataFrame with `spec`'s declared columns."""
    return spark.createDataFrame([], spec.spark_schema())


def read_inputs(
    job: Job, context: JobContext
) -> tuple[dict[str, DataFrame], dict[str, int | None]]:
    """Each input of `job` at its current version, and the versions (None: never written)."""
    frames, versions = {}, {}
    for name in job.reads:
        spec = TABLES[name]
        version = delta_version(spec, context.lake)
        versions[name] = version
        if version is None:
            context.report(f"{job.name}: input {name} does not exist yet; reading it as empty")
            frames[name] = empty_frame(context.spark, spec)
        else:
            frames[name] = spec.read(context.spark, context.lake, version=version)
    return frames, versions


def conform(job: Job, spec: TableSpec, frame: DataFrame) -> DataFrame:
    """`frame` with exactly `spec`'s columns, in order, cast to the declared types."""
    missing = [column for column in spec.column_names if column not in frame.columns]
    if missing:
        raise JobError(
            f"job {job.name}: its output for table {spec.name} lacks the declared column(s) "
            f"{missing}"
        )
    return frame.select(
        *(F.col(f"`{f.name}`").cast(f.dataType).alias(f.name) for f in spec.spark_schema().fields)
    )


def overwrite_table(spec: TableSpec, frame: DataFrame, lake: SparkSettings) -> tuple[int, int]:
    """Replace `spec`'s table by `frame` in one commit; returns (version written, rows)."""
    writer = frame.write.format("delta").mode("overwrite").option("overwriteSchema", "true")
    if spec.partition_by:
        writer = writer.partitionBy(*spec.partition_by)
    writer.save(spec.uri(lake))
    table = DeltaTable(delta_rs_uri(spec.uri(lake)))
    commit = table.history(1)[0]
    metrics = commit.get("operationMetrics") or {}
    if "numOutputRows" in metrics:
        rows = int(metrics["numOutputRows"])
    else:
        rows = table.to_pyarrow_dataset().count_rows()
    return table.version(), rows


def record_run(record: RunRecord, context: JobContext) -> None:
    """Append `record` to gold `job_runs`."""
    row = context.spark.createDataFrame([record.as_row()], JOB_RUNS.spark_schema())
    # mergeSchema: a column the catalogue adds to job_runs joins the table with the next run.
    row.write.format("delta").mode("append").option("mergeSchema", "true").save(
        JOB_RUNS.uri(context.lake)
    )


def logged_rows(spec: TableSpec, lake: SparkSettings, version: int) -> int | None:
    """The rows of `spec`'s table at `version` by the Delta log's file statistics (no Spark
    job); None when a file was written without them."""
    table = DeltaTable(delta_rs_uri(spec.uri(lake)), version=version)
    actions = table.get_add_actions(flatten=True)
    if "num_records" not in set(actions.column_names):
        return None
    counts = actions["num_records"].to_pylist()
    return None if any(count is None for count in counts) else sum(counts)


def _empty_inputs(
    job: Job,
    context: JobContext,
    frames: Mapping[str, DataFrame],
    versions: Mapping[str, int | None],
) -> list[str]:
    empty = []
    for name in job.required:
        version = versions[name]
        rows = None if version is None else logged_rows(TABLES[name], context.lake, version)
        if version is None or rows == 0 or (rows is None and frames[name].isEmpty()):
            empty.append(name)
    return empty


def run_job(job: Job, context: JobContext) -> RunRecord:
    """Run `job` once: read, compute, overwrite its gold tables, record the run."""
    run_id = uuid.uuid4().hex
    started_at = datetime.now(UTC)
    clock = time.perf_counter()
    parameters: dict[str, Any] = {}
    input_versions: dict[str, int | None] = {}
    output_versions: dict[str, int] = {}
    rows_written: dict[str, int] = {}
    status, error = SUCCEEDED, None
    try:
        frames, input_versions = read_inputs(job, context)
        read = ", ".join(f"{name} v{version}" for name, version in input_versions.items())
        context.report(f"{job.name}: reading {read}")
        empty = _empty_inputs(job, context, frames, input_versions)
        if empty:
            context.report(
                f"{job.name}: input(s) {', '.join(empty)} hold no rows; writing empty "
                f"{', '.join(job.writes)}"
            )
            output = JobOutput(
                {name: empty_frame(context.spark, TABLES[name]) for name in job.writes}
            )
            output.parameters["empty_inputs"] = empty
        else:
            output = job.compute(frames, context)
        parameters = output.parameters
        unexpected = sorted(set(output.tables) ^ set(job.writes))
        if unexpected:
            raise JobError(
                f"job {job.name}: computed tables {sorted(output.tables)}, but declares "
                f"{list(job.writes)}"
            )
        for name in job.writes:
            spec = TABLES[name]
            version, rows = overwrite_table(
                spec, conform(job, spec, output.tables[name]), context.lake
            )
            output_versions[name], rows_written[name] = version, rows
            context.report(f"{job.name}: wrote {name} v{version} ({rows:,} rows)")
    except Exception as exc:
        status = FAILED
        error = "".join(traceback.format_exception_only(exc)).strip()
        raise
    finally:
        finished_at = datetime.now(UTC)
        record = RunRecord(
            job=job.name,
            run_id=run_id,
            status=status,
            started_at=started_at,
            finished_at=finished_at,
            duration_s=round(time.perf_counter() - clock, 3),
            parameters=parameters,
            input_versions=input_versions,
            output_versions=output_versions,
            rows_written=rows_written,
            error=error,
        )
        record_run(record, context)
        context.report(f"{job.name}: {status} in {record.duration_s:.1f} s (run {run_id})")
    return record


def select_jobs(jobs: Sequence[Job], names: Iterable[str]) -> list[Job]:
    """The jobs called `names` ('all' for every one), in declaration order."""
    wanted = list(names)
    by_name = {job.name: job for job in jobs}
    if "all" in wanted:
        return list(jobs)
    unknown = [name for name in wanted if name not in by_name]
    if unknown:
        raise JobError(f"unknown job(s) {unknown}; known: {sorted(by_name)} or 'all'")
    return [job for job in jobs if job.name in wanted]


def run_jobs(jobs: Sequence[Job], context: JobContext) -> list[RunRecord]:
    """Run `jobs` one after the other, numbered in the progress report; stops at a failure."""
    records = []
    for position, job in enumerate(jobs, 1):
        context.report(f"[{position}/{len(jobs)}] {job.name}: {job.description}")
        records.append(run_job(job, context))
    return records
