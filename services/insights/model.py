"""The customer-base population model of the insights service: pure functions, no I/O.

Why a population model: a small shop sees each customer a handful of times. "Has this customer
gone quiet?" and "what is this customer worth?" cannot be answered from one customer's few
purchases alone; the classic buy-till-you-die models answer them by combining a customer's own
summary (x, t_x, T) with how purchase rates and dropout rates are spread across the whole customer
base (the *population* parameters, refitted now and then, cheap to evaluate on every event).

Models (all times in DAYS in kehu; the fits themselves are unit-agnostic):

* **Pareto/NBD** (Schmittlein, Morrison & Colombo 1987, "Counting your customers: who are they
  and what will they do next?", Management Science 33(1)): while alive a customer buys as a
  Poisson process with rate λ ~ Gamma(r, α); the lifetime is exponential with rate μ ~ Gamma(s, β).
  The likelihood follows Fader & Hardie's note "A note on deriving the Pareto/NBD model and related
  expressions" (2005); we evaluate it in a form that stays finite for any x (see the comment
  before :func:`_hyp2f1_one_gl`). This is the model kehu uses: dropout can happen at any time, not only
  right after a purchase, which suits shops whose customers may leave without a last purchase.
* **BG/NBD** (Fader, Hardie & Lee 2005, "'Counting your customers' the easy way: an alternative to
  the Pareto/NBD model", Marketing Science 24(2)): same purchasing, but the customer may drop out
  only right after a purchase, with probability p ~ Beta(a, b). Kept as the published reference
  (its CDNOW fit is reproduced by the tests) and as an alternative.
* **Gamma-Gamma** spend (Fader, Hardie & Lee 2005, "RFM and CLV: using iso-value curves for
  customer base analysis", JMR 42(4); Fader & Hardie's note "The Gamma-Gamma model of monetary
  value", 2013): a purchase's value is Gamma(p, ν) with ν ~ Gamma(q, v) across customers, so a
  customer's expected spend per purchase shrinks their observed mean towards the population mean,
  the less so the more purchases back it.

Scores (see benchmarks/model_research.py for the evaluation on CDNOW behind these choices):

* ``churn_risk`` = 1/(1 + R), R = the customer's long-run expected purchases relative to a brand-new
  customer's (Pareto/NBD): ranks "no purchase in the holdout" better than the published BG/NBD and
  Pareto/NBD expected-purchase rankings at every cutoff tried, with no horizon constant.
* ``expected_value`` = E[purchases in the horizon] × E[spend per purchase], the spend a
  Gamma-Gamma posterior mean that also counts the first purchase: its top 20 % captures more
  holdout revenue than the top 20 % by RFM score at every cutoff tried.

Conventions (the papers'): a *purchase* is a purchase day (all of a customer's transactions on one
day are one purchase, its value their sum); x = number of REPEAT purchase days (distinct purchase
days minus 1); t_x = time from the first purchase day to the last (0 when x = 0); T = time from the
first purchase day to the evaluation time. The scalar functions are written with plain floats and
``math``/scalar ``scipy.special`` calls because they run on every event (a few µs each); the array
versions (``*_array``) serve fits, batch scoring and the research script.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special

__all__ = [
    "BG_NBD_CHURN_HORIZON_DAYS",
    "DEFAULT_MODEL",
    "PopulationModel",
    "churn_risk",
    "churn_risk_array",
    "expected_purchases",
    "expected_purchases_array",
    "expected_spend_per_purchase",
    "expected_value",
    "fit_bg_nbd",
    "fit_gamma_gamma",
    "fit_pareto_nbd",
    "fit_population",
    "log_likelihood_array",
    "p_alive",
    "p_alive_array",
]

FloatArray = NDArray[np.float64]

KINDS = ("pareto_nbd", "bg_nbd")
PARAM_NAMES = {"pareto_nbd": ("r", "alpha", "s", "beta"), "bg_nbd": ("r", "alpha", "a", "b")}
SPEND_NAMES = ("p", "q", "v")

#: Horizon (days) of churn_risk for a BG/NBD model only; the Pareto/NBD churn_risk (kehu's) has no
#: horizon: it compares customers over the whole remaining relationship. See :func:`churn_risk`.
BG_NBD_CHURN_HORIZON_DAYS = 90.0

#: A population fit needs this many buying customers, this many of them repeat buyers: with
#: fewer the maximum-likelihood fit says nothing (e.g. r → 0), and the prior stays in force.
MIN_FIT_CUSTOMERS, MIN_FIT_REPEAT_BUYERS = 50, 10
#: The Gamma-Gamma spend model has a threshold of its own: fewer repeat buyers than this and it is
#: not fitted (spend = None; the customer's own mean spend is used), even when the purchase model is.
MIN_REPEAT_BUYERS_FOR_SPEND = 20

# Parameters are optimised on a log scale inside these bounds: wide enough for any realistic shop
# (rates from one purchase a day to one a few decades), narrow enough that a degenerate sample
# cannot drive the optimiser to overflow.
_PARAM_MIN, _PARAM_MAX = 1e-6, 1e7
BFGS_MAX_EVALUATIONS = 200
_LOG_BOUNDS = (math.log(_PARAM_MIN), math.log(_PARAM_MAX))
_THETA_MAX = 2.0 * math.log(_PARAM_MAX / _PARAM_MIN)  # optimiser coordinates beyond this are out of range
_TINY = 1e-300


@dataclass(frozen=True)
class PopulationModel:
    """Fitted population parameters: what every per-customer score is computed from.

    ``params`` are ``r, alpha, s, beta`` (Pareto/NBD) or ``r, alpha, a, b`` (BG/NBD), time in DAYS;
    ``spend`` is the Gamma-Gamma ``p, q, v`` in the shop's currency, or None when there were too
    few repeat buyers to fit it. ``customers`` is how many customers the fit used (0: a prior, not
    fitted on this shop's data); ``log_likelihood`` is that fit's (0.0 for a prior).
    """

    kind: str
    params: dict[str, float]
    spend: dict[str, float] | None
    log_likelihood: float
    customers: int

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown model kind {self.kind!r} (expected one of {KINDS})")
        names = PARAM_NAMES[self.kind]
        if set(self.params) != set(names):
            raise ValueError(f"{self.kind} needs parameters {names}, got {sorted(self.params)}")
        for name in names:
            value = self.params[name]
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"parameter {name} must be finite and > 0, got {value!r}")
        if self.spend is not None:
            if set(self.spend) != set(SPEND_NAMES):
                raise ValueError(f"spend needs parameters {SPEND_NAMES}, got {sorted(self.spend)}")
            for name in SPEND_NAMES:
                value = self.spend[name]
                if not (math.isfinite(value) and value > 0):
                    raise ValueError(f"spend parameter {name} must be finite and > 0, got {value!r}")

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "params": {name: float(self.params[name]) for name in PARAM_NAMES[self.kind]},
            "spend": None if self.spend is None else {name: float(self.spend[name]) for name in SPEND_NAMES},
            "log_likelihood": float(self.log_likelihood),
            "customers": int(self.customers),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PopulationModel:
        spend = data.get("spend")
        return cls(
            kind=str(data["kind"]),
            params={str(k): float(v) for k, v in dict(data["params"]).items()},
            spend=None if spend is None else {str(k): float(v) for k, v in dict(spend).items()},
            log_likelihood=float(data.get("log_likelihood", 0.0)),
            customers=int(data.get("customers", 0)),
        )


#: The prior used before a shop has enough history for its own fit. The purchase and dropout
#: parameters are our Pareto/NBD fit on the full CDNOW cohort (23,570 first-time buyers of Q1 1997,
#: purchase days, calibration to 1997-09-30: r=0.597, α=81.1, s=0.522, β=61.8 days; the data of
#: Fader, Hardie & Lee 2005), rounded. A typical retail shape: while alive the average customer buys
#: about every 4.5 months (r/α), but r < 1 makes the spread very skewed (most buy rarely, a few
#: often); dropout rates are as skewed (s < 1: some customers stay for decades), and a customer who
#: bought once and not for a year is more likely gone than not. A prior with the right shape, not a
#: claim about any particular shop. ``spend`` is None: spend depends on the shop's currency and
#: prices, so until the shop's own Gamma-Gamma fit exists the customer's own mean spend is used.
DEFAULT_MODEL = PopulationModel(
    kind="pareto_nbd",
    params={"r": 0.6, "alpha": 80.0, "s": 0.5, "beta": 60.0},
    spend=None,
    log_likelihood=0.0,
    customers=0,
)


# ---------------------------------------------------------------------------------------------
# Input cleaning
# ---------------------------------------------------------------------------------------------


def enough_to_fit(buying_customers: int, repeat_buyers: int) -> bool:
    """Enough data for a population fit (the one rule: the service and ``fit_population`` ask it)."""
    return buying_customers >= MIN_FIT_CUSTOMERS and repeat_buyers >= MIN_FIT_REPEAT_BUYERS


def _clean_scalar(x: int | float, t_x: float, T: float) -> tuple[float, float, float]:
    """Clamp one customer's summary into the model's domain (bad clocks and bad data happen).

    x < 0 → 0; T < 0 → 0; t_x outside [0, T] → clamped (a last purchase "after" now is a clock
    skew, so it is treated as now); x = 0 forces t_x = 0 (no repeat purchase, no repeat time).
    Non-finite inputs become 0 so a score is always produced.
    """
    xf = float(x) if math.isfinite(float(x)) else 0.0
    xf = math.floor(xf) if xf > 0 else 0.0
    Tf = float(T) if math.isfinite(float(T)) and T > 0 else 0.0
    tf = float(t_x) if math.isfinite(float(t_x)) and t_x > 0 else 0.0
    if tf > Tf:
        tf = Tf
    if xf == 0:
        tf = 0.0
    return xf, tf, Tf


def _clean_arrays(x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> tuple[FloatArray, FloatArray, FloatArray]:
    """The array form of :func:`_clean_scalar`."""
    xa = np.asarray(x, dtype=np.float64)
    Ta = np.asarray(T, dtype=np.float64)
    ta = np.asarray(t_x, dtype=np.float64)
    xa, ta, Ta = np.broadcast_arrays(xa, ta, Ta)
    xa = np.where(np.isfinite(xa) & (xa > 0), np.floor(np.where(np.isfinite(xa), xa, 0.0)), 0.0)
    Ta = np.where(np.isfinite(Ta) & (Ta > 0), Ta, 0.0)
    ta = np.where(np.isfinite(ta) & (ta > 0), ta, 0.0)
    ta = np.minimum(ta, Ta)
    ta = np.where(xa == 0, 0.0, ta)
    return xa, ta, Ta


def _positive_horizon(horizon: float) -> float:
    h = float(horizon)
    return h if math.isfinite(h) and h > 0 else 0.0


# ---------------------------------------------------------------------------------------------
# Pareto/NBD
# ---------------------------------------------------------------------------------------------
#
# Individual level, given λ and μ: L = λ^x e^{-(λ+μ)T} + λ^x μ ∫_{t_x}^{T} e^{-(λ+μ)τ} dτ
# (alive at T, or died at some τ in (t_x, T]). Integrating over the two gammas,
#
#   L = Γ(r+x) α^r β^s / Γ(r) · [ A(T) + s ∫_{t_x}^{T} (α+τ)^{-(r+x)} (β+τ)^{-(s+1)} dτ ],
#   A(τ) = (α+τ)^{-(r+x)} (β+τ)^{-s}.
#
# The textbook closed form of the integral (Fader & Hardie 2005 note, eq. 22) uses
# 2F1(r+s+x, s+1; r+s+x+1; z) resp. 2F1(r+s+x, r+x; r+s+x+1; z), which overflows for large x when
# α < β. Euler's transformation 2F1(a,b;c;z) = (1-z)^{c-a-b} 2F1(c-a,c-b;c;z) turns both into
# 2F1(1, ·; r+s+x+1; z) with all terms positive and bounded, and gives the antiderivative
#
#   s ∫_τ^∞ (α+u)^{-(r+x)} (β+u)^{-(s+1)} du = k · A(τ) · G(τ),   k = s / (r+s+x),
#   G(τ) = 2F1(1, r+x; r+s+x+1; (α-β)/(α+τ))                       if α ≥ β,
#   G(τ) = (α+τ)/(β+τ) · 2F1(1, s+1; r+s+x+1; (β-α)/(β+τ))          if α < β,
#
# so the bracket is A(T)·(1 - k G(T)) + k A(t_x) G(t_x), a sum of two positive terms (up to the
# constant in front, the first is E[λ^x e^{-(λ+μ)T} λ/(λ+μ)] > 0) that we add on a log scale.
# P(alive | x, t_x, T) = A(T) / bracket.


_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(128)
_HYP_SCIPY_MAX_Z = 0.95


def _hyp2f1_one_gl(b: FloatArray, c: FloatArray, z: FloatArray) -> FloatArray:
    """2F1(1, b; c; z) for c > 1, c > b > 0, 0 < z < 1 by quadrature, for z near 1.

    There ``scipy.special.hyp2f1`` sums its series slowly (up to 0.2 ms per value) and returns
    NaN for large b or c (x ≈ 1000, or the s, β → ∞ ridge of a fit on a short history).
    Euler's integral with u = (1-t)/(1-zt), then u = e^{-y}, gives
    2F1(1, b; c; z) = (c-1)/(1-z) · ∫_0^∞ g(y) dy,  g(y) = e^{-(c-1)y} (1 + z(1-e^{-y})/(1-z))^{-(c-b)},
    with g falling monotonically from 1, on the scales 1/(c-1) and (1-z)/(z(c-b)). In u = log y it
    is a smooth bump, integrated by 128-point Gauss-Legendre from 10⁻⁶ of the smaller scale (below
    that, g ≈ 1 - g'(0) y) to 40/(c-1). Worst relative error on a random grid of b, c-b in
    [0.01, 5000] and 1-z in [1e-5, 0.1]: 4e-12 (reference: the series summed to convergence).
    """
    k = c - 1.0
    d = c - b
    eps = 1.0 - z
    y0 = 1e-6 * np.minimum(1.0 / k, eps / (z * d))
    lo = np.log(y0)
    hi = np.log(40.0 / k)
    half = (hi - lo) / 2.0
    u = (lo + half)[..., None] + half[..., None] * _GL_NODES
    y = np.exp(u)
    log_g = -k[..., None] * y - d[..., None] * np.log1p(-(z / eps)[..., None] * np.expm1(-y))
    integral = half * np.sum(_GL_WEIGHTS * np.exp(log_g + u), axis=-1) + y0 * (1.0 - (k + z * d / eps) * y0 / 2.0)
    return np.asarray(k / eps * integral, dtype=np.float64)


def _hyp2f1_one(b: float, c: float, z: float) -> float:
    """2F1(1, b; c; z), c > 1, c > b > 0, 0 ≤ z < 1 (scalar)."""
    if z <= _HYP_SCIPY_MAX_Z:
        value = float(special.hyp2f1(1.0, b, c, z))
        if math.isfinite(value):
            return value
    return _hyp2f1_one_gl_scalar(b, c, z)


def _hyp2f1_one_gl_scalar(b: float, c: float, z: float) -> float:
    """:func:`_hyp2f1_one_gl` for one value, with the scalar arithmetic in floats and the 128
    nodes in place: a third of the time (7 µs), and it is most of a sweep's cost (a replay of a
    long history takes 100,000s of them)."""
    k = c - 1.0
    d = c - b
    eps = 1.0 - z
    y0 = 1e-6 * min(1.0 / k, eps / (z * d))
    lo = math.log(y0)
    half = (math.log(40.0 / k) - lo) / 2.0
    u = (lo + half) + half * _GL_NODES
    y = np.exp(u)
    g = np.expm1(-y)
    g *= -(z / eps)
    np.log1p(g, out=g)
    g *= -d
    g -= k * y
    g += u
    np.exp(g, out=g)
    integral = half * float(_GL_WEIGHTS @ g) + y0 * (1.0 - (k + z * d / eps) * y0 / 2.0)
    return k / eps * integral


def _hyp2f1_one_array(b: FloatArray | float, c: FloatArray, z: FloatArray) -> FloatArray:
    """2F1(1, b; c; z) for arrays (broadcast): scipy where it is fast and sound, else quadrature."""
    bb, cc, zz = (np.asarray(v, dtype=np.float64) for v in np.broadcast_arrays(b, c, z))
    easy = zz <= _HYP_SCIPY_MAX_Z
    value = np.asarray(special.hyp2f1(1.0, bb[easy], cc[easy], zz[easy]), dtype=np.float64)
    out = np.empty(zz.shape, dtype=np.float64)
    out[easy] = value
    hard = ~easy
    hard[easy] = ~np.isfinite(value)
    if np.any(hard):
        out[hard] = _hyp2f1_one_gl(bb[hard], cc[hard], zz[hard])
    return out


def _pnbd_g(r: float, alpha: float, s: float, beta: float, x: FloatArray, tau: FloatArray) -> FloatArray:
    """G(τ) of the comment above, vectorised."""
    m = r + s + x
    if alpha >= beta:
        return _hyp2f1_one_array(r + x, m + 1.0, (alpha - beta) / (alpha + tau))
    return np.asarray(
        (alpha + tau) / (beta + tau) * _hyp2f1_one_array(s + 1.0, m + 1.0, (beta - alpha) / (beta + tau)),
        dtype=np.float64,
    )


@dataclass(frozen=True)
class _Pairs:
    """The distinct (x, T) and (x, t_x) pairs behind arrays of customers, with the index of each
    customer's pair. G(τ) costs one hypergeometric evaluation per pair, and there are far fewer
    pairs than customers (CDNOW: 8,685 distinct (x, t_x, T) among 23,570 customers, but 979
    (x, T) and 1,726 (x, t_x) pairs), which makes a likelihood evaluation several times cheaper."""

    x_T: FloatArray
    T: FloatArray
    inv_T: NDArray[np.intp]
    x_t: FloatArray
    t_x: FloatArray
    inv_t: NDArray[np.intp]


def _group(*cols: FloatArray) -> tuple[list[FloatArray], NDArray[np.intp], FloatArray]:
    """Distinct rows of the given columns: their values, each row's group index, group sizes."""
    order = np.lexsort(cols[::-1])
    new = np.zeros(order.size, dtype=bool)
    new[:1] = True
    for col in cols:
        sorted_col = col[order]
        new[1:] |= sorted_col[1:] != sorted_col[:-1]
    group_sorted = np.cumsum(new) - 1
    inverse = np.empty(order.size, dtype=np.intp)
    inverse[order] = group_sorted
    starts = order[new]
    counts = np.bincount(group_sorted).astype(np.float64)
    return [col[starts] for col in cols], inverse, counts


def _pairs(x: FloatArray, t_x: FloatArray, T: FloatArray) -> _Pairs:
    (x_T, uT), inv_T, _ = _group(x, T)
    (x_t, ut), inv_t, _ = _group(x, t_x)
    return _Pairs(x_T=x_T, T=uT, inv_T=inv_T, x_t=x_t, t_x=ut, inv_t=inv_t)


def _pnbd_log_bracket_array(
    r: float,
    alpha: float,
    s: float,
    beta: float,
    x: FloatArray,
    t_x: FloatArray,
    T: FloatArray,
    pairs: _Pairs | None = None,
) -> tuple[FloatArray, FloatArray]:
    """log A(T) and log(bracket / A(T)) for the Pareto/NBD, vectorised (see the comment above)."""
    rx = r + x
    k = s / (rx + s)
    log_a_T = -rx * np.log(alpha + T) - s * np.log(beta + T)
    log_a_tx = -rx * np.log(alpha + t_x) - s * np.log(beta + t_x)
    if pairs is None:
        g_T = _pnbd_g(r, alpha, s, beta, x, T)
        g_tx = _pnbd_g(r, alpha, s, beta, x, t_x)
    else:
        g_T = _pnbd_g(r, alpha, s, beta, pairs.x_T, pairs.T)[pairs.inv_T]
        g_tx = _pnbd_g(r, alpha, s, beta, pairs.x_t, pairs.t_x)[pairs.inv_t]
    first = np.log(np.maximum(1.0 - k * g_T, _TINY))
    second = np.log(np.maximum(k * g_tx, _TINY)) + (log_a_tx - log_a_T)
    return log_a_T, np.logaddexp(first, second)


def _pnbd_log_lik_array(
    params: tuple[float, ...], x: FloatArray, t_x: FloatArray, T: FloatArray, pairs: _Pairs | None = None
) -> FloatArray:
    r, alpha, s, beta = params
    log_a_T, log_ratio = _pnbd_log_bracket_array(r, alpha, s, beta, x, t_x, T, pairs)
    return special.gammaln(r + x) - math.lgamma(r) + r * math.log(alpha) + s * math.log(beta) + log_a_T + log_ratio


def _pnbd_log_ratio(r: float, alpha: float, s: float, beta: float, x: float, t_x: float, T: float) -> float:
    """Scalar log(bracket / A(T)) = -log P(alive) for the Pareto/NBD."""
    rx = r + x
    m = rx + s
    k = s / m
    delta = rx * math.log((alpha + T) / (alpha + t_x)) + s * math.log((beta + T) / (beta + t_x))
    g_T = _pnbd_g_scalar(r, alpha, s, beta, x, T)
    g_tx = _pnbd_g_at_last_purchase(r, alpha, s, beta, x, t_x) if t_x != T else g_T
    first = math.log(max(1.0 - k * g_T, _TINY))
    second = math.log(max(k * g_tx, _TINY)) + delta
    hi, lo = (first, second) if first >= second else (second, first)
    return hi + math.log1p(math.exp(lo - hi))


def _pnbd_g_scalar(r: float, alpha: float, s: float, beta: float, x: float, tau: float) -> float:
    """G(τ) of the comment above, for one value."""
    m1 = r + s + x + 1.0
    if alpha >= beta:
        return _hyp2f1_one(r + x, m1, (alpha - beta) / (alpha + tau))
    return (alpha + tau) / (beta + tau) * _hyp2f1_one(s + 1.0, m1, (beta - alpha) / (beta + tau))


# G(t_x) is the same at every check between two purchases, and t_x is a whole number of days:
# customers share it (a long history's sweep asks for a few thousand distinct values).
_pnbd_g_at_last_purchase = functools.lru_cache(maxsize=65_536)(_pnbd_g_scalar)


def _pnbd_future_rate_factor(s: float, beta: float, T: float, horizon: float) -> float:
    """(β+T)·[1 - ((β+T)/(β+T+t))^{s-1}]/(s-1): expected alive time in the next t days, per alive
    customer, integrated over the posterior of μ (its s → 1 limit is (β+T)·log(1 + t/(β+T)))."""
    u = math.log1p(horizon / (beta + T))
    c = 1.0 - s
    if abs(c * u) < 1e-12:
        return (beta + T) * u
    return (beta + T) * math.expm1(c * u) / c


def _pnbd_future_rate_factor_array(s: float, beta: float, T: FloatArray, horizon: FloatArray) -> FloatArray:
    u = np.log1p(horizon / (beta + T))
    c = 1.0 - s
    if abs(c) < 1e-12:
        return (beta + T) * u
    return (beta + T) * np.expm1(c * u) / c


# ---------------------------------------------------------------------------------------------
# BG/NBD
# ---------------------------------------------------------------------------------------------
#
# Fader, Hardie & Lee (2005), eq. 6:
#   L = B(a, b+x)/B(a, b) · Γ(r+x) α^r / (Γ(r) (α+T)^{r+x})
#       + δ_{x>0} B(a+1, b+x-1)/B(a, b) · Γ(r+x) α^r / (Γ(r) (α+t_x)^{r+x}),
# conditional expectation (eq. 10), with z = t/(α+T+t) and Euler's transformation applied so that
# the hypergeometric function stays bounded for large x:
#   ((α+T)/(α+T+t))^{r+x} 2F1(r+x, b+x; a+b+x-1; z) = (1-z)^{a-1} 2F1(a+b-1-r, a-1; a+b+x-1; z).


def _bgnbd_log_lik_array(
    params: tuple[float, ...], x: FloatArray, t_x: FloatArray, T: FloatArray, pairs: _Pairs | None = None
) -> FloatArray:
    r, alpha, a, b = params
    common = special.gammaln(r + x) - math.lgamma(r) + r * math.log(alpha) - special.betaln(a, b)
    first = special.betaln(a, b + x) - (r + x) * np.log(alpha + T)
    with np.errstate(divide="ignore", invalid="ignore"):
        second = np.where(
            x > 0,
            special.betaln(a + 1.0, np.maximum(b + x - 1.0, _TINY)) - (r + x) * np.log(alpha + t_x),
            -np.inf,
        )
    return common + np.logaddexp(first, second)


def _bgnbd_log_odds_dead(a: float, b: float, r: float, alpha: float, x: float, t_x: float, T: float) -> float:
    """log[ a/(b+x-1) · ((α+T)/(α+t_x))^{r+x} ], x > 0: log odds of having dropped out."""
    return math.log(a / (b + x - 1.0)) + (r + x) * math.log((alpha + T) / (alpha + t_x))


def _bgnbd_future_factor(r: float, alpha: float, a: float, b: float, x: float, T: float, h: float) -> float:
    """(a+b+x-1)/(a-1) · [1 - ((α+T)/(α+T+h))^{r+x} 2F1(r+x, b+x; a+b+x-1; z)], z = h/(α+T+h):
    E[X(h)] of a BG/NBD customer alive at T (Fader, Hardie & Lee 2005, eq. 10 without P(alive)).

    The product ((α+T)/(α+T+h))^{r+x}·2F1 is computed as (1-z)^{a-1} 2F1(a+b-1-r, a-1; a+b+x-1; z)
    (Euler's transformation: bounded for large x) and, where that overflows (large a), in its
    original form (bounded for large a); 1 - e^{log product} via expm1 keeps short horizons exact.
    """
    z = h / (alpha + T + h)
    c = a + b + x - 1.0
    log1mz = math.log1p(-z)
    hyp = float(special.hyp2f1(a + b - 1.0 - r, a - 1.0, c, z))
    if math.isfinite(hyp) and hyp > 0:
        log_product = (a - 1.0) * log1mz + math.log(hyp)
    else:
        hyp = float(special.hyp2f1(r + x, b + x, c, z))
        if not (math.isfinite(hyp) and hyp > 0):
            return 0.0
        log_product = (r + x) * log1mz + math.log(hyp)
    return c / (a - 1.0) * -math.expm1(log_product)


def _bgnbd_future_factor_array(
    r: float, alpha: float, a: float, b: float, x: FloatArray, T: FloatArray, h: FloatArray
) -> FloatArray:
    """:func:`_bgnbd_future_factor` for arrays."""
    z = h / (alpha + T + h)
    c = a + b + x - 1.0
    log1mz = np.log1p(-z)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        hyp = special.hyp2f1(a + b - 1.0 - r, a - 1.0, c, z)
        ok = np.isfinite(hyp) & (hyp > 0)
        log_product = (a - 1.0) * log1mz + np.log(np.where(ok, hyp, 1.0))
        if not np.all(ok):
            hyp2 = special.hyp2f1(r + x, b + x, c, z)
            ok2 = np.isfinite(hyp2) & (hyp2 > 0)
            alt = np.where(ok2, (r + x) * log1mz + np.log(np.where(ok2, hyp2, 1.0)), np.nan)
            log_product = np.where(ok, log_product, alt)
        value = c / (a - 1.0) * -np.expm1(log_product)
    return np.asarray(np.where(np.isfinite(value), value, 0.0), dtype=np.float64)


def _avoid_one(a: float) -> float:
    # E[X(t)] has a removable singularity at a = 1; step around it.
    return a if abs(a - 1.0) > 1e-7 else 1.0 + math.copysign(1e-7, a - 1.0)


# ---------------------------------------------------------------------------------------------
# Scores (scalar, per event)
# ---------------------------------------------------------------------------------------------


def p_alive(model: PopulationModel, x: int, t_x: float, T: float) -> float:
    """P(the customer is still "alive", i.e. will buy again at some point | x, t_x, T).

    Pareto/NBD: A(T)/bracket (Schmittlein, Morrison & Colombo 1987; Fader & Hardie 2005 note).
    BG/NBD: 1/(1 + δ_{x>0} a/(b+x-1) ((α+T)/(α+t_x))^{r+x}) (Fader, Hardie & Lee 2005, eq. 13),
    which is 1 for every one-time buyer by construction; do not rank customers by it.
    """
    xf, tf, Tf = _clean_scalar(x, t_x, T)
    prm = model.params
    if model.kind == "pareto_nbd":
        log_ratio = _pnbd_log_ratio(prm["r"], prm["alpha"], prm["s"], prm["beta"], xf, tf, Tf)
        return min(1.0, max(0.0, math.exp(-log_ratio)))
    if xf == 0:
        return 1.0
    lo = _bgnbd_log_odds_dead(prm["a"], prm["b"], prm["r"], prm["alpha"], xf, tf, Tf)
    return 1.0 / (1.0 + math.exp(lo)) if lo < 700 else 0.0


def expected_purchases(model: PopulationModel, x: int, t_x: float, T: float, horizon: float) -> float:
    """Expected number of purchase days in the next ``horizon`` days, given x, t_x, T.

    Pareto/NBD: P(alive) · (r+x)/(α+T) · (β+T)[1 - ((β+T)/(β+T+t))^{s-1}]/(s-1) (posterior mean
    purchase rate times expected remaining alive time; Fader & Hardie 2005 note, eq. 26).
    BG/NBD: Fader, Hardie & Lee 2005, eq. 10 (in the bounded form described above).
    """
    xf, tf, Tf = _clean_scalar(x, t_x, T)
    h = _positive_horizon(horizon)
    if h == 0.0:
        return 0.0
    prm = model.params
    r, alpha = prm["r"], prm["alpha"]
    if model.kind == "pareto_nbd":
        s, beta = prm["s"], prm["beta"]
        alive = math.exp(-_pnbd_log_ratio(r, alpha, s, beta, xf, tf, Tf))
        value = alive * (r + xf) / (alpha + Tf) * _pnbd_future_rate_factor(s, beta, Tf, h)
    else:
        a, b = _avoid_one(prm["a"]), prm["b"]
        value = _bgnbd_future_factor(r, alpha, a, b, xf, Tf, h)
        if xf > 0:
            lo = _bgnbd_log_odds_dead(a, b, r, alpha, xf, tf, Tf)
            value = value / (1.0 + math.exp(lo)) if lo < 700 else 0.0
    return value if math.isfinite(value) and value > 0 else 0.0


def _logistic_of_minus(log_ratio: float) -> float:
    """1 / (1 + e^{log_ratio}) without overflow."""
    if log_ratio >= 0:
        e = math.exp(-log_ratio) if log_ratio < 745 else 0.0
        return e / (1.0 + e)
    return 1.0 / (1.0 + math.exp(log_ratio))


def _pnbd_log_long_run_ratio(
    r: float, alpha: float, s: float, beta: float, log_alive: float, x: float, T: float
) -> float:
    """log R: the customer's expected purchases over the next h days divided by a brand-new
    customer's (x = t_x = T = 0), in the limit h → ∞.

    Given alive at T, λ ~ Gamma(r+x, α+T) and μ ~ Gamma(s, β+T) independently, so the expected
    purchase rate t days ahead is P(alive)·(r+x)/(α+T)·((β+T)/(β+T+t))^s. Integrated to h → ∞ this
    grows like (β+T)^s h^{1-s} when s < 1 (lifetimes are so spread out that the expected remaining
    lifetime is infinite), like (β+T)·log h when s = 1 and tends to (β+T)/(s-1) when s > 1; the
    ratio to a new customer is therefore finite for every s:
    R = P(alive)·(r+x)/r·α/(α+T)·((β+T)/β)^{min(s,1)}.
    """
    return log_alive + math.log1p(x / r) - math.log1p(T / alpha) + min(s, 1.0) * math.log1p(T / beta)


def churn_risk(model: PopulationModel, x: int, t_x: float, T: float) -> float:
    """How likely the customer is to have stopped buying: 1 / (1 + R), in (0, 1), higher = more at risk.

    R is the customer's expected future purchases relative to a brand-new customer's (who scores
    exactly 0.5; odds of churn = 1/R). For the Pareto/NBD (kehu) R compares expected purchases over
    the whole remaining relationship (the h → ∞ limit of E[X(h)]/E_new[X(h)], i.e. the ranking of
    Fader, Hardie & Lee's 2005 discounted expected residual transactions as the discount rate goes
    to 0; see :func:`_pnbd_log_long_run_ratio`); for a BG/NBD model it compares the next 90 days.

    Why this and not 1 - P(alive), P(no purchase in h) or exp(-E[X(90 days)]): on CDNOW
    (benchmarks/model_research.py, cutoffs from 19.5 weeks to a year, holdouts of 90 to 410 days,
    repeat buyers and all customers) ranking by expected purchases (as both Schmittlein, Morrison &
    Colombo 1987 and Fader, Hardie & Lee 2005 do) predicts "no purchase in the holdout" better than
    the models' own probabilities, which over-trust the Poisson/exponential assumptions (BG/NBD's
    P(alive) is even exactly 1 for every one-time buyer: AUC 0.32 on all customers). For the
    Pareto/NBD the horizon only changes how customers of different tenure T compare (a survivor's
    dropout rate posterior is Gamma(s, β+T)), and longer horizons ranked better or within 0.0001
    AUC at every cutoff and holdout length tried; 90 days lost to the BG/NBD on repeat buyers after
    a short calibration period (19.5 weeks: 0.6786 vs 0.6804), the long-run limit never lost
    (0.6822 there). It needs no horizon constant. For the BG/NBD the long run ranks one-time buyers
    badly (AUC 0.739 vs 0.763 on all customers), so it keeps its 90-day comparison.
    """
    xf, tf, Tf = _clean_scalar(x, t_x, T)
    prm = model.params
    r, alpha = prm["r"], prm["alpha"]
    if model.kind == "pareto_nbd":
        s, beta = prm["s"], prm["beta"]
        log_alive = -_pnbd_log_ratio(r, alpha, s, beta, xf, tf, Tf)
        return _logistic_of_minus(_pnbd_log_long_run_ratio(r, alpha, s, beta, log_alive, xf, Tf))
    e = expected_purchases(model, int(xf), tf, Tf, BG_NBD_CHURN_HORIZON_DAYS)
    e_new = expected_purchases(model, 0, 0.0, 0.0, BG_NBD_CHURN_HORIZON_DAYS)
    if e <= 0.0 or e_new <= 0.0:
        return 1.0
    return _logistic_of_minus(math.log(e) - math.log(e_new))


def expected_spend_per_purchase(
    model: PopulationModel, x: int, mean_repeat_value: float | None, first_value: float
) -> float:
    """Expected value of this customer's next purchase (day).

    With a Gamma-Gamma fit (Fader, Hardie & Lee 2005, iso-value curves; Fader & Hardie 2013 note)
    the posterior mean of the customer's mean spend, with the first purchase counted as one more
    observation: E = p(v + z₁ + x z̄)/(p(x+1) + q - 1), i.e. the customer's mean over all their
    purchases shrunk towards the population mean p v/(q-1), less so the more purchases back it.
    The papers fit p, q, v on repeat purchases only (the first purchase may differ), and so does
    :func:`fit_gamma_gamma`; but using the first purchase in the posterior captured more holdout
    revenue than leaving it out at every CDNOW cutoff (benchmarks/model_research.py), and it gives
    one-time buyers a spend of their own instead of the population mean. A missing or non-positive
    value (unknown, free) is not an observation. Without a spend fit (prior model): the plain mean
    of the customer's purchases. Never negative, never NaN.
    """
    xf = float(x) if math.isfinite(float(x)) and x > 0 else 0.0
    xf = math.floor(xf)
    n, total = 0.0, 0.0
    if first_value is not None and math.isfinite(float(first_value)) and first_value > 0:
        n, total = 1.0, float(first_value)
    if xf > 0 and mean_repeat_value is not None and math.isfinite(float(mean_repeat_value)) and mean_repeat_value > 0:
        n, total = n + xf, total + xf * float(mean_repeat_value)
    spend = model.spend
    if spend is None:
        return total / n if n > 0 else 0.0
    p, q, v = spend["p"], spend["q"], spend["v"]
    denom = p * n + q - 1.0
    if denom <= 0:  # q <= 1 and no data: the population mean is infinite; nothing sensible to add
        return 0.0
    value = p * (v + total) / denom
    return value if math.isfinite(value) and value > 0 else 0.0


def expected_value(
    model: PopulationModel,
    x: int,
    t_x: float,
    T: float,
    horizon: float,
    mean_repeat_value: float | None,
    first_value: float,
) -> float:
    """Expected revenue from this customer in the next ``horizon`` days (undiscounted):
    E[purchases in horizon] × E[spend per purchase] (Fader, Hardie & Lee 2005, iso-value curves:
    the Gamma-Gamma spend model is independent of the purchase process)."""
    return expected_purchases(model, x, t_x, T, horizon) * expected_spend_per_purchase(
        model, x, mean_repeat_value, first_value
    )


# ---------------------------------------------------------------------------------------------
# Scores (arrays: batch scoring, tests, research)
# ---------------------------------------------------------------------------------------------


def _params_tuple(kind: str, params: dict[str, float]) -> tuple[float, ...]:
    return tuple(float(params[name]) for name in PARAM_NAMES[kind])


def p_alive_array(model: PopulationModel, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> FloatArray:
    """:func:`p_alive` for arrays of customers."""
    xa, ta, Ta = _clean_arrays(x, t_x, T)
    prm = model.params
    if model.kind == "pareto_nbd":
        _, log_ratio = _pnbd_log_bracket_array(prm["r"], prm["alpha"], prm["s"], prm["beta"], xa, ta, Ta)
        return np.clip(np.exp(-log_ratio), 0.0, 1.0)
    r, alpha, a, b = _params_tuple("bg_nbd", prm)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        lo = np.log(a / np.maximum(b + xa - 1.0, _TINY)) + (r + xa) * np.log((alpha + Ta) / (alpha + ta))
        out = np.where(xa > 0, np.where(lo < 700.0, 1.0 / (1.0 + np.exp(np.minimum(lo, 700.0))), 0.0), 1.0)
    return np.asarray(out, dtype=np.float64)


def expected_purchases_array(
    model: PopulationModel, x: ArrayLike, t_x: ArrayLike, T: ArrayLike, horizon: ArrayLike
) -> FloatArray:
    """:func:`expected_purchases` for arrays of customers (horizon may be an array too)."""
    xa, ta, Ta = _clean_arrays(x, t_x, T)
    h = np.asarray(horizon, dtype=np.float64)
    h = np.where(np.isfinite(h) & (h > 0), h, 0.0)
    prm = model.params
    r, alpha = prm["r"], prm["alpha"]
    if model.kind == "pareto_nbd":
        s, beta = prm["s"], prm["beta"]
        alive = p_alive_array(model, xa, ta, Ta)
        value = alive * (r + xa) / (alpha + Ta) * _pnbd_future_rate_factor_array(s, beta, Ta, h)
    else:
        a, b = _avoid_one(prm["a"]), prm["b"]
        value = _bgnbd_future_factor_array(r, alpha, a, b, xa, Ta, h) * p_alive_array(model, xa, ta, Ta)
    value = np.where(np.isfinite(value) & (value > 0), value, 0.0)
    return np.asarray(value, dtype=np.float64)


def churn_risk_array(model: PopulationModel, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> FloatArray:
    """:func:`churn_risk` for arrays of customers."""
    xa, ta, Ta = _clean_arrays(x, t_x, T)
    prm = model.params
    r, alpha = prm["r"], prm["alpha"]
    with np.errstate(divide="ignore"):
        if model.kind == "pareto_nbd":
            s, beta = prm["s"], prm["beta"]
            _, log_ratio = _pnbd_log_bracket_array(r, alpha, s, beta, xa, ta, Ta)
            log_r = -log_ratio + np.log1p(xa / r) - np.log1p(Ta / alpha) + min(s, 1.0) * np.log1p(Ta / beta)
        else:
            e = expected_purchases_array(model, xa, ta, Ta, BG_NBD_CHURN_HORIZON_DAYS)
            e_new = expected_purchases(model, 0, 0.0, 0.0, BG_NBD_CHURN_HORIZON_DAYS)
            log_r = np.log(e) - math.log(e_new) if e_new > 0 else np.full_like(e, -np.inf)
    return np.asarray(special.expit(-log_r), dtype=np.float64)


def log_likelihood_array(kind: str, params: dict[str, float], x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> FloatArray:
    """Per-customer log-likelihood of (x, t_x, T) under the given model and parameters."""
    xa, ta, Ta = _clean_arrays(x, t_x, T)
    fn = _pnbd_log_lik_array if kind == "pareto_nbd" else _bgnbd_log_lik_array
    return fn(_params_tuple(kind, params), xa, ta, Ta)


# ---------------------------------------------------------------------------------------------
# Fitting
# ---------------------------------------------------------------------------------------------


def _compress(x: FloatArray, t_x: FloatArray, T: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Distinct (x, t_x, T) triples with their counts: customers with the same summary have the same
    likelihood, and real data (day resolution, cohorts) repeats summaries a lot."""
    (ux, ut, uT), _, counts = _group(x, t_x, T)
    return ux, ut, uT, counts


def _to_theta(kind: str, params: tuple[float, ...]) -> FloatArray:
    """Optimiser coordinates: log r, log(r/α), then log s, log(s/β) (Pareto/NBD) or log a, log b
    (BG/NBD). The mean purchase rate r/α (and mean dropout rate s/β) is what the data pin down
    best; with it as a coordinate the likelihood surface is less of a narrow ridge than in
    (log r, log α), and L-BFGS-B needs fewer steps."""
    r, alpha, third, fourth = (max(float(v), 1e-5) for v in params)
    if kind == "pareto_nbd":
        return np.log(np.array([r, r / alpha, third, third / fourth]))
    return np.log(np.array([r, r / alpha, third, fourth]))


def _from_theta(kind: str, theta: FloatArray) -> tuple[float, ...]:
    r, rate, third, fourth = (math.exp(float(v)) for v in theta)
    if kind == "pareto_nbd":
        return (r, r / rate, third, third / fourth)
    return (r, r / rate, third, fourth)


def _bhhh_inverse_hessian(
    rows: Callable[[FloatArray], FloatArray | None], theta: FloatArray, weights: FloatArray, n: float
) -> FloatArray | None:
    """Inverse of the outer product of the per-customer score vectors at ``theta`` (forward
    differences): the BHHH approximation of the Hessian of a log-likelihood (Berndt, Hall, Hall &
    Hausman 1974; the information matrix equality). One gradient's worth of evaluations gives the
    quasi-Newton method a curvature that fits the problem, instead of the identity."""
    base = rows(theta)
    if base is None:
        return None
    step = 1e-6
    columns = []
    for unit in np.eye(theta.size):
        moved = rows(theta + step * unit)
        if moved is None:
            return None
        columns.append((moved - base) / step)
    scores = np.stack(columns, axis=1)
    opg = (scores * weights[:, None]).T @ scores / n
    opg = opg + 1e-10 * max(float(np.trace(opg)), 1e-300) * np.eye(theta.size)
    try:
        inverse = np.linalg.inv(opg)
    except np.linalg.LinAlgError:
        return None
    inverse = (inverse + inverse.T) / 2.0
    if not (np.all(np.isfinite(inverse)) and np.all(np.linalg.eigvalsh(inverse) > 0)):
        return None
    return np.asarray(inverse, dtype=np.float64)


def _maximise(
    kind: str, x: ArrayLike, t_x: ArrayLike, T: ArrayLike, start: tuple[float, ...]
) -> tuple[tuple[float, ...], float]:
    """Maximum likelihood in the coordinates of :func:`_to_theta`.

    BFGS with a numerical gradient, its inverse Hessian seeded by :func:`_bhhh_inverse_hessian`:
    on CDNOW (23,570 customers) about 40 likelihood evaluations from DEFAULT_MODEL and 15 from the
    previous fit, against 60-130 for L-BFGS-B or plain BFGS. (scipy's L-BFGS-B also costs ~20 ms of
    multithreaded-BLAS overhead per solve on small problems.) Should BFGS not converge, bounded
    L-BFGS-B takes over (see the comment in the code).
    """
    from scipy import optimize  # here: scoring needs none of it (a replay's workers start faster)

    log_lik = _pnbd_log_lik_array if kind == "pareto_nbd" else _bgnbd_log_lik_array
    xa, ta, Ta = _clean_arrays(x, t_x, T)
    xa, ta, Ta = xa.ravel(), ta.ravel(), Ta.ravel()
    if xa.size == 0:
        raise ValueError("no customers to fit")
    ux, ut, uT, w = _compress(xa, ta, Ta)
    pairs = _pairs(ux, ut, uT) if kind == "pareto_nbd" else None
    n = float(w.sum())

    def rows(theta: FloatArray) -> FloatArray | None:
        if not np.all(np.abs(theta) < _THETA_MAX):
            return None
        params = _from_theta(kind, theta)
        if not all(_PARAM_MIN <= v <= _PARAM_MAX for v in params):
            return None
        with np.errstate(all="ignore"):
            ll = log_lik(params, ux, ut, uT, pairs)
        return ll if np.all(np.isfinite(ll)) else None

    def objective(theta: FloatArray) -> float:
        ll = rows(np.asarray(theta, dtype=np.float64))
        return 1e300 if ll is None else -float(np.dot(w, ll)) / n

    def bfgs(start: FloatArray) -> tuple[FloatArray, float, bool]:
        """(θ, objective, converged): BFGS, stopped after BFGS_MAX_EVALUATIONS (on a ridge it can
        spend 700 evaluations, a second of a replay, getting nowhere)."""
        seen: list[tuple[float, FloatArray]] = []

        def counted(theta: FloatArray) -> float:
            value = objective(theta)
            seen.append((value, np.array(theta, dtype=np.float64)))
            if len(seen) >= BFGS_MAX_EVALUATIONS:
                raise _OutOfEvaluations
            return value

        try:
            result = optimize.minimize(
                counted, start, method="BFGS",
                options={"gtol": 1e-6, "eps": 1e-7, "maxiter": 60, "hess_inv0": _bhhh_inverse_hessian(rows, start, w, n)},
            )
        except _OutOfEvaluations:
            value, theta = min(seen, key=lambda s: s[0])
            return theta, value, False
        return np.asarray(result.x, dtype=np.float64), float(result.fun), bool(result.success)

    theta0 = _to_theta(kind, start)
    default0 = _to_theta(kind, _default_start(kind, xa, ta, Ta))
    if rows(theta0) is None:
        theta0 = default0
    theta, best, converged = bfgs(theta0)
    if not converged and not np.array_equal(theta0, default0):
        # A warm start is a fit of other data; from a ridge of it (a young history's fit often runs
        # off to s, β → ∞) BFGS may not get away, while from the default start it converges.
        fresh, value, converged = bfgs(default0)
        if converged and value <= best:
            theta, best = fresh, value
        else:
            converged = False
    if not converged:
        # Usually a line search that cannot improve on noisy finite differences near the optimum,
        # sometimes a wander along a ridge (s, β → ∞; a, b → ∞) into a region L-BFGS-B cannot
        # leave: polish within bounds both from where BFGS stopped and from the start; best wins.
        starts = [np.clip(theta, *_LOG_BOUNDS)]
        if not np.array_equal(np.clip(theta0, *_LOG_BOUNDS), starts[0]):  # the same start polishes the same
            starts.append(np.clip(theta0, *_LOG_BOUNDS))
        for restart in starts:
            polish = optimize.minimize(
                objective,
                restart,
                method="L-BFGS-B",
                bounds=[_LOG_BOUNDS] * 4,
                options={"ftol": 1e-11, "gtol": 1e-7, "maxiter": 500, "eps": 1e-7},
            )
            if float(polish.fun) <= best:
                theta, best = np.asarray(polish.x, dtype=np.float64), float(polish.fun)
    return _from_theta(kind, theta), -objective(theta) * n


class _OutOfEvaluations(Exception):
    pass


def _default_start(kind: str, x: FloatArray, t_x: FloatArray, T: FloatArray) -> tuple[float, ...]:
    """A scale-aware starting point: α (and β) proportional to the mean observation length, so
    the same code works whether times are in days or weeks."""
    scale = float(np.mean(T)) if np.size(T) and float(np.mean(T)) > 0 else 1.0
    if kind == "pareto_nbd":
        return (0.5, 0.3 * scale, 0.5, 0.3 * scale)
    return (0.5, 0.3 * scale, 1.0, 2.0)


def fit_bg_nbd(x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> tuple[dict[str, float], float]:
    """Maximum-likelihood BG/NBD (Fader, Hardie & Lee 2005): params r, alpha, a, b and the
    log-likelihood. Unit-agnostic: α is in the time unit of t_x and T."""
    xa, ta, Ta = _clean_arrays(x, t_x, T)
    params, ll = _maximise("bg_nbd", xa, ta, Ta, _default_start("bg_nbd", xa, ta, Ta))
    return dict(zip(PARAM_NAMES["bg_nbd"], params, strict=True)), ll


def fit_pareto_nbd(x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> tuple[dict[str, float], float]:
    """Maximum-likelihood Pareto/NBD (Schmittlein, Morrison & Colombo 1987; likelihood as in Fader &
    Hardie's 2005 note): params r, alpha, s, beta and the log-likelihood. Unit-agnostic."""
    xa, ta, Ta = _clean_arrays(x, t_x, T)
    params, ll = _maximise("pareto_nbd", xa, ta, Ta, _default_start("pareto_nbd", xa, ta, Ta))
    return dict(zip(PARAM_NAMES["pareto_nbd"], params, strict=True)), ll


@dataclass(frozen=True)
class _SpendData:
    """Repeat buyers' (x, z̄) with what does not depend on the parameters precomputed; the
    gamma functions depend on x only, so they are evaluated once per distinct x."""

    x: FloatArray
    zbar: FloatArray
    ux: FloatArray  # distinct x
    inv: NDArray[np.intp]  # each customer's index into ux
    count: FloatArray  # customers per distinct x
    const: float  # -Σ log z̄
    sum_x_log_xz: float  # Σ x log(x z̄)


def _spend_data(x: FloatArray, zbar: FloatArray) -> _SpendData:
    (ux,), inv, count = _group(x)
    return _SpendData(
        x=x,
        zbar=zbar,
        ux=ux,
        inv=inv,
        count=count,
        const=-float(np.sum(np.log(zbar))),
        sum_x_log_xz=float(np.sum(x * np.log(x * zbar))),
    )


def _gamma_gamma_log_lik(params: FloatArray, d: _SpendData) -> tuple[float, FloatArray]:
    """Σ log f(z̄ | x; p, q, v) for the Gamma-Gamma model (Fader & Hardie 2013 note, eq. 4),
    f = Γ(px+q)/(Γ(px)Γ(q)) · v^q z̄^{px-1} x^{px} / (v + x z̄)^{px+q},
    and its gradient with respect to (log p, log q, log v)."""
    p, q, v = (float(value) for value in params)
    n = float(d.x.size)
    pux = p * d.ux
    log_vxz = np.log(v + d.x * d.zbar)
    px_q = p * d.x + q
    ll = (
        float(np.dot(d.count, special.gammaln(pux + q) - special.gammaln(pux)))
        - n * math.lgamma(q)
        + n * q * math.log(v)
        + p * d.sum_x_log_xz
        + d.const
        - float(np.dot(px_q, log_vxz))
    )
    psi_sum_u = special.digamma(pux + q)
    d_p = float(np.dot(d.count * d.ux, psi_sum_u - special.digamma(pux))) + d.sum_x_log_xz - float(np.dot(d.x, log_vxz))
    d_q = float(np.dot(d.count, psi_sum_u)) - float(np.sum(log_vxz)) + n * (math.log(v) - float(special.digamma(q)))
    d_v = n * q / v - float(np.sum(px_q / (v + d.x * d.zbar)))
    return ll, np.array([p * d_p, q * d_q, v * d_v])


def fit_gamma_gamma(frequency: ArrayLike, mean_value: ArrayLike) -> dict[str, float] | None:
    """Maximum-likelihood Gamma-Gamma spend model (Fader, Hardie & Lee 2005; Fader & Hardie 2013
    note): p, q, v from the repeat buyers' repeat-purchase count x and mean repeat spend z̄.

    Only customers with x > 0 and z̄ > 0 count. None when there are fewer than
    ``MIN_REPEAT_BUYERS_FOR_SPEND`` of them, when the fit fails, or when q ≤ 1 (the population mean
    spend p v/(q-1) would be infinite: spend too heavy-tailed to extrapolate).
    """
    xa = np.asarray(frequency, dtype=np.float64).ravel()
    za = np.asarray(mean_value, dtype=np.float64).ravel()
    keep = np.isfinite(xa) & np.isfinite(za) & (xa > 0) & (za > 0)
    xa, za = np.floor(xa[keep]), za[keep]
    if xa.size < MIN_REPEAT_BUYERS_FOR_SPEND:
        return None
    n = float(xa.size)
    mean = float(np.mean(za))
    data = _spend_data(xa, za)

    def objective(theta: FloatArray) -> tuple[float, FloatArray]:
        if not np.all((theta > _LOG_BOUNDS[0]) & (theta < _LOG_BOUNDS[1])):
            return 1e300, np.zeros(3)
        with np.errstate(all="ignore"):
            ll, grad = _gamma_gamma_log_lik(np.exp(theta), data)
        if not (math.isfinite(ll) and np.all(np.isfinite(grad))):
            return 1e300, np.zeros(3)
        return -ll / n, -grad / n

    from scipy import optimize  # see _maximise

    # Start: p = 1 and the population mean p v/(q-1) equal to the observed mean with q = 3.
    # BFGS with the analytic gradient (see _maximise for why not L-BFGS-B); bounded L-BFGS-B
    # only if that fails.
    theta0 = np.log(np.array([1.0, 3.0, 2.0 * mean]))
    result = optimize.minimize(objective, theta0, jac=True, method="BFGS", options={"gtol": 1e-8, "maxiter": 500})
    if not result.success and not float(np.max(np.abs(result.jac))) < 1e-6:  # precision loss at the optimum is fine
        fallback = optimize.minimize(
            objective,
            theta0,
            jac=True,
            method="L-BFGS-B",
            bounds=[_LOG_BOUNDS] * 3,
            options={"ftol": 1e-12, "gtol": 1e-8, "maxiter": 500},
        )
        if float(fallback.fun) < float(result.fun):
            result = fallback
    p, q, v = (float(value) for value in np.exp(result.x))
    if not (math.isfinite(p) and math.isfinite(q) and math.isfinite(v)) or q <= 1.0 or objective(result.x)[0] >= 1e299:
        return None
    return {"p": p, "q": q, "v": v}


def fit_population(
    x: ArrayLike,
    t_x: ArrayLike,
    T: ArrayLike,
    mean_repeat_value: ArrayLike,
    warm_start: PopulationModel | None = None,
    *,
    kind: str = "pareto_nbd",
) -> PopulationModel:
    """Fit the population model (Pareto/NBD by default, ``kind="bg_nbd"`` for BG/NBD) and the
    Gamma-Gamma spend model on arrays of customers, times in DAYS.

    t_x and T are rounded to whole days for the fit: a purchase is a purchase day, so finer times
    carry no information in these models, and whole days let customers with the same summary share
    one likelihood term (CDNOW: 23,570 customers, 8,685 distinct summaries, 0.15 s cold and well
    under 0.1 s from a warm start; see benchmarks/model_research.py --timing).
    ``mean_repeat_value`` is each customer's mean value of repeat purchase days (ignored where
    x = 0; NaN there is fine). ``warm_start`` (a previous fit of the same kind) is where the
    optimiser starts, which makes a refit on slightly more data a few iterations. With fewer than
    ``MIN_FIT_CUSTOMERS`` customers or ``MIN_FIT_REPEAT_BUYERS`` repeat buyers (``enough_to_fit``)
    the prior (``warm_start``, else :data:`DEFAULT_MODEL`) is returned
    unchanged, so ``customers`` keeps saying what it was really fitted on.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown model kind {kind!r}")
    xa, ta, Ta = _clean_arrays(x, t_x, T)
    xa, ta, Ta = xa.ravel(), ta.ravel(), Ta.ravel()
    prior = warm_start if warm_start is not None and warm_start.kind == kind else DEFAULT_MODEL
    if not enough_to_fit(xa.size, int(np.count_nonzero(xa > 0))) or not np.any(Ta > 0):
        return warm_start if warm_start is not None else DEFAULT_MODEL
    ta, Ta = np.round(ta), np.round(Ta)
    if prior.kind == kind:
        start = _params_tuple(kind, prior.params)
    else:
        start = _default_start(kind, xa, ta, Ta)
    params, ll = _maximise(kind, xa, ta, Ta, start)
    mv = np.broadcast_to(np.asarray(mean_repeat_value, dtype=np.float64), np.shape(np.asarray(x))).ravel()
    spend = fit_gamma_gamma(xa, mv)
    return PopulationModel(
        kind=kind,
        params=dict(zip(PARAM_NAMES[kind], params, strict=True)),
        spend=spend,
        log_likelihood=float(ll),
        customers=int(xa.size),
    )


def scores(
    model: PopulationModel, x: int, t_x: float, T: float, horizon: float,
    mean_repeat_value: float | None, first_value: float,
) -> tuple[float, float, float, float]:
    """(P(alive), expected purchases, expected value over ``horizon``, churn risk) in one go: the
    four share the Pareto/NBD's P(alive), computed once (a stored profile needs all four)."""
    if model.kind != "pareto_nbd":
        expected = expected_purchases(model, x, t_x, T, horizon)
        return (p_alive(model, x, t_x, T), expected,
                expected * expected_spend_per_purchase(model, x, mean_repeat_value, first_value),
                churn_risk(model, x, t_x, T))
    xf, tf, Tf = _clean_scalar(x, t_x, T)
    prm = model.params
    r, alpha, s, beta = prm["r"], prm["alpha"], prm["s"], prm["beta"]
    log_alive = -_pnbd_log_ratio(r, alpha, s, beta, xf, tf, Tf)
    alive = math.exp(log_alive)
    h = _positive_horizon(horizon)
    expected = alive * (r + xf) / (alpha + Tf) * _pnbd_future_rate_factor(s, beta, Tf, h) if h > 0 else 0.0
    if not (math.isfinite(expected) and expected > 0):
        expected = 0.0
    value = expected * expected_spend_per_purchase(model, x, mean_repeat_value, first_value)
    risk = _logistic_of_minus(_pnbd_log_long_run_ratio(r, alpha, s, beta, log_alive, xf, Tf))
    return min(max(alive, 0.0), 1.0), expected, value, risk
