"""Lake maintenance and lifecycle through delta-rs: no JVM, so `ecap lake ...` starts in a blink.

    describe_tables(lake)                      # version, rows, files, size, last write per table
    table_history(table("kpi_minute"), lake)   # the commits, newest first
    restore_table(spec, lake, version=3)       # a new commit whose content is version 3
    optimize_table(spec, lake, zorder=["customer_id"])
    vacuum_table(spec, lake, retain_hours=168, settings=MaintenanceSettings())
    apply_retention(spec, lake, today=date.today(), settings=MaintenanceSettings())

Plain Python on top of `deltalake` (delta-rs) and the catalogue; it imports no pyspark, so the
`ecap` CLI may call it. delta-rs and Spark share the Delta log protocol, so a table written by
the streams is maintained here while they run: each operation is one optimistic commit.

Retention is declared in the catalogue (`TableSpec.retention_days` over
`TableSpec.retention_by`): rows older than that are deleted, and the files the deletions
leave behind are vacuumed once they are older than the vacuum floor, so time travel and
running readers keep working for at least that long.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from deltalake import DeltaTable
from deltalake.exceptions import TableNotFoundError
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from spark.config import SparkSettings
from spark.tables import TABLES, TableSpec, table

log = logging.getLogger(__name__)

Report = Callable[[str], None]


def _quiet(_: str) -> None:
    """A `Report` that says nothing."""


class MaintenanceSettings(BaseSettings):
    """Safety floors and schedules of lake maintenance (env prefix `ECAP_LAKE_MAINTENANCE_`)."""

    model_config = SettingsConfigDict(env_prefix="ECAP_LAKE_MAINTENANCE_", extra="ignore")

    vacuum_floor_hours: int = Field(
        default=168,
        ge=0,
        description="VACUUM refuses a shorter retention unless forced: readers and time travel "
        "need the files of the last week (Delta's own default)",
    )
    retention_interval_s: float = Field(
        default=6 * 3600.0,
        gt=0,
        description="how often `ecap lake retention --schedule` applies the retention policy",
    )
    status_path: Path | None = Field(
        default=None,
        description="where the retention schedule writes its last round (JSON); `ecap up` "
        "waits for this file",
    )
    optimize_target_mb: int | None = Field(
        default=None, ge=1, description="target file size of OPTIMIZE; default delta-rs's"
    )


class LakeMaintenanceError(ValueError):
    """A maintenance request that cannot be carried out; the message says why and what to do."""


class VacuumTooShortError(LakeMaintenanceError):
    """VACUUM asked to keep fewer hours than the safe floor, without force."""


@dataclass(frozen=True)
class TableInfo:
    """What `ecap lake tables` shows for one declared table."""

    spec: TableSpec
    uri: str
    exists: bool
    version: int | None = None
    rows: int | None = None
    files: int | None = None
    size_bytes: int | None = None
    last_write: datetime | None = None
    last_operation: str | None = None


@dataclass(frozen=True)
class RetentionResult:
    """What one application of a table's retention policy did."""

    table: str
    cutoff: date | None
    rows_deleted: int
    files_vacuumed: int
    skipped: str | None = None


def delta_rs_uri(uri: str) -> str:
    """`uri` as delta-rs spells it: Hadoop's `s3a://` is `s3://` there (credentials: AWS_*)."""
    return "s3://" + uri.removeprefix("s3a://") if uri.startswith("s3a://") else uri


def spec_named(name: str) -> TableSpec:
    """The declared table `name`, or a `LakeMaintenanceError` listing the declared ones."""
    try:
        return table(name)
    except KeyError as exc:
        raise LakeMaintenanceError(exc.args[0]) from None


def open_table(spec: TableSpec, lake: SparkSettings, version: int | None = None) -> DeltaTable:
    """`spec`'s Delta table (at `version`), or a clear error when it was never written."""
    uri = delta_rs_uri(spec.uri(lake))
    try:
        delta = DeltaTable(uri)
    except TableNotFoundError:
        raise LakeMaintenanceError(
            f"table {spec.name!r} does not exist yet at {uri}; the streaming job creates it "
            "(`ecap lake stream`)"
        ) from None
    if version is not None:
        _check_version(spec, delta, version)
        delta.load_as_version(version)
    return delta


def _check_version(spec: TableSpec, delta: DeltaTable, version: int) -> None:
    latest = delta.version()
    if not 0 <= version <= latest:
        raise LakeMaintenanceError(
            f"table {spec.name!r} has no version {version}: versions run from 0 to {latest} "
            "(see `ecap lake history`)"
        )


