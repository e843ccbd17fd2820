"""`ecap lake`: run the streaming job, inspect the lake's tables, and maintain them.

Maintenance goes through delta-rs (`spark.maintenance`), so none of these commands but
`stream` starts a JVM; `stream` hands the terminal to the Spark job itself.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from spark.config import SparkSettings
from spark.maintenance import (
    LakeMaintenanceError,
    MaintenanceSettings,
    apply_retention_everywhere,
    describe_tables,
    open_table,
    optimize_table,
    restore_table,
    run_retention_schedule,
    spec_named,
    table_history,
    vacuum_table,
)
from spark.tables import TableSpec

lake_app = typer.Typer(help="The Delta lake: stream, inspect, maintain.", no_args_is_help=True)
jobs_app = typer.Typer(
    help="The analytics batch jobs that recompute the gold tables (Spark).", no_args_is_help=True
)
lake_app.add_typer(jobs_app, name="jobs")
console = Console(stderr=True)
out = Console(width=200)


@contextmanager
def _clear_errors() -> Iterator[None]:
    """Turn a maintenance error into its message and exit status 2."""
    try:
        yield
    except LakeMaintenanceError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from exc


def _size(size_bytes: int | None) -> str:
    if size_bytes is None:
        return "-"
    size = float(size_bytes)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:,.0f} {unit}" if unit == "B" else f"{size:,.1f} {unit}"
        size /= 1024
    return f"{size:,.1f} TiB"


def _targets(name: str | None, lake: SparkSettings) -> list[TableSpec]:
    """The table called `name` (which must exist), or every declared table that exists."""
    if name is not None:
        spec = spec_named(name)
        open_table(spec, lake)  # a clear error when it was never written
        return [spec]
    return [info.spec for info in describe_tables(lake) if info.exists]


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment else "-"


@lake_app.command("stream")
def lake_stream(
    available_now: Annotated[
        bool, typer.Option("--available-now", help="process what Kafka holds, then exit")
    ] = False,
) -> None:
    """Run the streaming job in the foreground: Kafka -> bronze -> silver -> gold."""
    # The job is Spark's; the CLI only starts it (services never import pyspark).
    argv = [sys.executable, "-m", "spark.streaming.job"]
    if available_now:
        argv.append("--available-now")
    os.execv(sys.executable, argv)


@lake_app.command("load-labels")
def lake_load_labels(
    path: Annotated[
        str,
        typer.Argument(help="a labels Parquet file, e.g. DIR/labels.parquet of `simulate --out`"),
    ],
) -> None:
    """Load the simulator's ground-truth labels into silver labels (a Spark batch job)."""
    os.execv(sys.executable, [sys.executable, "-m", "spark.jobs.load_labels", path])


def _exec_jobs(*args: str) -> None:
    # The jobs are Spark's; the CLI only starts them (services never import pyspark).
    os.execv(sys.executable, [sys.executable, "-m", "spark.jobs.analytics", *args])


@jobs_app.command("list")
def lake_jobs_list() -> None:
    """Every analytics job: the tables it reads and the gold tables it writes."""
    _exec_jobs("list")


@jobs_app.command("run")
def lake_jobs_run(
    names: Annotated[
        list[str], typer.Argument(metavar="NAME...|all", help="jobs to run (`jobs list`), or all")
    ],
    schedule: Annotated[
        bool,
        typer.Option(
            "--schedule", help="keep running, once every ECAP_LAKE_JOBS_SCHEDULE_INTERVAL_S"
        ),
    ] = False,
) -> None:
    """Run analytics jobs now, one after the other; each run's lineage goes to gold job_runs."""
    _exec_jobs("run", *names, *(["--schedule"] if schedule else []))


@lake_app.command("tables")
def lake_tables() -> None:
    """Every declared table: version, rows, files, size, last write and retention."""
    lake = SparkSettings()
    table = Table(title=f"Lake tables at {lake.lake_uri}")
    for column in ("table", "layer", "version", "rows", "files", "size", "last write", "keeps"):
        table.add_column(
            column, justify="right" if column in ("version", "rows", "files") else "left"
        )
    with console.status("reading the tables' logs"):
        infos = describe_tables(lake)
    for info in infos:
        spec = info.spec
        keeps = f"{spec.retention_days} d by {spec.retention_by}" if spec.retention_by else "all"
        if not info.exists:
            table.add_row(spec.name, spec.layer, "[dim]not created[/]", "", "", "", "", keeps)
            continue
        table.add_row(
            spec.name,
            spec.layer,
            str(info.version),
            f"{info.rows:,}" if info.rows is not None else "-",
            f"{info.files:,}",
            _size(info.size_bytes),
            f"{_when(info.last_write)} {info.last_operation or ''}",
            keeps,
        )
    out.print(table)


