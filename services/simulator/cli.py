"""`ecap simulate`: the typer command around `simulate()`.

Register it on the main CLI with `app.command("simulate")(simulate_command)`; `app` here runs it
on its own (`python -m services.simulator --days 7 --out data/sim`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console

from services.simulator.config import SimulatorSettings
from services.simulator.run import simulate
from services.simulator.sender import SendError

_console = Console(stderr=True)


def simulate_command(
    seed: Annotated[
        int | None, typer.Option(help="same seed, same world and records (default 42)")
    ] = None,
    start: Annotated[
        datetime | None,
        typer.Option(
            help="backfill start, UTC (default: DAYS before today)",
            formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S%z"],
        ),
    ] = None,
    days: Annotated[int | None, typer.Option(min=1, help="backfill this many days")] = None,
    rate: Annotated[
        float | None,
        typer.Option(help="records/s: paces live traffic (default 100) or a backfill's sending"),
    ] = None,
    duration: Annotated[
        float | None, typer.Option(help="live traffic for this many seconds instead of a backfill")
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="write Parquet tables (with fraud labels) to this folder")
    ] = None,
    target: Annotated[
        str | None,
        typer.Option(
            help="ingestion host:port; default 127.0.0.1:50051, not used with --out alone"
        ),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(
            envvar="ECAP_TOKEN", help="bearer token (default: minted from the local stack's secret)"
        ),
    ] = None,
    customers: Annotated[int | None, typer.Option(min=1, help="size of the customer base")] = None,
) -> None:
    """Simulate the shop: a backfill of DAYS from START, or live traffic at RATE for DURATION."""
    overrides = {
        key: value for key, value in (("seed", seed), ("customers", customers)) if value is not None
    }
    try:
        settings = SimulatorSettings(**overrides)
    except ValidationError as error:
        _console.print(f"[red]invalid simulator settings:[/] {error}")
        raise typer.Exit(2) from error
    if start is not None and start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    try:
        simulate(
            settings,
            start=start,
            days=days,
            rate=rate,
            duration=duration,
            out=out,
            target=target,
            token=token,
            console=_console,
        )
    except ValueError as error:
        _console.print(f"[red]{error}[/]")
        raise typer.Exit(2) from error
    except SendError as error:
        _console.print(f"[red]sending failed:[/] {error}")
        raise typer.Exit(1) from error


app = typer.Typer(help="The ECAP traffic simulator.", add_completion=False)
app.command("simulate")(simulate_command)
