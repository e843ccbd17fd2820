"""BG/NBD and Gamma-Gamma: the published CDNOW fits, model properties, and input rules.

The CDNOW summary ships inside the `lifetimes` wheel (a dev dependency used for this data
only; none of its code runs here). Published figures:

- Fader, Hardie & Lee (2005a), "Counting your customers the easy way", Marketing Science 24(2):
  r = 0.243, alpha = 4.414, a = 0.793, b = 2.426, LL = -9582.4; and for the customer with
  x = 2, t_x = 30.43, T = 38.86 (weeks), E[Y(39) | x, t_x, T] = 1.226.
- Fader, Hardie & Lee (2005b), "RFM and CLV: using iso-value curves", JMR 42(4): on the 946
  repeat buyers, p = 6.25, q = 3.74, gamma = 15.44.
"""

from __future__ import annotations

import decimal
import importlib.util
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from spark.analytics.clv import (
    BgNbdParams,
    GammaGammaParams,
    SummaryError,
    discounted_clv,
    expected_average_spend,
    expected_purchases,
    expected_purchases_new_customer,
    fit_bgnbd,
    fit_gamma_gamma,
    probability_alive,
)

PUBLISHED_BGNBD = BgNbdParams(r=0.243, alpha=4.414, a=0.793, b=2.426)
PUBLISHED_GAMMA_GAMMA = GammaGammaParams(p=6.25, q=3.74, gamma=15.44)


def _lifetimes_dataset(name: str) -> Path:
    # find_spec locates the installed package without importing (running) any of its code.
    spec = importlib.util.find_spec("lifetimes")
    assert spec is not None and spec.submodule_search_locations, (
        "the `lifetimes` wheel (dev dependency, test data only) is not installed; run make setup"
    )
    path = Path(next(iter(spec.submodule_search_locations))) / "datasets" / name
    assert path.is_file(), f"{path} is missing from the lifetimes wheel"
    return path


@pytest.fixture(scope="module")
def cdnow_summary() -> pd.DataFrame:
    """x, t_x, T (weeks) of the 2,357 CDNOW customers, as lifetimes ships them."""
    return pd.read_csv(_lifetimes_dataset("cdnow_customers_summary.csv"))


@pytest.fixture(scope="module")
def cdnow_spend() -> pd.DataFrame:
    """The same customers with zbar, the mean value of their repeat purchases."""
    return pd.read_csv(_lifetimes_dataset("cdnow_customers_summary_with_transactions.csv"))


def _within_one_percent(actual: float, published: float) -> bool:
    return abs(actual - published) <= 0.01 * abs(published)


def test_bgnbd_fit_reproduces_the_published_cdnow_parameters(cdnow_summary):
    fit = fit_bgnbd(cdnow_summary)

    assert fit.converged, fit.message
    assert fit.n_customers == 2357
    for name in ("r", "alpha", "a", "b"):
        actual, published = getattr(fit.params, name), getattr(PUBLISHED_BGNBD, name)
        assert _within_one_percent(actual, published), (name, actual, published)
    assert fit.log_likelihood == pytest.approx(-9582.4, abs=0.1)


def test_gamma_gamma_fit_on_the_946_repeat_buyers_reproduces_the_published_parameters(
    cdnow_spend,
):
    fit = fit_gamma_gamma(cdnow_spend["x"], cdnow_spend["zbar"])

    assert fit.converged, fit.message
    assert fit.n_customers == 946
    for name in ("p", "q", "gamma"):
        actual, published = getattr(fit.params, name), getattr(PUBLISHED_GAMMA_GAMMA, name)
        assert _within_one_percent(actual, published), (name, actual, published)


def test_conditional_expectation_matches_the_published_example():
    expected = expected_purchases(PUBLISHED_BGNBD, 39.0, [2], [30.43], [38.86])
    assert expected[0] == pytest.approx(1.226, abs=0.0005)


def test_probability_alive_is_one_without_repeat_purchases_and_below_one_after_a_gap():
    alive = probability_alive(
        PUBLISHED_BGNBD,
        frequency=[0, 0, 0, 3, 3],
        recency=[0, 0, 0, 5.0, 30.0],
        age=[1, 20, 80, 40, 40],
    )

    np.testing.assert_array_equal(alive[:3], 1.0)
    # Three purchases with the last at week 5 of 40 leave more doubt than one at week 30.
    assert 0 < alive[3] < alive[4] < 1


def test_probability_alive_matches_the_closed_form_by_hand():
    # 1 / (1 + a/(b+x-1) * ((alpha+T)/(alpha+t_x))^(r+x)) with x=2, t_x=30.43, T=38.86
    r, alpha, a, b = 0.243, 4.414, 0.793, 2.426
    by_hand = 1 / (1 + a / (b + 1) * ((alpha + 38.86) / (alpha + 30.43)) ** (r + 2))
    assert probability_alive(PUBLISHED_BGNBD, [2], [30.43], [38.86])[0] == pytest.approx(by_hand)


