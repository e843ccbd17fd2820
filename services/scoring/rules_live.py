"""The rule set decisions use: compiled once per rule-set version, swapped atomically after
a write here, and re-read every `rules_refresh_s` to pick up other replicas' writes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

import structlog

from services.scoring.rule_store import RuleStore
from services.scoring.rules import RuleSet

log = structlog.get_logger("ecap.scoring.rules")
T = TypeVar("T")


class LiveRules:
    """The current `RuleSet` of a `RuleStore`."""

    def __init__(self, store: RuleStore, refresh_s: float) -> None:
        self.store = store
        self.refresh_s = refresh_s
        self._current: RuleSet = store.rule_set()
        self._task: asyncio.Task | None = None

    def current(self) -> RuleSet:
        return self._current

    async def write(self, change: Callable[..., T], *args) -> T:
        """Run a store write in a thread, then reload the rule set."""
        result = await asyncio.to_thread(change, *args)
        await self.reload()
        return result

    async def reload(self) -> None:
        if await asyncio.to_thread(self.store.version) != self._current.version:
            self._current = await asyncio.to_thread(self.store.rule_set)
            log.info("rules loaded", version=self._current.version)

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._refresh())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _refresh(self) -> None:
        while True:
            await asyncio.sleep(self.refresh_s)
            try:
                await self.reload()
            except Exception:
                log.exception("reloading rules failed; keeping the loaded ones")
