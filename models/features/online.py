"""The online executor: per-entity incremental state that computes a feature set's vector
for a row as of its time, in O(1) amortised per window (standard deviations re-read the
window), with bounded memory.

    online = OnlineFeatures(fraud_features())
    vector = online.compute(row)   # features of `row` from the history before row["ts"]
    online.observe(row)            # then add the row to the history

Each (feature, entity) keeps only the rows inside its window (`delay + length`); rows leave
the state as time passes and an entity whose state is empty is dropped, so memory follows
the traffic of the longest window, capped by `max_rows` per entity and feature (a capped
state drops its oldest rows, and only then can it differ from the Spark executor).
Rows of one entity should arrive in time order; a late row is inserted in place while its
window is still held, and queries earlier than the latest one are answered from what is
still held.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections import Counter, deque
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import numpy as np

from models.features.declarations import (
    MIN_DENOMINATOR,
    MIN_SPEED_INTERVAL_S,
    TS,
    Agg,
    Attribute,
    Derived,
    Feature,
    FeatureSet,
    Measure,
    Op,
    PreviousRow,
    RowKind,
    RowValue,
    Source,
    WindowAggregate,
)
from models.features.geo import haversine_km

MICROS = 1_000_000
DAY_MICROS = 86_400 * MICROS
DEFAULT_MAX_ROWS = 100_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_micros(value: Any) -> int:
    """Epoch microseconds of a timezone-aware datetime (or of an int already in micros)."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"ts must be timezone-aware (UTC), got naive {value!r}")
        delta = value - EPOCH
        return (delta.days * 86_400 + delta.seconds) * MICROS + delta.microseconds
    if isinstance(value, int | np.integer):
        return int(value)
    raise ValueError(f"ts must be a datetime or epoch microseconds, got {type(value).__name__}")


def _is_null(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


class _Window:
    """The rows of one entity for one feature: `pending` (not yet in the window because of
    the delay) and `active` (inside it), each sorted by (ts, tie), with running sums."""

    __slots__ = ("active", "count", "distinct", "horizon", "pending", "total")

    def __init__(self) -> None:
        self.pending: deque[tuple] = deque()
        self.active: deque[tuple] = deque()
        self.count = 0
        self.total = 0.0
        self.distinct: Counter | None = None
        self.horizon = -(2**62)  # greatest upper bound queried so far

    def add(self, entry: tuple, max_rows: int) -> None:
        queue = self.pending if entry[0] >= self.horizon else self.active
        if not queue or entry[:2] >= queue[-1][:2]:
            queue.append(entry)
        else:
            queue.insert(bisect_right(queue, entry[:2], key=lambda e: e[:2]), entry)
        if queue is self.active:
            self.enter(entry)
        while len(self.pending) + len(self.active) > max_rows:
            if self.active:
                self.leave(self.active.popleft())
            else:
                self.pending.popleft()

    def enter(self, entry: tuple) -> None:
        self.count += 1
        value = entry[2]
        if isinstance(value, int | float):
            self.total += value
        if self.distinct is not None:
            self.distinct[value] += 1

    def leave(self, entry: tuple) -> None:
        self.count -= 1
        value = entry[2]
        if isinstance(value, int | float):
            self.total -= value
        if self.distinct is not None:
            self.distinct[value] -= 1
            if not self.distinct[value]:
                del self.distinct[value]

    def advance(self, lower: int, upper: int) -> bool:
        """Move the window to [lower, upper); False when the query is older than the state
        (the caller then filters the held rows instead)."""
        if upper < self.horizon:
            return False
        self.horizon = upper
        while self.pending and self.pending[0][0] < upper:
            entry = self.pending.popleft()
            self.active.append(entry)
            self.enter(entry)
        while self.active and self.active[0][0] < lower:
            self.leave(self.active.popleft())
        if self.count == 0:
            self.total = 0.0  # no drift from float sums once the window empties
        return True

    def rows(self, lower: int, upper: int) -> list[tuple]:
        return [e for e in (*self.active, *self.pending) if lower <= e[0] < upper]

    @property
    def empty(self) -> bool:
        return not self.pending and not self.active


def _aggregate(agg: Agg, values: list) -> float | None:
    if agg is Agg.COUNT:
        return float(len(values))
    if agg is Agg.SUM:
        return float(sum(values))
    if agg is Agg.DISTINCT:
        return float(len(set(values)))
    if not values:
        return None
    mean = sum(values) / len(values)
    if agg is Agg.MEAN:
        return mean
    return math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))


