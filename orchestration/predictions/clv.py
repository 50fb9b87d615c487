"""BG/NBD and Gamma-Gamma customer-value models, fitted by maximum likelihood with scipy.

Why hand-written: `lifetimes` (the reference implementation) is unmaintained since 2020 and breaks
on current scipy/pandas, and `pymc-marketing` pulls in PyMC, PyTensor and a compiler toolchain for
what is, here, two closed-form likelihoods. These are the likelihoods and conditional expectations
of Fader, Hardie & Lee: "Counting your customers the easy way" (Marketing Science, 2005) for
BG/NBD, and "RFM and CLV: using iso-value curves" (JMR, 2005) / Fader & Hardie's note "The
Gamma-Gamma model of monetary value" (2013) for spend. tests/test_predictions.py checks that they
recover known parameters from data simulated by the models themselves, and that the conditional
expectation matches a Monte-Carlo estimate.

Inputs per customer, in one time unit (Tessera uses weeks):
  frequency  x    repeat purchases (purchase occasions after the first)
  recency    t_x  time from the first purchase to the last one
  T               time from the first purchase to the cut-off
  monetary   m    mean value of the repeat purchases (Gamma-Gamma only, customers with x > 0)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import gammaln, hyp2f1

# A small ridge on the log-parameters keeps the optimiser away from degenerate corners (a, b -> inf
# on data with almost no dropout) without moving well-identified estimates.
_PENALTY = 1e-4


def _minimise(objective, start: np.ndarray):  # type: ignore[no-untyped-def]
    """L-BFGS-B (about 100 likelihood evaluations); Nelder-Mead from there if it stopped short."""
    from scipy.optimize import minimize  # imported when a model is fitted (orchestration/predictions/kept.py)

    result = minimize(objective, start, method="L-BFGS-B")
    if not result.success:
        result = minimize(
            objective, result.x, method="Nelder-Mead", options={"maxiter": 4000, "fatol": 1e-10}
        )
    return result


class FitError(RuntimeError):
    """The maximum-likelihood search did not converge to finite parameters."""


@dataclass(frozen=True)
class BetaGeoParams:
    r: float
    alpha: float
    a: float
    b: float


@dataclass(frozen=True)
class GammaGammaParams:
    p: float
    q: float
    v: float


def _as_arrays(*columns: np.ndarray) -> list[np.ndarray]:
    return [np.asarray(c, dtype=np.float64) for c in columns]


def bgnbd_log_likelihood(params: BetaGeoParams, frequency, recency, T) -> np.ndarray:
    """Each customer's log-likelihood under BG/NBD (Fader, Hardie & Lee 2005, eq. 6)."""
    x, t_x, T = _as_arrays(frequency, recency, T)
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    a2 = gammaln(a + b) + gammaln(b + x) - gammaln(b) - gammaln(a + b + x)
    a3 = -(r + x) * np.log(alpha + T)
    has_repeat = x > 0
    a4 = np.where(
        has_repeat,
        np.log(a) - np.log(np.where(has_repeat, b + x - 1, 1.0)) - (r + x) * np.log(alpha + t_x),
        -np.inf,
    )
    return a1 + a2 + np.logaddexp(a3, a4)


def fit_bgnbd(frequency, recency, T) -> BetaGeoParams:
    """Maximum-likelihood BG/NBD parameters (optimised on log scale, so all stay positive)."""
    x, t_x, T = _as_arrays(frequency, recency, T)
    if len(x) == 0:
        raise FitError("BG/NBD needs at least one customer with a purchase")
    if np.any(x < 0) or np.any(t_x < 0) or np.any(t_x > T + 1e-9) or np.any((x == 0) & (t_x != 0)):
        raise ValueError("BG/NBD inputs must satisfy x >= 0, 0 <= t_x <= T, and t_x = 0 when x = 0")
    n = len(x)

    def objective(log_params: np.ndarray) -> float:
        params = BetaGeoParams(*np.exp(log_params))
        ll = bgnbd_log_likelihood(params, x, t_x, T).sum()
        return float(-ll / n + _PENALTY * np.sum(log_params**2))

    start = np.log([1.0, max(float(np.mean(T)), 1e-3), 1.0, 1.0])
    result = _minimise(objective, start)
    if not np.all(np.isfinite(result.x)) or not np.isfinite(result.fun):
        raise FitError(f"BG/NBD fit did not converge: {result.message}")
    return BetaGeoParams(*(float(v) for v in np.exp(result.x)))


