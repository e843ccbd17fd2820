"""A customer's rows of the silver and gold tables without scanning them per request.

`GetCustomer360` needs one customer's transactions, decisions and profile versions. Scanning
silver for them reads every file (seconds on millions of rows), so each such table is held in
memory grouped by customer (`KeyedRows`), rebuilt in the background when the table has moved
on and the index is older than `ECAP_ANALYTICS_CUSTOMER_INDEX_REFRESH_S`. Between rebuilds a
lookup takes the index's rows plus a filtered scan of only the files added since; if files
the index was built from are gone (OPTIMIZE, retention), or an older version is asked for
(time travel), the lookup scans the table's files at that version instead. Gold tables, held
in memory already, are indexed per version at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import structlog

from services.analytics.lake import TableState

log = structlog.get_logger("ecap.analytics.customer_rows")

# Versions of in-memory (gold) tables kept indexed: the newest and a few for time travel.
_IN_MEMORY_VERSIONS = 16


class KeyedRows:
    """A table's rows grouped by one key column, for point lookups."""

    def __init__(self, table: pa.Table, key: str) -> None:
        self.table = table.sort_by([(key, "ascending")])
        self.spans: dict[str, tuple[int, int]] = {}
        keys = self.table[key].combine_chunks()
        if len(keys):
            runs = pc.run_end_encode(keys)
            ends = runs.run_ends.to_numpy()
            starts = [0, *ends[:-1].tolist()]
            for value, start, end in zip(
                runs.values.to_pylist(), starts, ends.tolist(), strict=True
            ):
                if value is not None:
                    self.spans[value] = (start, end)

    def rows(self, value: str) -> pa.Table:
        """The rows whose key is `value` (none: an empty table)."""
        start, end = self.spans.get(value, (0, 0))
        return self.table.slice(start, end - start)


@dataclass(frozen=True)
class _Index:
    version: int
    files: frozenset[str]
    rows: KeyedRows
    built_at: float


def _files(state: TableState) -> frozenset[str]:
    return frozenset(fragment.path for fragment in state.data.get_fragments())


def _scan(dataset: ds.Dataset, key: str, value: str, columns: Sequence[str]) -> pa.Table:
    return dataset.to_table(columns=list(columns), filter=pc.field(key) == value)


class CustomerRows:
    """Per table, an in-memory `KeyedRows` of the newest version built, and lookups."""

    def __init__(self, refresh_s: float, columns: Mapping[str, tuple[str, ...]], key: str) -> None:
        self._refresh_s = refresh_s
        self._columns = columns
        self._key = key
        self._indexes: dict[str, _Index] = {}
        self._building: set[str] = set()
        self._failed_at: dict[str, float] = {}
        self._per_version: dict[tuple[str, int], KeyedRows] = {}
        self._lock = threading.Lock()

    def rows(self, state: TableState, value: str) -> pa.Table:
        """The rows of `state`'s table (at its version) whose key is `value`."""
        name = state.spec.name
        columns = self._columns.get(name) or tuple(state.spec.columns)
        if not state.exists:
            return pa.table({c: pa.array([], pa.string()) for c in columns})
        if isinstance(state.data, pa.Table):
            return self._in_memory(state).rows(value)
        index = self._indexes.get(name)
        if index is None or (
            index.version < state.version and time.monotonic() - index.built_at >= self._refresh_s
        ):
            self.build_in_background(state)
        if index is None or index.version > state.version:
            return _scan(state.data, self._key, value, columns)
        if index.version == state.version:
            return index.rows.rows(value)
        files = _files(state)
        if not index.files <= files:
            return _scan(state.data, self._key, value, columns)
        added = [f for f in state.data.get_fragments() if f.path not in index.files]
        newer = ds.FileSystemDataset(
            added, state.data.schema, state.data.format, state.data.filesystem
        )
        return pa.concat_tables([index.rows.rows(value), _scan(newer, self._key, value, columns)])

    def _in_memory(self, state: TableState) -> KeyedRows:
        # A table already held in memory (gold) is indexed per version, at once: it is small.
        key = (state.spec.name, state.version)
        with self._lock:
            found = self._per_version.get(key)
        if found is None:
            found = KeyedRows(state.data, self._key)
            with self._lock:
                self._per_version[key] = found
                while len(self._per_version) > _IN_MEMORY_VERSIONS:
                    del self._per_version[next(iter(self._per_version))]
        return found

    def build_in_background(self, state: TableState) -> None:
        """Start building the index of `state` unless one is being built."""
        name = state.spec.name
        with self._lock:
            failed_at = self._failed_at.get(name)
            if name in self._building or (
                failed_at is not None and time.monotonic() - failed_at < self._refresh_s
            ):
                return
            self._building.add(name)
        threading.Thread(
            target=self._build, args=(state,), daemon=True, name=f"index-{name}"
        ).start()

    def build(self, state: TableState) -> None:
        """Build the index of `state` now (in this thread)."""
        with self._lock:
            self._building.add(state.spec.name)
        self._build(state)

    def _build(self, state: TableState) -> None:
        name = state.spec.name
        try:
            started = time.monotonic()
            table = state.data.to_table(columns=list(self._columns[name]))
            index = _Index(
                state.version, _files(state), KeyedRows(table, self._key), time.monotonic()
            )
            with self._lock:
                current = self._indexes.get(name)
                if current is None or current.version < index.version:
                    self._indexes[name] = index
            log.info(
                "customer index built",
                table=name,
                version=state.version,
                rows=table.num_rows,
                seconds=round(time.monotonic() - started, 2),
            )
        except Exception:
            log.exception("customer index build failed; lookups scan the table", table=name)
            with self._lock:
                self._failed_at[name] = time.monotonic()
        finally:
            with self._lock:
                self._building.discard(name)
