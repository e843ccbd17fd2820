"""Topic volume and its alert: records per Kafka topic and minute against the usual band.

Written by the silver streams (through `spark.quality.record_batch_quality`, one call per
micro-batch), not by a stream of its own: each batch says which minutes of its topic it
touched. When a new minute has begun, those minutes, the ones still open and the silent
minutes since the last one recorded are counted again from bronze (exact and idempotent,
like the gold tables) into `topic_volume_minute`; batches within the same minute skip the
work, so the open minute's count there lags until the next one begins. A minute is judged
once the topic has records after it: its count's z-score against the counts of the same
hour on the previous days (`band`, `judge`). Minutes outside the band go to
`volume_alerts` and to the log.

Two streams may read one topic (silver products and customers share product-updates): both
compute the same counts, and a commit race between them is logged and left to the next
minute, never raised into the stream.
"""

from __future__ import annotations

import logging
import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from delta.exceptions import (
    ConcurrentAppendException,
    ConcurrentDeleteReadException,
    ConcurrentTransactionException,
    DeltaConcurrentModificationException,
)
from delta.tables import DeltaTable
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from spark.config import SparkSettings
from spark.quality import QualitySettings
from spark.tables import TABLES

log = logging.getLogger(__name__)

MINUTE = timedelta(minutes=1)
# (lake, topic) -> the newest minute this process has counted; a restart recounts.
_newest_counted: dict[tuple[str, str], datetime] = {}
_COMMIT_RACES = (
    ConcurrentAppendException,
    ConcurrentDeleteReadException,
    ConcurrentTransactionException,
    DeltaConcurrentModificationException,
)


@dataclass(frozen=True)
class MinuteVolume:
    """One topic minute: its count and, once complete and with enough history, its z-score."""

    topic: str
    minute: datetime
    records: int
    complete: bool
    baseline_days: int = 0
    baseline_mean: float | None = None
    baseline_std: float | None = None
    z_score: float | None = None
    outside_band: bool = False

    @property
    def direction(self) -> str | None:
        """'above' or 'below' the band when outside it."""
        if not self.outside_band or self.z_score is None:
            return None
        return "above" if self.z_score > 0 else "below"


def band(samples: Sequence[int], min_std: float) -> tuple[float, float]:
    """Mean and standard deviation (floored at `min_std`) of per-minute counts."""
    if not samples:
        raise ValueError("band: no samples")
    return statistics.fmean(samples), max(statistics.pstdev(samples), min_std)


def baseline(minute: datetime, history: Mapping[datetime, int], days: int) -> dict[date, list[int]]:
    """The counts of `history` in `minute`'s hour on each of the `days` days before it."""
    wanted = {(minute - timedelta(days=back)).date() for back in range(1, days + 1)}
    by_day: dict[date, list[int]] = {}
    for moment, count in history.items():
        if moment.hour == minute.hour and moment.date() in wanted:
            by_day.setdefault(moment.date(), []).append(count)
    return by_day


def judge(
    topic: str,
    minute: datetime,
    records: int,
    *,
    complete: bool,
    history: Mapping[datetime, int],
    settings: QualitySettings,
) -> MinuteVolume:
    """`minute`'s volume, judged against `history` (complete minutes of the topic) if due."""
    if not complete:
        return MinuteVolume(topic, minute, records, complete=False)
    by_day = baseline(minute, history, settings.volume_baseline_days)
    if len(by_day) < settings.volume_min_baseline_days:
        return MinuteVolume(topic, minute, records, complete=True, baseline_days=len(by_day))
    mean, std = band(
        [count for counts in by_day.values() for count in counts], settings.volume_min_std
    )
    z = (records - mean) / std
    return MinuteVolume(
        topic,
        minute,
        records,
        complete=True,
        baseline_days=len(by_day),
        baseline_mean=mean,
        baseline_std=std,
        z_score=z,
        outside_band=math.fabs(z) > settings.volume_z_threshold,
    )


def minutes_to_count(
    touched: Iterable[datetime],
    still_open: Iterable[datetime],
    last_recorded: datetime | None,
    max_gap: int,
) -> list[datetime]:
    """The minutes a batch recounts: touched, still open, and silent ones since the last."""
    minutes = set(touched) | set(still_open)
    later = [minute for minute in minutes if last_recorded is not None and minute > last_recorded]
    if later and last_recorded is not None:
        first_new = min(later)
        silent = int((first_new - last_recorded) / MINUTE) - 1
        minutes.update(first_new - back * MINUTE for back in range(1, min(silent, max_gap) + 1))
    return sorted(minutes)


def _epoch(column: str) -> Column:
    # Collected as epoch seconds: pyspark turns timestamps into naive local-time datetimes.
    return F.col(column).cast("long")