def bgnbd_probability_alive(params: BetaGeoParams, frequency, recency, T) -> np.ndarray:
    """P(still active at T | x, t_x, T) (FHL 2005, eq. 11); 1 for customers with no repeat purchase."""
    x, t_x, T = _as_arrays(frequency, recency, T)
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    has_repeat = x > 0
    ratio = np.where(
        has_repeat,
        a
        / np.where(has_repeat, b + x - 1, 1.0)
        * np.exp((r + x) * (np.log(alpha + T) - np.log(alpha + t_x))),
        0.0,
    )
    return 1.0 / (1.0 + ratio)


def bgnbd_expected_purchases(params: BetaGeoParams, t: float, frequency, recency, T) -> np.ndarray:
    """E[purchases in (T, T + t] | x, t_x, T] (FHL 2005, eq. 10)."""
    x, t_x, T = _as_arrays(frequency, recency, T)
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    hyp = hyp2f1(r + x, b + x, a + b + x - 1, t / (alpha + T + t))
    first = (a + b + x - 1) / (a - 1) * (1.0 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp)
    return np.clip(first * bgnbd_probability_alive(params, x, t_x, T), 0.0, None)


def simulate_bgnbd(
    params: BetaGeoParams, T: np.ndarray, rng: np.random.Generator, *, future: float = 0.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draw customers from the BG/NBD story: returns (x, t_x, purchases in (T, T + future]).

    Each customer buys at Poisson rate lambda ~ Gamma(r, alpha) and, after every repeat purchase,
    leaves for good with probability p ~ Beta(a, b). Used by the tests as the known truth."""
    n = len(T)
    rate = rng.gamma(params.r, 1.0 / params.alpha, n)
    dropout = rng.beta(params.a, params.b, n)
    x = np.zeros(n)
    t_x = np.zeros(n)
    later = np.zeros(n)
    for i in range(n):
        now, alive = 0.0, True
        while alive:
            now += rng.exponential(1.0 / rate[i]) if rate[i] > 0 else np.inf
            if now > T[i] + future:
                break
            if now <= T[i]:
                x[i] += 1
                t_x[i] = now
            else:
                later[i] += 1
            alive = rng.random() > dropout[i]
    return x, t_x, later


def gamma_gamma_log_likelihood(params: GammaGammaParams, frequency, monetary) -> np.ndarray:
    """Each customer's log-likelihood of their mean spend under Gamma-Gamma (x > 0 only)."""
    x, m = _as_arrays(frequency, monetary)
    p, q, v = params.p, params.q, params.v
    return (
        gammaln(p * x + q)
        - gammaln(p * x)
        - gammaln(q)
        + q * np.log(v)
        + (p * x - 1) * np.log(m)
        + (p * x) * np.log(x)
        - (p * x + q) * np.log(x * m + v)
    )


def fit_gamma_gamma(frequency, monetary) -> GammaGammaParams:
    """Maximum-likelihood Gamma-Gamma parameters from customers with repeat purchases and spend > 0."""
    x, m = _as_arrays(frequency, monetary)
    keep = (x > 0) & (m > 0)
    x, m = x[keep], m[keep]
    if len(x) < 3:
        raise FitError("Gamma-Gamma needs at least three customers with repeat purchases")
    n = len(x)

    def objective(log_params: np.ndarray) -> float:
        ll = gamma_gamma_log_likelihood(GammaGammaParams(*np.exp(log_params)), x, m).sum()
        return float(-ll / n + _PENALTY * np.sum(log_params**2))

    start = np.log([1.0, 2.0, max(float(np.mean(m)), 1e-3)])
    result = _minimise(objective, start)
    if not np.all(np.isfinite(result.x)) or not np.isfinite(result.fun):
        raise FitError(f"Gamma-Gamma fit did not converge: {result.message}")
    return GammaGammaParams(*(float(v) for v in np.exp(result.x)))


def gamma_gamma_expected_spend(params: GammaGammaParams, frequency, monetary) -> np.ndarray:
    """E[spend per purchase | x, m]: a weighted mean of the population mean and the customer's own.

    Customers with no repeat purchase (x = 0) get the population mean p v / (q - 1)."""
    x, m = _as_arrays(frequency, monetary)
    p, q, v = params.p, params.q, params.v
    if q <= 1:
        # The population mean does not exist; fall back on each customer's own mean.
        return np.where(x > 0, m, np.nan)
    population = p * v / (q - 1)
    weight = p * x / (p * x + q - 1)
    return np.where(x > 0, (1 - weight) * population + weight * np.nan_to_num(m), population)