def describe_table(spec: TableSpec, lake: SparkSettings) -> TableInfo:
    """Version, rows, files, size and last write of one table, from its log alone."""
    uri = delta_rs_uri(spec.uri(lake))
    try:
        delta = DeltaTable(uri)
    except TableNotFoundError:
        return TableInfo(spec, uri, exists=False)
    actions = delta.get_add_actions(flatten=True)
    columns = set(actions.column_names)
    rows = (
        sum(n or 0 for n in actions["num_records"].to_pylist())
        if "num_records" in columns
        else None
    )
    size = sum(actions["size_bytes"].to_pylist()) if "size_bytes" in columns else None
    last = delta.history(1)
    last_write = operation = None
    if last:
        last_write = datetime.fromtimestamp(last[0]["timestamp"] / 1000, UTC)
        operation = last[0].get("operation")
    return TableInfo(
        spec,
        uri,
        exists=True,
        version=delta.version(),
        rows=rows,
        files=actions.num_rows,
        size_bytes=size,
        last_write=last_write,
        last_operation=operation,
    )


def describe_tables(
    lake: SparkSettings, specs: Iterable[TableSpec] | None = None
) -> list[TableInfo]:
    """`describe_table` of every declared table (or of `specs`), in declaration order."""
    return [describe_table(spec, lake) for spec in (TABLES.values() if specs is None else specs)]


def table_history(
    spec: TableSpec, lake: SparkSettings, limit: int | None = None
) -> list[dict[str, Any]]:
    """The table's commits, newest first: version, timestamp, operation, parameters, metrics."""
    return open_table(spec, lake).history(limit)


def restore_table(spec: TableSpec, lake: SparkSettings, version: int) -> dict[str, Any]:
    """Make the table's content that of `version` again, as a new commit (history is kept)."""
    delta = open_table(spec, lake)
    _check_version(spec, delta, version)
    try:
        return delta.restore(version)
    except Exception as exc:
        # Usually: the version's files were vacuumed away.
        raise LakeMaintenanceError(
            f"table {spec.name!r}: cannot restore version {version}: {exc}"
        ) from exc


def optimize_table(
    spec: TableSpec,
    lake: SparkSettings,
    *,
    zorder: Sequence[str] = (),
    settings: MaintenanceSettings | None = None,
) -> dict[str, Any]:
    """Compact the table's small files (and Z-order them by `zorder`); rows are unchanged."""
    settings = settings or MaintenanceSettings()
    unknown = [column for column in zorder if column not in spec.columns]
    if unknown:
        raise LakeMaintenanceError(
            f"--zorder: table {spec.name!r} has no column(s) {unknown}; "
            f"its columns: {spec.column_names}"
        )
    partitioned = [column for column in zorder if column in spec.partition_by]
    if partitioned:
        raise LakeMaintenanceError(
            f"--zorder: {partitioned} partition table {spec.name!r} already; Z-order by "
            "columns inside a partition"
        )
    delta = open_table(spec, lake)
    target = settings.optimize_target_mb * 1024 * 1024 if settings.optimize_target_mb else None
    if zorder:
        return delta.optimize.z_order(list(zorder), target_size=target)
    return delta.optimize.compact(target_size=target)


def check_vacuum_retention(retain_hours: int, floor_hours: int, *, force: bool) -> None:
    """Refuse a retention below the floor unless forced: readers may still need those files."""
    if retain_hours < 0:
        raise LakeMaintenanceError(f"--retain: {retain_hours} h; it must be 0 or more hours")
    if retain_hours < floor_hours and not force:
        raise VacuumTooShortError(
            f"--retain: {retain_hours} h is below the safe floor of {floor_hours} h "
            "(ECAP_LAKE_MAINTENANCE_VACUUM_FLOOR_HOURS): running streams, readers and time "
            "travel may still need those files; pass --force if you are sure"
        )


def vacuum_table(
    spec: TableSpec,
    lake: SparkSettings,
    *,
    retain_hours: int,
    force: bool = False,
    dry_run: bool = False,
    settings: MaintenanceSettings | None = None,
) -> list[str]:
    """Delete the files no version newer than `retain_hours` needs; return their paths."""
    settings = settings or MaintenanceSettings()
    check_vacuum_retention(retain_hours, settings.vacuum_floor_hours, force=force)
    return open_table(spec, lake).vacuum(
        retention_hours=retain_hours, dry_run=dry_run, enforce_retention_duration=False
    )


def retention_cutoff(spec: TableSpec, today: date) -> date | None:
    """The first day `spec` keeps on `today` (older rows go), or None when it keeps all."""
    if spec.retention_by is None:
        return None
    return today - timedelta(days=spec.retention_days)


