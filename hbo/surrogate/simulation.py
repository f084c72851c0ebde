r"""Task families drawn from the hierarchical GP's own prior, for calibration checks.

Every hyperparameter group of the model without ``g`` is drawn from its hyperprior
(:class:`~hbo.surrogate.Hyperprior`; the ones given, else
:func:`~hbo.surrogate.priors.default_hyperpriors`),

    m ~ N(loc, scale^2),   tau ~ HalfNormal(tau_scale),   theta_t = m + tau z_t,
    z_t ~ N(0, 1),   c_t ~ N(0, s_c^2),
    y_t ~ N(c_t, s2_t K(ell_t) + (sigma2_t + MIN_NOISE) I),

on ``n`` uniform points of ``[0, 1]`` per task, ``K`` the model's kernel (the same
:class:`~hbo.surrogate.kernels.Kernel` object, Matern-5/2 by default). The outputs are on the
model's standardized scale: fit them with ``HierarchicalGP(..., standardize=False)``, and the
family is a draw from exactly the model's prior predictive. (Standardizing them again
would rescale each task's outputscale and noise by its sample variance; a slowly varying
task's small sample variance then inflates its outputscale beyond what the prior
expects, which the model explains by shorter lengthscales: a long-lengthscale family's
``m`` was missed from below in 4 of 10 replications that way.) The constants have the
fully Bayesian model's prior, ``s_c = CONSTANT_PRIOR_SCALE``
(:meth:`HierarchicalGP.constant_marginal`).

Posterior intervals computed from such data cover the drawn values at their nominal rate
when the sampler is right (Cook, Gelman & Rubin 2006, doi:10.1198/106186006X136976).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from hbo.errors import InvalidArgumentError
from hbo.surrogate.hierarchical_gp import CONSTANT_PRIOR_SCALE
from hbo.surrogate.kernels import Kernel, resolve_kernel
from hbo.surrogate.priors import MIN_NOISE, Hyperprior, default_hyperpriors, model_groups


@dataclass(frozen=True)
class SimulatedFamily:
    """Drawn hyperparameters and data: ``m[g]``, ``tau[g]`` and ``theta[g]`` (``T``) per
    group, the constant means ``constant`` (``T``); ``train_X`` is ``(T n) x 2`` (x,
    task), ``train_Y`` ``(T n) x 1``."""

    m: dict[str, float]
    tau: dict[str, float]
    theta: dict[str, np.ndarray]
    constant: np.ndarray
    train_X: Tensor
    train_Y: Tensor

    def truths(self) -> dict[str, float]:
        """The drawn ``m`` and ``log tau`` of each group, keyed as the NUTS samples are
        (``"m.lengthscale"``, ``"log_tau.lengthscale"``, ...)."""
        return {key: value for group in self.m for key, value in (
            (f"m.{group}", self.m[group]), (f"log_tau.{group}", math.log(self.tau[group])))}


def simulate_family(rng: np.random.Generator, hyperpriors: Mapping[str, Hyperprior],
                    T: int, n: int, kernel: str | Kernel = "matern52") -> SimulatedFamily:
    """Draw every group's ``(m, tau, z)`` and ``T`` tasks of ``n`` points from the prior
    predictive of a model with ``hyperpriors`` (groups not given: the defaults) and
    ``kernel`` (as ``HierarchicalGP``'s). The lengthscale's ``loc`` must be set (its
    default depends on the dimension)."""
    kernel = resolve_kernel(kernel)
    priors = {**default_hyperpriors(), **hyperpriors}
    if priors["lengthscale"].loc is None:
        raise InvalidArgumentError("hyperpriors['lengthscale'].loc must be set, got None")
    m, tau, theta = {}, {}, {}
    for group in model_groups(shared_function=False):
        prior = priors[group]
        m[group] = float(rng.normal(prior.loc, prior.scale))
        tau[group] = float(abs(rng.normal(0.0, prior.tau_scale)))
        theta[group] = m[group] + tau[group] * rng.standard_normal(T)
    Xs, Ys = [], []
    for t in range(T):
        x = np.sort(rng.random(n))
        x_col = torch.from_numpy(x).unsqueeze(-1)
        ell = torch.tensor([math.exp(theta["lengthscale"][t])], dtype=torch.double)
        K = math.exp(theta["outputscale"][t]) * kernel(x_col, x_col, ell).numpy()
        K += (math.exp(theta["noise"][t]) + MIN_NOISE) * np.eye(n)
        Xs.append(np.column_stack([x, np.full(n, t)]))
        Ys.append(np.linalg.cholesky(K) @ rng.standard_normal(n))
    levels = rng.normal(0.0, CONSTANT_PRIOR_SCALE, T)  # drawn last: the rest as before
    X = torch.tensor(np.vstack(Xs))
    Y = torch.tensor(np.concatenate(Ys) + np.repeat(levels, n)).unsqueeze(-1)
    return SimulatedFamily(m, tau, theta, levels, X, Y)
