"""`simulate()`: generate a backfill or live traffic, write Parquet, send it to the ingestion.

Backfills are generated in memory first and then sent, so the send rate measures the ingestion
rather than the generator. Live runs generate as they go, paced at `rate` records per second.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import grpc
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from services.mesh.auth import Role, mint_token
from services.mesh.client import connect, wait_until_ready
from services.mesh.config import AuthSettings, ClientSettings
from services.simulator.clock import DAY
from services.simulator.config import SimulatorSettings
from services.simulator.generator import Simulation, batches, split
from services.simulator.pacing import Pacer, paced
from services.simulator.parquet import write_parquet
from services.simulator.records import Record, Timed
from services.simulator.sender import Sender, SendError, SendReport

DEFAULT_LIVE_RATE = 100.0


@dataclass
class SimulateResult:
    """What a `simulate()` run produced and what the ingestion made of it."""

    records: Counter[str] = field(default_factory=Counter)
    fraud_labels: int = 0
    generation_s: float = 0.0
    files: dict[str, Path] = field(default_factory=dict)
    report: SendReport | None = None

    @property
    def generated(self) -> int:
        """Records generated, all kinds together."""
        return sum(self.records.values())

    @property
    def generation_rate(self) -> float:
        """Records generated per second of CPU time spent generating (0 when not measured)."""
        return self.generated / self.generation_s if self.generation_s > 0 else 0.0


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )


def dev_token(ttl_s: float) -> str | None:
    """A `service` token signed with the local stack's secret, when one is available."""
    if os.environ.get("ECAP_JWT_SECRET") or os.environ.get("ECAP_JWT_SECRET_FILE"):
        settings = AuthSettings()
    else:
        from services.stack.config import StackSettings  # only for the local stack's secret

        settings = AuthSettings(secret_file=StackSettings().jwt_secret_file)
    if settings.secret is None:
        return None
    return mint_token(settings, subject="simulator", role_names=[Role.SERVICE], ttl_s=ttl_s)


@dataclass(frozen=True)
class _Delivery:
    """Where a run's records go: a Parquet folder, an ingestion service, or both."""

    settings: SimulatorSettings
    out: Path | None
    target: str | None  # None: nothing is sent
    token: str | None
    console: Console

    def sender(
        self,
        channel: grpc.aio.Channel,
        *,
        stream_timeout_s: float,
        on_progress: Callable[[int], None] | None = None,
    ) -> Sender:
        """A sender over `channel` configured from the settings."""
        return Sender(
            channel,
            stream_records=self.settings.stream_records,
            stream_timeout_s=stream_timeout_s,
            on_progress=on_progress,
        )


def simulate(
    settings: SimulatorSettings | None = None,
    *,
    start: datetime | None = None,
    days: int | None = None,
    rate: float | None = None,
    duration: float | None = None,
    out: Path | None = None,
    target: str | None = None,
    token: str | None = None,
    console: Console | None = None,
) -> SimulateResult:
    """Run the simulator: a backfill (`start`, `days`) or live traffic (`rate`, `duration`).

    Writes Parquet to `out` when given, and sends to `target` (default: the settings' target)
    unless only `out` was asked for. In a backfill, `rate` paces the sending; in live mode it
    paces generation and sending together.
    """
    settings = settings or SimulatorSettings()
    if duration is not None and (days is not None or start is not None):
        raise ValueError(
            "pass --start/--days for a backfill or --duration for live traffic, not both"
        )
    if rate is not None and rate <= 0:
        raise ValueError(f"--rate must be positive, got {rate}")
    send = target is not None or out is None
    if send and token is None:
        token = (
            settings.token.get_secret_value()
            if settings.token
            else dev_token(ttl_s=(duration or 0) + 3600)
        )
    delivery = _Delivery(
        settings=settings,
        out=out,
        target=(target or settings.target) if send else None,
        token=token,
        console=console or Console(stderr=True),
    )
    if duration is not None:
        result = _live(delivery, rate or DEFAULT_LIVE_RATE, duration)
    else:
        result = _backfill(delivery, Simulation(settings, start=start, days=days), rate)
    print_summary(result, delivery.console, delivery.target)
    return result


async def _ready(channel: grpc.aio.Channel, target: str) -> None:
    settings = ClientSettings()
    try:
        await wait_until_ready(channel, settings.ready_timeout_s)
    except TimeoutError as error:
        raise SendError(
            f"no ingestion service answered at {target} within {settings.ready_timeout_s:g} s; "
            "start the stack with `ecap up`, or pass --target"
        ) from error


