"""Moments and quantiles of finite mixtures of normals (the exact marginals of ``mu``, ``theta_j``).

``p(x | y) = sum_i W_i N(x; m_i, s_i^2)`` where ``i`` runs over the quadrature nodes of
``p(tau | y)``. Mean ``sum_i W_i m_i``, variance ``sum_i W_i (s_i^2 + m_i^2) - mean^2``.
Quantiles solve ``F(x) = sum_i W_i Phi((x - m_i) / s_i) = q`` by Newton's method kept inside
a bisection bracket (so each step either converges quadratically or halves the bracket);
``F`` is smooth and increasing, so this converges for every ``q`` in ``(0, 1)``.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr, ndtri

_SQRT_2PI = np.sqrt(2.0 * np.pi)


def mixture_moments(weights: np.ndarray, means: np.ndarray, variances: np.ndarray):
    """Mean and standard deviation, shape ``P``, of mixtures given ``weights`` (``n``) and
    component ``means``/``variances`` (``n x P``)."""
    mean = weights @ means
    second = weights @ (variances + means**2)
    return mean, np.sqrt(np.maximum(second - mean**2, 0.0))


def mixture_quantiles(
    weights: np.ndarray, means: np.ndarray, variances: np.ndarray, probs: np.ndarray
) -> np.ndarray:
    """Quantiles, shape ``P x Q``, of ``P`` mixtures at probabilities ``probs`` (``Q``)."""
    sd = np.sqrt(np.maximum(variances, 1e-300))
    lo = np.broadcast_to(np.min(means - 40 * sd, axis=0)[:, None], (means.shape[1], len(probs)))
    hi = np.broadcast_to(np.max(means + 40 * sd, axis=0)[:, None], lo.shape)
    lo, hi = lo.copy(), hi.copy()
    mean, std = mixture_moments(weights, means, variances)
    z0 = ndtri(np.asarray(probs, dtype=float))[None, :]
    x = np.clip(mean[:, None] + std[:, None] * z0, lo, hi)
    m, s = means.T[:, None, :], sd.T[:, None, :]  # P x 1 x n
    for _ in range(100):
        z = (x[..., None] - m) / s
        cdf = np.sum(weights * ndtr(z), axis=-1)
        pdf = np.sum(weights * np.exp(-0.5 * z**2) / (s * _SQRT_2PI), axis=-1)
        err = cdf - probs
        lo = np.where(err < 0, x, lo)
        hi = np.where(err > 0, x, hi)
        newton = x - err / np.maximum(pdf, 1e-300)
        inside = (newton >= lo) & (newton <= hi)  # a converged Newton step lands on lo or hi
        x_new = np.where(inside, newton, 0.5 * (lo + hi))
        if np.all(np.abs(x_new - x) <= 1e-12 * (1.0 + np.abs(x))):
            return x_new
        x = x_new
    return x

