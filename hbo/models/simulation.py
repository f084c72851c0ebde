r"""Task families drawn from the hierarchical GP's own hyperprior, for calibration checks.

For a known hyperprior of the log lengthscale (:class:`~hbo.models.Hyperprior`),

    m ~ N(loc, scale^2),   tau ~ HalfNormal(tau_scale),   log ell_t = m + tau z_t,
    z_t ~ N(0, 1),   f_t ~ GP(0, k_52(.; ell_t)),   y = f_t(x) + eps,   eps ~ N(0, noise),

on ``n`` uniform points of ``[0, 1]`` per task. Posterior intervals of ``m`` and ``tau``
computed from such data cover the drawn values at their nominal rate when the sampler is
right (Cook, Gelman & Rubin 2006, doi:10.1198/106186006X136976). Only the lengthscale
group is drawn: the model standardizes each task's outputs, which rescales the
outputscale and noise by data-dependent factors, so their drawn values are not the
model's; lengthscales are invariant to that scaling.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from hbo.models.priors import Hyperprior


@dataclass(frozen=True)
class SimulatedFamily:
    """Drawn hyperparameters and data: ``train_X`` is ``(T n) x 2`` (x, task), ``train_Y``
    ``(T n) x 1``."""

    m: float
    tau: float
    log_lengthscales: np.ndarray
    train_X: Tensor
    train_Y: Tensor


def simulate_family(
    rng: np.random.Generator, prior: Hyperprior, T: int, n: int, noise: float = 0.01
) -> SimulatedFamily:
    """Draw ``(m, tau, z)`` from ``prior`` (``loc`` must be set) and ``T`` tasks of data."""
    m = rng.normal(prior.loc, prior.scale)
    tau = abs(rng.normal(0.0, prior.tau_scale))
    log_ell = m + tau * rng.standard_normal(T)
    Xs, Ys = [], []
    for t in range(T):
        x = np.sort(rng.random(n))
        r = np.abs(x[:, None] - x[None, :]) / math.exp(log_ell[t])
        K = (1 + math.sqrt(5) * r + 5 / 3 * r**2) * np.exp(-math.sqrt(5) * r)
        f = np.linalg.cholesky(K + 1e-9 * np.eye(n)) @ rng.standard_normal(n)
        Xs.append(np.column_stack([x, np.full(n, t)]))
        Ys.append(f + math.sqrt(noise) * rng.standard_normal(n))
    X = torch.tensor(np.vstack(Xs))
    Y = torch.tensor(np.concatenate(Ys)).unsqueeze(-1)
    return SimulatedFamily(float(m), float(tau), log_ell, X, Y)
