"""The lake as the analytics service reads it: Delta tables pinned at a version, queried with
DuckDB (delta-rs underneath, no JVM).

`LakeReader.snapshot` pins the tables a request reads: the newest versions (each table's
version is re-checked at most every `ECAP_ANALYTICS_VERSION_CHECK_S`), a version of the
request's main table (the others as of that version's commit time), or a point in time.
Unpartitioned gold tables are small and are held in memory per version; silver and
date-partitioned gold tables are scanned from their files, so partition and statistics
pruning apply.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import duckdb
import pandas as pd
import pyarrow as pa
from deltalake import DeltaTable

from services.analytics.config import AnalyticsSettings
from services.mesh.errors import FailedPrecondition, InvalidArgument, NotFound
from spark.config import SparkSettings
from spark.delta_read import arrow_dataset, open_delta
from spark.maintenance import delta_rs_uri
from spark.tables import TABLES, TableSpec

# Commit times remembered (a streaming table makes a version every few seconds).
_COMMIT_TIMES_KEPT = 10_000


class TableNotComputed(FailedPrecondition):
    """A table no job or stream has written yet (or not by the time asked for)."""

    reason = "TABLE_NOT_COMPUTED"

    def __init__(self, spec: TableSpec, when: datetime | None = None) -> None:
        if spec.batch_job:
            remedy = f"run `ecap lake jobs run {spec.batch_job}` (or `ecap up`, which schedules it)"
        elif spec.written_by:
            remedy = f"run `{spec.written_by}`"
        else:
            remedy = "start the lake stream (`ecap lake stream`, or `ecap up`), which writes it"
        at = f" at {when.isoformat()}" if when else ""
        super().__init__(
            f"table {spec.layer}.{spec.name} has not been computed{at}: {remedy}",
            metadata={
                "table": spec.name,
                "job": spec.batch_job or spec.filled_by or spec.written_by or "",
            },
        )


@dataclass(frozen=True)
class LakeAt:
    """What state of the lake a request reads: the newest, a version of its main table, or a
    time."""

    version: int | None = None
    time: datetime | None = None

    @property
    def latest(self) -> bool:
        return self.version is None and self.time is None


LATEST = LakeAt()


@dataclass(frozen=True)
class TableState:
    """One table at one Delta version; `data` is None for a table never written."""

    spec: TableSpec
    version: int
    commit_time: datetime | None
    data: Any = field(repr=False, default=None)

    @property
    def exists(self) -> bool:
        return self.data is not None


class Snapshot:
    """The tables of one request, each pinned at a version, and DuckDB queries over them."""

    def __init__(self, states: Mapping[str, TableState], db: duckdb.DuckDBPyConnection) -> None:
        self.states = dict(states)
        self._db = db

    @property
    def versions(self) -> tuple[tuple[str, int], ...]:
        """(table, version) of every table read; -1 for a table not written yet."""
        return tuple(sorted((name, state.version) for name, state in self.states.items()))

    def require(self, *names: str) -> None:
        """Raise `TableNotComputed` for the first of `names` never written."""
        for name in names:
            state = self.states[name]
            if not state.exists:
                raise TableNotComputed(state.spec)

    def query(self, sql: str, params: Sequence[Any] | None = None) -> pd.DataFrame:
        """`sql` over the snapshot's tables (by catalogue name), as pandas."""
        cursor = self._db.cursor()
        try:
            cursor.execute("set TimeZone = 'UTC'")
            for name, state in self.states.items():
                if state.exists:
                    cursor.register(name, state.data)
                else:
                    cursor.execute(f'create temp table "{name}" ({state.spec.duckdb_ddl()})')
            return cursor.execute(sql, params or []).df()
        finally:
            cursor.close()


