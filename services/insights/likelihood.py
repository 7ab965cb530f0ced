"""The Pareto/NBD likelihood over arrays of customers, as a fit evaluates it. Pure, no I/O.

The likelihood in the form of the comment in ``model.py``, vectorised over the distinct customer
summaries (``_Pairs``), and ``Likelihood``: what the optimiser of ``fit.py`` needs of a model.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special

from services.insights.model import _GL_NODES, _GL_WEIGHTS, _HYP_SCIPY_MAX_Z, _TINY, PARAM_NAMES

FloatArray = NDArray[np.float64]


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


def _hyp2f1_one_gl(b: FloatArray, c: FloatArray, z: FloatArray) -> FloatArray:
    """2F1(1, b; c; z) for c > 1, c > b > 0, 0 < z < 1 by quadrature, for z near 1.

    There ``scipy.special.hyp2f1`` sums its series slowly and returns
    NaN for large b or c (x ≈ 1000, or the s, β → ∞ ridge of a fit on a short history).
    Euler's integral with u = (1-t)/(1-zt), then u = e^{-y}, gives
    2F1(1, b; c; z) = (c-1)/(1-z) · ∫_0^∞ g(y) dy,  g(y) = e^{-(c-1)y} (1 + z(1-e^{-y})/(1-z))^{-(c-b)},
    with g falling monotonically from 1, on the scales 1/(c-1) and (1-z)/(z(c-b)). In u = log y it
    is a smooth bump, integrated by 128-point Gauss-Legendre from 10⁻⁶ of the smaller scale (below
    that, g ≈ 1 - g'(0) y) to 40/(c-1); its accuracy against the series summed to convergence is in benchmarks/RESULTS.md.
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
    pairs than customers (CDNOW's counts are in benchmarks/RESULTS.md), which makes a likelihood
    evaluation several times cheaper."""

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


@dataclass(frozen=True)
class Likelihood:
    """A purchase model as the optimiser sees it: its per-customer log-likelihood, its coordinates
    and a scale-aware start (α, β in proportion to the mean observation length, so the same code
    fits days or weeks). ``pairs``: the log-likelihood shares its costly terms by (x, T) and (x, t_x)."""

    names: tuple[str, ...]
    log_lik: Callable[[tuple[float, ...], FloatArray, FloatArray, FloatArray, _Pairs | None], FloatArray]
    to_theta: Callable[[tuple[float, ...]], FloatArray]
    from_theta: Callable[[FloatArray], tuple[float, ...]]
    default_start: Callable[[float], tuple[float, ...]]
    pairs: bool = False


def _pnbd_to_theta(params: tuple[float, ...]) -> FloatArray:
    """Optimiser coordinates: log r, log(r/α), log s, log(s/β). The mean purchase rate r/α (and mean
    dropout rate s/β) is what the data pin down best; with it as a coordinate the likelihood surface
    is less of a narrow ridge than in (log r, log α), and the optimiser needs fewer steps."""
    r, alpha, s, beta = (max(float(v), 1e-5) for v in params)
    return np.log(np.array([r, r / alpha, s, s / beta]))


def _pnbd_from_theta(theta: FloatArray) -> tuple[float, ...]:
    r, rate, s, dropout = (math.exp(float(v)) for v in theta)
    return (r, r / rate, s, s / dropout)


PARETO_NBD = Likelihood(PARAM_NAMES["pareto_nbd"], _pnbd_log_lik_array, _pnbd_to_theta, _pnbd_from_theta,
                        lambda scale: (0.5, 0.3 * scale, 0.5, 0.3 * scale), pairs=True)
