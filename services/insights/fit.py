"""Fitting the population model on the whole customer base (a refit). Pure, no I/O.

Maximum likelihood of the Pareto/NBD purchase model (its likelihood in ``likelihood.py``) and of
the Gamma-Gamma spend model.
Scoring a customer needs none of this (``model.py``), so a replay's workers import less.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special

from services.insights.likelihood import PARETO_NBD, Likelihood, _clean_arrays, _group, _Pairs, _pairs
from services.insights.model import (
    DEFAULT_MODEL,
    MIN_REPEAT_BUYERS_FOR_SPEND,
    PopulationModel,
    enough_to_fit,
)

FloatArray = NDArray[np.float64]

# Parameters are optimised on a log scale inside these bounds: wide enough for any realistic shop
# (rates from one purchase a day to one a few decades), narrow enough that a degenerate sample
# cannot drive the optimiser to overflow.
_PARAM_MIN, _PARAM_MAX = 1e-6, 1e7
BFGS_MAX_EVALUATIONS = 200
_LOG_BOUNDS = (math.log(_PARAM_MIN), math.log(_PARAM_MAX))
_THETA_MAX = 2.0 * math.log(_PARAM_MAX / _PARAM_MIN)  # optimiser coordinates beyond this are out of range


def _compress(x: FloatArray, t_x: FloatArray, T: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Distinct (x, t_x, T) triples with their counts: customers with the same summary have the same
    likelihood, and real data (day resolution, cohorts) repeats summaries a lot."""
    (ux, ut, uT), _, counts = _group(x, t_x, T)
    return ux, ut, uT, counts


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


@dataclass(frozen=True)
class _Problem:
    """One maximum-likelihood problem: the distinct customer summaries, their weights (how many
    customers share each) and the likelihood."""

    likelihood: Likelihood
    x: FloatArray
    t_x: FloatArray
    T: FloatArray
    weights: FloatArray
    pairs: _Pairs | None

    @property
    def n(self) -> float:
        return float(self.weights.sum())

    def rows(self, theta: FloatArray) -> FloatArray | None:
        """Per-summary log-likelihoods at ``theta``; None out of bounds or where not finite."""
        if not np.all(np.abs(theta) < _THETA_MAX):
            return None
        params = self.likelihood.from_theta(theta)
        if not all(_PARAM_MIN <= v <= _PARAM_MAX for v in params):
            return None
        with np.errstate(all="ignore"):
            ll = self.likelihood.log_lik(params, self.x, self.t_x, self.T, self.pairs)
        return ll if np.all(np.isfinite(ll)) else None

    def objective(self, theta: FloatArray) -> float:
        """Minus the mean log-likelihood (1e300 where it is not defined)."""
        ll = self.rows(np.asarray(theta, dtype=np.float64))
        return 1e300 if ll is None else -float(np.dot(self.weights, ll)) / self.n


def _maximise(
    likelihood: Likelihood, x: ArrayLike, t_x: ArrayLike, T: ArrayLike, start: tuple[float, ...]
) -> tuple[tuple[float, ...], float]:
    """Maximum likelihood in the likelihood's coordinates: (parameters, log-likelihood).

    BFGS with a numerical gradient, its inverse Hessian seeded by :func:`_bhhh_inverse_hessian`
    (far fewer likelihood evaluations than L-BFGS-B or plain BFGS, whose scipy implementation also
    pays a multithreaded-BLAS overhead per solve on small problems). From the default start again
    when a warm start does not converge; bounded L-BFGS-B polishes what BFGS could not finish.
    """
    xa, ta, Ta = _clean_arrays(x, t_x, T)
    xa, ta, Ta = xa.ravel(), ta.ravel(), Ta.ravel()
    if xa.size == 0:
        raise ValueError("no customers to fit")
    ux, ut, uT, w = _compress(xa, ta, Ta)
    problem = _Problem(likelihood, ux, ut, uT, w, _pairs(ux, ut, uT) if likelihood.pairs else None)
    scale = float(np.mean(Ta)) if np.size(Ta) and float(np.mean(Ta)) > 0 else 1.0
    theta0 = likelihood.to_theta(start)
    default0 = likelihood.to_theta(likelihood.default_start(scale))
    if problem.rows(theta0) is None:
        theta0 = default0
    theta, best, converged = _bfgs(problem, theta0)
    if not converged and not np.array_equal(theta0, default0):
        # A warm start is a fit of other data; from a ridge of it (a young history's fit often runs
        # off to s, β → ∞) BFGS may not get away, while from the default start it converges.
        fresh, value, converged = _bfgs(problem, default0)
        if converged and value <= best:
            theta, best = fresh, value
        else:
            converged = False
    if not converged:
        theta, best = _polish(problem, theta, theta0, best)
    return likelihood.from_theta(theta), -problem.objective(theta) * problem.n