class OnlineFeatures:
    """Incremental per-entity state for one feature set."""

    def __init__(self, features: FeatureSet, *, max_rows: int = DEFAULT_MAX_ROWS) -> None:
        self.features = features
        self.max_rows = max_rows
        self._windows: dict[str, dict[tuple, _Window]] = {}
        self._attributes: dict[str, dict[tuple, int]] = {}
        for feature in features.features:
            if isinstance(feature, WindowAggregate | PreviousRow):
                self._windows[feature.name] = {}
            elif isinstance(feature, Attribute):
                self._attributes[feature.name] = {}

    # -- state ----------------------------------------------------------------------------

    def observe(self, row: Mapping[str, Any], source: Source = "transactions") -> None:
        """Add a row of `source` to the history of every entity it belongs to."""
        ts = to_micros(row[TS])
        for feature in self.features.features:
            if getattr(feature, "source", None) != source:
                continue
            key = _key(feature.entity.keys, row)
            if key is None:
                continue
            if isinstance(feature, Attribute):
                value = row.get(feature.column)
                if not _is_null(value):
                    self._attributes[feature.name][key] = to_micros(value)
                continue
            entry = self._entry(feature, row, ts)
            if entry is None:
                continue
            windows = self._windows[feature.name]
            window = windows.get(key)
            if window is None:
                window = windows[key] = _Window()
                if isinstance(feature, WindowAggregate) and feature.agg is Agg.DISTINCT:
                    window.distinct = Counter()
            window.add(entry, self.max_rows)

    @staticmethod
    def _entry(feature: Feature, row: Mapping[str, Any], ts: int) -> tuple | None:
        if isinstance(feature, PreviousRow):
            tie = row.get(feature.tie_breaker)
            if not feature.uses_location:
                return (ts, tie, None)
            lat, lon = row.get("latitude"), row.get("longitude")
            if _is_null(lat) or _is_null(lon):
                return None
            return (ts, tie, None, float(lat), float(lon))
        if feature.column is None:
            return (ts, "", 1)
        value = row.get(feature.column)
        if _is_null(value):
            return None
        if feature.agg is not Agg.DISTINCT:
            value = float(value)
        return (ts, "", value)

    def expire(self, now: Any) -> int:
        """Drop the rows every window has left behind at `now`; returns entities dropped."""
        t = to_micros(now)
        dropped = 0
        for name, windows in self._windows.items():
            feature = self.features.get(name)
            delay = (
                int(getattr(feature, "delay", 0).total_seconds() * MICROS)
                if isinstance(feature, WindowAggregate)
                else 0
            )
            upper = t - delay
            lower = upper - int(feature.length.total_seconds() * MICROS)
            for key in list(windows):
                window = windows[key]
                if not window.advance(lower, upper):
                    while window.active and window.active[0][0] < lower:
                        window.leave(window.active.popleft())
                if window.empty:
                    del windows[key]
                    dropped += 1
        return dropped

    def held_rows(self) -> int:
        """Rows held over all windows: the memory the state uses, in rows."""
        return sum(
            len(w.pending) + len(w.active) for ws in self._windows.values() for w in ws.values()
        )

    # -- queries --------------------------------------------------------------------------

    def compute(self, row: Mapping[str, Any]) -> dict[str, float | None]:
        """Every feature of `row` as of `row["ts"]`, from the history observed so far (rows
        at or after that time do not count). Does not change the history."""
        t = to_micros(row[TS])
        values: dict[str, float | None] = {}
        for feature in self.features.features:
            values[feature.name] = self._value(feature, row, t, values)
        return values

    def compute_and_observe(self, row: Mapping[str, Any]) -> dict[str, float | None]:
        """`compute(row)`, then `observe(row)`: how a scoring service walks its traffic."""
        values = self.compute(row)
        self.observe(row)
        return values

    def vector(self, row: Mapping[str, Any]) -> np.ndarray:
        """`compute(row)` as a float vector in declaration order, NaN for null."""
        values = self.compute(row)
        return np.array([np.nan if v is None else v for v in values.values()], dtype=float)

    def _value(
        self, feature: Feature, row: Mapping[str, Any], t: int, done: dict[str, float | None]
    ) -> float | None:
        if isinstance(feature, RowValue):
            return row_value(feature, row, t)
        if isinstance(feature, Derived):
            return derive(feature, [done[name] for name in feature.inputs])
        key = _key(feature.entity.keys, row)
        if key is None:
            return None
        if isinstance(feature, Attribute):
            since = self._attributes[feature.name].get(key)
            return None if since is None else (t - since) / DAY_MICROS
        windows = self._windows[feature.name]
        window = windows.get(key)
        if isinstance(feature, WindowAggregate):
            value = self._aggregate(feature, window, t)
        else:
            value = self._previous(feature, window, row, t)
        if window is not None and window.empty:
            del windows[key]
        return value

    def _aggregate(self, feature: WindowAggregate, window: _Window | None, t: int):
        upper = t - int(feature.delay.total_seconds() * MICROS)
        lower = upper - int(feature.length.total_seconds() * MICROS)
        if window is None:
            return _aggregate(feature.agg, [])
        if not window.advance(lower, upper):
            return _aggregate(feature.agg, [e[2] for e in window.rows(lower, upper)])
        if feature.agg is Agg.COUNT:
            return float(window.count)
        if feature.agg is Agg.SUM:
            return window.total
        if feature.agg is Agg.MEAN:
            return window.total / window.count if window.count else None
        if feature.agg is Agg.DISTINCT:
            return float(len(window.distinct))
        return _aggregate(feature.agg, [e[2] for e in window.active])

    def _previous(self, feature: PreviousRow, window: _Window | None, row, t: int):
        if window is None:
            return None
        lower = t - int(feature.length.total_seconds() * MICROS)
        if window.advance(lower, t):
            last = window.active[-1] if window.active else None
        else:
            held = window.rows(lower, t)
            last = max(held, key=lambda e: e[:2]) if held else None
        if last is None:
            return None
        return previous_measure(feature.measure, t, last, row)