def _moment(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def record_topic_volume(
    rows: DataFrame, *, source: str, lake: SparkSettings, settings: QualitySettings
) -> list[MinuteVolume]:
    """Recount and judge the minutes of `rows`' topic (rows with kafka_topic/_timestamp)."""
    spark = rows.sparkSession
    summary = rows.agg(
        F.collect_set(F.date_trunc("minute", "kafka_timestamp").cast("long")).alias("minutes"),
        F.max(_epoch("kafka_timestamp")).alias("newest"),
        F.first("kafka_topic", ignorenulls=True).alias("topic"),
    ).first()
    if summary is None or summary["topic"] is None:
        return []
    topic, newest = summary["topic"], _moment(summary["newest"])
    touched = [_moment(m) for m in summary["minutes"]]
    # Within one minute there is nothing to judge: recount once a new minute has begun.
    state_key = (lake.lake_uri, topic)
    newest_minute = max(touched)
    if _newest_counted.get(state_key, datetime.min.replace(tzinfo=UTC)) >= newest_minute:
        return []
    volume_spec = TABLES["topic_volume_minute"]
    recorded = (
        spark.read.format("delta").load(volume_spec.uri(lake)).filter(F.col("topic") == topic)
    )
    state = recorded.agg(
        F.max(_epoch("minute")).alias("last"),
        F.collect_list(F.when(~F.col("complete"), _epoch("minute"))).alias("open"),
    ).first()
    last = _moment(state["last"]) if state and state["last"] is not None else None
    still_open = [_moment(m) for m in (state["open"] if state else [])]
    minutes = minutes_to_count(touched, still_open, last, settings.volume_max_gap_minutes)
    counts = _count(spark, TABLES[source].uri(lake), minutes)
    history = _history(recorded, minutes, settings.volume_baseline_days)
    complete = {m: m + MINUTE <= newest for m in minutes}
    history.update({m: counts[m] for m in minutes if complete[m]})
    judged = [
        judge(topic, m, counts[m], complete=complete[m], history=history, settings=settings)
        for m in minutes
    ]
    try:
        _upsert_minutes(spark, lake, judged)
        _insert_alerts(spark, lake, [v for v in judged if v.outside_band], settings)
    except _COMMIT_RACES as exc:
        log.warning("topic volume of %s: lost a commit race, next minute recounts: %s", topic, exc)
        return judged
    _newest_counted[state_key] = newest_minute
    for alert in (v for v in judged if v.outside_band):
        log.warning(
            "volume alert: topic %s had %d records in %s, %s its band "
            "(mean %.1f, std %.1f, z %.1f)",
            alert.topic,
            alert.records,
            alert.minute.isoformat(),
            alert.direction,
            alert.baseline_mean,
            alert.baseline_std,
            alert.z_score,
        )
    return judged


def _count(
    spark: SparkSession, bronze_uri: str, minutes: Sequence[datetime]
) -> dict[datetime, int]:
    """Records per minute in bronze (by Kafka timestamp); zero for minutes without any."""
    if not minutes:
        return {}
    dates = sorted({m.date() for m in minutes})
    counted = (
        spark.read.format("delta")
        .load(bronze_uri)
        .filter(F.col("ingest_date").isin(dates))
        .select(F.date_trunc("minute", "timestamp").cast("long").alias("minute"))
        .filter(F.col("minute").isin([int(m.timestamp()) for m in minutes]))
        .groupBy("minute")
        .count()
        .collect()
    )
    counts = dict.fromkeys(minutes, 0)
    counts.update({_moment(row["minute"]): int(row["count"]) for row in counted})
    return counts


def _history(recorded: DataFrame, minutes: Sequence[datetime], days: int) -> dict[datetime, int]:
    """The recorded complete counts in the hours the baselines of `minutes` need."""
    dates = sorted(
        {(m - timedelta(days=back)).date() for m in minutes for back in range(1, days + 1)}
    )
    hours = sorted({m.hour for m in minutes})
    if not dates:
        return {}
    rows = (
        recorded.filter(F.col("minute_date").isin(dates) & F.col("complete"))
        .filter(F.hour("minute").isin(hours))
        .select(_epoch("minute").alias("minute"), "records")
        .collect()
    )
    return {_moment(row["minute"]): int(row["records"]) for row in rows}


def _sql_string(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


_VOLUME_SCHEMA = (
    "topic string, minute timestamp, records bigint, complete boolean, baseline_days int, "
    "baseline_mean double, baseline_std double, z_score double, outside_band boolean"
)


def _upsert_minutes(
    spark: SparkSession, lake: SparkSettings, judged: Sequence[MinuteVolume]
) -> None:
    if not judged:
        return
    spec = TABLES["topic_volume_minute"]
    rows = [
        (v.topic, v.minute, v.records, v.complete, v.baseline_days, v.baseline_mean,
         v.baseline_std, v.z_score, v.outside_band)
        for v in judged
    ]  # fmt: skip
    frame = spark.createDataFrame(rows, _VOLUME_SCHEMA).withColumn(
        "minute_date", F.to_date("minute")
    )
    dates = ", ".join(f"DATE'{d}'" for d in sorted({v.minute.date() for v in judged}))
    (
        DeltaTable.forPath(spark, spec.uri(lake))
        .alias("t")
        .merge(
            frame.select(spec.column_names).alias("s"),
            # Literal partition values: Delta reads (and conflicts on) only those partitions,
            # so the streams of other topics never get in the way.
            f"t.topic = {_sql_string(judged[0].topic)} AND t.minute_date IN ({dates}) "
            "AND t.topic = s.topic AND t.minute = s.minute",
        )
        .whenMatchedUpdateAll()
        .whenNotMatchedInsertAll()
        .execute()
    )


def _insert_alerts(
    spark: SparkSession,
    lake: SparkSettings,
    alerts: Sequence[MinuteVolume],
    settings: QualitySettings,
) -> None:
    if not alerts:
        return
    spec = TABLES["volume_alerts"]
    rows = [
        (a.topic, a.minute, a.records, a.baseline_mean, a.baseline_std, a.z_score, a.direction,
         settings.volume_z_threshold)
        for a in alerts
    ]  # fmt: skip
    frame = (
        spark.createDataFrame(
            rows,
            "topic string, minute timestamp, records bigint, baseline_mean double, "
            "baseline_std double, z_score double, direction string, threshold double",
        )
        .withColumn("raised_at", F.current_timestamp())
        .withColumn("minute_date", F.to_date("minute"))
    )
    (
        DeltaTable.forPath(spark, spec.uri(lake))
        .alias("t")
        .merge(
            frame.select(spec.column_names).alias("s"), "t.topic = s.topic AND t.minute = s.minute"
        )
        .whenNotMatchedInsertAll()
        .execute()
    )