class LakeReader:
    """Opens the catalogue's Delta tables, tracks their versions and pins snapshots."""

    def __init__(self, lake: SparkSettings, settings: AnalyticsSettings) -> None:
        self._lake = lake
        self._settings = settings
        self._db = duckdb.connect()
        self._lock = threading.Lock()
        self._tables: dict[str, DeltaTable] = {}
        self._checked: dict[str, float] = {}
        self._states: OrderedDict[tuple[str, int], TableState] = OrderedDict()
        self._commit_times: OrderedDict[tuple[str, int], datetime] = OrderedDict()
        self._described: dict[str, dict[str, Any]] = {}

    # -- versions -----------------------------------------------------------------------------

    def current_version(self, name: str) -> int:
        """The table's newest version (-1 while never written), re-read from the Delta log
        at most every `version_check_s`."""
        table = self._open(name)
        if table is None:
            return -1
        now = time.monotonic()
        with self._lock:
            stale = now - self._checked.get(name, 0.0) >= self._settings.version_check_s
            if stale:
                self._checked[name] = now
        if stale:
            table.update_incremental()
        return table.version()

    def _open(self, name: str) -> DeltaTable | None:
        with self._lock:
            table = self._tables.get(name)
        if table is not None:
            return table
        table = open_delta(TABLES[name].uri(self._lake))
        if table is None:
            return None
        with self._lock:
            self._tables.setdefault(name, table)
            self._checked[name] = time.monotonic()
            return self._tables[name]

    def version_at(self, name: str, when: datetime) -> int:
        """The version of `name` current at `when` (-1 when it did not exist yet)."""
        if self._open(name) is None:
            return -1
        table = DeltaTable(delta_rs_uri(TABLES[name].uri(self._lake)))
        try:
            table.load_as_version(when)
        except Exception as exc:  # delta-rs: "no version found before ..." and kin
            if "before" in str(exc).lower() or "not found" in str(exc).lower():
                return -1
            raise
        return table.version()

    def commit_time(self, name: str, version: int) -> datetime | None:
        """When `version` of `name` was committed."""
        if version < 0:
            return None
        key = (name, version)
        if key in self._commit_times:
            return self._commit_times[key]
        table = self._open(name)
        newest = self.current_version(name)
        assert table is not None
        # history() of a table loaded at an older version mislabels its entries, so read the
        # history of the newest and find the version in it.
        for entry in table.history(newest - version + 1):
            self._commit_times[(name, int(entry["version"]))] = datetime.fromtimestamp(
                entry["timestamp"] / 1000, UTC
            )
        found = self._commit_times.get(key)
        while len(self._commit_times) > _COMMIT_TIMES_KEPT:
            self._commit_times.popitem(last=False)
        return found

    # -- snapshots ----------------------------------------------------------------------------

    def snapshot(self, names: Sequence[str], at: LakeAt = LATEST) -> Snapshot:
        """`names` pinned as `at` says; a version in `at` is of `names[0]`."""
        main = names[0]
        if at.version is not None:
            newest = self.current_version(main)
            if at.version > newest:
                raise InvalidArgument(
                    f"at.version: table {main} has no version {at.version} (newest {newest})",
                    reason="VERSION_NOT_FOUND",
                )
            versions = {main: at.version}
            when = self.commit_time(main, at.version)
            for name in names[1:]:
                versions[name] = self.version_at(name, when) if when else -1
        elif at.time is not None:
            versions = {name: self.version_at(name, at.time) for name in names}
            if versions[main] < 0:
                raise TableNotComputed(TABLES[main], at.time)
        else:
            versions = {name: self.current_version(name) for name in names}
        states = {name: self._state(name, version) for name, version in versions.items()}
        return Snapshot(states, self._db)

    def pinned(self, versions: Mapping[str, int]) -> Snapshot:
        """The tables at exactly `versions` (a page token's, say)."""
        states = {name: self._state(name, version) for name, version in versions.items()}
        return Snapshot(states, self._db)

    def _state(self, name: str, version: int) -> TableState:
        spec = TABLES[name]
        if version < 0:
            return TableState(spec, -1, None)
        key = (name, version)
        with self._lock:
            state = self._states.get(key)
            if state is not None:
                self._states.move_to_end(key)
                return state
        table = DeltaTable(delta_rs_uri(spec.uri(self._lake)), version=version)
        dataset = arrow_dataset(table)
        # Small gold tables are held in memory; date-partitioned ones (the per-minute KPIs)
        # grow with time and are scanned, their partitions pruned by the queries' dates.
        in_memory = spec.layer == "gold" and not spec.partition_by
        data = dataset.to_table() if in_memory else dataset
        state = TableState(spec, version, self.commit_time(name, version), data)
        with self._lock:
            self._states[key] = state
            while len(self._states) > self._settings.pinned_versions:
                self._states.popitem(last=False)
        return state

    # -- table metadata -----------------------------------------------------------------------

    def describe(self, name: str) -> dict[str, Any]:
        """Version, commit time, files, bytes, rows and last maintenance of a table."""
        spec = TABLES[name]
        version = self.current_version(name)
        info: dict[str, Any] = {"spec": spec, "exists": version >= 0, "version": version}
        if version < 0:
            return info
        described = self._described.get(name)
        if described is not None and described["version"] == version:
            return described
        table = DeltaTable(delta_rs_uri(spec.uri(self._lake)), version=version)
        actions = pa.table(table.get_add_actions(flatten=True))
        info["files"] = actions.num_rows
        info["size_bytes"] = int(pa.compute.sum(actions["size_bytes"]).as_py() or 0)
        if "num_records" in actions.column_names:
            info["rows"] = int(pa.compute.sum(actions["num_records"]).as_py() or 0)
        info["commit_time"] = self.commit_time(name, version)
        for entry in table.history(self._settings.history_scan_commits):
            operation = str(entry.get("operation", ""))
            moment = datetime.fromtimestamp(entry["timestamp"] / 1000, UTC)
            if operation == "OPTIMIZE":
                info.setdefault("last_optimize_time", moment)
            elif operation.startswith("VACUUM"):
                info.setdefault("last_vacuum_time", moment)
        self._described[name] = info  # the newest version's only
        return info

    def history(self, name: str, limit: int) -> list[dict[str, Any]]:
        """The table's newest `limit` commits, newest first."""
        table = self._open(name)
        if table is None:
            raise TableNotComputed(TABLES[name])
        self.current_version(name)
        return list(table.history(limit))


def declared_table(name: str) -> TableSpec:
    """The catalogue's table `name`, or NOT_FOUND listing the declared ones."""
    if name not in TABLES:
        raise NotFound(
            f"table: no table {name!r} in the lake catalogue; declared: {sorted(TABLES)}",
            reason="TABLE_NOT_FOUND",
        )
    return TABLES[name]
