"""Marketing attribution: credit for conversions and revenue per channel, by several models.

A journey is one customer's ordered touches (channel names; pass campaign names instead to
attribute per campaign), whether it converted, and its revenue. Every model returns a frame
indexed by channel with ``conversions`` and ``revenue`` credit; each column sums to the
totals of the converting journeys (number of conversions, their revenue), up to float error.

Heuristic models split each converting journey's one conversion (and its revenue) over its
touches, and sum the touch shares per channel:

- first-touch / last-touch: all to the first / last touch;
- linear: equally over the touches;
- time-decay: touch weight 2^(-(converted_at - touched_at) / half_life), normalised;
- position-based: ``first_weight`` (40%) to the first touch, ``last_weight`` (40%) to the last,
  the rest (20%) equally over the touches between; a journey of one touch gives it all, one of
  two touches splits in proportion first_weight : last_weight (50/50 by default).

Markov (first order, removal effects; Anderl, Becker, von Wangenheim & Schumann 2016,
"Mapping the customer journey: lessons learned from graph-based online attribution
modeling", IJRM 33(3)). States: ``start``, one per channel, and the absorbing ``conversion``
and ``null``. Transition probabilities are the observed transition counts of all journeys,
converting ones ending in ``conversion`` and the others in ``null``, normalised per state.
With Q the transient-to-transient and R the transient-to-absorbing block, the absorption
probabilities are B = (I - Q)^-1 R, solved exactly as the linear system (I - Q) B = R. The
removal effect of channel c is RE(c) = 1 - P(conversion | c removed) / P(conversion), where
removing c sends every transition into c to ``null``. Total conversions and revenue are
split in proportion to the removal effects. (A first-order chain carries no path-dependent
value, so revenue gets the same shares as conversions.)

Shapley (Zhao, Mahboobeh, Zhong, Liu & Yang 2018, "Shapley value methods for attribution
modeling in online advertising", arXiv:1804.05327, section 3): channels are players, and the
worth of a coalition S is v(S) = the conversions (or revenue) of the converting journeys
whose set of channels is a subset of S. The Shapley value

    phi(c) = sum over S not containing c of |S|! (n - |S| - 1)! / n! * (v(S + c) - v(S))

is computed exactly by enumerating all 2^n coalitions (n = number of channels seen in
converting journeys), which is practical up to about 20 channels. Non-converting journeys do
not enter this characteristic function. By the efficiency property the values sum to v(all).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise
from math import factorial, isfinite
from typing import Any

import numpy as np
import pandas as pd

from spark.analytics.config import AttributionSettings

CONVERSIONS = "conversions"
REVENUE = "revenue"
CHANNEL = "channel"

START = "(start)"
CONVERSION = "(conversion)"
NULL = "(null)"

Time = datetime | float


class JourneyError(ValueError):
    """A journey breaks a rule of the attribution input; the message names field and rule."""


@dataclass(frozen=True)
class Journey:
    """One customer journey: ordered touches, whether it converted, and its revenue.

    ``touch_times`` (one per touch, non-decreasing) and ``converted_at`` are needed by the
    time-decay model only; both are datetimes or both numbers in one unit.
    """

    channels: tuple[str, ...]
    converted: bool
    revenue: float = 0.0
    touch_times: tuple[Time, ...] | None = None
    converted_at: Time | None = None


def journey(
    channels: Sequence[str],
    converted: bool,
    revenue: float = 0.0,
    touch_times: Sequence[Time] | None = None,
    converted_at: Time | None = None,
) -> Journey:
    """Build a Journey from any sequences (lists, arrays)."""
    return Journey(
        tuple(channels),
        bool(converted),
        float(revenue),
        None if touch_times is None else tuple(touch_times),
        converted_at,
    )


def journeys_from_frame(frame: pd.DataFrame) -> list[Journey]:
    """Journeys from a frame with ``channels`` (lists), ``converted``, ``revenue`` and optional
    ``touch_times`` (lists) and ``converted_at``: the shape a Spark job collects."""
    for column in ("channels", "converted"):
        if column not in frame:
            raise JourneyError(f"journey frame has no column {column!r}")
    records = frame.to_dict("records")
    return [
        journey(
            list(row["channels"]),
            row["converted"],
            row.get("revenue", 0.0) or 0.0,
            None if row.get("touch_times") is None else list(row["touch_times"]),
            None if pd.isna(row.get("converted_at")) else row.get("converted_at"),
        )
        for row in records
    ]


def validate_journeys(journeys: Iterable[Journey]) -> list[Journey]:
    """Check every journey; returns them as a list."""
    checked = list(journeys)
    for index, item in enumerate(checked):
        where = f"journeys[{index}]"
        if len(item.channels) == 0:
            raise JourneyError(f"{where}.channels must hold at least one touch")
        for position, channel in enumerate(item.channels):
            if not isinstance(channel, str) or not channel:
                raise JourneyError(
                    f"{where}.channels[{position}] must be a non-empty string; got {channel!r}"
                )
            if channel in (START, CONVERSION, NULL):
                raise JourneyError(
                    f"{where}.channels[{position}] must not be the reserved state {channel!r}"
                )
        if not isfinite(item.revenue) or item.revenue < 0:
            raise JourneyError(f"{where}.revenue must be a finite number >= 0; got {item.revenue}")
        if not item.converted and item.revenue != 0:
            raise JourneyError(
                f"{where}.revenue must be 0 when the journey did not convert; got {item.revenue}"
            )
        if item.touch_times is not None and len(item.touch_times) != len(item.channels):
            raise JourneyError(
                f"{where}.touch_times must have one time per touch: {len(item.touch_times)} "
                f"times for {len(item.channels)} channels"
            )
    return checked


def _totals(journeys: list[Journey]) -> tuple[float, float]:
    converting = [j for j in journeys if j.converted]
    return float(len(converting)), float(sum(j.revenue for j in converting))


def _credit_frame(conversions: Mapping[str, float], revenue: Mapping[str, float]) -> pd.DataFrame:
    channels = sorted(set(conversions) | set(revenue))
    frame = pd.DataFrame(
        {
            CONVERSIONS: [float(conversions.get(c, 0.0)) for c in channels],
            REVENUE: [float(revenue.get(c, 0.0)) for c in channels],
        },
        index=pd.Index(channels, name=CHANNEL),
    )
    return frame


def _heuristic(
    journeys: Iterable[Journey], touch_weights: Callable[[int, Journey], np.ndarray]
) -> pd.DataFrame:
    checked = validate_journeys(journeys)
    conversions: defaultdict[str, float] = defaultdict(float)
    revenue: defaultdict[str, float] = defaultdict(float)
    for index, item in enumerate(checked):
        for channel in item.channels:
            conversions.setdefault(channel, 0.0)
            revenue.setdefault(channel, 0.0)
        if not item.converted:
            continue
        weights = touch_weights(index, item)
        shares = weights / weights.sum()
        for channel, share in zip(item.channels, shares, strict=True):
            conversions[channel] += share
            revenue[channel] += share * item.revenue
    return _credit_frame(conversions, revenue)


def first_touch(journeys: Iterable[Journey]) -> pd.DataFrame:
    """All credit of a conversion to its journey's first touch."""

    def weights(_: int, item: Journey) -> np.ndarray:
        w = np.zeros(len(item.channels))
        w[0] = 1.0
        return w

    return _heuristic(journeys, weights)