def _bfgs(problem: _Problem, start: FloatArray) -> tuple[FloatArray, float, bool]:
    """(θ, objective, converged): BFGS, stopped after BFGS_MAX_EVALUATIONS (on a ridge it can
    spend several times that many getting nowhere, while a replay waits)."""
    from scipy import optimize  # here: scoring needs none of it (a replay's workers start faster)

    seen: list[tuple[float, FloatArray]] = []

    def counted(theta: FloatArray) -> float:
        value = problem.objective(theta)
        seen.append((value, np.array(theta, dtype=np.float64)))
        if len(seen) >= BFGS_MAX_EVALUATIONS:
            raise _OutOfEvaluations
        return value

    hess_inv0 = _bhhh_inverse_hessian(problem.rows, start, problem.weights, problem.n)
    try:
        result = optimize.minimize(counted, start, method="BFGS",
                                   options={"gtol": 1e-6, "eps": 1e-7, "maxiter": 60, "hess_inv0": hess_inv0})
    except _OutOfEvaluations:
        value, theta = min(seen, key=lambda s: s[0])
        return theta, value, False
    return np.asarray(result.x, dtype=np.float64), float(result.fun), bool(result.success)


def _polish(problem: _Problem, theta: FloatArray, theta0: FloatArray, best: float) -> tuple[FloatArray, float]:
    """Bounded L-BFGS-B from where BFGS stopped and from the start; the best wins.

    BFGS not converging is usually a line search that cannot improve on noisy finite differences
    near the optimum, sometimes a wander along a ridge (s, β → ∞) into a region L-BFGS-B cannot
    leave: hence both starts (the same start polishes the same, so it runs once then)."""
    from scipy import optimize

    starts = [np.clip(theta, *_LOG_BOUNDS)]
    if not np.array_equal(np.clip(theta0, *_LOG_BOUNDS), starts[0]):
        starts.append(np.clip(theta0, *_LOG_BOUNDS))
    for restart in starts:
        polish = optimize.minimize(
            problem.objective,
            restart,
            method="L-BFGS-B",
            bounds=[_LOG_BOUNDS] * 4,
            options={"ftol": 1e-11, "gtol": 1e-7, "maxiter": 500, "eps": 1e-7},
        )
        if float(polish.fun) <= best:
            theta, best = np.asarray(polish.x, dtype=np.float64), float(polish.fun)
    return theta, best


class _OutOfEvaluations(Exception):
    pass


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

    from scipy import optimize  # see _bfgs

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
) -> PopulationModel:
    """Fit the Pareto/NBD and the Gamma-Gamma spend model on arrays of customers, times in DAYS.

    t_x and T are rounded to whole days for the fit: a purchase is a purchase day, so finer times
    carry no information in these models, and whole days let customers with the same summary share
    one likelihood term. ``mean_repeat_value`` is each customer's mean value of repeat purchase
    days (ignored where x = 0; NaN there is fine). ``warm_start`` (a previous fit) is where the
    optimiser starts, which makes a refit on slightly more data a few iterations. Without enough
    data (``enough_to_fit``) the prior (``warm_start``, else :data:`DEFAULT_MODEL`) is returned
    unchanged, so ``customers`` keeps saying what it was really fitted on.
    """
    xa, ta, Ta = _clean_arrays(x, t_x, T)
    xa, ta, Ta = xa.ravel(), ta.ravel(), Ta.ravel()
    if not enough_to_fit(xa.size, int(np.count_nonzero(xa > 0))) or not np.any(Ta > 0):
        return warm_start if warm_start is not None else DEFAULT_MODEL
    ta, Ta = np.round(ta), np.round(Ta)
    prior = warm_start if warm_start is not None else DEFAULT_MODEL
    params, ll = _maximise(PARETO_NBD, xa, ta, Ta, tuple(float(prior.params[n]) for n in PARETO_NBD.names))
    mv = np.broadcast_to(np.asarray(mean_repeat_value, dtype=np.float64), np.shape(np.asarray(x))).ravel()
    spend = fit_gamma_gamma(xa, mv)
    return PopulationModel(
        kind="pareto_nbd",
        params=dict(zip(PARETO_NBD.names, params, strict=True)),
        spend=spend,
        log_likelihood=float(ll),
        customers=int(xa.size),
    )
