"""Conjugate algebra of the normal hierarchical model, conditional on ``tau``.

Model (BDA3 §5.4): ``y_j | theta_j ~ N(theta_j, sigma_j^2)``, ``theta_j | mu, tau ~
N(mu, tau^2)``, ``j = 1..J``, and ``mu`` flat or ``N(m0, s0^2)``. With
``d_j = sigma_j^2 + tau^2`` the group means are marginally ``y_j | mu, tau ~ N(mu, d_j)``.

- ``mu | tau, y ~ N(mu_hat, V_mu)``, ``V_mu^-1 = [1/s0^2] + sum_j 1/d_j``,
  ``mu_hat = V_mu ([m0/s0^2] + sum_j y_j / d_j)`` (bracketed terms only for a normal prior).
- ``log p(y | tau) = 1/2 log V_mu - 1/2 sum_j log d_j - 1/2 sum_j (y_j - mu_hat)^2 / d_j
  [- 1/2 (mu_hat - m0)^2 / s0^2] + const`` (BDA3 eq. 5.21 for the flat prior).
- ``theta_j | mu, tau, y ~ N((1 - B_j) y_j + B_j mu, (1 - B_j) sigma_j^2)`` with the
  shrinkage ``B_j = sigma_j^2 / d_j``; integrating ``mu``: mean ``(1 - B_j) y_j + B_j mu_hat``,
  variance ``(1 - B_j) sigma_j^2 + B_j^2 V_mu``.

All functions are vectorized over a 1-D array of ``tau`` values (``n``) and work in chunks of
``tau`` so that ``n x J`` temporaries stay small for very many groups. Everything is written
with ``d_j`` and ``B_j = sigma_j^2 / d_j``, which stay finite at ``tau = 0`` (``B_j = 1``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

_CELLS = 2_000_000  # n x J cells per chunk


@dataclass(frozen=True)
class GroupData:
    """Group estimates ``y`` (shape ``J``) with sampling variances ``var = sigma^2`` (shape ``J``)
    and the optional normal prior on ``mu`` as ``(m0, s0)`` (``None``: flat)."""

    y: np.ndarray
    var: np.ndarray
    mu_prior: tuple[float, float] | None


def mu_given_tau(data: GroupData, tau: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(mu_hat, V_mu)``, each shape ``n``, of ``mu | tau, y``."""
    precision = np.empty(len(tau))
    weighted = np.empty(len(tau))
    for rows, d in _chunks(data, tau):
        precision[rows] = np.sum(1.0 / d, axis=1)
        weighted[rows] = np.sum(data.y / d, axis=1)
    if data.mu_prior is not None:
        m0, s0 = data.mu_prior
        precision += 1.0 / s0**2
        weighted += m0 / s0**2
    return weighted / precision, 1.0 / precision


def log_marginal(data: GroupData, tau: np.ndarray) -> np.ndarray:
    """``log p(y | tau)`` up to a constant, shape ``n``."""
    mu_hat, v_mu = mu_given_tau(data, tau)
    out = 0.5 * np.log(v_mu)
    for rows, d in _chunks(data, tau):
        resid = data.y - mu_hat[rows, None]
        out[rows] -= 0.5 * np.sum(np.log(d) + resid**2 / d, axis=1)
    if data.mu_prior is not None:
        m0, s0 = data.mu_prior
        out -= 0.5 * (mu_hat - m0) ** 2 / s0**2
    return out


def theta_given_tau(
    data: GroupData, tau: np.ndarray, mu_hat: np.ndarray, v_mu: np.ndarray, groups: slice
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance of ``theta_j | tau, y`` for the selected groups, each ``n x J_sel``."""
    var = data.var[groups]
    shrink = var / (var + tau[:, None] ** 2)
    mean = (1.0 - shrink) * data.y[groups] + shrink * mu_hat[:, None]
    variance = (1.0 - shrink) * var + shrink**2 * v_mu[:, None]
    return mean, variance


def shrinkage(data: GroupData, tau: np.ndarray) -> np.ndarray:
    """``B_j = sigma_j^2 / (sigma_j^2 + tau^2)``, shape ``n x J``."""
    return data.var / (data.var + np.asarray(tau, dtype=float)[:, None] ** 2)


def _chunks(data: GroupData, tau: np.ndarray) -> Iterator[tuple[slice, np.ndarray]]:
    step = max(1, _CELLS // len(data.y))
    for start in range(0, len(tau), step):
        rows = slice(start, start + step)
        yield rows, data.var + tau[rows, None] ** 2
