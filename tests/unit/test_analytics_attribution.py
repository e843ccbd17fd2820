"""Attribution models against hand-solved examples, and their sums-to-total property."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from math import factorial

import numpy as np
import pandas as pd
import pytest

from spark.analytics.attribution import (
    MODELS,
    JourneyError,
    attribute,
    first_touch,
    journey,
    journeys_from_frame,
    last_touch,
    linear,
    markov,
    position_based,
    shapley,
    time_decay,
)
from spark.analytics.config import AttributionSettings

T0 = datetime(2026, 1, 5, 9, 0)
DAY = timedelta(days=1)

# Hand example for the heuristic models (times in days after T0, half-life 1 day):
#   J1  Search@0  Email@1  Display@2  Search@3, converts at 3, revenue 100
#   J2  Email@0  Display@1, converts at 2, revenue 50
#   J3  Display@0, does not convert
#   J4  Social@0, converts at 0, revenue 30
HEURISTIC_JOURNEYS = [
    journey(
        ["Search", "Email", "Display", "Search"],
        True,
        100.0,
        [T0, T0 + DAY, T0 + 2 * DAY, T0 + 3 * DAY],
        T0 + 3 * DAY,
    ),
    journey(["Email", "Display"], True, 50.0, [T0, T0 + DAY], T0 + 2 * DAY),
    journey(["Display"], False, 0.0, [T0], None),
    journey(["Social"], True, 30.0, [T0], T0),
]


def _credit(frame: pd.DataFrame) -> dict[str, tuple[float, float]]:
    return {
        channel: (row.conversions, row.revenue) for channel, row in frame.sort_index().iterrows()
    }


def _assert_credit(frame: pd.DataFrame, expected: dict[str, tuple[float, float]]) -> None:
    actual = _credit(frame)
    assert set(actual) == set(expected)
    for channel, (conversions, revenue) in expected.items():
        assert actual[channel][0] == pytest.approx(conversions), channel
        assert actual[channel][1] == pytest.approx(revenue), channel


def test_first_and_last_touch_by_hand():
    _assert_credit(
        first_touch(HEURISTIC_JOURNEYS),
        {"Search": (1, 100), "Email": (1, 50), "Display": (0, 0), "Social": (1, 30)},
    )
    _assert_credit(
        last_touch(HEURISTIC_JOURNEYS),
        {"Search": (1, 100), "Email": (0, 0), "Display": (1, 50), "Social": (1, 30)},
    )


def test_linear_by_hand():
    # J1: a quarter per touch (Search twice); J2: a half each; J4: all to Social.
    _assert_credit(
        linear(HEURISTIC_JOURNEYS),
        {"Search": (0.5, 50), "Email": (0.75, 50), "Display": (0.75, 50), "Social": (1, 30)},
    )


def test_position_based_by_hand():
    # J1: Search 0.4 + 0.4, Email 0.1, Display 0.1; J2 (two touches): 0.5 / 0.5; J4: Social 1.
    _assert_credit(
        position_based(HEURISTIC_JOURNEYS),
        {"Search": (0.8, 80), "Email": (0.6, 35), "Display": (0.6, 35), "Social": (1, 30)},
    )


def test_time_decay_by_hand():
    # J1 ages 3, 2, 1, 0 half-lives: weights 1/8, 1/4, 1/2, 1 of 15/8, i.e. 1/15, 2/15, 4/15,
    # 8/15; Search gets 9/15. J2 ages 2, 1: weights 1/4, 1/2, i.e. 1/3, 2/3. J4: Social 1.
    #   Email   2/15 + 1/3 = 7/15;   revenue 100 * 2/15 + 50 / 3 = 30
    #   Display 4/15 + 2/3 = 14/15;  revenue 100 * 4/15 + 100 / 3 = 60
    _assert_credit(
        time_decay(HEURISTIC_JOURNEYS, half_life=DAY),
        {
            "Search": (9 / 15, 60),
            "Email": (7 / 15, 30),
            "Display": (14 / 15, 60),
            "Social": (1, 30),
        },
    )


def test_time_decay_accepts_numeric_times_and_defaults_conversion_to_the_last_touch():
    # Touches at hours 0 and 12, half-life 12 h, conversion at the last touch: 1/3 and 2/3.
    frame = time_decay([journey(["A", "B"], True, 9.0, [0.0, 12.0])], half_life=12.0)
    _assert_credit(frame, {"A": (1 / 3, 3.0), "B": (2 / 3, 6.0)})


# Markov hand example, two channels:
#   J1  A -> B -> conversion   revenue 100
#   J2  A -> null
#   J3  B -> conversion         revenue 50
#   J4  B -> A -> null
# Transitions: start -> A 2, start -> B 2; A -> B 1, A -> null 2; B -> conv 2, B -> A 1.
#   P(start->A) = P(start->B) = 1/2; P(A->B) = 1/3, P(A->null) = 2/3;
#   P(B->conv) = 2/3, P(B->A) = 1/3.
# Conversion probabilities c(s): c(A) = c(B) / 3, c(B) = 2/3 + c(A) / 3
#   => c(B) = 2/3 + c(B) / 9 => c(B) = 3/4, c(A) = 1/4, c(start) = (1/4 + 3/4) / 2 = 1/2.
# Without A (start->A and B->A go to null): c(B) = 2/3, c(start) = 1/3; RE(A) = 1 - (1/3)/(1/2)
#   = 1/3. Without B: c(A) = 0, c(start) = 0; RE(B) = 1.
# Shares: A (1/3) / (4/3) = 1/4, B 3/4 of 2 conversions and 150 revenue.
MARKOV_JOURNEYS = [
    journey(["A", "B"], True, 100.0),
    journey(["A"], False),
    journey(["B"], True, 50.0),
    journey(["B", "A"], False),
]


def test_markov_removal_effects_solved_by_hand():
    result = markov(MARKOV_JOURNEYS)

    assert result.conversion_probability == pytest.approx(0.5)
    assert result.removal_effects["A"] == pytest.approx(1 / 3)
    assert result.removal_effects["B"] == pytest.approx(1.0)
    _assert_credit(result.credit, {"A": (0.5, 37.5), "B": (1.5, 112.5)})
    assert result.transition_matrix.loc["B", "(conversion)"] == pytest.approx(2 / 3)


def _power_iteration_conversion(journeys, removed=None, steps=2000) -> float:
    """P(conversion) by pushing probability mass through the chain step by step."""
    states = sorted({c for j in journeys for c in j.channels})
    index = {s: i for i, s in enumerate(["start", *states, "conv", "null"])}
    counts = np.zeros((len(index), len(index)))
    for j in journeys:
        path = ["start", *j.channels, "conv" if j.converted else "null"]
        for a, b in itertools.pairwise(path):
            counts[index[a], index[b]] += 1
    counts[index["conv"], index["conv"]] = counts[index["null"], index["null"]] = 1
    if removed is not None:
        counts[index[removed], :] = 0
        counts[index[removed], index["null"]] = 1
    transition = counts / counts.sum(axis=1, keepdims=True)
    mass = np.zeros(len(index))
    mass[index["start"]] = 1.0
    for _ in range(steps):
        mass = mass @ transition
    return float(mass[index["conv"]])


def _random_journeys(seed: int, channels: str, n: int) -> list:
    rng = np.random.default_rng(seed)
    journeys = []
    for _ in range(n):
        length = int(rng.integers(1, 6))
        path = [str(c) for c in rng.choice(list(channels), size=length)]
        converted = bool(rng.random() < 0.4)
        revenue = float(rng.integers(5, 200)) if converted else 0.0
        journeys.append(journey(path, converted, revenue))
    return journeys


def test_markov_removal_effects_agree_with_power_iteration_of_the_chain():
    journeys = _random_journeys(11, "ABCDE", 300)
    result = markov(journeys)

    base = _power_iteration_conversion(journeys)
    assert result.conversion_probability == pytest.approx(base, abs=1e-9)
    for channel in "ABCDE":
        without = _power_iteration_conversion(journeys, removed=channel)
        assert result.removal_effects[channel] == pytest.approx(1 - without / base, abs=1e-9)


# Shapley hand example, three channels; v(S) = conversions of converting journeys whose
# channel set lies within S:
#   {A} 1 conversion revenue 10;  {A, B} 1 revenue 30;  {B, C} 1 revenue 60;  {C} no conversion.
# v: A 1, B 0, C 0, AB 2, AC 1, BC 1, ABC 3. Marginal contributions over the 6 orders:
#   order  A  B  C
#   ABC    1  1  1
#   ACB    1  2  0
#   BAC    2  0  1
#   BCA    2  0  1
#   CAB    1  2  0
#   CBA    2  1  0     sums 9, 6, 3 -> phi = 1.5, 1.0, 0.5
# Revenue v: A 10, AB 40, AC 10, BC 60, ABC 100 (others 0); the same table gives sums
#   A 10+10+40+40+10+40 = 150, B 30+90+0+0+90+60 = 270, C 60+0+60+60+0+0 = 180 -> 25, 45, 30.
SHAPLEY_JOURNEYS = [
    journey(["A"], True, 10.0),
    journey(["A", "B"], True, 30.0),
    journey(["C", "B", "C"], True, 60.0),
    journey(["C"], False),
]


def test_shapley_by_hand():
    _assert_credit(shapley(SHAPLEY_JOURNEYS), {"A": (1.5, 25), "B": (1.0, 45), "C": (0.5, 30)})


def test_shapley_agrees_with_the_permutation_definition():
    journeys = _random_journeys(5, "ABCDEF", 120)
    players = sorted({c for j in journeys if j.converted for c in j.channels})

    def worth(coalition: set[str]) -> float:
        return sum(1.0 for j in journeys if j.converted and set(j.channels) <= coalition)

    by_permutation = dict.fromkeys(players, 0.0)
    for order in itertools.permutations(players):
        coalition: set[str] = set()
        for player in order:
            before = worth(coalition)
            coalition.add(player)
            by_permutation[player] += worth(coalition) - before
    credit = shapley(journeys)
    for player in players:
        expected = by_permutation[player] / factorial(len(players))
        assert credit.loc[player, "conversions"] == pytest.approx(expected)


def test_every_model_credits_exactly_the_total_conversions_and_revenue():
    journeys = [
        journey(j.channels, j.converted, j.revenue, [T0 + i * DAY for i in range(len(j.channels))])
        for j in _random_journeys(3, "ABCDEFG", 400)
    ]
    conversions = sum(1 for j in journeys if j.converted)
    revenue = sum(j.revenue for j in journeys)

    credit = attribute(journeys, settings=AttributionSettings(half_life=2 * DAY))

    assert set(credit["model"]) == set(MODELS)
    totals = credit.groupby("model")[["conversions", "revenue"]].sum()
    np.testing.assert_allclose(totals["conversions"], conversions)
    np.testing.assert_allclose(totals["revenue"], revenue)
    assert (credit[["conversions", "revenue"]] >= -1e-12).all().all()


def test_journeys_from_a_collected_frame():
    frame = pd.DataFrame(
        {
            "channels": [["A", "B"], ["B"]],
            "converted": [True, False],
            "revenue": [20.0, 0.0],
        }
    )
    _assert_credit(last_touch(journeys_from_frame(frame)), {"A": (0, 0), "B": (1, 20)})


@pytest.mark.parametrize(
    ("journeys", "message"),
    [
        ([journey([], True, 1.0)], r"journeys\[0\]\.channels must hold at least one touch"),
        ([journey(["A"], False, 5.0)], r"journeys\[0\]\.revenue must be 0 when"),
        ([journey(["A"], True, -1.0)], r"journeys\[0\]\.revenue must be a finite number >= 0"),
        ([journey(["A", ""], True, 1.0)], r"journeys\[0\]\.channels\[1\] must be a non-empty"),
        ([journey(["A", "B"], True, 1.0, [0.0])], r"touch_times must have one time per touch"),
    ],
)
def test_bad_journeys_are_rejected_naming_the_field(journeys, message):
    with pytest.raises(JourneyError, match=message):
        linear(journeys)


def test_model_specific_rules():
    with pytest.raises(JourneyError, match=r"journeys\[0\]\.touch_times is required"):
        time_decay([journey(["A"], True, 1.0)], half_life=1.0)
    with pytest.raises(JourneyError, match="half_life must be > 0"):
        time_decay(HEURISTIC_JOURNEYS, half_life=timedelta(0))
    with pytest.raises(JourneyError, match="non-decreasing"):
        time_decay([journey(["A", "B"], True, 1.0, [5.0, 1.0], 6.0)], half_life=1.0)
    with pytest.raises(JourneyError, match="exceed max_channels=2"):
        shapley(SHAPLEY_JOURNEYS, max_channels=2)
    with pytest.raises(JourneyError, match="unknown model"):
        attribute(MARKOV_JOURNEYS, ["linear", "u-shaped"])
    with pytest.raises(JourneyError, match=r"first_weight \+ last_weight must be in"):
        position_based(MARKOV_JOURNEYS, first_weight=0.7, last_weight=0.7)


def test_attribution_settings_come_from_the_environment(monkeypatch):
    from pydantic import ValidationError

    monkeypatch.setenv("ECAP_ATTRIBUTION_HALF_LIFE", "P2D")
    assert AttributionSettings().half_life == 2 * DAY
    monkeypatch.setenv("ECAP_ATTRIBUTION_FIRST_WEIGHT", "0.7")
    monkeypatch.setenv("ECAP_ATTRIBUTION_LAST_WEIGHT", "0.7")
    with pytest.raises(ValidationError, match=r"first_weight \+ last_weight must be in"):
        AttributionSettings()