@lake_app.command("history")
def lake_history(
    name: Annotated[str, typer.Argument(metavar="TABLE", help="a declared table")],
    limit: Annotated[int, typer.Option(min=1, help="newest commits to show")] = 20,
) -> None:
    """The table's commits, newest first: version, time, operation and its metrics."""
    lake = SparkSettings()
    with _clear_errors():
        commits = table_history(spec_named(name), lake, limit)
    table = Table(title=f"History of {name}")
    for column in ("version", "time", "operation", "parameters", "metrics"):
        table.add_column(column)
    for commit in commits:
        moment = datetime.fromtimestamp(commit["timestamp"] / 1000).astimezone()
        table.add_row(
            str(commit.get("version", "-")),
            moment.strftime("%Y-%m-%d %H:%M:%S %Z"),
            str(commit.get("operation", "-")),
            json.dumps(commit.get("operationParameters") or {}, default=str)[:80],
            json.dumps(commit.get("operationMetrics") or {}, default=str)[:100],
        )
    out.print(table)


@lake_app.command("restore")
def lake_restore(
    name: Annotated[str, typer.Argument(metavar="TABLE", help="a declared table")],
    version: Annotated[int, typer.Option("--version", "-v", help="the version to bring back")],
) -> None:
    """Make TABLE's content that of an earlier version, as a new commit (history stays)."""
    lake = SparkSettings()
    with _clear_errors(), console.status(f"restoring {name} to version {version}"):
        metrics = restore_table(spec_named(name), lake, version)
    console.print(f"{name} restored to version {version}: {json.dumps(metrics, default=str)}")


@lake_app.command("optimize")
def lake_optimize(
    name: Annotated[
        str | None, typer.Argument(metavar="[TABLE]", help="a declared table; default all")
    ] = None,
    zorder: Annotated[
        str | None, typer.Option("--zorder", help="comma-separated columns to Z-order by")
    ] = None,
) -> None:
    """Compact small files (and Z-order them) in TABLE, or in every table that exists."""
    lake = SparkSettings()
    columns = [c.strip() for c in zorder.split(",") if c.strip()] if zorder else []
    with _clear_errors():
        if name is None and columns:
            raise LakeMaintenanceError("--zorder needs a TABLE: columns differ between tables")
        existing = _targets(name, lake)
        for position, spec in enumerate(existing, 1):
            with console.status(f"[{position}/{len(existing)}] optimizing {spec.name}"):
                metrics = optimize_table(spec, lake, zorder=columns)
            console.print(
                f"[{position}/{len(existing)}] {spec.name}: "
                f"{metrics.get('numFilesRemoved', 0)} files -> {metrics.get('numFilesAdded', 0)}"
                + (f", Z-ordered by {columns}" if columns else "")
            )


@lake_app.command("vacuum")
def lake_vacuum(
    retain: Annotated[int, typer.Option("--retain", help="hours of old versions whose files stay")],
    name: Annotated[
        str | None, typer.Argument(metavar="[TABLE]", help="a declared table; default all")
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="allow --retain below the safe floor")
    ] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="list, delete nothing")] = False,
) -> None:
    """Delete the files that no version newer than --retain hours needs."""
    lake, settings = SparkSettings(), MaintenanceSettings()
    with _clear_errors():
        existing = _targets(name, lake)
        for position, spec in enumerate(existing, 1):
            with console.status(f"[{position}/{len(existing)}] vacuuming {spec.name}"):
                removed = vacuum_table(
                    spec, lake, retain_hours=retain, force=force, dry_run=dry_run, settings=settings
                )
            verb = "would delete" if dry_run else "deleted"
            console.print(f"[{position}/{len(existing)}] {spec.name}: {verb} {len(removed)} files")


@lake_app.command("retention")
def lake_retention(
    name: Annotated[
        str | None, typer.Argument(metavar="[TABLE]", help="a declared table; default all")
    ] = None,
    schedule: Annotated[
        bool,
        typer.Option(
            "--schedule",
            help="keep running, once every ECAP_LAKE_MAINTENANCE_RETENTION_INTERVAL_S",
        ),
    ] = False,
) -> None:
    """Apply the declared retention: delete rows older than each table keeps, then vacuum."""
    lake, settings = SparkSettings(), MaintenanceSettings()
    with _clear_errors():
        specs = [spec_named(name)] if name else None
        if schedule:
            stop = threading.Event()
            console.print(f"applying retention every {settings.retention_interval_s:g} s")
            try:
                run_retention_schedule(
                    lake, stop, specs=specs, settings=settings, report=console.print
                )
            except KeyboardInterrupt:
                stop.set()
            return
        apply_retention_everywhere(lake, specs=specs, settings=settings, report=console.print)