def _key(columns: tuple[str, ...], row: Mapping[str, Any]) -> tuple | None:
    key = tuple(row.get(column) for column in columns)
    return None if any(_is_null(part) for part in key) else key


def row_value(feature: RowValue, row: Mapping[str, Any], t: int) -> float | None:
    """A row feature's value (UTC calendar for hours and weekdays)."""
    if feature.kind is RowKind.VALUE:
        value = row.get(feature.column)
        return None if _is_null(value) else float(value)
    if feature.kind is RowKind.EQUALS:
        value = row.get(feature.column)
        return None if _is_null(value) else float(value == feature.value)
    seconds = t // MICROS
    if feature.kind is RowKind.HOUR_BETWEEN:
        hour = (seconds % 86_400) // 3600
        return float(feature.low <= hour < feature.high)
    weekday = (seconds // 86_400 + 3) % 7  # 1970-01-01 was a Thursday; Monday is 0
    return float(weekday >= 5)


def derive(feature: Derived, inputs: list[float | None]) -> float | None:
    """A derived feature from its inputs' values."""
    if feature.op is Op.IS_ZERO:
        (a,) = inputs
        return None if a is None else float(a == 0)
    if any(v is None for v in inputs):
        return None
    if feature.op is Op.RATIO:
        a, b = inputs
        return None if abs(b) < MIN_DENOMINATOR else feature.scale * a / b
    a, b, c = inputs
    return None if abs(c) < MIN_DENOMINATOR else (a - b) / c


def previous_measure(measure: Measure, t: int, last: tuple, row: Mapping[str, Any]):
    """`measure` between the scored row at `t` and the entity's previous row `last`."""
    elapsed_s = (t - last[0]) / MICROS
    if measure is Measure.ELAPSED_S:
        return elapsed_s
    if measure is Measure.ELAPSED_DAYS:
        return elapsed_s / 86_400
    lat, lon = row.get("latitude"), row.get("longitude")
    if _is_null(lat) or _is_null(lon):
        return None
    km = haversine_km(last[3], last[4], float(lat), float(lon))
    if measure is Measure.DISTANCE_KM:
        return km
    return km / (max(elapsed_s, MIN_SPEED_INTERVAL_S) / 3600)


def replay(
    features: FeatureSet, rows: Iterable[Mapping[str, Any]]
) -> Iterator[dict[str, float | None]]:
    """The features of each row (in time order) as a scoring service would have computed
    them while the rows streamed past: compute, then observe."""
    online = OnlineFeatures(features)
    for row in rows:
        yield online.compute_and_observe(row)
