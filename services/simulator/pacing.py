"""Live mode: releasing generated records at a steady rate, stamped with the wall clock.

Generation itself never sleeps or reads the clock; this module is the only place that does, and
it takes the clock and the sleep as arguments so tests can drive it without waiting.

Live traffic is simulated time compressed onto wall time: records keep their order, and each is
re-stamped with the moment it is released, so nothing arrives from the future or the past.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

from ecap.v1 import common_pb2
from services.simulator.clock import set_timestamp, timestamp_us
from services.simulator.records import Label, Timed

# A live run at least this long runs until interrupted: its progress has no total or ETA.
ENDLESS_S = 365 * 24 * 3600.0


class Pacer:
    """How many records a run at `rate` per second may have released after `elapsed_s`."""

    def __init__(self, rate: float, duration_s: float) -> None:
        """`duration_s` of ENDLESS_S or more is a run until interrupted (`endless` is True)."""
        if rate <= 0:
            raise ValueError(f"rate must be positive, got {rate} records/s")
        if duration_s <= 0:
            raise ValueError(f"duration must be positive, got {duration_s} s")
        self.rate = rate
        self.duration_s = duration_s
        self.total = math.floor(rate * duration_s)
        self.endless = duration_s >= ENDLESS_S

    def allowance(self, elapsed_s: float) -> int:
        """Records due by `elapsed_s` seconds into the run, never more than the run's total."""
        return min(self.total, math.floor(self.rate * max(elapsed_s, 0.0)))


def restamp(item: Timed, at_us: int) -> Timed:
    """`item` moved to `at_us`: its record's time fields and its label follow."""
    record = item.record
    if isinstance(record, common_pb2.Transaction | common_pb2.BehaviorEvent):
        set_timestamp(record.occurred_at, at_us)
    else:
        signing_up = (
            isinstance(record, common_pb2.Customer)
            and timestamp_us(record.signed_up_at) == item.at_us
        )
        if signing_up:
            set_timestamp(record.signed_up_at, at_us)
        set_timestamp(record.updated_at, at_us)
    label = item.label
    if label is not None:
        label = Label(label.transaction_id, label.label, label.scenario, at_us)
    return Timed(at_us, item.seq, record, label)


async def paced(
    items: Iterator[Timed],
    pacer: Pacer,
    *,
    clock: Callable[[], float] = time.monotonic,
    wall_us: Callable[[], int] = lambda: time.time_ns() // 1000,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    tick_s: float = 0.05,
    stamp: bool = True,
) -> AsyncIterator[list[Timed]]:
    """Release `items` in chunks at the pacer's rate until its total, re-stamped to wall time.

    Records due in one tick are spread evenly over the time since the previous tick, so their
    timestamps strictly follow their order. With `stamp=False` records keep their own times
    (a backfill sent at a steady rate).
    """
    started = clock()
    released = 0
    last_us = wall_us()
    while released < pacer.total:
        due = pacer.allowance(clock() - started) - released
        if due <= 0:
            await sleep(tick_s)
            continue
        now_us = max(wall_us(), last_us + due)
        step = (now_us - last_us) / due
        chunk = []
        for offset, item in zip(range(1, due + 1), items, strict=False):
            chunk.append(restamp(item, last_us + round(step * offset)) if stamp else item)
        if not chunk:
            return  # the generator ran dry (only a bounded simulation can)
        released += len(chunk)
        last_us = now_us
        yield chunk
