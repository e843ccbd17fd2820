"""The live feed of committed changes behind WatchCases, fanned out to every watcher.

Changes are published after their commit, from any thread; each watcher has a bounded
asyncio queue, and a watcher that falls `watch_buffer` changes behind is cut off (its
stream ends with RESOURCE_EXHAUSTED) rather than slowing the service down.
"""

from __future__ import annotations

import asyncio

from services.cases.records import Change

_OVERFLOW = object()


class Watcher:
    """One subscriber: the changes in its queue, and whether it fell behind."""

    def __init__(self, capacity: int) -> None:
        self.queue: asyncio.Queue = asyncio.Queue(maxsize=capacity + 1)
        self.capacity = capacity
        self.overflowed = False

    def offer(self, change: Change) -> None:
        if self.overflowed:
            return
        if self.queue.qsize() >= self.capacity:
            self.overflowed = True
            self.queue.put_nowait(_OVERFLOW)
            return
        self.queue.put_nowait(change)

    async def next(self, timeout_s: float) -> Change | None:
        """The next change, None after `timeout_s` without one; raises OverflowError."""
        try:
            item = await asyncio.wait_for(self.queue.get(), timeout_s)
        except TimeoutError:
            return None
        if item is _OVERFLOW:
            raise OverflowError
        return item


class ChangeFeed:
    """Fans committed changes out to the watchers, on the service's event loop."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._watchers: set[Watcher] = set()
        self._loop: asyncio.AbstractEventLoop | None = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Deliver on `loop` (the gRPC server's)."""
        self._loop = loop

    def subscribe(self) -> Watcher:
        """A new watcher; call from the event loop."""
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        watcher = Watcher(self.capacity)
        self._watchers.add(watcher)
        return watcher

    def unsubscribe(self, watcher: Watcher) -> None:
        """Stop delivering to `watcher`."""
        self._watchers.discard(watcher)

    def publish(self, changes: list[Change]) -> None:
        """Deliver `changes` to every watcher; safe from any thread."""
        loop = self._loop
        if loop is None or not self._watchers or loop.is_closed():
            return
        loop.call_soon_threadsafe(self._deliver, changes)

    def _deliver(self, changes: list[Change]) -> None:
        for watcher in list(self._watchers):
            for change in changes:
                watcher.offer(change)
