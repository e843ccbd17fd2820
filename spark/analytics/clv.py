"""Customer lifetime value: BG/NBD purchase counts and Gamma-Gamma spend, by maximum likelihood.

The per-customer summary has one row per customer, in one time unit throughout (days, say):

- ``frequency`` x: the number of REPEAT purchases (all purchases minus the first);
- ``recency`` t_x: the time from the first to the last purchase (0 when x = 0);
- ``T``: the customer's age, from the first purchase to the end of the observation period;
- ``monetary`` (Gamma-Gamma only): the mean value of the repeat purchases.

BG/NBD (Fader, Hardie & Lee 2005, "Counting your customers the easy way: an alternative to
the Pareto/NBD model", Marketing Science 24(2)): while alive, a customer buys as a Poisson
process with rate lambda ~ Gamma(r, alpha); after each purchase they drop out with
probability p ~ Beta(a, b). The likelihood of (x, t_x, T) is their eq. (6):

    L = B(a, b+x)/B(a, b) * G(r+x) alpha^r / (G(r) (alpha+T)^(r+x))
        + [x > 0] B(a+1, b+x-1)/B(a, b) * G(r+x) alpha^r / (G(r) (alpha+t_x)^(r+x))

Gamma-Gamma (Fader, Hardie & Lee 2005, "RFM and CLV: using iso-value curves for customer
base analysis", JMR 42(4); the derivation in Fader & Hardie's note "The Gamma-Gamma model of
monetary value", 2013): each purchase value is Gamma(p, nu), nu ~ Gamma(q, gamma) across
customers. The density of the mean z of x purchases is

    f(z | x) = G(px+q) / (G(px) G(q)) * gamma^q x^(px) z^(px-1) / (gamma + x z)^(px+q)

and the expected mean spend of a customer is E[M | x, z] = p (gamma + x z) / (px + q - 1).
Only customers with x > 0 carry information about spend, so only they enter the fit.

Both models are fitted by maximising the summed log-likelihood with scipy over the
logarithms of the parameters (all parameters are positive).

Discounted CLV over H periods (a period is ``period_length`` summary time units, e.g. 30 when
the summary is in days and the period a month), with a per-period discount rate d:

    CLV = E[M] * sum_{i=1..H} (E[Y(i*L)] - E[Y((i-1)*L)]) / (1 + d)^i

where E[Y(t)] is the BG/NBD expected number of purchases in (T, T+t] given the customer's
history (eq. 10 of the BG/NBD paper) and L = period_length: each period's expected purchases,
valued at the expected spend and discounted to the end of the observation period.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np
import pandas as pd
from scipy import optimize, special

FREQUENCY = "frequency"
RECENCY = "recency"
AGE = "T"
MONETARY = "monetary"

ArrayLike = Sequence[float] | np.ndarray | pd.Series
P = TypeVar("P", "BgNbdParams", "GammaGammaParams")


class SummaryError(ValueError):
    """A per-customer summary breaks a rule of the model; the message names column and rule."""


@dataclass(frozen=True)
class BgNbdParams:
    """The four BG/NBD parameters: Gamma(r, alpha) purchase rates, Beta(a, b) drop-out."""

    r: float
    alpha: float
    a: float
    b: float


@dataclass(frozen=True)
class GammaGammaParams:
    """The three Gamma-Gamma parameters: Gamma(p, nu) spend, nu ~ Gamma(q, gamma)."""

    p: float
    q: float
    gamma: float


@dataclass(frozen=True)
class FitResult(Generic[P]):
    """A maximum-likelihood fit: the parameters and how the optimiser got there."""

    params: P
    log_likelihood: float
    converged: bool
    message: str
    iterations: int
    n_customers: int


def _column(summary: pd.DataFrame | dict, name: str) -> np.ndarray:
    if name not in summary:
        raise SummaryError(f"summary has no column {name!r}")
    try:
        values = np.asarray(summary[name], dtype=float)
    except (TypeError, ValueError) as exc:
        raise SummaryError(f"column {name!r} must be numeric") from exc
    return values


def _check_nonnegative_finite(name: str, values: np.ndarray) -> None:
    bad = ~np.isfinite(values)
    if bad.any():
        raise SummaryError(
            f"column {name!r} must be finite; {int(bad.sum())} rows are NaN or infinite "
            f"(first at position {int(np.argmax(bad))})"
        )
    negative = values < 0
    if negative.any():
        raise SummaryError(
            f"column {name!r} must be >= 0; {int(negative.sum())} rows are negative "
            f"(first at position {int(np.argmax(negative))}: {values[np.argmax(negative)]})"
        )


def validate_summary(
    frequency: ArrayLike, recency: ArrayLike, age: ArrayLike
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Check (x, t_x, T) against the BG/NBD rules; returns them as float arrays."""
    x, t_x, big_t = (
        _column({FREQUENCY: frequency}, FREQUENCY),
        _column({RECENCY: recency}, RECENCY),
        _column({AGE: age}, AGE),
    )
    if not (x.shape == t_x.shape == big_t.shape) or x.ndim != 1:
        raise SummaryError(
            f"columns {FREQUENCY!r}, {RECENCY!r}, {AGE!r} must be 1-d and of equal length; "
            f"got shapes {x.shape}, {t_x.shape}, {big_t.shape}"
        )
    for name, values in ((FREQUENCY, x), (RECENCY, t_x), (AGE, big_t)):
        _check_nonnegative_finite(name, values)
    _first_violation(x != np.round(x), f"column {FREQUENCY!r} must hold whole numbers", x)
    _first_violation(
        t_x > big_t,
        f"column {RECENCY!r} must be <= column {AGE!r} (the last purchase lies within the "
        "observation period)",
        t_x,
    )
    _first_violation(
        (x == 0) & (t_x != 0),
        f"column {RECENCY!r} must be 0 where {FREQUENCY!r} is 0 (no repeat purchase)",
        t_x,
    )
    return x, t_x, big_t


