"""Research models beside the insights service's Pareto/NBD, for the benchmarks and their tests.

The service scores and fits only what it runs (``services/insights/model.py`` and ``fit.py``).
Here, on the same numerics: the BG/NBD (Fader, Hardie & Lee 2005, "'Counting your customers' the
easy way: an alternative to the Pareto/NBD model", Marketing Science 24(2)), whose published CDNOW
fit the tests reproduce, kept as the reference the service's scores are measured against; the
scalar P(alive) and expected purchases of both models; and every score over arrays of customers
(``*_array``), for the CDNOW benchmark (``cdnow.py``) and the study behind the churn score
(``model_research.py``). Times in DAYS unless said otherwise; the fits are unit-agnostic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special

from services.insights import fit as F
from services.insights import likelihood as Lk
from services.insights import model as M

FloatArray = NDArray[np.float64]

PARAM_NAMES = {**M.PARAM_NAMES, "bg_nbd": ("r", "alpha", "a", "b")}

#: Horizon (days) of churn_risk for a BG/NBD model only; the Pareto/NBD churn_risk (kehu's) has no
#: horizon: it compares customers over the whole remaining relationship. See :func:`churn_risk`.
BG_NBD_CHURN_HORIZON_DAYS = 90.0


@dataclass(frozen=True)
class Model:
    """A fitted model of either kind (``M.PopulationModel`` holds the service's Pareto/NBD only)."""

    kind: str  # "pareto_nbd" or "bg_nbd"
    params: dict[str, float]
    spend: dict[str, float] | None = None
    log_likelihood: float = 0.0
    customers: int = 0

    def __post_init__(self) -> None:
        if self.kind not in PARAM_NAMES:
            raise ValueError(f"unknown model kind {self.kind!r}")
        if set(self.params) != set(PARAM_NAMES[self.kind]):
            raise ValueError(f"{self.kind} needs parameters {PARAM_NAMES[self.kind]}, got {sorted(self.params)}")


AnyModel = Model | M.PopulationModel


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
    params: tuple[float, ...], x: FloatArray, t_x: FloatArray, T: FloatArray, pairs: Lk._Pairs | None = None
) -> FloatArray:
    r, alpha, a, b = params
    common = special.gammaln(r + x) - math.lgamma(r) + r * math.log(alpha) - special.betaln(a, b)
    first = special.betaln(a, b + x) - (r + x) * np.log(alpha + T)
    with np.errstate(divide="ignore", invalid="ignore"):
        second = np.where(
            x > 0,
            special.betaln(a + 1.0, np.maximum(b + x - 1.0, M._TINY)) - (r + x) * np.log(alpha + t_x),
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


def _bg_to_theta(params: tuple[float, ...]) -> FloatArray:
    """Optimiser coordinates: log r, log(r/α), log a, log b (see ``fit._pnbd_to_theta``)."""
    r, alpha, a, b = (max(float(v), 1e-5) for v in params)
    return np.log(np.array([r, r / alpha, a, b]))


def _bg_from_theta(theta: FloatArray) -> tuple[float, ...]:
    r, rate, a, b = (math.exp(float(v)) for v in theta)
    return (r, r / rate, a, b)


BG_NBD = Lk.Likelihood(PARAM_NAMES["bg_nbd"], _bgnbd_log_lik_array, _bg_to_theta, _bg_from_theta,
                      lambda scale: (0.5, 0.3 * scale, 1.0, 2.0))
LIKELIHOODS = {"pareto_nbd": Lk.PARETO_NBD, "bg_nbd": BG_NBD}


def _fit(kind: str, x: ArrayLike, t_x: ArrayLike, T: ArrayLike,
         start: dict[str, float] | None) -> tuple[dict[str, float], float]:
    likelihood = LIKELIHOODS[kind]
    xa, ta, Ta = Lk._clean_arrays(x, t_x, T)
    scale = float(np.mean(Ta)) if np.size(Ta) and float(np.mean(Ta)) > 0 else 1.0
    first = tuple(start[n] for n in likelihood.names) if start else likelihood.default_start(scale)
    params, ll = F._maximise(likelihood, xa, ta, Ta, first)
    return dict(zip(likelihood.names, params, strict=True)), ll


def fit_bg_nbd(x: ArrayLike, t_x: ArrayLike, T: ArrayLike,
               start: dict[str, float] | None = None) -> tuple[dict[str, float], float]:
    """Maximum-likelihood BG/NBD (Fader, Hardie & Lee 2005): params r, alpha, a, b and the
    log-likelihood, from ``start`` or a scale-aware default. Unit-agnostic: α is in the time unit
    of t_x and T."""
    return _fit("bg_nbd", x, t_x, T, start)


def fit_pareto_nbd(x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> tuple[dict[str, float], float]:
    """Maximum-likelihood Pareto/NBD with the service's optimiser, without the spend model and
    without its whole-day rounding: params r, alpha, s, beta and the log-likelihood. Unit-agnostic."""
    return _fit("pareto_nbd", x, t_x, T, None)


def p_alive(model: AnyModel, x: int, t_x: float, T: float) -> float:
    """P(the customer is still "alive", i.e. will buy again at some point | x, t_x, T).

    Pareto/NBD: A(T)/bracket (Schmittlein, Morrison & Colombo 1987; Fader & Hardie 2005 note).
    BG/NBD: 1/(1 + δ_{x>0} a/(b+x-1) ((α+T)/(α+t_x))^{r+x}) (Fader, Hardie & Lee 2005, eq. 13),
    which is 1 for every one-time buyer by construction; do not rank customers by it.
    """
    xf, tf, Tf = M._clean_scalar(x, t_x, T)
    prm = model.params
    if model.kind == "pareto_nbd":
        log_ratio = M._pnbd_log_ratio(prm["r"], prm["alpha"], prm["s"], prm["beta"], xf, tf, Tf)
        return min(1.0, max(0.0, math.exp(-log_ratio)))
    if xf == 0:
        return 1.0
    lo = _bgnbd_log_odds_dead(prm["a"], prm["b"], prm["r"], prm["alpha"], xf, tf, Tf)
    return 1.0 / (1.0 + math.exp(lo)) if lo < 700 else 0.0


def expected_purchases(model: AnyModel, x: int, t_x: float, T: float, horizon: float) -> float:
    """Expected number of purchase days in the next ``horizon`` days, given x, t_x, T.

    Pareto/NBD: P(alive) · (r+x)/(α+T) · (β+T)[1 - ((β+T)/(β+T+t))^{s-1}]/(s-1) (posterior mean
    purchase rate times expected remaining alive time; Fader & Hardie 2005 note, eq. 26).
    BG/NBD: Fader, Hardie & Lee 2005, eq. 10 (in the bounded form described above).
    """
    xf, tf, Tf = M._clean_scalar(x, t_x, T)
    h = M._positive_horizon(horizon)
    if h == 0.0:
        return 0.0
    prm = model.params
    r, alpha = prm["r"], prm["alpha"]
    if model.kind == "pareto_nbd":
        s, beta = prm["s"], prm["beta"]
        alive = math.exp(-M._pnbd_log_ratio(r, alpha, s, beta, xf, tf, Tf))
        value = alive * (r + xf) / (alpha + Tf) * M._pnbd_future_rate_factor(s, beta, Tf, h)
    else:
        a, b = _avoid_one(prm["a"]), prm["b"]
        value = _bgnbd_future_factor(r, alpha, a, b, xf, Tf, h)
        if xf > 0:
            lo = _bgnbd_log_odds_dead(a, b, r, alpha, xf, tf, Tf)
            value = value / (1.0 + math.exp(lo)) if lo < 700 else 0.0
    return value if math.isfinite(value) and value > 0 else 0.0


def churn_risk(model: AnyModel, x: int, t_x: float, T: float) -> float:
    """The service's churn risk (``M.churn_risk``) for a Pareto/NBD; for a BG/NBD 1/(1+R) with R the
    customer's expected purchases over the next 90 days relative to a brand-new customer's (its
    long-run limit ranks one-time buyers badly)."""
    if model.kind == "pareto_nbd":
        return M.churn_risk(model, x, t_x, T)  # type: ignore[arg-type]
    xf, tf, Tf = M._clean_scalar(x, t_x, T)
    e = expected_purchases(model, int(xf), tf, Tf, BG_NBD_CHURN_HORIZON_DAYS)
    e_new = expected_purchases(model, 0, 0.0, 0.0, BG_NBD_CHURN_HORIZON_DAYS)
    if e <= 0.0 or e_new <= 0.0:
        return 1.0
    return M._logistic_of_minus(math.log(e) - math.log(e_new))


def expected_value(
    model: AnyModel,
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
    spend = M.expected_spend_per_purchase(model, x, mean_repeat_value, first_value)  # type: ignore[arg-type]
    return expected_purchases(model, x, t_x, T, horizon) * spend


def _pnbd_future_rate_factor_array(s: float, beta: float, T: FloatArray, horizon: FloatArray) -> FloatArray:
    u = np.log1p(horizon / (beta + T))
    c = 1.0 - s
    if abs(c) < 1e-12:
        return (beta + T) * u
    return (beta + T) * np.expm1(c * u) / c


def _params_tuple(kind: str, params: dict[str, float]) -> tuple[float, ...]:
    return tuple(float(params[name]) for name in PARAM_NAMES[kind])


def p_alive_array(model: AnyModel, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> FloatArray:
    """:func:`p_alive` for arrays of customers."""
    xa, ta, Ta = Lk._clean_arrays(x, t_x, T)
    prm = model.params
    if model.kind == "pareto_nbd":
        _, log_ratio = Lk._pnbd_log_bracket_array(prm["r"], prm["alpha"], prm["s"], prm["beta"], xa, ta, Ta)
        return np.clip(np.exp(-log_ratio), 0.0, 1.0)
    r, alpha, a, b = _params_tuple("bg_nbd", prm)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        lo = np.log(a / np.maximum(b + xa - 1.0, M._TINY)) + (r + xa) * np.log((alpha + Ta) / (alpha + ta))
        out = np.where(xa > 0, np.where(lo < 700.0, 1.0 / (1.0 + np.exp(np.minimum(lo, 700.0))), 0.0), 1.0)
    return np.asarray(out, dtype=np.float64)


def expected_purchases_array(
    model: AnyModel, x: ArrayLike, t_x: ArrayLike, T: ArrayLike, horizon: ArrayLike
) -> FloatArray:
    """:func:`expected_purchases` for arrays of customers (horizon may be an array too)."""
    xa, ta, Ta = Lk._clean_arrays(x, t_x, T)
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


def churn_risk_array(model: AnyModel, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> FloatArray:
    """:func:`churn_risk` for arrays of customers."""
    xa, ta, Ta = Lk._clean_arrays(x, t_x, T)
    prm = model.params
    r, alpha = prm["r"], prm["alpha"]
    with np.errstate(divide="ignore"):
        if model.kind == "pareto_nbd":
            s, beta = prm["s"], prm["beta"]
            _, log_ratio = Lk._pnbd_log_bracket_array(r, alpha, s, beta, xa, ta, Ta)
            log_r = -log_ratio + np.log1p(xa / r) - np.log1p(Ta / alpha) + min(s, 1.0) * np.log1p(Ta / beta)
        else:
            e = expected_purchases_array(model, xa, ta, Ta, BG_NBD_CHURN_HORIZON_DAYS)
            e_new = expected_purchases(model, 0, 0.0, 0.0, BG_NBD_CHURN_HORIZON_DAYS)
            log_r = np.log(e) - math.log(e_new) if e_new > 0 else np.full_like(e, -np.inf)
    return np.asarray(special.expit(-log_r), dtype=np.float64)


def log_likelihood_array(kind: str, params: dict[str, float], x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> FloatArray:
    """Per-customer log-likelihood of (x, t_x, T) under the given model and parameters."""
    xa, ta, Ta = Lk._clean_arrays(x, t_x, T)
    fn = Lk._pnbd_log_lik_array if kind == "pareto_nbd" else _bgnbd_log_lik_array
    return fn(_params_tuple(kind, params), xa, ta, Ta)