def last_touch(journeys: Iterable[Journey]) -> pd.DataFrame:
    """All credit of a conversion to its journey's last touch."""

    def weights(_: int, item: Journey) -> np.ndarray:
        w = np.zeros(len(item.channels))
        w[-1] = 1.0
        return w

    return _heuristic(journeys, weights)


def linear(journeys: Iterable[Journey]) -> pd.DataFrame:
    """Credit of a conversion split equally over its journey's touches."""
    return _heuristic(journeys, lambda _, item: np.ones(len(item.channels)))


def position_based(
    journeys: Iterable[Journey], first_weight: float = 0.4, last_weight: float = 0.4
) -> pd.DataFrame:
    """first_weight to the first touch, last_weight to the last, the rest to those between."""
    for name, value in (("first_weight", first_weight), ("last_weight", last_weight)):
        if not (isfinite(value) and value >= 0):
            raise JourneyError(f"{name} must be a finite number >= 0; got {value}")
    if first_weight + last_weight > 1 or first_weight + last_weight == 0:
        raise JourneyError(
            f"first_weight + last_weight must be in (0, 1]; got {first_weight} + {last_weight}"
        )

    def weights(_: int, item: Journey) -> np.ndarray:
        n = len(item.channels)
        if n == 1:
            return np.ones(1)
        if n == 2:
            return np.array([first_weight, last_weight])
        middle = (1.0 - first_weight - last_weight) / (n - 2)
        return np.array([first_weight, *([middle] * (n - 2)), last_weight])

    return _heuristic(journeys, weights)


