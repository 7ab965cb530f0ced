"""The customer-base population model of the insights service, as scored on every event. Pure, no I/O.

Why a population model: a small shop sees each customer a handful of times. "Has this customer
gone quiet?" and "what is this customer worth?" cannot be answered from one customer's few
purchases alone; the classic buy-till-you-die models answer them by combining a customer's own
summary (x, t_x, T) with how purchase rates and dropout rates are spread across the whole customer
base (the *population* parameters, refitted now and then by ``fit.py``, cheap to evaluate here).

* **Pareto/NBD** (Schmittlein, Morrison & Colombo 1987, "Counting your customers: who are they
  and what will they do next?", Management Science 33(1)): while alive a customer buys as a
  Poisson process with rate λ ~ Gamma(r, α); the lifetime is exponential with rate μ ~ Gamma(s, β).
  The likelihood follows Fader & Hardie's note "A note on deriving the Pareto/NBD model and related
  expressions" (2005), in a form that stays finite for any x (see the comment before
  :func:`_hyp2f1_one`). Dropout can happen at any time, not only right after a purchase, which
  suits shops whose customers may leave without a last purchase.
* **Gamma-Gamma** spend (Fader, Hardie & Lee 2005, "RFM and CLV: using iso-value curves for
  customer base analysis", JMR 42(4); Fader & Hardie's note "The Gamma-Gamma model of monetary
  value", 2013): a purchase's value is Gamma(p, ν) with ν ~ Gamma(q, v) across customers, so a
  customer's expected spend per purchase shrinks their observed mean towards the population mean,
  the less so the more purchases back it.

The scores (``churn_risk``, ``expected_spend_per_purchase``, ``scores``) were chosen on CDNOW
against the published alternatives (BG/NBD and the others live in ``benchmarks/research_models.py``;
the figures are in ``benchmarks/RESULTS.md``).

Conventions (the papers'): a *purchase* is a purchase day (all of a customer's transactions on one
day are one purchase, its value their sum); x = number of REPEAT purchase days (distinct purchase
days minus 1); t_x = time from the first purchase day to the last (0 when x = 0); T = time from the
first purchase day to the evaluation time, all in DAYS. The functions here are written with plain
floats and ``math``/scalar ``scipy.special`` calls because they run on every event (a few µs each).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import special

KINDS = ("pareto_nbd",)
PARAM_NAMES = {"pareto_nbd": ("r", "alpha", "s", "beta")}
SPEND_NAMES = ("p", "q", "v")

#: A population fit needs this many buying customers, this many of them repeat buyers: with
#: fewer the maximum-likelihood fit says nothing (e.g. r → 0), and the prior stays in force.
MIN_FIT_CUSTOMERS, MIN_FIT_REPEAT_BUYERS = 50, 10
#: The Gamma-Gamma spend model has a threshold of its own: fewer repeat buyers than this and it is
#: not fitted (spend = None; the customer's own mean spend is used), even when the purchase model is.
MIN_REPEAT_BUYERS_FOR_SPEND = 20
_TINY = 1e-300


@dataclass(frozen=True)
class PopulationModel:
    """Fitted population parameters: what every per-customer score is computed from.

    ``params`` are the Pareto/NBD's ``r, alpha, s, beta``, time in DAYS;
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


#: The prior used before a shop has enough history for its own fit: our Pareto/NBD fit on the
#: CDNOW cohort (Fader, Hardie & Lee 2005's data; the fit is in benchmarks/RESULTS.md), rounded. A
#: typical retail shape: rates of purchase and of dropout both very spread out (r, s < 1), a
#: customer who bought once and not for a year more likely gone than not. A prior with the right
#: shape, not a claim about any particular shop. ``spend`` is None: spend depends on the shop's
#: currency and prices, so until the shop's own Gamma-Gamma fit exists the customer's own mean
#: spend is used.
DEFAULT_MODEL = PopulationModel(
    kind="pareto_nbd",
    params={"r": 0.6, "alpha": 80.0, "s": 0.5, "beta": 60.0},
    spend=None,
    log_likelihood=0.0,
    customers=0,
)


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


def _hyp2f1_one(b: float, c: float, z: float) -> float:
    """2F1(1, b; c; z), c > 1, c > b > 0, 0 ≤ z < 1 (scalar)."""
    if z <= _HYP_SCIPY_MAX_Z:
        value = float(special.hyp2f1(1.0, b, c, z))
        if math.isfinite(value):
            return value
    return _hyp2f1_one_gl_scalar(b, c, z)


def _hyp2f1_one_gl_scalar(b: float, c: float, z: float) -> float:
    """:func:`_hyp2f1_one_gl` for one value, with the scalar arithmetic in floats and the 128
    nodes in place: a third of the time, and it is most of a sweep's cost (a replay of a long
    history takes hundreds of thousands of them)."""
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
    exactly 0.5; odds of churn = 1/R), over the whole remaining relationship (the h → ∞ limit of
    E[X(h)]/E_new[X(h)], i.e. the ranking of Fader, Hardie & Lee's 2005 discounted expected
    residual transactions as the discount rate goes to 0; see :func:`_pnbd_log_long_run_ratio`).

    Why this and not 1 - P(alive), P(no purchase in h) or the expected purchases of a fixed horizon:
    on CDNOW, at every cutoff and holdout length tried, it ranked "no purchase in the holdout" at
    least as well as each of them, and it needs no horizon constant (``benchmarks/model_research.py``;
    the figures are in ``benchmarks/RESULTS.md``).
    """
    xf, tf, Tf = _clean_scalar(x, t_x, T)
    prm = model.params
    r, alpha, s, beta = prm["r"], prm["alpha"], prm["s"], prm["beta"]
    log_alive = -_pnbd_log_ratio(r, alpha, s, beta, xf, tf, Tf)
    return _logistic_of_minus(_pnbd_log_long_run_ratio(r, alpha, s, beta, log_alive, xf, Tf))


def expected_spend_per_purchase(
    model: PopulationModel, x: int, mean_repeat_value: float | None, first_value: float
) -> float:
    """Expected value of this customer's next purchase (day).

    With a Gamma-Gamma fit (Fader, Hardie & Lee 2005, iso-value curves; Fader & Hardie 2013 note)
    the posterior mean of the customer's mean spend, with the first purchase counted as one more
    observation: E = p(v + z₁ + x z̄)/(p(x+1) + q - 1), i.e. the customer's mean over all their
    purchases shrunk towards the population mean p v/(q-1), less so the more purchases back it.
    The papers fit p, q, v on repeat purchases only (the first purchase may differ), and so does
    ``fit.fit_gamma_gamma``; but using the first purchase in the posterior captured more holdout
    revenue than leaving it out on CDNOW (``benchmarks/RESULTS.md``), and it gives
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


def scores(
    model: PopulationModel, x: int, t_x: float, T: float, horizon: float,
    mean_repeat_value: float | None, first_value: float,
) -> tuple[float, float, float, float]:
    """(P(alive), expected purchases, expected value over ``horizon``, churn risk) in one go: the
    four share the Pareto/NBD's P(alive), computed once (a stored profile needs all four)."""
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