def test_expected_purchases_grow_with_the_horizon():
    horizons = [0.0, 1.0, 4.0, 13.0, 26.0, 52.0, 104.0]
    histories = {"frequency": [0, 2, 7], "recency": [0, 30.43, 35.0], "age": [38.86] * 3}

    by_horizon = np.array([expected_purchases(PUBLISHED_BGNBD, t, **histories) for t in horizons])

    np.testing.assert_array_equal(by_horizon[0], 0.0)
    assert (np.diff(by_horizon, axis=0) > 0).all()
    new_customer = [expected_purchases_new_customer(PUBLISHED_BGNBD, t) for t in horizons]
    assert (np.diff(new_customer) > 0).all()


def test_a_brand_new_customer_conditional_equals_the_unconditional_expectation():
    # x = 0, t_x = 0, T = 0: eq. 10 reduces to eq. 9, two different formulas.
    for t in (1.0, 10.0, 78.0):
        conditional = expected_purchases(PUBLISHED_BGNBD, t, [0], [0.0], [0.0])[0]
        assert conditional == pytest.approx(expected_purchases_new_customer(PUBLISHED_BGNBD, t))


def test_expected_average_spend_by_hand():
    # p (gamma + x z) / (p x + q - 1):
    #   x=2, z=22.35: 6.25 * (15.44 + 44.70) / (12.50 + 2.74) = 375.875 / 15.24 = 24.66371...
    #   x=0: the population mean p gamma / (q - 1) = 96.5 / 2.74 = 35.21897...
    spend = expected_average_spend(PUBLISHED_GAMMA_GAMMA, [2, 0], [22.35, 0.0])
    np.testing.assert_allclose(spend, [375.875 / 15.24, 96.5 / 2.74])


def _example_customer() -> pd.DataFrame:
    return pd.DataFrame({"frequency": [2], "recency": [30.43], "T": [38.86], "monetary": [22.35]})


def test_undiscounted_clv_is_spend_times_expected_purchases():
    # With d = 0 the per-period increments telescope to E[Y(39)] = 1.226 (published).
    clv = discounted_clv(
        PUBLISHED_BGNBD,
        PUBLISHED_GAMMA_GAMMA,
        _example_customer(),
        horizon_periods=39,
        period_length=1.0,
        discount_rate=0.0,
    )
    assert clv[0] == pytest.approx(375.875 / 15.24 * 1.226, rel=5e-4)


def test_one_discounted_period_divides_by_one_plus_the_rate():
    clv = discounted_clv(
        PUBLISHED_BGNBD,
        PUBLISHED_GAMMA_GAMMA,
        _example_customer(),
        horizon_periods=1,
        period_length=39.0,
        discount_rate=0.1,
    )
    assert clv[0] == pytest.approx(375.875 / 15.24 * 1.226 / 1.1, rel=5e-4)


def test_a_higher_discount_rate_lowers_clv_and_a_longer_horizon_raises_it():
    def clv(periods: int, rate: float) -> float:
        return discounted_clv(
            PUBLISHED_BGNBD,
            PUBLISHED_GAMMA_GAMMA,
            _example_customer(),
            horizon_periods=periods,
            period_length=52 / 12,
            discount_rate=rate,
        )[0]

    assert clv(12, 0.02) < clv(12, 0.01) < clv(12, 0.0)
    assert clv(6, 0.01) < clv(12, 0.01) < clv(24, 0.01)


@pytest.mark.parametrize(
    ("summary", "message"),
    [
        ({"frequency": [-1], "recency": [0.0], "T": [5.0]}, "'frequency' must be >= 0"),
        ({"frequency": [1.5], "recency": [1.0], "T": [5.0]}, "'frequency' must hold whole"),
        ({"frequency": [2], "recency": [6.0], "T": [5.0]}, "'recency' must be <= column 'T'"),
        ({"frequency": [0], "recency": [1.0], "T": [5.0]}, "'recency' must be 0 where"),
        ({"frequency": [1], "recency": [float("nan")], "T": [5.0]}, "'recency' must be finite"),
        ({"frequency": [1], "recency": [1.0], "T": [-5.0]}, "'T' must be >= 0"),
        ({"frequency": [1], "T": [5.0]}, "no column 'recency'"),
        ({"frequency": [0, 0], "recency": [0.0, 0.0], "T": [5.0, 6.0]}, "0 for every customer"),
    ],
)
def test_bgnbd_rejects_a_bad_summary_naming_column_and_rule(summary, message):
    with pytest.raises(SummaryError, match=message):
        fit_bgnbd(pd.DataFrame(summary))