def _elapsed_half_lives(later: Any, earlier: Any, half_life: Any) -> float:
    try:
        return float((later - earlier) / half_life)
    except TypeError as exc:
        raise JourneyError(
            "touch_times, converted_at and half_life must be all datetimes (with a timedelta "
            "half_life) or all numbers in one unit"
        ) from exc


def time_decay(journeys: Iterable[Journey], half_life: timedelta | float) -> pd.DataFrame:
    """A touch's weight halves with every half_life between it and the conversion."""
    zero = timedelta(0) if isinstance(half_life, timedelta) else 0.0
    if not half_life > zero:
        raise JourneyError(f"half_life must be > 0; got {half_life}")

    def weights(index: int, item: Journey) -> np.ndarray:
        where = f"journeys[{index}]"
        if item.touch_times is None:
            raise JourneyError(f"{where}.touch_times is required by the time-decay model")
        converted_at = item.converted_at if item.converted_at is not None else item.touch_times[-1]
        ages = np.array([_elapsed_half_lives(converted_at, t, half_life) for t in item.touch_times])
        if (np.diff(ages) > 0).any():
            raise JourneyError(f"{where}.touch_times must be in non-decreasing order")
        if (ages < 0).any():
            raise JourneyError(f"{where}.converted_at must not precede its touches")
        # Relative to the latest touch, so long journeys do not underflow to all zeros.
        return np.exp2(-(ages - ages.min()))

    return _heuristic(journeys, weights)


@dataclass(frozen=True)
class MarkovResult:
    """The Markov model's credit, plus the chain's conversion probability and removal effects."""

    credit: pd.DataFrame
    conversion_probability: float
    removal_effects: pd.Series
    transition_matrix: pd.DataFrame


def _transition_counts(journeys: list[Journey]) -> tuple[list[str], np.ndarray]:
    channels = sorted({c for j in journeys for c in j.channels})
    states = [START, *channels, CONVERSION, NULL]
    position = {s: i for i, s in enumerate(states)}
    counts = Counter[tuple[int, int]]()
    for item in journeys:
        path = [START, *item.channels, CONVERSION if item.converted else NULL]
        for source, target in pairwise(path):
            counts[position[source], position[target]] += 1
    matrix = np.zeros((len(states), len(states)))
    for (i, k), n in counts.items():
        matrix[i, k] = n
    return states, matrix


def _conversion_probability(probabilities: np.ndarray, removed: int | None) -> float:
    # Transient states are 0 .. n-3 (start, channels); absorbing are n-2 (conversion), n-1.
    n_transient = probabilities.shape[0] - 2
    q = probabilities[:n_transient, :n_transient].copy()
    r = probabilities[:n_transient, n_transient:].copy()
    if removed is not None:
        # Entering the removed channel ends the journey without conversion.
        r[:, 1] += q[:, removed]
        q[:, removed] = 0.0
        q[removed, :] = 0.0
        r[removed, :] = (0.0, 1.0)
    absorption = np.linalg.solve(np.eye(n_transient) - q, r)
    return float(absorption[0, 0])


