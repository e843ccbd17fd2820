"""Feature declarations: what a feature is, as data, for every executor to compile.

A feature is a function of one entity's history strictly before the scoring time `t`, or of
the row being scored, or of other features:

- `WindowAggregate`: an aggregation (count, sum, mean, std, distinct count) of a source
  column over the entity's rows with `t - delay - length <= ts < t - delay`. A `delay` is the
  label delay for label columns (only labels known at scoring time count) and the offset of
  "previous period" windows for trends.
- `PreviousRow`: a measure against the entity's latest earlier row within `length` (time
  since it, distance and implied speed from its location).
- `RowValue`: a value of the row itself (amount, night, weekend, one-hot categories).
- `Derived`: arithmetic on other features (ratio, z-score, "never seen before").
- `Attribute`: time since an entity attribute (days since sign-up).

The online executor (`models.features.online`) and the Spark executor (`spark.features`) both
compile these declarations; neither holds a feature definition of its own.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import Literal, TypeAlias

Source = Literal["transactions", "events", "customers"]
TS = "ts"  # every source's event-time column (UTC timestamp)


@dataclass(frozen=True)
class Entity:
    """Whose history a feature aggregates: the key columns that identify it."""

    name: str
    keys: tuple[str, ...]


CUSTOMER = Entity("customer", ("customer_id",))
MERCHANT = Entity("merchant", ("merchant_id",))
CARD = Entity("card", ("card_fingerprint",))
CUSTOMER_DEVICE = Entity("customer_device", ("customer_id", "device_id"))
CUSTOMER_IP = Entity("customer_ip", ("customer_id", "ip_address"))
CUSTOMER_COUNTRY = Entity("customer_country", ("customer_id", "country"))


class Agg(StrEnum):
    """Aggregations over a window. Empty windows give 0 for count/sum/distinct, null else."""

    COUNT = "count"
    SUM = "sum"
    MEAN = "mean"
    STD = "std"  # population standard deviation
    DISTINCT = "distinct"


@dataclass(frozen=True)
class WindowAggregate:
    """`agg(column)` over the entity's rows with `t - delay - length <= ts < t - delay`.

    Rows whose `column` is null do not count (a null label is a label not known yet); a row
    whose entity key has a null part has a null feature.
    """

    name: str
    entity: Entity
    agg: Agg
    length: timedelta
    column: str | None = None  # None only for COUNT: count rows
    delay: timedelta = timedelta(0)
    source: Source = "transactions"
    description: str = ""

    def __post_init__(self) -> None:
        if self.column is None and self.agg is not Agg.COUNT:
            raise ValueError(f"feature {self.name}: column is required for agg {self.agg}")
        if self.length <= timedelta(0) or self.delay < timedelta(0):
            raise ValueError(f"feature {self.name}: length must be > 0 and delay >= 0")

    @property
    def required_columns(self) -> tuple[str, ...]:
        return (*self.entity.keys, *([self.column] if self.column else []))


class Measure(StrEnum):
    ELAPSED_S = "elapsed_s"
    ELAPSED_DAYS = "elapsed_days"
    DISTANCE_KM = "distance_km"
    SPEED_KMH = "speed_kmh"


LOCATION = ("latitude", "longitude")
# Two rows seconds apart would imply absurd speeds; speeds use at least this much time.
MIN_SPEED_INTERVAL_S = 60.0


@dataclass(frozen=True)
class PreviousRow:
    """`measure` between `t` (and the row's location) and the entity's latest earlier row
    within `length`; for distances, the latest earlier row that has a location.

    Among earlier rows with equal `ts` the one with the greatest `tie_breaker` is the latest.
    """

    name: str
    entity: Entity
    measure: Measure
    length: timedelta
    source: Source = "transactions"
    tie_breaker: str = "transaction_id"
    description: str = ""

    @property
    def uses_location(self) -> bool:
        return self.measure in (Measure.DISTANCE_KM, Measure.SPEED_KMH)

    @property
    def required_columns(self) -> tuple[str, ...]:
        return (*self.entity.keys, self.tie_breaker, *(LOCATION if self.uses_location else ()))


class RowKind(StrEnum):
    VALUE = "value"  # the column as a float
    EQUALS = "equals"  # 1.0 when the column equals `value`, else 0.0 (one-hot)
    HOUR_BETWEEN = "hour_between"  # 1.0 when the UTC hour of ts is in [low, high)
    WEEKEND = "weekend"  # 1.0 on Saturday and Sunday (UTC)


@dataclass(frozen=True)
class RowValue:
    """A value of the scored row itself."""

    name: str
    kind: RowKind
    column: str = TS
    value: str | None = None
    low: int = 0
    high: int = 0
    description: str = ""

    @property
    def required_columns(self) -> tuple[str, ...]:
        return (self.column,)


# Denominators smaller than this count as zero: a standard deviation of equal amounts is 0
# in one executor and 1e-14 in another, and dividing by it would turn rounding into signal.
MIN_DENOMINATOR = 1e-9


class Op(StrEnum):
    RATIO = "ratio"  # scale * a / b; null when b is null or |b| < MIN_DENOMINATOR
    ZSCORE = "zscore"  # (a - b) / c; null when c is null or |c| < MIN_DENOMINATOR
    IS_ZERO = "is_zero"  # 1.0 when a == 0, 0.0 otherwise, null when a is null


@dataclass(frozen=True)
class Derived:
    """Arithmetic on features or row columns named in `inputs`."""

    name: str
    op: Op
    inputs: tuple[str, ...]
    scale: float = 1.0
    description: str = ""


@dataclass(frozen=True)
class Attribute:
    """Days from an entity attribute (a timestamp column of `source`) to `t`."""

    name: str
    entity: Entity
    column: str
    source: Source = "customers"
    description: str = ""

    @property
    def required_columns(self) -> tuple[str, ...]:
        return (*self.entity.keys, self.column)


Feature: TypeAlias = WindowAggregate | PreviousRow | RowValue | Derived | Attribute


@dataclass(frozen=True)
class FeatureSet:
    """A named, versioned, ordered list of features: the model's input vector."""

    name: str
    version: int
    features: tuple[Feature, ...]
    # Columns every row must have; features needing other columns are optional.
    base_columns: tuple[str, ...] = ()
    metadata: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for feature in self.features:
            if feature.name in seen:
                raise ValueError(f"feature set {self.name}: duplicate feature {feature.name}")
            if isinstance(feature, Derived):
                missing = [i for i in feature.inputs if i not in seen]
                if missing:
                    raise ValueError(
                        f"feature {feature.name}: inputs {missing} must be declared before it"
                    )
            seen.add(feature.name)

    @property
    def names(self) -> list[str]:
        return [feature.name for feature in self.features]

    def get(self, name: str) -> Feature:
        for feature in self.features:
            if feature.name == name:
                return feature
        raise KeyError(name)

    def required_columns(self, feature: Feature) -> set[str]:
        """Every input column `feature` needs, through the features it derives from."""
        if isinstance(feature, Derived):
            columns: set[str] = set()
            for name in feature.inputs:
                columns |= self.required_columns(self.get(name))
            return columns
        return {*feature.required_columns, TS}

    def restricted_to(self, columns: Iterable[str]) -> tuple[FeatureSet, list[str]]:
        """The features computable from `columns` (a new set), and the names skipped."""
        available = set(columns)
        kept, skipped = [], []
        for feature in self.features:
            (kept if self.required_columns(feature) <= available else skipped).append(feature)
        subset = FeatureSet(self.name, self.version, tuple(kept), self.base_columns, self.metadata)
        return subset, [feature.name for feature in skipped]

    def to_dict(self) -> dict:
        """A JSON-ready description of every declaration (stored with the model)."""
        return {
            "name": self.name,
            "version": self.version,
            "base_columns": list(self.base_columns),
            "metadata": dict(self.metadata),
            "features": [_feature_dict(feature) for feature in self.features],
        }

    @property
    def hash(self) -> str:
        """sha256 of the canonical JSON of the declarations: equal hash, equal features."""
        canonical = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


def _feature_dict(feature: Feature) -> dict:
    raw = asdict(feature)
    out: dict = {"type": type(feature).__name__}
    for key, value in raw.items():
        if isinstance(value, timedelta):
            out[key] = value.total_seconds()
        elif isinstance(value, dict) and key == "entity":
            out[key] = {"name": value["name"], "keys": list(value["keys"])}
        elif isinstance(value, tuple):
            out[key] = list(value)
        else:
            out[key] = value.value if isinstance(value, StrEnum) else value
    return out