def test_gamma_gamma_rejects_non_positive_spend_of_a_repeat_buyer():
    with pytest.raises(SummaryError, match="'monetary' must be > 0 where 'frequency' > 0"):
        fit_gamma_gamma([2, 1], [10.0, 0.0])
    with pytest.raises(SummaryError, match="no customer has 'frequency' > 0"):
        fit_gamma_gamma([0, 0], [0.0, 0.0])


def test_clv_rejects_a_bad_horizon_or_rate():
    args = (PUBLISHED_BGNBD, PUBLISHED_GAMMA_GAMMA, _example_customer())
    with pytest.raises(SummaryError, match="horizon_periods must be an integer >= 1"):
        discounted_clv(*args, horizon_periods=0, period_length=1.0, discount_rate=0.01)
    with pytest.raises(SummaryError, match="period_length must be > 0"):
        discounted_clv(*args, horizon_periods=3, period_length=0.0, discount_rate=0.01)
    with pytest.raises(SummaryError, match="discount_rate must be > -1"):
        discounted_clv(*args, horizon_periods=3, period_length=1.0, discount_rate=-1.0)


def test_heavy_buyers_get_finite_growing_expectations_at_long_horizons():
    # 300 repeat purchases in a year, the last today: the raw eq. 10 product overflows
    # (hyp2f1 -> inf times a power -> 0); the expectation must stay finite and grow with t.
    history = {"frequency": [300], "recency": [365.0], "age": [365.0]}
    horizons = [30.0, 365.0, 3650.0]
    expected = [expected_purchases(PUBLISHED_BGNBD, t, **history)[0] for t in horizons]

    assert all(np.isfinite(expected))
    assert 0 < expected[0] < expected[1] < expected[2]


def _eq10_by_decimal_series(params: BgNbdParams, t: float, x: int, t_x: float, big_t: float):
    """Eq. 10 as published, its 2F1 summed term by term in 60-digit decimal arithmetic.

    E[Y(t)] = (a+b+x-1)/(a-1) [1 - ((alpha+T)/(alpha+T+t))^(r+x) 2F1(r+x, b+x; a+b+x-1; z)]
              / (1 + [x > 0] a/(b+x-1) ((alpha+T)/(alpha+t_x))^(r+x)),  z = t/(alpha+T+t).
    No transformation, no float overflow (decimal exponents are unbounded), and 60 digits
    absorb the cancellation in 1 - (...); the series has positive terms (a+b+x-1 > 0 here).
    """
    with decimal.localcontext(decimal.Context(prec=60, Emax=10**9, Emin=-(10**9))):
        r, alpha, a, b, t, x, t_x, big_t = (
            decimal.Decimal(float(v)) for v in (*vars(params).values(), t, x, t_x, big_t)
        )
        k, upper, c = r + x, b + x, a + b + x - 1
        z = t / (alpha + big_t + t)
        term, total, n = decimal.Decimal(1), decimal.Decimal(0), 0
        while True:
            total += term
            ratio = (k + n) * (upper + n) / ((c + n) * (n + 1)) * z
            term *= ratio
            n += 1
            if ratio < 1 and term / (1 - ratio) < total * decimal.Decimal("1e-45"):
                break
        survival = ((alpha + big_t) / (alpha + big_t + t)) ** k * total
        alive_expectation = c / (a - 1) * (1 - survival)
        odds = a / (b + x - 1) * ((alpha + big_t) / (alpha + t_x)) ** k if x > 0 else 0
        return float(alive_expectation / (1 + odds))


# The BG/NBD fit on a 45-day, 250-customer simulator world (seed 21): Nelder-Mead did not
# converge; a and b ran off together with a/(a+b) = 0.2 (no heterogeneity in drop-out). Euler's
# form of eq. 10 was 0 * inf there, so every customer's clv was NaN.
RUNAWAY_DROPOUT_FIT = BgNbdParams(
    r=0.4462214787440473, alpha=10.27585226679867, a=1097942.6022351934, b=4395321.721383971
)
# (x, t_x, T) in days, two customers per frequency of that world.
RUNAWAY_WORLD_CUSTOMERS = [
    (0, 0.0, 26.0), (0, 0.0, 7.0), (1, 30.0, 32.0), (1, 36.0, 41.0), (2, 26.0, 40.0),
    (2, 12.0, 36.0), (3, 31.0, 43.0), (3, 39.0, 40.0), (4, 37.0, 42.0), (4, 6.0, 32.0),
    (5, 35.0, 38.0), (5, 5.0, 31.0), (0, 0.0, 0.0),
]  # fmt: skip