def markov(journeys: Iterable[Journey]) -> MarkovResult:
    """First-order Markov attribution by removal effects, solved exactly on the absorbing chain."""
    checked = validate_journeys(journeys)
    if not checked:
        raise JourneyError("journeys is empty; the Markov model needs at least one journey")
    total_conversions, total_revenue = _totals(checked)
    states, counts = _transition_counts(checked)
    row_sums = counts.sum(axis=1, keepdims=True)
    probabilities = np.divide(counts, row_sums, out=np.zeros_like(counts), where=row_sums > 0)
    channels = states[1:-2]
    base = _conversion_probability(probabilities, None)
    effects = pd.Series(0.0, index=pd.Index(channels, name=CHANNEL), name="removal_effect")
    if base > 0:
        for offset, channel in enumerate(channels):
            without = _conversion_probability(probabilities, offset + 1)
            effects[channel] = max(0.0, 1.0 - without / base)
    weight_sum = effects.sum()
    shares = effects / weight_sum if weight_sum > 0 else effects * 0.0
    credit = pd.DataFrame(
        {CONVERSIONS: shares * total_conversions, REVENUE: shares * total_revenue}
    )
    credit.index.name = CHANNEL
    transitions = pd.DataFrame(probabilities[:-2], index=states[:-2], columns=states)
    return MarkovResult(credit, base, effects, transitions)


def shapley(journeys: Iterable[Journey], max_channels: int = 20) -> pd.DataFrame:
    """Exact Shapley values over channels, v(S) = conversions (revenue) of journeys within S."""
    checked = validate_journeys(journeys)
    converting = [j for j in checked if j.converted]
    all_channels = sorted({c for j in checked for c in j.channels})
    players = sorted({c for j in converting for c in j.channels})
    n = len(players)
    if n > max_channels:
        raise JourneyError(
            f"Shapley enumerates 2^n coalitions; {n} channels exceed max_channels="
            f"{max_channels} (group channels, or attribute campaigns within fewer channels)"
        )
    bit = {c: 1 << i for i, c in enumerate(players)}
    worth = np.zeros((2, 1 << n))  # row 0: conversions, row 1: revenue, of exactly that set
    for item in converting:
        mask = 0
        for channel in item.channels:
            mask |= bit[channel]
        worth[0, mask] += 1.0
        worth[1, mask] += item.revenue
    # Subset sums (zeta transform): worth[:, S] becomes v(S) = sum over T within S.
    masks = np.arange(1 << n)
    for i in range(n):
        has_i = (masks >> i) & 1 == 1
        worth[:, has_i] += worth[:, masks[has_i] ^ (1 << i)]
    sizes = np.array([bin(m).count("1") for m in masks]) if n else np.zeros(1, dtype=int)
    weight_by_size = np.array(
        [factorial(s) * factorial(n - s - 1) / factorial(n) for s in range(n)]
    )
    values: dict[str, np.ndarray] = {}
    for i, channel in enumerate(players):
        without = masks[(masks >> i) & 1 == 0]
        marginal = worth[:, without | (1 << i)] - worth[:, without]
        values[channel] = marginal @ weight_by_size[sizes[without]]
    conversions = {c: float(values[c][0]) if c in values else 0.0 for c in all_channels}
    revenue = {c: float(values[c][1]) if c in values else 0.0 for c in all_channels}
    return _credit_frame(conversions, revenue)


HEURISTIC_MODELS = ("first_touch", "last_touch", "linear", "time_decay", "position_based")
MODELS = (*HEURISTIC_MODELS, "markov", "shapley")


def attribute(
    journeys: Iterable[Journey],
    models: Sequence[str] = MODELS,
    settings: AttributionSettings | None = None,
) -> pd.DataFrame:
    """Credit per model and channel in one long frame: model, channel, conversions, revenue."""
    settings = settings or AttributionSettings()
    checked = validate_journeys(journeys)
    unknown = [m for m in models if m not in MODELS]
    if unknown:
        raise JourneyError(f"models holds unknown model(s) {unknown}; known: {list(MODELS)}")
    runners: dict[str, Callable[[], pd.DataFrame]] = {
        "first_touch": lambda: first_touch(checked),
        "last_touch": lambda: last_touch(checked),
        "linear": lambda: linear(checked),
        "time_decay": lambda: time_decay(checked, settings.half_life),
        "position_based": lambda: position_based(
            checked, settings.first_weight, settings.last_weight
        ),
        "markov": lambda: markov(checked).credit,
        "shapley": lambda: shapley(checked, settings.shapley_max_channels),
    }
    frames = [runners[m]().reset_index().assign(model=m) for m in models]
    columns = ["model", CHANNEL, CONVERSIONS, REVENUE]
    if not frames:
        return pd.DataFrame(columns=columns)
    return pd.concat(frames, ignore_index=True)[columns]
