"""Results cached per Delta version of the tables they were computed from.

A key holds the table versions a result read, so a new version of a table can never return
a stale result; when a table's newest version moves on, the entries that read its older
newest version are dropped (exactly those), while entries read at pinned older versions
(time travel) stay valid, since a Delta version never changes.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from prometheus_client import Counter

T = TypeVar("T")
Versions = tuple[tuple[str, int], ...]

_LOOKUPS = Counter(
    "ecap_analytics_cache_lookups_total", "Analytics result cache lookups", ["rpc", "result"]
)


class VersionedCache:
    """A bounded LRU map from (rpc, request, table versions) to results."""

    def __init__(self, max_entries: int) -> None:
        self._max_entries = max_entries
        self._entries: OrderedDict[tuple[str, Hashable, Versions], Any] = OrderedDict()
        self._newest: dict[str, int] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get_or_compute(
        self, rpc: str, request: Hashable, versions: Versions, compute: Callable[[], T]
    ) -> T:
        """The cached result of `rpc` for `request` at `versions`, computed on a miss."""
        key = (rpc, request, versions)
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                _LOOKUPS.labels(rpc, "hit").inc()
                return self._entries[key]
        _LOOKUPS.labels(rpc, "miss").inc()
        result = compute()
        if self._max_entries:
            with self._lock:
                self._entries[key] = result
                while len(self._entries) > self._max_entries:
                    self._entries.popitem(last=False)
        return result

    def advance(self, versions: Versions) -> None:
        """Note the tables' newest versions; drop the entries that read a replaced newest."""
        with self._lock:
            replaced = {
                (name, self._newest[name])
                for name, version in versions
                if self._newest.get(name, version) < version
            }
            self._newest.update(
                {name: max(version, self._newest.get(name, version)) for name, version in versions}
            )
            if replaced:
                for key in [key for key in self._entries if replaced & set(key[2])]:
                    del self._entries[key]