@pytest.mark.parametrize(
    ("params", "customers", "horizons"),
    [
        pytest.param(RUNAWAY_DROPOUT_FIT, RUNAWAY_WORLD_CUSTOMERS, [30.0, 360.0], id="runaway-a-b"),
        pytest.param(  # a and b huge with a heavy buyer: both closed forms are 0 * inf
            BgNbdParams(r=3.3, alpha=3.25, a=3.5e6, b=5.7e7), [(300, 270.0, 279.0)], [360.0],
            id="huge-a-and-x",
        ),
        pytest.param(  # a a hair from 1: eq. 10's (1 - S) / (a - 1) is 0 / 0 in floats
            BgNbdParams(r=0.22, alpha=126.0, a=1 + 1e-9, b=1.8e7), [(1, 200.0, 302.0)],
            [0.7, 360.0], id="a-near-one",
        ),
        pytest.param(  # mean drop-out probability 2e-9: 1 - S below 1e-9
            BgNbdParams(r=0.11, alpha=5.7, a=1.76, b=8e8), [(1, 500.0, 843.0), (0, 0.0, 10.0)],
            [4.5, 360.0], id="tiny-dropout",
        ),
        pytest.param(  # the published fit and a heavy buyer: the untransformed 2F1 overflows
            PUBLISHED_BGNBD, [(300, 365.0, 365.0), (2, 30.43, 38.86)], [39.0, 3650.0],
            id="cdnow-heavy-buyer",
        ),
    ],
)  # fmt: skip
def test_expected_purchases_are_finite_and_match_eq_10_summed_in_decimal(
    params, customers, horizons
):
    x, t_x, big_t = (np.array(column, dtype=float) for column in zip(*customers, strict=True))
    for t in horizons:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no 0 * inf, no overflow on the way
            expected = expected_purchases(params, t, x, t_x, big_t)
        reference = [_eq10_by_decimal_series(params, t, *customer) for customer in customers]
        assert np.isfinite(expected).all(), expected
        np.testing.assert_allclose(expected, reference, rtol=1e-8)


def test_a_equal_to_one_is_the_limit_of_eq_10():
    # (a+b+x-1)/(a-1) (1 - S) is 0/0 at a = 1; its limit is the value just beside 1.
    params = BgNbdParams(r=0.5, alpha=10.0, a=1.0, b=4.0)
    beside = BgNbdParams(r=0.5, alpha=10.0, a=1.0 + 1e-12, b=4.0)
    expected = expected_purchases(params, 360.0, [0, 2], [0.0, 26.0], [30.0, 40.0])
    reference = [_eq10_by_decimal_series(beside, 360.0, *c) for c in [(0, 0, 30), (2, 26, 40)]]
    np.testing.assert_allclose(expected, reference, rtol=1e-9)


def test_clv_of_the_runaway_fit_is_finite_and_sums_the_decimal_eq_10_per_period():
    summary = pd.DataFrame(RUNAWAY_WORLD_CUSTOMERS, columns=["frequency", "recency", "T"])
    summary["monetary"] = np.where(summary["frequency"] > 0, 5000.0, 0.0)
    spend = GammaGammaParams(p=0.3597012125952886, q=8.156757582343618, gamma=1659316.7517877696)

    clv = discounted_clv(
        RUNAWAY_DROPOUT_FIT, spend, summary, horizon_periods=12, period_length=30.0,
        discount_rate=0.01,
    )  # fmt: skip

    cumulative = np.array(
        [
            [_eq10_by_decimal_series(RUNAWAY_DROPOUT_FIT, 30.0 * i, *c) for i in range(13)]
            for c in RUNAWAY_WORLD_CUSTOMERS
        ]
    )
    discount = 1.01 ** -np.arange(1, 13)
    expected_spend = expected_average_spend(spend, summary["frequency"], summary["monetary"])
    assert np.isfinite(clv).all() and (clv > 0).all()
    np.testing.assert_allclose(clv, expected_spend * (np.diff(cumulative) @ discount), rtol=1e-8)


def test_clv_settings_come_from_the_environment(monkeypatch):
    from pydantic import ValidationError

    from spark.analytics.config import ClvSettings

    monkeypatch.setenv("ECAP_CLV_HORIZON_PERIODS", "24")
    monkeypatch.setenv("ECAP_CLV_DISCOUNT_RATE", "0.02")
    settings = ClvSettings()
    assert (settings.horizon_periods, settings.discount_rate, settings.period_days) == (
        24,
        0.02,
        30,
    )
    monkeypatch.setenv("ECAP_CLV_HORIZON_PERIODS", "0")
    with pytest.raises(ValidationError, match="horizon_periods"):
        ClvSettings()
