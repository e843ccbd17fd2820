"""Time patterns of shopping: hour of day, weekday, season and holiday peaks.

Times inside the simulator are integer microseconds since the Unix epoch (UTC): exact, cheap to
compare and sort, and converted to `google.protobuf.Timestamp` only when a record is built.
"""

from __future__ import annotations

import functools
import math
from datetime import UTC, date, datetime, timedelta

import numpy as np
from google.protobuf.timestamp_pb2 import Timestamp

SECOND = 1_000_000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
DAY = 24 * HOUR

# Relative activity by local hour: quiet at night, a lunch bump, the evening peak.
HOUR_WEIGHTS: tuple[float, ...] = (
    0.30, 0.18, 0.10, 0.07, 0.06, 0.08, 0.18, 0.40, 0.65, 0.80, 0.90, 0.95,
    1.05, 1.00, 0.92, 0.90, 0.92, 1.00, 1.10, 1.30, 1.45, 1.40, 1.05, 0.60,
)  # fmt: skip
# Monday .. Sunday: Sunday evening is e-commerce's busiest time, Saturday its quietest.
WEEKDAY_WEIGHTS: tuple[float, ...] = (1.02, 0.98, 0.97, 0.98, 0.95, 0.88, 1.15)

_HOUR_CDF = np.cumsum(HOUR_WEIGHTS) / sum(HOUR_WEIGHTS)


def to_us(moment: datetime) -> int:
    """Microseconds since the epoch of an aware datetime (naive ones are taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * SECOND + delta.microseconds


def from_us(us: int) -> datetime:
    """The UTC datetime of a microsecond timestamp."""
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=us)


def set_timestamp(target: Timestamp, us: int) -> None:
    """Write a microsecond timestamp into a protobuf `Timestamp` in place."""
    seconds, micros = divmod(us, SECOND)
    target.seconds = seconds
    target.nanos = micros * 1000


def timestamp_us(source: Timestamp) -> int:
    """Microseconds since the epoch of a protobuf `Timestamp`."""
    return source.seconds * SECOND + source.nanos // 1000


def midnight(moment: datetime) -> datetime:
    """The UTC midnight starting `moment`'s day."""
    moment = moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def black_friday(year: int) -> date:
    """The day after the fourth Thursday of November."""
    first = date(year, 11, 1)
    first_thursday = first + timedelta(days=(3 - first.weekday()) % 7)
    return first_thursday + timedelta(days=22)


def holiday_factor(day: date) -> float:
    """How much busier than usual a day is because of a shopping holiday (1.0 = ordinary)."""
    bf = black_friday(day.year)
    if day == bf:
        return 2.6
    if day == bf + timedelta(days=3):  # Cyber Monday
        return 2.0
    if bf - timedelta(days=4) <= day <= bf + timedelta(days=4):
        return 1.5
    if day.month == 11 and day.day == 11:  # Singles' Day
        return 1.3
    if day.month == 12:
        if day.day <= 20:
            return 1.4
        if 24 <= day.day <= 26:
            return 0.6
    if day.month == 1:
        return 0.7 if day.day == 1 else (1.15 if day.day <= 15 else 1.0)
    if day.month == 2 and 7 <= day.day <= 14:  # Valentine's
        return 1.1
    return 1.0


def seasonal_factor(day: date) -> float:
    """The slow annual swing: busier in winter, quieter in high summer."""
    return 1.0 + 0.12 * math.cos(2 * math.pi * (day.timetuple().tm_yday - 350) / 365.25)


def day_intensity(day: date) -> float:
    """Expected activity of a day relative to an ordinary autumn Wednesday."""
    return WEEKDAY_WEIGHTS[day.weekday()] * seasonal_factor(day) * holiday_factor(day)


@functools.cache
def campaign_season(day: date) -> str | None:
    """The seasonal campaign running on `day`, if any, e.g. "black-friday-2025"."""
    bf = black_friday(day.year)
    if bf - timedelta(days=4) <= day <= bf + timedelta(days=3):
        return f"black-friday-{day.year}"
    if day.month == 12 and day.day <= 23:
        return f"christmas-{day.year}"
    if day.month == 1 and day.day <= 15:
        return f"winter-sale-{day.year}"
    if day.month == 7:
        return f"summer-sale-{day.year}"
    return None


def sample_local_offsets(rng: np.random.Generator, n: int) -> np.ndarray:
    """`n` local times of day, in microseconds after local midnight, following HOUR_WEIGHTS."""
    hours = np.minimum(np.searchsorted(_HOUR_CDF, rng.random(n), side="right"), 23)
    return hours * HOUR + rng.integers(0, HOUR, n)