def _first_violation(mask: np.ndarray, rule: str, values: np.ndarray) -> None:
    if mask.any():
        first = int(np.argmax(mask))
        raise SummaryError(
            f"{rule}; {int(mask.sum())} rows break it (first at position {first}: {values[first]})"
        )


def _summary_arrays(summary: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return validate_summary(
        _column(summary, FREQUENCY), _column(summary, RECENCY), _column(summary, AGE)
    )


def bgnbd_log_likelihood(
    params: BgNbdParams, frequency: np.ndarray, recency: np.ndarray, age: np.ndarray
) -> np.ndarray:
    """Per-customer log-likelihood of the BG/NBD model (FHL 2005, eq. 6)."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    x, t_x, big_t = frequency, recency, age
    # ln[G(r+x) alpha^r / G(r)] + ln[B(a, b+x) / B(a, b)] is common to both terms; the second
    # term's beta ratio is the first one's times a / (b+x-1).
    common = (
        special.gammaln(r + x)
        - special.gammaln(r)
        + r * np.log(alpha)
        + special.betaln(a, b + x)
        - special.betaln(a, b)
    )
    alive_term = -(r + x) * np.log(alpha + big_t)
    repeat = x > 0
    dropped_term = np.full_like(x, -np.inf)
    xr = x[repeat]
    dropped_term[repeat] = np.log(a) - np.log(b + xr - 1) - (r + xr) * np.log(alpha + t_x[repeat])
    return common + np.logaddexp(alive_term, dropped_term)


def _maximise(
    negative_mean_ll, start: np.ndarray, n: int
) -> tuple[np.ndarray, float, bool, str, int]:
    # Nelder-Mead needs no gradient and is robust in log space; the likelihoods have a few
    # parameters only, so its cost is a few hundred evaluations of a vectorised sum.
    result = optimize.minimize(
        negative_mean_ll,
        start,
        method="Nelder-Mead",
        options={"maxiter": 10_000, "maxfev": 20_000, "xatol": 1e-9, "fatol": 1e-12},
    )
    log_likelihood = float(-result.fun * n)
    return result.x, log_likelihood, bool(result.success), str(result.message), int(result.nit)


def fit_bgnbd(summary: pd.DataFrame, start: BgNbdParams | None = None) -> FitResult[BgNbdParams]:
    """Fit BG/NBD by maximum likelihood to a summary with frequency, recency and T."""
    x, t_x, big_t = _summary_arrays(summary)
    if len(x) == 0:
        raise SummaryError("summary has no rows; BG/NBD needs at least one customer")
    if not (x > 0).any():
        raise SummaryError(
            f"column {FREQUENCY!r} is 0 for every customer; without a repeat purchase the "
            "drop-out process cannot be estimated"
        )
    n = len(x)

    def negative_mean_ll(log_params: np.ndarray) -> float:
        params = BgNbdParams(*np.exp(log_params))
        value = -bgnbd_log_likelihood(params, x, t_x, big_t).sum() / n
        return float(value) if np.isfinite(value) else np.inf

    initial = start or BgNbdParams(r=1.0, alpha=float(np.mean(big_t)) or 1.0, a=1.0, b=1.0)
    log_params, ll, converged, message, iterations = _maximise(
        negative_mean_ll, np.log([initial.r, initial.alpha, initial.a, initial.b]), n
    )
    return FitResult(
        BgNbdParams(*map(float, np.exp(log_params))), ll, converged, message, iterations, n
    )


def probability_alive(
    params: BgNbdParams, frequency: ArrayLike, recency: ArrayLike, age: ArrayLike
) -> np.ndarray:
    """P(still alive at T | x, t_x, T): 1 for x = 0, since BG/NBD drop-out follows a purchase."""
    x, t_x, big_t = validate_summary(frequency, recency, age)
    return special.expit(-_log_dropout_odds(params, x, t_x, big_t))


def _log_dropout_odds(
    params: BgNbdParams, x: np.ndarray, t_x: np.ndarray, big_t: np.ndarray
) -> np.ndarray:
    """ln[a/(b+x-1) * ((alpha+T)/(alpha+t_x))^(r+x)] for x > 0, -inf (odds 0) for x = 0."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    log_odds = np.full_like(x, -np.inf)
    repeat = x > 0
    xr = x[repeat]
    log_odds[repeat] = (
        np.log(a)
        - np.log(b + xr - 1)
        + (r + xr) * (np.log(alpha + big_t[repeat]) - np.log(alpha + t_x[repeat]))
    )
    return log_odds


def expected_purchases(
    params: BgNbdParams, t: float, frequency: ArrayLike, recency: ArrayLike, age: ArrayLike
) -> np.ndarray:
    """Expected purchases in the next t time units, given each customer's history (eq. 10)."""
    if not np.isfinite(t) or t < 0:
        raise SummaryError(f"t must be a finite number >= 0; got {t}")
    x, t_x, big_t = validate_summary(frequency, recency, age)
    alive = _expected_purchases_if_alive(params, float(t), x, big_t)
    return alive * special.expit(-_log_dropout_odds(params, x, t_x, big_t))


# Where |1 - survival| in eq. 10 is below this, the subtraction would keep fewer than about
# ten of the sixteen digits, so the positive series is summed instead.
_CANCELLATION_LIMIT = 1e-6
# The positive series is summed in chunks of this many terms until its tail is negligible.
_SERIES_CHUNK = 4096
_SERIES_MAX_TERMS = 1 << 24


def _expected_purchases_if_alive(
    params: BgNbdParams, t: float, x: np.ndarray, big_t: np.ndarray
) -> np.ndarray:
    """E[Y(t) | x, T, alive at T]: eq. 10 without its P(alive) factor.

    Eq. 10 is (a+b+x-1)/(a-1) * (1 - S) with S = (1-z)^(r+x) 2F1(r+x, b+x; a+b+x-1; z),
    z = t/(alpha+T+t). Euler's transformation gives the same S as
    (1-z)^(a-1) 2F1(a+b-1-r, a-1; a+b+x-1; z). The hypergeometric factor stays bounded as
    z -> 1 only where its c - A - B is >= 0: a-1-(r+x) for the first form, its negative for the
    second. So the first form serves a - 1 >= r + x (e.g. the huge a and b of a fit whose
    drop-out probability is the same for everyone, where Euler's form is 0 * inf), the second
    the rest (heavy buyers, where the first form is 0 * inf). Where the chosen form is still
    not finite (huge a and x together), or 1 - S cancels (a near 1, or a tiny mean drop-out
    probability a/(a+b)), the positive series of `_expected_purchases_if_alive_by_series`
    gives the value.
    """
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    k = r + x
    c = a + b + x - 1
    z = t / (alpha + big_t + t)
    log_one_minus_z = np.log(alpha + big_t) - np.log(alpha + big_t + t)
    with np.errstate(all="ignore"):
        survival = np.where(
            a - 1 >= k,
            np.exp(k * log_one_minus_z) * special.hyp2f1(k, b + x, c, z),
            np.exp((a - 1) * log_one_minus_z) * special.hyp2f1(c - k, a - 1, c, z),
        )
        value = c / (a - 1) * (1.0 - survival)
    unreliable = (~np.isfinite(value) | (np.abs(1.0 - survival) < _CANCELLATION_LIMIT)) & (t > 0)
    for i in np.flatnonzero(unreliable):
        value[i] = _expected_purchases_if_alive_by_series(a, b + x[i], k[i], z[i])
    return value


def _expected_purchases_if_alive_by_series(a: float, b_x: float, k: float, z: float) -> float:
    """E[Y(t) | alive] = sum_{n>=0} E[(1-p)^n] P(N(t) > n), a sum of positive terms.

    The (n+1)-th future purchase happens if the Poisson count N(t) exceeds n and the customer
    survived the drop-out draws after the first n of them. Given the history, p ~ Beta(a, b+x)
    and N(t) is negative binomial(r+x, z) independently of p, so E[(1-p)^n] =
    (b+x)_n / (a+b+x)_n and P(N(t) > n) = I_z(n+1, r+x), the regularised incomplete beta.
    Each term lies in [0, 1]: nothing overflows and nothing cancels.
    """
    total, log_survival, start = 0.0, 0.0, 0
    log_mass_constant = k * np.log1p(-z) - special.gammaln(k)
    while start < _SERIES_MAX_TERMS:
        n = np.arange(start, start + _SERIES_CHUNK, dtype=float)
        log_step = np.log1p(-a / (a + b_x + n))  # ln[(b+x+n) / (a+b+x+n)]
        log_survivals = log_survival + np.concatenate(([0.0], np.cumsum(log_step[:-1])))
        # P(N > n) for the chunk: one incomplete beta at its end, then adding the masses
        # P(N = m) backwards (positive terms only, so the small tail values stay accurate).
        masses = np.exp(
            log_mass_constant + special.gammaln(k + n[1:]) - special.gammaln(n[1:] + 1)
            + n[1:] * np.log(z)
        )  # fmt: skip
        tails = special.betainc(n[-1] + 1, k, z) + np.append(np.cumsum(masses[::-1])[::-1], 0.0)
        total += float(np.sum(np.exp(log_survivals) * tails))
        log_survival = log_survivals[-1] + log_step[-1]
        start += _SERIES_CHUNK
        # Beyond n the tail probabilities shrink at least by the ratio bound of the negative
        # binomial's masses, z * max(1, (k+n)/(n+1)), and E[(1-p)^n] does not grow.
        ratio = z * max(1.0, (k + start) / (start + 1))
        rest = np.exp(log_survival) * special.betainc(start + 1, k, z)
        if ratio < 1 and rest <= 1e-16 * (1 - ratio) * total:
            return total
    raise ArithmeticError(
        f"the BG/NBD purchase series did not converge within {_SERIES_MAX_TERMS} terms "
        f"(a={a}, b+x={b_x}, r+x={k}, z={z})"
    )


def expected_purchases_new_customer(params: BgNbdParams, t: float) -> float:
    """Expected purchases in (0, t] of a customer just acquired, E[X(t)] (FHL 2005, eq. 9)."""
    if not np.isfinite(t) or t < 0:
        raise SummaryError(f"t must be a finite number >= 0; got {t}")
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    hyp = special.hyp2f1(r, b, a + b - 1, t / (alpha + t))
    return float((a + b - 1) / (a - 1) * (1.0 - (alpha / (alpha + t)) ** r * hyp))


def validate_spend(frequency: ArrayLike, monetary: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Check (x, mean spend) for Gamma-Gamma; returns them as float arrays."""
    x = _column({FREQUENCY: frequency}, FREQUENCY)
    z = _column({MONETARY: monetary}, MONETARY)
    if x.shape != z.shape or x.ndim != 1:
        raise SummaryError(
            f"columns {FREQUENCY!r} and {MONETARY!r} must be 1-d and of equal length; "
            f"got shapes {x.shape}, {z.shape}"
        )
    _check_nonnegative_finite(FREQUENCY, x)
    _check_nonnegative_finite(MONETARY, z)
    _first_violation(x != np.round(x), f"column {FREQUENCY!r} must hold whole numbers", x)
    _first_violation(
        (x > 0) & (z <= 0),
        f"column {MONETARY!r} must be > 0 where {FREQUENCY!r} > 0 (Gamma spend is positive)",
        z,
    )
    return x, z


def gamma_gamma_log_likelihood(
    params: GammaGammaParams, frequency: np.ndarray, monetary: np.ndarray
) -> np.ndarray:
    """Per-customer log density of the mean spend z of x > 0 purchases under Gamma-Gamma."""
    p, q, g = params.p, params.q, params.gamma
    x, z = frequency, monetary
    px = p * x
    return (
        special.gammaln(px + q)
        - special.gammaln(px)
        - special.gammaln(q)
        + q * np.log(g)
        + px * np.log(x)
        + (px - 1) * np.log(z)
        - (px + q) * np.log(g + x * z)
    )


def fit_gamma_gamma(
    frequency: ArrayLike, monetary: ArrayLike, start: GammaGammaParams | None = None
) -> FitResult[GammaGammaParams]:
    """Fit Gamma-Gamma by maximum likelihood on the customers with frequency > 0."""
    x, z = validate_spend(frequency, monetary)
    repeat = x > 0
    x, z = x[repeat], z[repeat]
    if len(x) == 0:
        raise SummaryError(f"no customer has {FREQUENCY!r} > 0; Gamma-Gamma needs repeat buyers")
    n = len(x)

    def negative_mean_ll(log_params: np.ndarray) -> float:
        value = -gamma_gamma_log_likelihood(GammaGammaParams(*np.exp(log_params)), x, z).sum()
        value /= n
        return float(value) if np.isfinite(value) else np.inf

    initial = start or GammaGammaParams(p=1.0, q=1.0, gamma=float(np.mean(z)))
    log_params, ll, converged, message, iterations = _maximise(
        negative_mean_ll, np.log([initial.p, initial.q, initial.gamma]), n
    )
    return FitResult(
        GammaGammaParams(*map(float, np.exp(log_params))), ll, converged, message, iterations, n
    )


def expected_average_spend(
    params: GammaGammaParams, frequency: ArrayLike, monetary: ArrayLike
) -> np.ndarray:
    """E[mean spend | x, z]: the population mean for x = 0, shrunk towards z as x grows."""
    if params.q <= 1:
        raise SummaryError(
            f"Gamma-Gamma q must be > 1 for the expected spend to exist; got q={params.q}"
        )
    x, z = validate_spend(frequency, monetary)
    p, q, g = params.p, params.q, params.gamma
    # z is ignored where x = 0 (x * z = 0), so a 0 placeholder there is harmless.
    return p * (g + x * z) / (p * x + q - 1)


def discounted_clv(
    bgnbd: BgNbdParams,
    gamma_gamma: GammaGammaParams,
    summary: pd.DataFrame,
    *,
    horizon_periods: int,
    period_length: float,
    discount_rate: float,
) -> np.ndarray:
    """Discounted value of each customer's expected purchases over the next periods.

    ``period_length`` is one period in the summary's time unit; ``discount_rate`` is per
    period. See the module docstring for the formula.
    """
    if not isinstance(horizon_periods, int | np.integer) or horizon_periods < 1:
        raise SummaryError(f"horizon_periods must be an integer >= 1; got {horizon_periods}")
    if not np.isfinite(period_length) or period_length <= 0:
        raise SummaryError(f"period_length must be > 0; got {period_length}")
    if not np.isfinite(discount_rate) or discount_rate <= -1:
        raise SummaryError(f"discount_rate must be > -1; got {discount_rate}")
    x, t_x, big_t = _summary_arrays(summary)
    spend = expected_average_spend(gamma_gamma, x, _column(summary, MONETARY))
    value = np.zeros_like(x)
    previous = np.zeros_like(x)
    for period in range(1, horizon_periods + 1):
        cumulative = expected_purchases(bgnbd, period * period_length, x, t_x, big_t)
        value += (cumulative - previous) / (1.0 + discount_rate) ** period
        previous = cumulative
    return spend * value