def retention_predicate(spec: TableSpec, cutoff: date) -> str:
    """The SQL predicate (delta-rs dialect) of the rows older than `cutoff`."""
    column = spec.retention_by
    if column is None:
        raise LakeMaintenanceError(f"table {spec.name!r} declares no retention column")
    if spec.columns[column] == "date":
        return f"`{column}` < '{cutoff.isoformat()}'"
    return f"`{column}` < '{cutoff.isoformat()}T00:00:00Z'"


def apply_retention(
    spec: TableSpec,
    lake: SparkSettings,
    *,
    today: date | None = None,
    settings: MaintenanceSettings | None = None,
) -> RetentionResult:
    """Delete the rows older than the table's retention, then vacuum behind the floor."""
    settings = settings or MaintenanceSettings()
    today = today or datetime.now(UTC).date()
    cutoff = retention_cutoff(spec, today)
    if cutoff is None:
        return RetentionResult(spec.name, None, 0, 0, skipped="no retention column: kept")
    try:
        delta = open_table(spec, lake)
    except LakeMaintenanceError:
        return RetentionResult(spec.name, cutoff, 0, 0, skipped="not created yet")
    metrics = delta.delete(retention_predicate(spec, cutoff))
    deleted = int(metrics.get("num_deleted_rows") or 0)
    # The deletion's own files stay until a later run finds them older than the floor.
    vacuumed = delta.vacuum(
        retention_hours=settings.vacuum_floor_hours,
        dry_run=False,
        enforce_retention_duration=False,
    )
    if deleted or vacuumed:
        log.info(
            "lake retention: %s: %d rows before %s deleted, %d files vacuumed",
            spec.name,
            deleted,
            cutoff,
            len(vacuumed),
        )
    return RetentionResult(spec.name, cutoff, deleted, len(vacuumed))


def apply_retention_everywhere(
    lake: SparkSettings,
    *,
    specs: Iterable[TableSpec] | None = None,
    today: date | None = None,
    settings: MaintenanceSettings | None = None,
    report: Report = _quiet,
) -> list[RetentionResult]:
    """`apply_retention` on every declared table (or `specs`), reporting each as it is done."""
    results = []
    for spec in TABLES.values() if specs is None else specs:
        result = apply_retention(spec, lake, today=today, settings=settings)
        report(describe_retention(result))
        results.append(result)
    return results


def describe_retention(result: RetentionResult) -> str:
    """One line about a `RetentionResult`, for progress output and logs."""
    if result.skipped:
        return f"{result.table}: skipped ({result.skipped})"
    return (
        f"{result.table}: {result.rows_deleted:,} rows before {result.cutoff} deleted, "
        f"{result.files_vacuumed:,} files vacuumed"
    )


def run_retention_schedule(
    lake: SparkSettings,
    stop: threading.Event,
    *,
    specs: Iterable[TableSpec] | None = None,
    settings: MaintenanceSettings | None = None,
    report: Report = _quiet,
) -> int:
    """Apply the retention policy (to `specs`, default every table) now and then every
    `retention_interval_s` until `stop`.

    A failed round is logged and retried at the next interval (a concurrent writer may win a
    commit race); returns how many rounds ran. With a `status_path`, the schedule writes
    there when it starts and after each round: when, how many rounds, each table's outcome
    and the round's error.
    """
    settings = settings or MaintenanceSettings()
    status = _ScheduleStatus(settings.status_path, settings.retention_interval_s)
    rounds = 0
    while not stop.is_set():
        lines: list[str] = []

        def both(line: str, lines: list[str] = lines) -> None:
            lines.append(line)
            report(line)

        error = None
        try:
            apply_retention_everywhere(lake, specs=specs, settings=settings, report=both)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            log.exception(
                "lake retention round failed; retrying in %ss", settings.retention_interval_s
            )
        rounds += 1
        status.write(rounds, lines, error)
        stop.wait(settings.retention_interval_s)
    return rounds


class _ScheduleStatus:
    """The retention schedule's status file (nothing when there is no path)."""

    def __init__(self, path: Path | None, interval_s: float) -> None:
        self.path = path
        self.interval_s = interval_s
        self.write(0, [], None)

    def write(self, rounds: int, tables: list[str], error: str | None) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        body = {
            "at": datetime.now(UTC).isoformat(),
            "interval_s": self.interval_s,
            "rounds": rounds,
            "tables": tables,
            "error": error,
        }
        partial = self.path.with_suffix(".tmp")
        partial.write_text(json.dumps(body, indent=1))
        partial.replace(self.path)  # readers never see half a file
