"""Cholesky factorization with jitter on demand, and batched triangular solves."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from hbo.errors import ModelFittingError

_JITTERS = (1e-8, 1e-6, 1e-4)


def robust_cholesky(K: Tensor, traceable: bool = False) -> tuple[Tensor, float]:
    """Cholesky factor of (a batch of) ``K``, adding diagonal jitter only if needed.

    Returns the factor and the jitter used (relative to the mean diagonal; 0 if none).
    Tried in order: none, then ``1e-8, 1e-6, 1e-4``. The fit reports the jitter once
    instead of warning on every likelihood evaluation.

    ``traceable=True`` never branches in Python on the values of ``K`` (a traced graph
    cannot): a first factorization without gradient decides, per matrix, whether the
    first jitter level is added, the second factorization (the one gradients flow
    through) uses it, and the factor is NaN where that still fails, so that a sampler's
    energy is NaN there and the step is rejected. The returned jitter is then 0 (the
    jitter is a tensor in the graph). Always adding the jitter instead would be simpler
    but is not harmless: relative to the mean diagonal, it grows with the outputscale
    like extra noise, and on the Branin family of :mod:`hbo.surrogate.nuts` NUTS then
    saturated its tree depth in every transition (3 seeds).
    """
    if traceable:
        _, needs_jitter = torch.linalg.cholesky_ex(K.detach())
        scale = K.diagonal(dim1=-2, dim2=-1).mean(-1).detach()
        jitter = torch.where(needs_jitter != 0, _JITTERS[0] * scale, 0.0)[..., None, None]
        eye = torch.eye(K.shape[-1], dtype=K.dtype, device=K.device)
        L, info = torch.linalg.cholesky_ex(K + jitter * eye)
        failed = torch.where(info != 0, math.nan, 0.0).to(K.dtype)
        return L + failed[..., None, None], 0.0
    L, info = torch.linalg.cholesky_ex(K)
    if not info.any():
        return L, 0.0
    eye = torch.eye(K.shape[-1], dtype=K.dtype, device=K.device)
    scale = K.diagonal(dim1=-2, dim2=-1).mean().detach()
    for jitter in _JITTERS:
        L, info = torch.linalg.cholesky_ex(K + jitter * scale * eye)
        if not info.any():
            return L, jitter
    raise ModelFittingError(
        f"kernel matrix is not positive definite even with jitter {_JITTERS[-1]:g}"
    )


def solve_lower(L: Tensor, B: Tensor) -> Tensor:
    """``L^{-1} B`` for ``S x M x M`` factors and ``batch x S x M x k`` right-hand sides.

    The batch is folded into the columns, so each factor is used once instead of being
    broadcast (copied) over the batch: ``batch x S`` copies of an ``M x M`` matrix would
    dominate the memory of an acquisition call.
    """
    batch, (S, M, k) = B.shape[:-3], B.shape[-3:]
    cols = B.reshape(-1, S, M, k).permute(1, 2, 0, 3).reshape(S, M, -1)
    V = torch.linalg.solve_triangular(L, cols, upper=False)
    return V.reshape(S, M, -1, k).permute(2, 0, 1, 3).reshape(*batch, S, M, k)


def condition_gaussian(mean: Tensor, cov: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    r"""Condition a joint Gaussian ``[a; b] ~ N(mean, cov)`` on its last block ``b = y``.

    With ``a`` the first ``n`` entries and ``b`` the last ``n'`` (``n' = y.shape[-1]``),

        a | b = y ~ N(mu_a + V^T L^{-1}(y - mu_b),  S_aa - V^T V),
        L L^T = S_bb,   V = L^{-1} S_ba,

    (Rasmussen & Williams 2006, eq. A.6). Batched: ``... x (n + n')`` mean, ``... x (n + n')
    x (n + n')`` covariance and ``... x n'`` values. Returns ``... x n`` and ``... x n x n``.
    """
    n = mean.shape[-1] - y.shape[-1]
    L, _ = robust_cholesky(cov[..., n:, n:])
    V = torch.linalg.solve_triangular(L, cov[..., n:, :n], upper=False)
    r = torch.linalg.solve_triangular(L, (y - mean[..., n:]).unsqueeze(-1), upper=False)
    a_mean = mean[..., :n] + (V.transpose(-1, -2) @ r).squeeze(-1)
    return a_mean, cov[..., :n, :n] - V.transpose(-1, -2) @ V
