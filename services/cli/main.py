"""`ecap`: mint development tokens and run the local stack."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from services.cli.cases import cases_app
from services.cli.lake import lake_app
from services.cli.models import models_app, train_app
from services.mesh.auth import Role, mint_token
from services.mesh.config import AuthSettings
from services.mesh.kafka.config import KafkaSettings
from services.mesh.kafka.topics import (
    TOPICS,
    KafkaUnavailableError,
    describe_topics,
    ensure_topics,
)
from services.simulator.cli import simulate_command
from services.simulator.config import SimulatorSettings
from services.simulator.pacing import ENDLESS_S
from services.simulator.run import simulate
from services.simulator.sender import SendError
from services.stack.config import StackSettings
from services.stack.runner import Stack, StackError

# "Until Ctrl-C": live traffic for a year of wall time.

app = typer.Typer(help="ECAP: e-commerce fraud and customer analytics.", no_args_is_help=True)
console = Console(stderr=True)


def _auth_settings() -> AuthSettings:
    if os.environ.get("ECAP_JWT_SECRET") or os.environ.get("ECAP_JWT_SECRET_FILE"):
        return AuthSettings()
    return AuthSettings(secret_file=StackSettings().jwt_secret_file)


@app.command()
def token(
    role: Annotated[list[Role], typer.Option("--role", "-r", help="repeat for several roles")],
    sub: Annotated[str, typer.Option("--sub", help="who the token is for")],
    ttl: Annotated[int, typer.Option("--ttl", min=1, help="lifetime in seconds")] = 3600,
) -> None:
    """Print a development JWT (HS256, signed with the stack's secret) on stdout."""
    settings = _auth_settings()
    if settings.secret is None:
        console.print(
            "[red]no JWT secret:[/] set ECAP_JWT_SECRET, or run `ecap up` once "
            f"(it creates {settings.secret_file})"
        )
        raise typer.Exit(2)
    print(mint_token(settings, subject=sub, role_names=[r.value for r in role], ttl_s=ttl))


def _relative(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _print_lake_status(path: Path) -> None:
    """The streaming job's last progress per stream, from the status file it writes."""
    try:
        status = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return
    table = Table(title=f"Lake streams (as of {status.get('updated_at', '?')})")
    for column in ("stream", "active", "last batch", "in rows/s", "done rows/s", "Kafka lag"):
        table.add_column(column)
    for name, stream in sorted(status.get("streams", {}).items()):
        lag = stream.get("kafka_offsets_behind")
        table.add_row(
            name,
            "yes" if stream.get("active") else f"[red]no[/] {stream.get('error') or ''}",
            str(stream.get("batch_id", "-")),
            f"{stream.get('input_rows_per_s') or 0:,.0f}",
            f"{stream.get('processed_rows_per_s') or 0:,.0f}",
            "-" if lag is None else f"{lag:,}",
        )
    Console(width=160).print(table)


def _print_status(stack: Stack) -> bool:
    table = Table(title="ECAP local stack")
    for column in ("process", "pid", "health", "address", "metrics", "log"):
        table.add_column(column)
    healthy = True
    for row in stack.status():
        colour = "green" if row.health == "SERVING" else "red"
        healthy &= row.health == "SERVING"
        table.add_row(
            row.name,
            str(row.pid or "-"),
            f"[{colour}]{row.health}[/]",
            row.address,
            row.metrics or "-",
            _relative(row.log),
        )
    Console(width=160).print(table)
    _print_lake_status(stack.settings.run_dir / "lake" / "status.json")
    return healthy


kafka_app = typer.Typer(help="The Kafka topics ECAP declares.", no_args_is_help=True)
app.add_typer(kafka_app, name="kafka")


@kafka_app.command("topics")
def kafka_topics(
    create: Annotated[
        bool, typer.Option(help="create the declared topics that are missing")
    ] = False,
) -> None:
    """List the declared topics: partitions, replicas and configs as the cluster has them."""
    bootstrap = KafkaSettings().bootstrap_servers
    try:
        if create:
            result = ensure_topics(bootstrap)
            console.print(f"created {list(result.created)}; already there {list(result.existed)}")
        described = describe_topics(bootstrap)
    except KafkaUnavailableError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from exc
    carries = {spec.name: spec.carries for spec in TOPICS}
    table = Table(title=f"Kafka topics at {bootstrap}")
    for column in ("topic", "partitions", "replicas", "configs", "carries"):
        table.add_column(column)
    for topic in described:
        configs = ", ".join(f"{k}={v}" for k, v in sorted(topic.config.items()))
        table.add_row(
            topic.name,
            str(topic.partitions) if topic.exists else "[red]missing[/]",
            str(topic.replication_factor or "-"),
            configs or "-",
            carries.get(topic.name, ""),
        )
    Console(width=200).print(table)
    if not all(topic.exists for topic in described):
        raise typer.Exit(1)


@app.command()
def up() -> None:
    """Start the local stack in the background; return once every process is healthy."""
    stack = Stack()
    try:
        stack.up(report=lambda line: console.print(line))
    except StackError as exc:
        console.print(f"[red]stack did not come up:[/] {exc}")
        raise typer.Exit(1) from exc
    _print_status(stack)
    console.print(
        "Stack is up. Mint a token with `ecap token --role admin --sub you`; "
        "stop everything with `ecap down`."
    )


@app.command()
def down() -> None:
    """Stop every process of the local stack (SIGTERM, drain, then exit)."""
    Stack().down(report=lambda line: console.print(line))


@app.command()
def status() -> None:
    """Show each process of the local stack with its health; exit 1 if any is not serving."""
    if not _print_status(Stack()):
        raise typer.Exit(1)


app.command("simulate")(simulate_command)

app.add_typer(lake_app, name="lake")
app.add_typer(train_app, name="train")
app.add_typer(models_app, name="models")
app.add_typer(cases_app, name="cases")


@app.command()
def demo(
    rate: Annotated[float, typer.Option(min=1, help="live records per second")] = 200,
    duration: Annotated[
        float | None, typer.Option(min=1, help="seconds of traffic (default: until Ctrl-C)")
    ] = None,
    seed: Annotated[int, typer.Option(help="the simulated shop's seed")] = 42,
) -> None:
    """Bring the stack up, send live simulator traffic until Ctrl-C, then stop it all cleanly."""
    up()
    console.print(
        f"Sending live shop traffic at {rate:g} records/s"
        + (f" for {duration:g} s" if duration else "; Ctrl-C stops the traffic, then the stack")
    )
    try:
        simulate(
            SimulatorSettings(seed=seed),
            rate=rate,
            duration=duration or ENDLESS_S,
            console=console,
        )
    except KeyboardInterrupt:
        console.print("traffic stopped")
    except SendError as exc:
        console.print(f"[red]the simulator could not send:[/] {exc}")
    finally:
        down()


if __name__ == "__main__":
    app()
