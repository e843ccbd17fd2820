"""Holt-Winters and seasonal-naive forecasts: exact recovery of noiseless series, the
baseline and its interval by hand, the h-step variance against a closed form and a
simulation of the model's own recursions, and the back-test scores' definitions."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from spark.analytics.forecast import (
    Forecast,
    ForecastError,
    HoltWintersParams,
    clip_at_zero,
    damped_sums,
    fit_holt_winters,
    holt_winters_forecast,
    holt_winters_variance_factors,
    initial_states,
    interval_coverage,
    score,
    seasonal_naive_forecast,
)

WEEKDAYS = np.array([50.0, -30.0, 20.0, 0.0, -10.0, 40.0, -70.0])  # sums to 0
Z90 = 1.6448536269514722  # the standard normal's 95th percentile


def _trend_and_season(days: np.ndarray, level: float = 1000.0, slope: float = 5.0) -> np.ndarray:
    return level + slope * days + WEEKDAYS[days % 7]


def test_initial_states_recover_a_noiseless_line_and_weekday_offsets() -> None:
    y = _trend_and_season(np.arange(21))
    level, trend, offsets = initial_states(y)
    # Level "before day 0": the line at day -1.
    assert level == pytest.approx(1000.0 - 5.0)
    assert trend == pytest.approx(5.0)
    assert offsets == pytest.approx(WEEKDAYS)


def test_a_noiseless_trend_and_weekly_season_is_forecast_exactly() -> None:
    y = _trend_and_season(np.arange(70))
    fit = fit_holt_winters(y)
    assert fit.sse == pytest.approx(0.0, abs=1e-12)
    assert fit.params.phi == pytest.approx(1.0)  # only an undamped trend leaves no error
    forecast = holt_winters_forecast(fit, 30, 0.9)
    assert forecast.mean == pytest.approx(_trend_and_season(np.arange(70, 100)), abs=1e-6)
    assert forecast.upper - forecast.lower == pytest.approx(np.zeros(30), abs=1e-6)
    assert forecast.interval == 0.9


def test_the_forecast_continues_the_weekday_pattern_from_where_the_series_ends() -> None:
    # 17 days end on position 16 % 7 = 2: the next day has the offset of position 3.
    y = _trend_and_season(np.arange(17), slope=0.0)
    forecast = holt_winters_forecast(fit_holt_winters(y), 7, 0.9)
    assert forecast.mean == pytest.approx(1000.0 + WEEKDAYS[[3, 4, 5, 6, 0, 1, 2]], abs=1e-6)


def test_with_a_trend_and_noise_the_model_beats_seasonal_naive_on_held_out_days() -> None:
    days = np.arange(120)
    model_mae, naive_mae, coverage = [], [], []
    for seed in range(10):
        rng = np.random.default_rng(seed)
        y = _trend_and_season(days, slope=10.0) + rng.normal(0, 20, len(days))
        train, held_out = y[:-28], y[-28:]
        model = score(held_out, holt_winters_forecast(fit_holt_winters(train), 28, 0.9))
        naive = score(held_out, seasonal_naive_forecast(train, 28, 0.9))
        model_mae.append(model.mae)
        naive_mae.append(naive.mae)
        coverage.append(model.coverage)
    # Seasonal naive lags the trend by 70 per week of distance (by hand: 70, 140, 210, 280
    # for the four held-out weeks, 175 on average); the model follows it, its error near the
    # noise's own (E|N(0, 20)| = 16).
    assert np.mean(naive_mae) == pytest.approx(175, abs=10)
    assert np.mean(model_mae) < 25
    # The nominal 90 % holds roughly; parameter uncertainty is not in the interval.
    assert 0.8 <= np.mean(coverage) <= 0.97


def test_seasonal_naive_repeats_the_last_week_with_a_widening_interval() -> None:
    y = np.arange(1.0, 15.0)  # two weeks: 1..7, 8..14
    forecast = seasonal_naive_forecast(y, 10, 0.9)
    # Days 15..21 repeat the last week (8..14), days 22..24 repeat it again (8..10).
    assert forecast.mean.tolist() == [8, 9, 10, 11, 12, 13, 14, 8, 9, 10]
    # Every seasonal difference is 7, so sigma = 7; k = 0 for h <= 7, 1 after.
    spread = Z90 * 7 * np.array([1] * 7 + [np.sqrt(2)] * 3)
    assert forecast.upper - forecast.mean == pytest.approx(spread)
    assert forecast.mean - forecast.lower == pytest.approx(spread)


def test_damped_sums_and_the_variance_factors_for_an_undamped_trend() -> None:
    assert damped_sums(0.5, 3) == pytest.approx([0.5, 0.75, 0.875])
    alpha, beta, gamma, m = 0.3, 0.05, 0.1, 7
    factors = holt_winters_variance_factors(HoltWintersParams(alpha, beta, gamma, 1.0), 20, m)
    # ETS(A,A,A), Hyndman & Athanasopoulos, FPP 2nd ed., Table 7.8:
    # 1 + (h-1)[a^2 + a b h + b^2 h (2h-1) / 6] + g k (2a + g + b m (k+1)), k = floor((h-1)/m)
    h = np.arange(1, 21)
    k = (h - 1) // m
    closed_form = (
        1
        + (h - 1) * (alpha**2 + alpha * beta * h + beta**2 * h * (2 * h - 1) / 6)
        + gamma * k * (2 * alpha + gamma + beta * m * (k + 1))
    )
    assert factors == pytest.approx(closed_form)


def test_the_variance_factors_match_a_simulation_of_the_damped_model() -> None:
    params = HoltWintersParams(alpha=0.4, beta=0.1, gamma=0.3, phi=0.9)
    horizon, paths, m = 16, 40_000, 7
    rng = np.random.default_rng(11)
    errors = rng.normal(0.0, 1.0, (paths, horizon))
    # The state-space recursions from a zero state: every y is pure accumulated noise, and
    # the h-step forecast from the start is 0, so the y's variance is the forecast variance.
    level = np.zeros(paths)
    trend = np.zeros(paths)
    seasonals = np.zeros((paths, m))
    simulated = np.empty((paths, horizon))
    for t in range(horizon):
        damped = params.phi * trend
        simulated[:, t] = level + damped + seasonals[:, t % m] + errors[:, t]
        level = level + damped + params.alpha * errors[:, t]
        trend = damped + params.beta * errors[:, t]
        seasonals[:, t % m] += params.gamma * errors[:, t]
    expected = holt_winters_variance_factors(params, horizon, m)
    assert simulated.var(axis=0) == pytest.approx(expected, rel=0.03)


def test_the_interval_uses_the_normal_quantile_of_its_coverage() -> None:
    rng = np.random.default_rng(5)
    y = _trend_and_season(np.arange(60)) + rng.normal(0, 15, 60)
    fit = fit_holt_winters(y)
    narrow, wide = holt_winters_forecast(fit, 10, 0.5), holt_winters_forecast(fit, 10, 0.95)
    assert narrow.mean == pytest.approx(wide.mean)
    ratio = (wide.upper - wide.mean) / (narrow.upper - narrow.mean)
    assert ratio == pytest.approx(stats.norm.ppf(0.975) / stats.norm.ppf(0.75))
    first_spread = narrow.upper[0] - narrow.mean[0]
    assert first_spread == pytest.approx(stats.norm.ppf(0.75) * np.sqrt(fit.sigma2))
    # sigma^2 = SSE / (n - p), p = 4 smoothing parameters + level + trend + 6 free offsets.
    assert fit.sigma2 == pytest.approx(fit.sse / (60 - 12))


def test_coverage_counts_values_on_the_bounds_as_inside() -> None:
    actual = [1.0, 2.0, 3.0, 4.0]
    assert interval_coverage(actual, [1, 0, 3.5, 0], [1, 1, 4, 10]) == 0.5
    assert interval_coverage(actual, [0, 0, 0, 0], [9, 9, 9, 9]) == 1.0


def test_scores_mae_mape_over_days_with_revenue_and_coverage() -> None:
    forecast = Forecast(
        mean=np.array([10.0, 10.0, 10.0, 10.0]),
        lower=np.array([5.0, 5.0, 5.0, 5.0]),
        upper=np.array([15.0, 15.0, 15.0, 15.0]),
        interval=0.9,
    )
    scores = score([0.0, 8.0, 20.0, 10.0], forecast)
    assert scores.mae == pytest.approx((10 + 2 + 10 + 0) / 4)
    assert scores.mape == pytest.approx((2 / 8 + 10 / 20 + 0 / 10) / 3)  # the 0 day is left out
    assert scores.coverage == 0.5  # 8 and 10 inside; 0 and 20 outside
    assert np.isnan(score([0.0] * 4, forecast).mape)


def test_clipping_floors_the_forecast_and_bounds_at_zero() -> None:
    clipped = clip_at_zero(
        Forecast(np.array([-1.0, 5.0]), np.array([-9.0, 1.0]), np.array([-0.5, 9.0]), 0.8)
    )
    assert clipped.mean.tolist() == [0.0, 5.0]
    assert clipped.lower.tolist() == [0.0, 1.0]
    assert clipped.upper.tolist() == [0.0, 9.0]


def test_bad_series_and_settings_are_named() -> None:
    with pytest.raises(ForecastError, match=r"at least 14 days \(two seasons of 7\); got 13"):
        fit_holt_winters(np.ones(13))
    with pytest.raises(ForecastError, match=r"series must be finite; 1 values .* position 3"):
        fit_holt_winters([1, 2, 3, np.nan] + [1] * 20)
    fit = fit_holt_winters(np.arange(14.0))
    with pytest.raises(ForecastError, match=r"horizon must be >= 1 day; got 0"):
        holt_winters_forecast(fit, 0, 0.9)
    with pytest.raises(ForecastError, match=r"interval must be in \(0, 1\); got 1.5"):
        seasonal_naive_forecast(np.arange(14.0), 3, 1.5)
    with pytest.raises(ForecastError, match=r"actual holds 2 days but the forecast 3"):
        score([1, 2], Forecast(np.zeros(3), np.zeros(3), np.zeros(3), 0.9))
