r"""The hierarchical GP's constant means, solved for given the kernel hyperparameters.

Each task ``t`` has a constant mean ``c_t``: ``y ~ N(H c, K(theta))`` with ``H`` the ``N x T``
task indicator matrix. Given ``theta`` the constants are a linear regression with
Gaussian errors, so they need no optimizer and no sampler. With ``K = L L^T``,
``b = L^{-1} y``, ``A = L^{-1} H`` and a prior ``c ~ N(0, I / precision)``,

    M = A^T A + precision I = H^T K^{-1} H + precision I,   c_hat = M^{-1} H^T K^{-1} y,
    min_c (y - H c)^T K^{-1} (y - H c) + precision |c|^2 = b^T b - u^T u,   u = L_M^{-1} A^T b,

the generalized least squares estimate and its residual quadratic form
(:func:`constant_solve`). Without ``g``, ``K`` is block diagonal and ``M`` diagonal (one
solve per task block).

**The MAP fit** (:meth:`HierarchicalGP.log_joint`, ``precision = 0``) maximizes over ``c``
under a flat prior, as BoTorch's ``ConstantMean`` is fitted: ``max_c log p(y | theta, c)``
is the likelihood at ``c_hat``, so the MAP over ``theta`` of this profile is the joint MAP
of ``(theta, c)`` (the concentrated likelihood of kriging, e.g. DiceKriging: Roustant,
Ginsbourger & Deville 2012, J. Stat. Softw. 51). The optimizer then does not walk the
ridge where a task's constant and a long-lengthscale ``g`` trade the task's level: on
warm-started fits of a Ray Tune sweep's data (2 sources x 20 points and 4 to 18 target
points, 30 fits per design, 3 designs; ``experiments/fit_evaluations.py``), 780-825
objective evaluations instead of 1002-1293 with ``c`` among L-BFGS-B's variables, the
fits' summed log joint higher in each design (``experiments/results/profiled_constants.md``).

**The fully Bayesian fit** (:meth:`HierarchicalGP.constant_marginal`) integrates ``c`` out
under a proper prior, ``s = CONSTANT_PRIOR_SCALE``, ``precision = 1 / s^2``:

    log int N(y; H c, K) N(c; 0, s^2 I) dc = log N(y; 0, K + s^2 H H^T)
        = -1/2 (b^T b - u^T u) - log|L| - log|L_M| - T log s - N/2 log 2 pi,
    c | theta, y ~ N(c_hat, M^{-1}).

NUTS samples the hyperparameters from this marginal and draws ``c`` exactly from its
conditional: ``c`` and a long-lengthscale GP both shift a task's level, and sampling ``c``
jointly leaves that ridge to the sampler. Why a proper prior: under a flat one (``s ->
inf``, REML, Harville 1974) the marginal projects every task's constant direction out, so
the constant part of the shared function ``g`` costs nothing. ``g`` then drifts to long
lengthscales and huge loadings (on the Branin family of ``experiments/transfer_benchmark.py``
``log a_t^2 ~ 8``, the target constant's conditional sd ~200), a ridge bounded only by the
hyperprior that the chains crossed slowly. With ``s = 2`` (the data are standardized per
task, so their level is 0 within about one sd) the same fit put ``log a_t^2`` at ~3.2 and
the constant's sd at 1.4. The MAP fit needs no such prior: at the mode ``K`` itself already
charges ``g``'s constant part through ``log|K|``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from hbo.errors import ModelFittingError


def constant_solve(
    model, L: Tensor, y: Tensor, precision: float, traceable: bool = False
) -> tuple[Tensor, Tensor, Tensor]:
    """The constants' generalized least squares under a ``N(0, I / precision)`` prior.

    Args:
        model: a :class:`~hbo.surrogate.HierarchicalGP`.
        L: its Cholesky factor at zero constants (``N x N`` with ``g``, else ``T x n_max x
            n_max`` padded blocks), from ``model._factor``.
        y: the residual at zero constants from the same call (``N``, or ``T x n_max``).
        precision: the prior's precision (0: flat).
        traceable: NaN instead of an error where ``M`` has no factor (a traced graph's ``K``
            failed; :func:`~hbo.surrogate.linalg.robust_cholesky`).

    Returns:
        ``b^T b - u^T u`` (scalar), ``c_hat`` (``T``) and ``L_M`` (``T x T``), as in the
        module doc.
    """
    if model.shared_function:
        Ab = torch.linalg.solve_triangular(L, torch.cat([model._H, y[:, None]], -1), upper=False)
        A, b = Ab[:, :-1], Ab[:, -1]
        M, h = A.T @ A, A.T @ b
    else:  # padded blocks: column t of H is task t's mask, zero on the padding
        Hy = torch.stack([model._mask.to(L.dtype), y], -1)  # T x n_max x 2
        Ab = torch.linalg.solve_triangular(L, Hy, upper=False)
        A, b = Ab[..., 0], Ab[..., 1]
        M, h = torch.diag((A * A).sum(-1)), (A * b).sum(-1)
    if precision:
        M = M + precision * torch.eye(model.num_tasks, dtype=M.dtype)
    L_M, info = torch.linalg.cholesky_ex(M)  # M is NaN where a traceable K failed
    if traceable:
        L_M = L_M + torch.where(info != 0, math.nan, 0.0).to(M.dtype)
    elif info:
        raise ModelFittingError("H^T K^-1 H (+ prior) is not positive definite (K not finite)")
    u = torch.linalg.solve_triangular(L_M, h.unsqueeze(-1), upper=False).squeeze(-1)
    c_hat = torch.cholesky_solve(h.unsqueeze(-1), L_M).squeeze(-1)
    return b.pow(2).sum() - u.pow(2).sum(), c_hat, L_M
