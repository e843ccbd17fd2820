"""The Spark executor of `models.features` declarations.

Two entry points, compiled from the same declarations as the online executor:

- `point_in_time_features(rows, features)`: every row gets its feature vector as of its own
  `ts` (window functions over each entity's rows in `[ts - delay - length, ts - delay)`), the
  training set of a per-transaction model such as fraud;
- `features_as_of(sources, features, cutoff, entities)`: one vector per entity as of
  `cutoff` (conditional aggregations), the training and scoring set of a per-customer model
  such as churn.

Rows need a timestamp column `ts` (UTC) and the columns the features use; a feature whose
columns are missing should be dropped first with `FeatureSet.restricted_to`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

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
    WindowAggregate,
)
from models.features.geo import EARTH_RADIUS_KM
from models.features.online import MICROS, to_micros

TS_US = "_ts_us"
DAY_S = 86_400


def _micros(delta) -> int:
    return int(delta.total_seconds() * MICROS)


def _keys_present(keys: tuple[str, ...]) -> Column:
    condition = F.lit(True)
    for key in keys:
        condition = condition & F.col(key).isNotNull()
    return condition


def _double(name: str) -> Column:
    return F.col(name).cast("double")


def haversine_km(lat1: Column, lon1: Column, lat2: Column, lon2: Column) -> Column:
    """`models.features.geo.haversine_km` as a Column expression."""
    p1, p2 = F.radians(lat1), F.radians(lat2)
    dp, dl = p2 - p1, F.radians(lon2 - lon1)
    a = F.pow(F.sin(dp / 2), 2) + F.cos(p1) * F.cos(p2) * F.pow(F.sin(dl / 2), 2)
    return 2 * F.lit(EARTH_RADIUS_KM) * F.asin(F.sqrt(F.least(F.lit(1.0), a)))


def _previous_measure(measure: Measure, t_us: Column, last: Column) -> Column:
    elapsed_s = (t_us - last["ts"]) / MICROS
    if measure is Measure.ELAPSED_S:
        return F.when(last.isNotNull(), elapsed_s)
    if measure is Measure.ELAPSED_DAYS:
        return F.when(last.isNotNull(), elapsed_s / DAY_S)
    km = haversine_km(last["lat"], last["lon"], _double("latitude"), _double("longitude"))
    present = last.isNotNull() & F.col("latitude").isNotNull() & F.col("longitude").isNotNull()
    if measure is Measure.DISTANCE_KM:
        return F.when(present, km)
    hours = F.greatest(elapsed_s, F.lit(MIN_SPEED_INTERVAL_S)) / 3600
    return F.when(present, km / hours)


def _previous_struct(feature: PreviousRow) -> Column:
    fields = [F.col(TS_US).alias("ts"), F.col(feature.tie_breaker).cast("string").alias("tie")]
    if feature.uses_location:
        fields += [_double("latitude").alias("lat"), _double("longitude").alias("lon")]
        condition = F.col("latitude").isNotNull() & F.col("longitude").isNotNull()
        return F.when(condition, F.struct(*fields))
    return F.struct(*fields)


def _row_value(feature: RowValue) -> Column:
    if feature.kind is RowKind.VALUE:
        return _double(feature.column)
    if feature.kind is RowKind.EQUALS:
        column = F.col(feature.column)
        return F.when(column.isNotNull(), (column == F.lit(feature.value)).cast("double"))
    seconds = F.floor(F.col(TS_US) / MICROS)
    if feature.kind is RowKind.HOUR_BETWEEN:
        hour = F.floor(F.pmod(seconds, F.lit(DAY_S)) / 3600)
        return ((hour >= feature.low) & (hour < feature.high)).cast("double")
    weekday = F.pmod(F.floor(seconds / DAY_S) + 3, F.lit(7))
    return (weekday >= 5).cast("double")


def _derived(feature: Derived) -> Column:
    inputs = [F.col(name) for name in feature.inputs]
    if feature.op is Op.IS_ZERO:
        (a,) = inputs
        return F.when(a.isNotNull(), (a == 0).cast("double"))
    if feature.op is Op.RATIO:
        a, b = inputs
        usable = a.isNotNull() & b.isNotNull() & (F.abs(b) >= MIN_DENOMINATOR)
        return F.when(usable, F.lit(feature.scale) * a / b)
    a, b, c = inputs
    present = a.isNotNull() & b.isNotNull() & c.isNotNull() & (F.abs(c) >= MIN_DENOMINATOR)
    return F.when(present, (a - b) / c)


def _window_agg(feature: WindowAggregate, value: Column | None) -> Column:
    """The aggregate Column of `feature` over rows where `value` (the source column, masked
    to the window by the caller when needed) is not null; a SUM of no rows is null here
    and becomes 0 through `_empty_as_zero`."""
    if feature.agg is Agg.COUNT:
        return F.count(value if value is not None else F.lit(1))
    if feature.agg is Agg.SUM:
        return F.sum(value.cast("double"))
    if feature.agg is Agg.MEAN:
        return F.avg(value.cast("double"))
    if feature.agg is Agg.STD:
        return F.stddev_pop(value.cast("double"))
    raise ValueError(f"feature {feature.name}: {feature.agg} is not a window function here")


def _empty_as_zero(feature: WindowAggregate, value: Column) -> Column:
    return F.coalesce(value, F.lit(0.0)) if feature.agg is Agg.SUM else value


def point_in_time_features(rows: DataFrame, features: FeatureSet) -> DataFrame:
    """`rows` with one column per feature, each as of the row's own `ts` (only earlier rows
    of the entity count; rows at the same instant do not see each other)."""
    frame = rows.withColumn(TS_US, F.unix_micros(F.col(TS)))
    names = set(features.names)
    base = [F.col(c) for c in frame.columns if c not in names]
    direct = [
        _point_in_time(feature).alias(feature.name)
        for feature in features.features
        if not isinstance(feature, Derived)
    ]
    frame = frame.select(*base, *direct)
    for feature in features.features:
        if isinstance(feature, Derived):
            frame = frame.withColumn(feature.name, _derived(feature))
    return frame.drop(TS_US)


def _point_in_time(feature: Feature) -> Column:
    if isinstance(feature, RowValue):
        return _row_value(feature)
    if isinstance(feature, Derived):
        return _derived(feature)
    if isinstance(feature, Attribute):
        raise ValueError(f"feature {feature.name}: attributes need features_as_of")
    if isinstance(feature, WindowAggregate):
        upper = -_micros(feature.delay) - 1
        lower = -_micros(feature.delay) - _micros(feature.length)
    else:
        upper, lower = -1, -_micros(feature.length)
    window = Window.partitionBy(*feature.entity.keys).orderBy(TS_US).rangeBetween(lower, upper)
    present = _keys_present(feature.entity.keys)
    if isinstance(feature, PreviousRow):
        last = F.max(_previous_struct(feature)).over(window)
        return F.when(present, _previous_measure(feature.measure, F.col(TS_US), last))
    if feature.agg is Agg.DISTINCT:
        value = F.size(F.collect_set(F.col(feature.column)).over(window)).cast("double")
    else:
        column = None if feature.column is None else F.col(feature.column)
        value = _empty_as_zero(feature, _window_agg(feature, column).over(window))
    return F.when(present, value.cast("double"))


def features_as_of(
    sources: Mapping[str, DataFrame],
    features: FeatureSet,
    cutoff: datetime,
    entities: DataFrame,
) -> DataFrame:
    """One row per row of `entities` (its entity key columns) with every feature as of
    `cutoff`, from the rows of each source strictly before it."""
    keys = _single_entity(features)
    t_us = to_micros(cutoff)
    result = entities.select(*keys).distinct()
    by_source: dict[str, list[Column]] = {}
    fill: dict[str, float] = {}
    for feature in features.features:
        if isinstance(feature, RowValue | Derived):
            continue
        expression = _as_of(feature, t_us).alias(feature.name)
        by_source.setdefault(feature.source, []).append(expression)
        if isinstance(feature, WindowAggregate) and feature.agg in (
            Agg.COUNT,
            Agg.SUM,
            Agg.DISTINCT,
        ):
            fill[feature.name] = 0.0
    for source, expressions in by_source.items():
        if source not in sources:
            raise ValueError(f"features_as_of: source {source!r} is needed but not given")
        rows = (
            sources[source]
            .withColumn(TS_US, F.unix_micros(F.col(TS)))
            .where(F.col(TS_US) < t_us)
            .where(_keys_present(keys))
        )
        aggregated = rows.groupBy(*keys).agg(*expressions)
        result = result.join(aggregated, on=list(keys), how="left")
    if fill:
        result = result.fillna(fill)
    t_col = F.lit(t_us)
    for feature in features.features:
        if isinstance(feature, PreviousRow):
            result = result.withColumn(
                feature.name, _previous_measure(feature.measure, t_col, F.col(feature.name))
            )
        elif isinstance(feature, Attribute):
            since = F.col(feature.name)["value"]
            result = result.withColumn(
                feature.name, (t_col - F.unix_micros(since)) / (DAY_S * MICROS)
            )
        elif isinstance(feature, WindowAggregate):
            result = result.withColumn(feature.name, F.col(feature.name).cast("double"))
        elif isinstance(feature, Derived):
            result = result.withColumn(feature.name, _derived(feature))
    return result.select(*keys, *features.names)


def _single_entity(features: FeatureSet) -> tuple[str, ...]:
    keys = {f.entity.keys for f in features.features if hasattr(f, "entity")}
    if len(keys) != 1:
        raise ValueError(f"features_as_of needs one entity per feature set, got {sorted(keys)}")
    if any(isinstance(f, RowValue) for f in features.features):
        raise ValueError("features_as_of: row features need a row; use point_in_time_features")
    return keys.pop()


def _as_of(feature: Feature, t_us: int) -> Column:
    if isinstance(feature, Attribute):
        present = F.col(feature.column).isNotNull()
        return F.max(
            F.when(
                present, F.struct(F.col(TS_US).alias("ts"), F.col(feature.column).alias("value"))
            )
        )
    if isinstance(feature, PreviousRow):
        lower, upper = t_us - _micros(feature.length), t_us
        in_window = (F.col(TS_US) >= lower) & (F.col(TS_US) < upper)
        return F.max(F.when(in_window, _previous_struct(feature)))
    upper = t_us - _micros(feature.delay)
    lower = upper - _micros(feature.length)
    in_window = (F.col(TS_US) >= lower) & (F.col(TS_US) < upper)
    if feature.column is None:
        return F.count(F.when(in_window, F.lit(1)))
    value = F.when(in_window, F.col(feature.column))
    if feature.agg is Agg.DISTINCT:
        return F.count_distinct(value)
    return _empty_as_zero(feature, _window_agg(feature, value))
