"""`python -m spark.jobs.analytics list|run NAME...|all`: the analytics jobs from a shell.

`ecap lake jobs ...` starts this module (the `ecap` CLI itself never imports pyspark).
"""

from __future__ import annotations

import json
import signal
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from spark.config import SparkSettings
from spark.jobs.analytics.config import JobSettings
from spark.jobs.analytics.registry import JOBS
from spark.jobs.analytics.runner import Job, JobContext, JobError, run_jobs, select_jobs

app = typer.Typer(help="The analytics batch jobs (gold tables).", no_args_is_help=True)
console = Console(stderr=True)


def _progress(message: str) -> None:
    console.print(f"{datetime.now(UTC):%H:%M:%S} {message}", highlight=False, soft_wrap=True)


@app.command("list")
def list_jobs() -> None:
    """Every job: what it computes, the tables it reads and the gold tables it writes."""
    table = Table(title="Analytics jobs (ecap lake jobs run NAME|all)")
    for column in ("job", "reads", "writes", "computes"):
        table.add_column(column)
    for job in JOBS:
        table.add_row(job.name, ", ".join(job.reads), ", ".join(job.writes), job.description)
    Console(width=200).print(table)


@app.command("run")
def run(
    names: Annotated[list[str], typer.Argument(metavar="NAME...|all", help="jobs to run")],
    schedule: Annotated[
        bool,
        typer.Option(
            "--schedule",
            help="keep running them, once every ECAP_LAKE_JOBS_SCHEDULE_INTERVAL_S (a failed "
            "round is reported and the next one runs)",
        ),
    ] = False,
) -> None:
    """Run the jobs named (or all), one after the other, recording each run in job_runs."""
    try:
        jobs = select_jobs(JOBS, names)
    except JobError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from exc
    from spark.session import get_spark

    lake, settings = SparkSettings(), JobSettings()
    _progress(f"starting Spark for {len(jobs)} job(s) on the lake at {lake.lake_uri}")
    context = JobContext(get_spark("ecap-analytics-jobs", lake), lake, settings, _progress)
    if not schedule:
        if not _round(jobs, context):
            raise typer.Exit(1)
        return
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    status = {"started_at": _now(), "jobs": [job.name for job in jobs], "rounds": 0}
    _write_status(settings.status_path, status)
    try:
        while not stop.is_set():
            ok = _round(jobs, context)
            status.update(rounds=status["rounds"] + 1, last_round_at=_now(), last_round_ok=ok)
            status["next_round_in_s"] = settings.schedule_interval_s
            _write_status(settings.status_path, status)
            _progress(f"next round in {settings.schedule_interval_s:g} s")
            stop.wait(settings.schedule_interval_s)
    except KeyboardInterrupt:
        pass


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _write_status(path: Path | None, status: dict) -> None:
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(status, indent=2))
    tmp.replace(path)


def _round(jobs: list[Job], context: JobContext) -> bool:
    """Run `jobs` once; reports and returns False when one fails."""
    clock = time.perf_counter()
    try:
        records = run_jobs(jobs, context)
    except Exception as exc:
        console.print(f"[red]error:[/] {exc}")
        return False
    _progress(f"{len(records)} job(s) succeeded in {time.perf_counter() - clock:.1f} s")
    return True


if __name__ == "__main__":
    app()
