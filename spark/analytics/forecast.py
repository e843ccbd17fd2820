"""Daily revenue forecasts: additive Holt-Winters with a damped trend, and the seasonal-naive
baseline it is back-tested against.

**Model** (ETS(A,Ad,A) in Hyndman, Koehler, Ord & Snyder 2008, "Forecasting with Exponential
Smoothing: the State Space Approach", ch. 2 and 6; Hyndman & Athanasopoulos, "Forecasting:
Principles and Practice", 3rd ed., section 8.3). The daily series y_t is a level l, a trend b
damped by phi, and a seasonal offset s per position in the season (m = 7 days: the
weekday pattern), corrected after each day by the one-step error e_t:

    forecast  y^_t = l + phi b + s[t mod m]          e_t = y_t - y^_t
    update    l <- l + phi b + alpha e_t,   b <- phi b + beta e_t,   s[t mod m] += gamma e_t

and h days after the last observation  y^_{n+h} = l + (phi + ... + phi^h) b + s[(n+h) mod m].

- Start: the initial level, trend and weekday offsets are the least-squares line plus
  day-of-week offsets (summing to zero) over the first seasons (at most four), so two full
  seasons are the least history the model accepts (`min_history`).
- Fit: alpha, beta, gamma and phi minimise the sum of squared one-step errors (scipy
  SLSQP from a few starts), inside the usual region 0 <= alpha <= 1, 0 <= beta <= alpha,
  0 <= gamma <= 1 - alpha (searched as alpha, beta / alpha, gamma / (1 - alpha) in [0, 1])
  and 0.8 <= phi <= 1 (phi = 1: an undamped trend).
- Interval: the errors are taken as independent N(0, sigma^2), sigma^2 = SSE / (n - p) with p
  = m + 5 estimated values (four smoothing parameters, level, trend, m - 1 offsets). The h-step
  variance is that of the linear innovations model (Hyndman et al. 2008, section 6.1,
  class 1): sigma^2 (1 + sum_{j=1}^{h-1} c_j^2) with c_j = alpha + beta (phi + ... + phi^j) +
  gamma [j mod m = 0], and the interval is y^ +- z sigma_h with z the normal quantile of the
  nominal coverage.

**Baseline**: seasonal naive (FPP3 section 5.2 and Table 5.2): each day is forecast as the
same weekday of the last observed week, y^_{n+h} = y_{n+h-m(k+1)} with k = floor((h-1)/m);
its interval is y^ +- z sigma sqrt(k+1), sigma^2 the mean squared seasonal difference
y_t - y_{t-m} over the fit window.

**Scores** (`score`): MAE = mean |y - y^|; MAPE = mean |y - y^| / y over the held-out days
with y > 0 (a fraction, NaN when there is none); interval coverage = the share of held-out
days with lower <= y <= upper.

Revenue is never negative, so `clip_at_zero` floors forecasts and bounds at 0; the jobs
publish and score the clipped values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import optimize, stats

WEEK = 7
HOLT_WINTERS = "holt_winters"
SEASONAL_NAIVE = "seasonal_naive"
PHI_BOUNDS = (0.8, 1.0)
_INIT_SEASONS = 4
_STARTS = ((0.2, 0.1, 0.1, 0.98), (0.5, 0.05, 0.3, 0.9), (0.05, 0.01, 0.05, 1.0))

ArrayLike = Sequence[float] | np.ndarray


class ForecastError(ValueError):
    """A series or setting breaks a rule of the forecast; the message names which and why."""


@dataclass(frozen=True)
class HoltWintersParams:
    """The smoothing parameters (error-correction form) and the trend damping."""

    alpha: float
    beta: float
    gamma: float
    phi: float


@dataclass(frozen=True)
class HoltWintersFit:
    """A fitted model: parameters, the final states, and the one-step error variance."""

    params: HoltWintersParams
    level: float
    trend: float
    seasonals: np.ndarray  # seasonals[j]: the offset of the days t with t mod m == j
    n: int
    sse: float
    sigma2: float
    converged: bool

    @property
    def season_length(self) -> int:
        """m, the days of one season."""
        return len(self.seasonals)


@dataclass(frozen=True)
class Forecast:
    """Point forecasts for days 1..h after the series, and the prediction interval."""

    mean: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    interval: float


@dataclass(frozen=True)
class Scores:
    """How a forecast did on held-out days."""

    mae: float
    mape: float
    coverage: float


def min_history(season_length: int = WEEK) -> int:
    """The fewest days the model fits on: two full seasons."""
    return 2 * season_length


def _series(values: ArrayLike, name: str = "series") -> np.ndarray:
    y = np.asarray(values, dtype=float)
    if y.ndim != 1:
        raise ForecastError(f"{name} must be one-dimensional; got shape {y.shape}")
    bad = ~np.isfinite(y)
    if bad.any():
        raise ForecastError(
            f"{name} must be finite; {int(bad.sum())} values are NaN or infinite "
            f"(first at position {int(np.argmax(bad))})"
        )
    return y


def _check_horizon_and_interval(horizon: int, interval: float) -> None:
    if horizon < 1:
        raise ForecastError(f"horizon must be >= 1 day; got {horizon}")
    if not 0 < interval < 1:
        raise ForecastError(f"interval must be in (0, 1); got {interval}")


def initial_states(y: ArrayLike, season_length: int = WEEK) -> tuple[float, float, np.ndarray]:
    """(level, trend, offsets) before the first day, by least squares over the first seasons.

    y_t = level + trend (t + 1) + offsets[t mod m], offsets summing to zero, fitted over the
    first min(4, n // m) full seasons.
    """
    y = _series(y)
    seasons = min(_INIT_SEASONS, len(y) // season_length)
    if seasons < 2:
        raise ForecastError(
            f"series must hold at least {min_history(season_length)} days (two seasons of "
            f"{season_length}); got {len(y)}"
        )
    window = y[: seasons * season_length]
    t = np.arange(len(window))
    design = np.zeros((len(window), season_length + 1))
    design[:, 0] = t + 1
    design[t, 1 + t % season_length] = 1.0
    coefficients, *_ = np.linalg.lstsq(design, window, rcond=None)
    trend, days = float(coefficients[0]), coefficients[1:]
    level = float(days.mean())
    return level, trend, days - level


def _one_step_sse(
    y: np.ndarray,
    params: HoltWintersParams,
    level: float,
    trend: float,
    seasonals: np.ndarray,
) -> tuple[float, float, float, np.ndarray]:
    """Run the recursions over `y`: (SSE, final level, final trend, final offsets)."""
    alpha, beta, gamma, phi = params.alpha, params.beta, params.gamma, params.phi
    s = [float(v) for v in seasonals]
    m = len(s)
    sse = 0.0
    for t, value in enumerate(y.tolist()):
        j = t % m
        damped = phi * trend
        error = value - (level + damped + s[j])
        sse += error * error
        level = level + damped + alpha * error
        trend = damped + beta * error
        s[j] += gamma * error
    return sse, level, trend, np.array(s)


def _params(theta: np.ndarray) -> HoltWintersParams:
    alpha, beta_share, gamma_share, phi = (float(v) for v in theta)
    return HoltWintersParams(alpha, alpha * beta_share, (1 - alpha) * gamma_share, phi)


def fit_holt_winters(y: ArrayLike, season_length: int = WEEK) -> HoltWintersFit:
    """Fit the damped additive Holt-Winters model to the daily series `y` (oldest first)."""
    y = _series(y)
    level0, trend0, seasonals0 = initial_states(y, season_length)
    scale = max(float(np.mean(y * y)), 1.0)

    def objective(theta: np.ndarray) -> float:
        return _one_step_sse(y, _params(theta), level0, trend0, seasonals0)[0] / scale

    bounds = [(0.0, 1.0), (0.0, 1.0), (0.0, 1.0), PHI_BOUNDS]
    best = None
    for start in _STARTS:
        result = optimize.minimize(objective, np.array(start), method="SLSQP", bounds=bounds)
        if best is None or result.fun < best.fun:
            best = result
    lower, upper = np.array(bounds).T
    params = _params(np.clip(best.x, lower, upper))
    sse, level, trend, seasonals = _one_step_sse(y, params, level0, trend0, seasonals0)
    estimated = season_length + 5
    return HoltWintersFit(
        params=params,
        level=level,
        trend=trend,
        seasonals=seasonals,
        n=len(y),
        sse=sse,
        sigma2=sse / max(len(y) - estimated, 1),
        converged=bool(best.success),
    )


def damped_sums(phi: float, horizon: int) -> np.ndarray:
    """phi + phi^2 + ... + phi^h for h = 1..horizon."""
    return np.cumsum(phi ** np.arange(1, horizon + 1))


def holt_winters_variance_factors(
    params: HoltWintersParams, horizon: int, season_length: int = WEEK
) -> np.ndarray:
    """sigma_h^2 / sigma^2 = 1 + sum_{j<h} c_j^2 for h = 1..horizon (linear innovations)."""
    j = np.arange(1, horizon)
    c = (
        params.alpha
        + params.beta * damped_sums(params.phi, horizon)[: horizon - 1]
        + params.gamma * (j % season_length == 0)
    )
    return 1.0 + np.concatenate([[0.0], np.cumsum(c * c)])


def _z(interval: float) -> float:
    return float(stats.norm.ppf(0.5 + interval / 2))


def holt_winters_forecast(fit: HoltWintersFit, horizon: int, interval: float) -> Forecast:
    """The next `horizon` days after the fitted series, with a `interval` prediction interval."""
    _check_horizon_and_interval(horizon, interval)
    m = fit.season_length
    positions = (fit.n + np.arange(horizon)) % m
    mean = fit.level + damped_sums(fit.params.phi, horizon) * fit.trend + fit.seasonals[positions]
    spread = _z(interval) * np.sqrt(
        fit.sigma2 * holt_winters_variance_factors(fit.params, horizon, m)
    )
    return Forecast(mean, mean - spread, mean + spread, interval)


def seasonal_naive_forecast(
    y: ArrayLike, horizon: int, interval: float, season_length: int = WEEK
) -> Forecast:
    """The last season repeated, with the interval from the seasonal differences' spread."""
    y = _series(y)
    _check_horizon_and_interval(horizon, interval)
    if len(y) < season_length + 1:
        raise ForecastError(
            f"series must hold more than one season ({season_length} days) for the "
            f"seasonal-naive interval; got {len(y)}"
        )
    h = np.arange(1, horizon + 1)
    k = (h - 1) // season_length
    mean = y[len(y) - 1 + h - season_length * (k + 1)]
    differences = y[season_length:] - y[:-season_length]
    sigma = float(np.sqrt(np.mean(differences * differences)))
    spread = _z(interval) * sigma * np.sqrt(k + 1)
    return Forecast(mean, mean - spread, mean + spread, interval)


def clip_at_zero(forecast: Forecast) -> Forecast:
    """`forecast` with mean and bounds floored at zero (revenue is never negative)."""
    return Forecast(
        np.maximum(forecast.mean, 0.0),
        np.maximum(forecast.lower, 0.0),
        np.maximum(forecast.upper, 0.0),
        forecast.interval,
    )


def interval_coverage(actual: ArrayLike, lower: ArrayLike, upper: ArrayLike) -> float:
    """The share of `actual` values with lower <= value <= upper."""
    y = _series(actual, "actual")
    inside = (np.asarray(lower, dtype=float) <= y) & (y <= np.asarray(upper, dtype=float))
    return float(inside.mean())


def score(actual: ArrayLike, forecast: Forecast) -> Scores:
    """MAE, MAPE (over days with actual > 0; NaN without any) and interval coverage."""
    y = _series(actual, "actual")
    if len(y) != len(forecast.mean):
        raise ForecastError(
            f"actual holds {len(y)} days but the forecast {len(forecast.mean)}; they must match"
        )
    errors = np.abs(y - forecast.mean)
    positive = y > 0
    mape = float(np.mean(errors[positive] / y[positive])) if positive.any() else float("nan")
    return Scores(
        mae=float(errors.mean()),
        mape=mape,
        coverage=interval_coverage(y, forecast.lower, forecast.upper),
    )