def _backfill(delivery: _Delivery, simulation: Simulation, rate: float | None) -> SimulateResult:
    result = SimulateResult()
    items: list[Timed] = []
    with _progress(delivery.console) as progress:
        task = progress.add_task("generating (simulated days)", total=simulation.days)
        day_end = simulation.start_us + DAY
        started = time.process_time()
        for item in simulation.stream():
            items.append(item)
            while item.at_us >= day_end:
                progress.advance(task)
                day_end += DAY
        result.generation_s = time.process_time() - started
        progress.update(task, completed=simulation.days)
    records, labels = split(items)
    result.records.update(type(r).__name__ for r in records)
    result.fraud_labels = sum(label.label for label in labels)
    if delivery.out is not None:
        result.files = write_parquet(delivery.out, records, labels, simulation.world)
    if delivery.target is not None:
        result.report = asyncio.run(_send_backfill(delivery, items, rate))
    return result


async def _send_backfill(delivery: _Delivery, items: list[Timed], rate: float | None) -> SendReport:
    size = delivery.settings.batch_size
    async with connect(delivery.target, token=delivery.token) as channel:
        await _ready(channel, delivery.target)
        with _progress(delivery.console) as progress:
            task = progress.add_task(f"sending to {delivery.target}", total=len(items))
            sender = delivery.sender(
                channel,
                stream_timeout_s=delivery.settings.stream_timeout_s,
                on_progress=lambda n: progress.advance(task, n),
            )
            if rate is None:
                return await sender.send(batches((item.record for item in items), size))
            # History keeps its simulated times: paced, not re-stamped.
            chunks = paced(iter(items), Pacer(rate, len(items) / rate), stamp=False)
            return await sender.send(_batched(chunks, size))


async def _batched(chunks: AsyncIterator[list[Timed]], size: int) -> AsyncIterator[list[Record]]:
    async for chunk in chunks:
        for batch in batches((item.record for item in chunk), size):
            yield batch


def _live(delivery: _Delivery, rate: float, duration: float) -> SimulateResult:
    simulation = Simulation(delivery.settings, start=datetime.now(UTC), endless=True)
    pacer = Pacer(rate, duration)
    result = SimulateResult()
    kept: list[Timed] = []

    async def released(progress: Progress) -> AsyncIterator[list[Timed]]:
        total = None if pacer.endless else pacer.total
        task = progress.add_task(f"live at {rate:g} records/s", total=total)
        async for chunk in paced(simulation.stream(), pacer):
            result.records.update(type(item.record).__name__ for item in chunk)
            result.fraud_labels += sum(item.label.label for item in chunk if item.label)
            if delivery.out is not None:
                kept.extend(chunk)
            progress.advance(task, len(chunk))
            yield chunk

    async def run() -> SendReport | None:
        with _progress(delivery.console) as progress:
            chunks = released(progress)
            if delivery.target is None:
                async for _ in chunks:
                    pass
                return None
            async with connect(delivery.target, token=delivery.token) as channel:
                await _ready(channel, delivery.target)
                timeout = max(delivery.settings.stream_timeout_s, duration + 60)
                sender = delivery.sender(channel, stream_timeout_s=timeout)
                return await sender.send(_batched(chunks, delivery.settings.batch_size))

    result.report = asyncio.run(run())
    if delivery.out is not None:
        records, labels = split(kept)
        result.files = write_parquet(delivery.out, records, labels, simulation.world)
    return result


def print_summary(result: SimulateResult, console: Console, target: str | None) -> None:
    """The closing table: what was generated, written and sent, and what the ingestion said."""
    table = Table(title="ECAP simulator", show_header=True)
    table.add_column("")
    table.add_column("value", justify="right")
    for kind, count in sorted(result.records.items()):
        table.add_row(f"{kind} records", f"{count:,}")
    if result.generation_s:
        table.add_row("generation rate (records/s, CPU)", f"{result.generation_rate:,.0f}")
    if result.records:
        table.add_row("fraud labels", f"{result.fraud_labels:,}")
    for name, path in result.files.items():
        table.add_row(f"wrote {name}", str(path))
    report = result.report
    if report is not None:
        table.add_row("target", target or "")
        table.add_row("events sent", f"{report.sent:,}")
        table.add_row("accepted", f"[green]{report.accepted:,}[/]")
        table.add_row("rejected", f"[red]{report.rejected:,}[/]" if report.rejected else "0")
        table.add_row("duplicates", f"{report.duplicates:,}")
        table.add_row("events/s", f"{report.events_per_s:,.0f}")
    console.print(table)
    if report is not None and report.rejections:
        first = report.rejections[0]
        console.print(
            f"first rejection: record {first.index} ({first.id}) {first.field}: "
            f"{first.rule}: {first.message}"
        )
