"""The Matern-5/2 kernel as a batched function of per-task lengthscales.

GPyTorch's ``MaternKernel`` owns its lengthscale as a module parameter; the
hierarchical model needs the lengthscale to be a *function* of the hyperprior
parameters (``log ell_t = m + tau z_t``), so the kernel is evaluated here from a
tensor of lengthscales instead.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

_SQRT5 = math.sqrt(5.0)


def matern52(x1: Tensor, x2: Tensor, lengthscale: Tensor) -> Tensor:
    r"""Unit-variance Matern-5/2 correlation with ARD lengthscales.

    ``k(x, x') = (1 + sqrt5 r + 5/3 r^2) exp(-sqrt5 r)``, ``r = ||(x - x') / ell||``.

    Args:
        x1: ``batch x n x D`` inputs.
        x2: ``batch x m x D`` inputs.
        lengthscale: positive lengthscales broadcastable to ``batch x n x m x D``: pass
            ``ell[..., None, None, :]`` for one lengthscale per batch, or
            ``ell_rows[..., :, None, :]`` for one per row of ``x1`` (the task of that row).

    Returns:
        ``batch x n x m`` correlation matrix.

    The squared distance is clamped at ``1e-36`` before the square root so that
    the gradient at ``r = 0`` (diagonal entries) is finite, as in GPyTorch.
    """
    sq = ((x1.unsqueeze(-2) - x2.unsqueeze(-3)) / lengthscale).pow(2).sum(-1)
    r = sq.clamp_min(1e-36).sqrt()
    return (1.0 + _SQRT5 * r + (5.0 / 3.0) * sq) * torch.exp(-_SQRT5 * r)


def matern52_log_lengthscale_grad(x1: Tensor, x2: Tensor, lengthscale: Tensor) -> Tensor:
    r"""Derivative of :func:`matern52` with respect to each log lengthscale.

    ``dk / d log ell_j = (5/3) (x_j - x'_j)^2 / ell_j^2 (1 + sqrt5 r) exp(-sqrt5 r)``
    (from ``dk/dr = -(5/3) r (1 + sqrt5 r) exp(-sqrt5 r)`` and
    ``dr / d log ell_j = -(x_j - x'_j)^2 / (ell_j^2 r)``).

    Args: as :func:`matern52`.

    Returns:
        ``batch x n x m x D``: one derivative matrix per input dimension (last axis).
    """
    scaled = ((x1.unsqueeze(-2) - x2.unsqueeze(-3)) / lengthscale).pow(2)
    r = scaled.sum(-1, keepdim=True).clamp_min(1e-36).sqrt()
    return (5.0 / 3.0) * scaled * (1.0 + _SQRT5 * r) * torch.exp(-_SQRT5 * r)
