"""The population model: published CDNOW fits reproduced, formulas checked against brute-force
integration of the individual-level models, scalar scores equal to the array ones, edge cases.

The BG/NBD and the array scores are the benchmarks' (``benchmarks/research_models.py``), on the
service's numerics: they are checked here beside the service's Pareto/NBD."""

from __future__ import annotations

import dataclasses
import itertools
import math
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy import integrate, special

from benchmarks import research_models as R
from services.insights import fit as F
from services.insights import likelihood as Lk
from services.insights import model as M

SAMPLE = Path("/work/shared/data/cdnow/CDNOW_sample.txt")
CUTOFF = date(1997, 9, 30)

needs_sample = pytest.mark.skipif(not SAMPLE.exists(), reason="CDNOW sample not available")


@cache
def cdnow_sample() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The paper's 2,357-customer sample summarised as in Fader, Hardie & Lee (2005): one purchase
    per customer-day; calibration to 1997-09-30. Times in DAYS: x, t_x, T, mean repeat spend.

    T is counted to 1997-09-30 itself (a customer who first bought on 1997-01-01 has T = 272 days
    = 38.86 weeks, the "39 weeks"): that convention gives the published BG/NBD numbers
    (r=0.243, α=4.414, a=0.793, b=2.426, LL -9582.4); counting to the end of that day (T + 1 day)
    gives LL -9589.9 instead.
    """
    days: dict[int, dict[int, float]] = {}
    for line in SAMPLE.read_text().splitlines():
        if not line.strip():
            continue
        _, sample_id, ymd, _, dollars = line.split()
        day = date(int(ymd[:4]), int(ymd[4:6]), int(ymd[6:])).toordinal()
        per_customer = days.setdefault(int(sample_id), {})
        per_customer[day] = per_customer.get(day, 0.0) + float(dollars)
    cutoff = CUTOFF.toordinal()
    x, t_x, T, mean_repeat = [], [], [], []
    for per_customer in days.values():
        cal = sorted(d for d in per_customer if d <= cutoff)
        first = cal[0]
        x.append(len(cal) - 1)
        t_x.append(cal[-1] - first)
        T.append(cutoff - first)
        repeat = [per_customer[d] for d in cal[1:]]
        mean_repeat.append(sum(repeat) / len(repeat) if repeat else math.nan)
    return np.array(x, float), np.array(t_x, float), np.array(T, float), np.array(mean_repeat)


@cache
def sample_population() -> M.PopulationModel:
    """fit_population on the sample (days), with no warm start: it starts from DEFAULT_MODEL."""
    return F.fit_population(*cdnow_sample())


# --- published fits ---------------------------------------------------------------------------


@needs_sample
def test_bg_nbd_reproduces_the_published_cdnow_fit() -> None:
    x, t_x, T, _ = cdnow_sample()
    assert x.size == 2357
    params, ll = R.fit_bg_nbd(x, t_x / 7, T / 7)  # weeks, as published
    published = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}  # Fader, Hardie & Lee 2005
    for name, value in published.items():
        assert params[name] == pytest.approx(value, abs=5e-4), name  # equal to the published 3 decimals
    assert ll == pytest.approx(-9582.4, abs=0.5)


@needs_sample
def test_pareto_nbd_reproduces_the_published_cdnow_fit_and_is_unit_agnostic() -> None:
    x, t_x, T, _ = cdnow_sample()
    weekly, ll_weeks = R.fit_pareto_nbd(x, t_x / 7, T / 7)
    # Fader & Hardie's Pareto/NBD note: r=0.55, α=10.58, s=0.61, β=11.67, LL -9595.0. Our own
    # likelihood (see model.py) gives r=0.5533, α=10.578, s=0.6062, β=11.669, LL -9594.98.
    published = {"r": 0.55, "alpha": 10.58, "s": 0.61, "beta": 11.67}
    for name, value in published.items():
        assert weekly[name] == pytest.approx(value, rel=1e-2), name
    assert weekly["r"] == pytest.approx(0.5533, abs=5e-4)
    assert weekly["alpha"] == pytest.approx(10.578, abs=5e-3)
    assert weekly["s"] == pytest.approx(0.6062, abs=5e-4)
    assert weekly["beta"] == pytest.approx(11.669, abs=1e-2)
    assert ll_weeks == pytest.approx(-9595.0, abs=0.5)
    # In days the rates are per day: shapes unchanged, scales × 7, and the likelihood of x events
    # in a 7× finer time unit is 7^{-x} times the weekly one.
    population = sample_population()  # fit_population: Pareto/NBD in days
    daily, ll_days = population.params, population.log_likelihood
    assert daily["r"] == pytest.approx(weekly["r"], rel=2e-3)
    assert daily["s"] == pytest.approx(weekly["s"], rel=2e-3)
    assert daily["alpha"] == pytest.approx(7 * weekly["alpha"], rel=2e-3)
    assert daily["beta"] == pytest.approx(7 * weekly["beta"], rel=5e-3)
    assert ll_days == pytest.approx(ll_weeks - math.log(7) * x.sum(), abs=0.01)


@needs_sample
def test_gamma_gamma_reproduces_the_published_cdnow_fit() -> None:
    x, _, _, mean_repeat = cdnow_sample()
    assert int((x > 0).sum()) == 946
    spend = F.fit_gamma_gamma(x, mean_repeat)  # NaN mean for x = 0 is ignored
    assert spend is not None
    # Fader & Hardie, "The Gamma-Gamma model of monetary value" (2013): p=6.25, q=3.74, γ=15.44
    assert spend["p"] == pytest.approx(6.25, abs=0.01)
    assert spend["q"] == pytest.approx(3.74, abs=0.01)
    assert spend["v"] == pytest.approx(15.44, abs=0.01)
    assert F.fit_gamma_gamma(x[:30], mean_repeat[:30]) is None  # too few repeat buyers


@needs_sample
def test_fit_population_on_the_sample_with_and_without_warm_start() -> None:
    x, t_x, T, mean_repeat = cdnow_sample()
    cold = sample_population()
    assert cold.kind == "pareto_nbd" and cold.customers == 2357 and cold.spend is not None
    assert cold.params["alpha"] == pytest.approx(7 * 10.578, rel=3e-3)
    assert cold.spend["p"] == pytest.approx(6.25, abs=0.01)
    nudged = M.PopulationModel("pareto_nbd", {k: v * 1.3 for k, v in cold.params.items()}, None, 0.0, 0)
    warm = F.fit_population(x, t_x, T, mean_repeat, warm_start=nudged)
    for name in cold.params:
        assert warm.params[name] == pytest.approx(cold.params[name], rel=5e-3)
    assert warm.log_likelihood == pytest.approx(cold.log_likelihood, abs=0.01)
    published_bg = {"r": 0.243, "alpha": 4.414 * 7, "a": 0.793, "b": 2.426}
    bg, _ = R.fit_bg_nbd(x, t_x, T, start=published_bg)
    assert bg["a"] == pytest.approx(0.793, rel=3e-3)
    assert bg["alpha"] == pytest.approx(7 * 4.414, rel=3e-3)
    assert M.PopulationModel.from_json(cold.to_json()) == cold


def test_fit_population_keeps_the_prior_when_there_is_too_little_data() -> None:
    assert F.fit_population([0, 0, 0], [0, 0, 0], [10, 20, 30], [math.nan] * 3) is M.DEFAULT_MODEL
    x = np.zeros(100)
    assert F.fit_population(x, x, np.full(100, 50.0), x) is M.DEFAULT_MODEL  # nobody came back
    prior = M.PopulationModel("pareto_nbd", {"r": 1.0, "alpha": 50.0, "s": 1.0, "beta": 50.0}, None, -1.0, 40)
    assert F.fit_population([1, 0], [5, 0], [10, 10], [3.0, math.nan], warm_start=prior) is prior


def test_fit_population_needs_what_the_service_needs_to_refit() -> None:
    """One threshold (50 buying customers, 10 of them repeat buyers) for the model and the service:
    40 customers, 20 of them repeat buyers, keep the prior."""
    x, t_x, T, mean_repeat = cdnow_sample()
    repeat = np.flatnonzero(x > 0)[:20]
    once = np.flatnonzero(x == 0)[:20]
    few = np.concatenate([repeat, once])
    assert not M.enough_to_fit(few.size, 20)
    assert F.fit_population(x[few], t_x[few], T[few], mean_repeat[few]) is M.DEFAULT_MODEL
    enough = np.concatenate([repeat[:M.MIN_FIT_REPEAT_BUYERS], np.flatnonzero(x == 0)[:40]])
    assert M.enough_to_fit(enough.size, M.MIN_FIT_REPEAT_BUYERS)
    assert F.fit_population(x[enough], t_x[enough], T[enough], mean_repeat[enough]) is not M.DEFAULT_MODEL


# --- formulas against brute-force integration of the individual-level models -------------------

PNBD_WEEKLY = M.PopulationModel("pareto_nbd", {"r": 0.5533, "alpha": 10.578, "s": 0.6062, "beta": 11.669}, None, 0, 0)
PNBD_STEEP = M.PopulationModel("pareto_nbd", {"r": 0.7, "alpha": 4.0, "s": 0.7, "beta": 25.0}, None, 0, 0)  # α < β
PNBD_S1 = M.PopulationModel("pareto_nbd", {"r": 1.0, "alpha": 6.0, "s": 1.0, "beta": 25.0}, None, 0, 0)  # s = 1 limit
BG_WEEKLY = R.Model("bg_nbd", {"r": 0.2426, "alpha": 4.4136, "a": 0.7929, "b": 2.4259}, None, 0, 0)


def _pnbd_brute(m: M.PopulationModel, x: int, t_x: float, T: float, h: float) -> tuple[float, float, float]:
    """log L, P(alive), E[X(h)] by integrating over λ ~ Gamma(r, α), μ ~ Gamma(s, β) (λ = u^{1/r},
    μ = v^{1/s} remove the densities' singularities at 0)."""
    r, alpha, s, beta = (m.params[k] for k in ("r", "alpha", "s", "beta"))
    norm = alpha**r * beta**s / (math.gamma(r) * math.gamma(s) * r * s)

    def integral(f):
        def g(v: float, u: float) -> float:
            lam, mu = u ** (1 / r), v ** (1 / s)
            return f(lam, mu) * math.exp(-alpha * lam - beta * mu)

        return norm * integrate.dblquad(g, 0, np.inf, 0, np.inf, epsabs=0, epsrel=1e-8)[0]

    def alive(lam: float, mu: float) -> float:
        return lam**x * math.exp(-(lam + mu) * T)

    def lik(lam: float, mu: float) -> float:
        died = lam**x * mu / (lam + mu) * (math.exp(-(lam + mu) * t_x) - math.exp(-(lam + mu) * T))
        return alive(lam, mu) + died

    total = integral(lik)
    alive_mass = integral(alive)
    future = integral(lambda lam, mu: alive(lam, mu) * lam / mu * -math.expm1(-mu * h))
    return math.log(total), alive_mass / total, future / total


def _bg_brute(m: R.Model, x: int, t_x: float, T: float, h: float) -> tuple[float, float, float]:
    """The same for the BG/NBD: λ ~ Gamma(r, α), dropout probability p ~ Beta(a, b) (p = w^{1/a})."""
    r, alpha, a, b = (m.params[k] for k in ("r", "alpha", "a", "b"))
    norm = alpha**r / (math.gamma(r) * r) / (special.beta(a, b) * a)

    def integral(f):
        def g(w: float, u: float) -> float:
            lam, p = u ** (1 / r), w ** (1 / a)
            return f(lam, p) * (1 - p) ** (b - 1) * math.exp(-alpha * lam)

        return norm * integrate.dblquad(g, 0, np.inf, 0, 1, epsabs=0, epsrel=1e-8)[0]

    def alive(lam: float, p: float) -> float:
        return (1 - p) ** x * lam**x * math.exp(-lam * T)

    def lik(lam: float, p: float) -> float:
        return alive(lam, p) + (p * (1 - p) ** (x - 1) * lam**x * math.exp(-lam * t_x) if x > 0 else 0.0)

    total = integral(lik)
    future = integral(lambda lam, p: alive(lam, p) * -math.expm1(-lam * p * h) / p)
    return math.log(total), integral(alive) / total, future / total


@pytest.mark.parametrize(
    ("m", "x", "t_x", "T"),
    [(PNBD_WEEKLY, 7, 25.5, 36.0), (PNBD_STEEP, 0, 0.0, 30.0), (PNBD_STEEP, 2, 10.0, 32.0), (PNBD_S1, 3, 20.0, 30.0)],
    ids=["alpha>=beta", "alpha<beta-x0", "alpha<beta", "s=1"],
)
def test_pareto_nbd_formulas_match_brute_force_integration(m: M.PopulationModel, x: int, t_x: float, T: float) -> None:
    log_lik, alive, future = _pnbd_brute(m, x, t_x, T, 39.0)
    assert R.log_likelihood_array(m.kind, m.params, [x], [t_x], [T])[0] == pytest.approx(log_lik, abs=1e-6)
    assert R.p_alive(m, x, t_x, T) == pytest.approx(alive, rel=1e-6)
    assert R.expected_purchases(m, x, t_x, T, 39.0) == pytest.approx(future, rel=1e-6)


@pytest.mark.parametrize(("x", "t_x", "T"), [(0, 0.0, 30.0), (6, 30.0, 38.0)])
def test_bg_nbd_formulas_match_brute_force_integration(x: int, t_x: float, T: float) -> None:
    m = BG_WEEKLY
    log_lik, alive, future = _bg_brute(m, x, t_x, T, 39.0)
    assert R.log_likelihood_array(m.kind, m.params, [x], [t_x], [T])[0] == pytest.approx(log_lik, abs=1e-6)
    assert R.p_alive(m, x, t_x, T) == pytest.approx(alive, rel=1e-6)
    assert R.expected_purchases(m, x, t_x, T, 39.0) == pytest.approx(future, rel=1e-6)


def test_new_customer_expectations_equal_the_unconditional_closed_forms() -> None:
    for t in (1.0, 13.0, 52.0, 520.0):
        r, alpha, s, beta = (PNBD_WEEKLY.params[k] for k in ("r", "alpha", "s", "beta"))
        # Schmittlein, Morrison & Colombo (1987): E[X(t)] = rβ/(α(s-1)) [1 - (β/(β+t))^{s-1}]
        closed = r * beta / (alpha * (s - 1)) * (1 - (beta / (beta + t)) ** (s - 1))
        assert R.expected_purchases(PNBD_WEEKLY, 0, 0.0, 0.0, t) == pytest.approx(closed, rel=1e-10)
        r, alpha, a, b = (BG_WEEKLY.params[k] for k in ("r", "alpha", "a", "b"))
        # Fader, Hardie & Lee (2005), eq. 9, in its original (untransformed) hypergeometric form
        closed = (
            (a + b - 1) / (a - 1) * (1 - (alpha / (alpha + t)) ** r * special.hyp2f1(r, b, a + b - 1, t / (alpha + t)))
        )
        assert R.expected_purchases(BG_WEEKLY, 0, 0.0, 0.0, t) == pytest.approx(closed, rel=1e-9)
    assert R.p_alive(BG_WEEKLY, 0, 0.0, 30.0) == 1.0  # BG/NBD: one-time buyers are always "alive"


# --- scalar scores equal the array ones ---------------------------------------------------------

MODELS = [
    M.DEFAULT_MODEL,
    PNBD_STEEP,
    BG_WEEKLY,
    R.Model("bg_nbd", {"r": 0.5, "alpha": 20.0, "a": 1.6, "b": 3.0}, None, 0, 0),
]


@pytest.mark.parametrize("m", MODELS, ids=lambda m: f"{m.kind}-{m.params['alpha']}")
def test_scalar_scores_equal_the_array_scores(m: M.PopulationModel) -> None:
    rng = np.random.default_rng(7)
    x = np.concatenate([rng.integers(0, 40, 150), [0, 0, 3, 500, 10_000]]).astype(float)
    T = np.concatenate([rng.uniform(0, 2000, 150), [0.0, 5.0, 0.0, 400.0, 3000.0]])
    t_x = np.where(x > 0, rng.uniform(0, 1, x.size) * T, 0.0)
    alive = R.p_alive_array(m, x, t_x, T)
    future = R.expected_purchases_array(m, x, t_x, T, 90.0)
    risk = R.churn_risk_array(m, x, t_x, T)
    for i in range(x.size):
        assert R.p_alive(m, int(x[i]), t_x[i], T[i]) == pytest.approx(alive[i], rel=1e-9, abs=1e-300)
        assert R.expected_purchases(m, int(x[i]), t_x[i], T[i], 90.0) == pytest.approx(future[i], rel=1e-9, abs=1e-300)
        assert R.churn_risk(m, int(x[i]), t_x[i], T[i]) == pytest.approx(risk[i], rel=1e-9, abs=1e-15)


# --- churn_risk: meaning, monotonicity ----------------------------------------------------------


@pytest.mark.parametrize("m", MODELS, ids=lambda m: f"{m.kind}-{m.params['alpha']}")
def test_churn_risk_rises_with_silence_and_falls_with_frequency_of_recent_buyers(m: M.PopulationModel) -> None:
    assert R.churn_risk(m, 0, 0.0, 0.0) == pytest.approx(0.5)  # a brand-new customer
    for x, t_x in [(0, 0.0), (1, 30.0), (4, 100.0), (25, 300.0)]:
        risks = [R.churn_risk(m, x, t_x, T) for T in np.linspace(t_x, t_x + 1500, 200)]
        assert all(b >= a for a, b in itertools.pairwise(risks)), (x, t_x)
    for T in (30.0, 200.0, 1000.0):  # bought today: more purchases, less risk
        risks = [R.churn_risk(m, x, T, T) for x in range(1, 60)]
        assert all(b < a for a, b in itertools.pairwise(risks)), T


def test_churn_risk_of_a_frequent_buyer_gone_silent_is_high() -> None:
    """Not monotone in x at a fixed last purchase: 20 purchases in 100 days, then a year of silence,
    is stronger evidence of dropout than one repeat purchase then the same silence (the models'
    "frequent but lapsed" customers; Fader, Hardie & Lee 2005)."""
    m = M.DEFAULT_MODEL
    assert R.churn_risk(m, 20, 100.0, 465.0) > R.churn_risk(m, 1, 100.0, 465.0) > 0.5


# --- spend and value ------------------------------------------------------------------------------

SPEND = {"p": 6.25, "q": 3.74, "v": 15.44}


def test_expected_spend_shrinks_the_customers_mean_towards_the_population_mean() -> None:
    m = M.PopulationModel("pareto_nbd", PNBD_WEEKLY.params, SPEND, 0, 0)
    p, q, v = SPEND["p"], SPEND["q"], SPEND["v"]
    population_mean = p * v / (q - 1)
    # x repeat purchases averaging z̄ plus the first purchase z₁: p(v + z₁ + x z̄)/(p(x+1) + q - 1)
    assert M.expected_spend_per_purchase(m, 3, 50.0, 20.0) == pytest.approx(p * (v + 20 + 150) / (4 * p + q - 1))
    assert M.expected_spend_per_purchase(m, 0, None, 20.0) == pytest.approx(p * (v + 20) / (p + q - 1))
    assert M.expected_spend_per_purchase(m, 0, None, 0.0) == pytest.approx(population_mean)
    assert M.expected_spend_per_purchase(m, 0, None, math.nan) == pytest.approx(population_mean)
    big = M.expected_spend_per_purchase(m, 1000, 80.0, 80.0)
    assert 79 < big < 80.1  # lots of evidence: the customer's own mean
    # no spend model: the customer's plain mean over all purchases
    assert M.expected_spend_per_purchase(M.DEFAULT_MODEL, 3, 50.0, 20.0) == pytest.approx(42.5)
    assert M.expected_spend_per_purchase(M.DEFAULT_MODEL, 0, None, 20.0) == pytest.approx(20.0)
    assert M.expected_spend_per_purchase(M.DEFAULT_MODEL, 0, None, -5.0) == 0.0
    value = R.expected_value(m, 3, 100.0, 120.0, 90.0, 50.0, 20.0)
    assert value == pytest.approx(
        R.expected_purchases(m, 3, 100.0, 120.0, 90.0) * M.expected_spend_per_purchase(m, 3, 50.0, 20.0)
    )


# --- edge cases -----------------------------------------------------------------------------------

EDGES = [
    (0, 0.0, 0.0),
    (0, 5.0, 10.0),  # x = 0 with a t_x: t_x forced to 0
    (3, 0.0, 0.0),  # repeat purchases "at" time 0
    (2, 50.0, 10.0),  # last purchase after now (clock skew): clamped to T
    (-1, -4.0, -3.0),
    (5, math.nan, 30.0),
    (math.inf, 10.0, math.inf),
    (10**6, 1e5, 1e5 + 1),
    (10**6, 10.0, 1e6),  # a million purchases, then silence for 2,700 years
    (1, 1e-9, 1e9),
]


@pytest.mark.parametrize("m", [*MODELS, PNBD_WEEKLY], ids=lambda m: f"{m.kind}-{m.params['alpha']}")
def test_edge_cases_give_finite_values_in_range(m: M.PopulationModel) -> None:
    mm = type(m)(m.kind, m.params, SPEND, 0, 0)
    for x, t_x, T in EDGES:
        for model in (m, mm):
            alive = R.p_alive(model, x, t_x, T)  # type: ignore[arg-type]
            risk = R.churn_risk(model, x, t_x, T)  # type: ignore[arg-type]
            assert 0.0 <= alive <= 1.0 and 0.0 <= risk <= 1.0, (x, t_x, T)
            for horizon in (0.0, -5.0, 90.0, 1e7, math.nan):
                e = R.expected_purchases(model, x, t_x, T, horizon)  # type: ignore[arg-type]
                assert math.isfinite(e) and e >= 0.0, (x, t_x, T, horizon)
            value = R.expected_value(model, x, t_x, T, 90.0, 25.0, 10.0)  # type: ignore[arg-type]
            assert math.isfinite(value) and value >= 0.0
    assert R.expected_purchases(m, 3, 10.0, 20.0, 0.0) == 0.0
    assert R.p_alive(m, 2, 50.0, 10.0) == R.p_alive(m, 2, 10.0, 10.0)  # clamped
    if m.kind == "pareto_nbd":  # a million purchases then 2,700 years of silence: gone
        assert R.p_alive(m, 10**6, 10.0, 1e6) == 0.0 and R.churn_risk(m, 10**6, 10.0, 1e6) == 1.0


def test_model_json_round_trip_and_validation() -> None:
    model = M.PopulationModel("pareto_nbd", dict(PNBD_WEEKLY.params), SPEND, -123.5, 2357)
    data = model.to_json()
    assert data == {
        "kind": "pareto_nbd",
        "params": PNBD_WEEKLY.params,
        "spend": SPEND,
        "log_likelihood": -123.5,
        "customers": 2357,
    }
    assert M.PopulationModel.from_json(data) == model
    assert M.PopulationModel.from_json(M.DEFAULT_MODEL.to_json()) == M.DEFAULT_MODEL
    with pytest.raises(ValueError):
        M.PopulationModel("weibull", {"r": 1.0}, None, 0.0, 0)
    with pytest.raises(ValueError):
        M.PopulationModel("bg_nbd", dict(PNBD_WEEKLY.params), None, 0.0, 0)
    with pytest.raises(ValueError):
        M.PopulationModel("pareto_nbd", {**PNBD_WEEKLY.params, "r": -1.0}, None, 0.0, 0)
    with pytest.raises(ValueError):
        M.PopulationModel("pareto_nbd", dict(PNBD_WEEKLY.params), {"p": 1.0, "q": math.nan, "v": 1.0}, 0.0, 0)


def test_scores_in_one_go_equal_the_separate_functions() -> None:
    m = M.DEFAULT_MODEL
    for x, t_x, T, mean, first in [(0, 0.0, 10.0, None, 12.0), (3, 40.0, 90.0, 20.0, 15.0), (12, 300.0, 700.0, 8.0, 9.0)]:
        alive, expected, value, risk = M.scores(m, x, t_x, T, 90.0, mean, first)
        assert alive == pytest.approx(R.p_alive(m, x, t_x, T), rel=1e-12)
        assert expected == pytest.approx(R.expected_purchases(m, x, t_x, T, 90.0), rel=1e-12)
        assert value == pytest.approx(R.expected_value(m, x, t_x, T, 90.0, mean, first), rel=1e-12)
        assert risk == pytest.approx(R.churn_risk(m, x, t_x, T), rel=1e-12)


def test_a_fit_started_from_the_ridge_of_another_datas_fit_still_finds_the_maximum(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A refit starts from the previous fit, and a young shop's fit can sit far out on a ridge
    (nobody has dropped out yet: s and β run to their bounds). From there BFGS gets nowhere; the
    fit must still reach the maximum (here, from the default start), within its evaluation budget."""
    x, t_x, T, mean_repeat = cdnow_sample()
    cold = sample_population()
    ridge = M.PopulationModel("pareto_nbd", {"r": 0.42, "alpha": 52.6, "s": 1.0e-5, "beta": 2.6e-4}, None, 0.0, 0)
    evaluations = 0
    real = Lk.PARETO_NBD.log_lik

    def counted(*args: Any, **kwargs: Any) -> Any:
        nonlocal evaluations
        evaluations += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(F, "PARETO_NBD", dataclasses.replace(Lk.PARETO_NBD, log_lik=counted))
    warm = F.fit_population(x, t_x, T, mean_repeat, warm_start=ridge)
    assert warm.log_likelihood == pytest.approx(cold.log_likelihood, abs=0.01)
    for name in cold.params:
        assert warm.params[name] == pytest.approx(cold.params[name], rel=5e-3)
    assert evaluations <= 2 * F.BFGS_MAX_EVALUATIONS  # 423 before the default start was tried
