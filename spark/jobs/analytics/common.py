"""What several analytics jobs share: the as-of time of a run and UTC timestamp conversions."""

from __future__ import annotations

from datetime import UTC, datetime

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from spark.jobs.analytics.config import JobSettings

MICROS_PER_DAY = 86_400_000_000


def to_micros(moment: datetime) -> int:
    """`moment` (UTC when naive) as microseconds since the epoch."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(micros: int) -> datetime:
    """Microseconds since the epoch as an aware UTC datetime."""
    return datetime.fromtimestamp(micros / 1_000_000, UTC)


def timestamp_literal(micros: int) -> Column:
    """A Spark timestamp literal of the instant `micros` (independent of any time zone)."""
    return F.timestamp_micros(F.lit(micros))


def within_as_of(
    frame: DataFrame, settings: JobSettings, column: str = "occurred_at"
) -> tuple[DataFrame, int | None]:
    """The rows of `frame` up to the run's as-of time, and that time in epoch microseconds.

    The as-of time is `ECAP_LAKE_JOBS_AS_OF` when set (later rows are left out), else the
    newest `column` value; None when no row qualifies.
    """
    if settings.as_of is not None:
        as_of = to_micros(settings.as_of)
        return frame.where(F.unix_micros(F.col(column)) <= as_of), as_of
    newest = frame.agg(F.max(F.unix_micros(F.col(column)))).first()[0]
    return frame, None if newest is None else int(newest)
