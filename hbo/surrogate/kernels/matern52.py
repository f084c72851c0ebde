"""The Matern-5/2 kernel, the hierarchical GP's default (as BoTorch's ``SingleTaskGP``)."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from hbo.surrogate.kernels.base import StationaryKernel, distance

_SQRT5 = math.sqrt(5.0)


class Matern52(StationaryKernel):
    r"""Unit-variance Matern-5/2 correlation with ARD lengthscales.

    ``k(r) = (1 + sqrt5 r + 5/3 r^2) exp(-sqrt5 r)``, ``r = ||(x - x') / ell||``
    (Rasmussen & Williams 2006, eq. 4.17 with ``nu = 5/2``): twice differentiable sample
    paths, the usual default for Bayesian optimization (Snoek et al. 2012).
    """

    name = "matern52"

    def of_squared_distance(self, sq: Tensor) -> Tensor:
        r = distance(sq)
        return (1.0 + _SQRT5 * r + (5.0 / 3.0) * sq) * torch.exp(-_SQRT5 * r)

    def slope(self, sq: Tensor) -> Tensor:
        """``dk/dr / (2 r) = -5/6 (1 + sqrt5 r) exp(-sqrt5 r)``."""
        r = distance(sq)
        return (-5.0 / 6.0) * (1.0 + _SQRT5 * r) * torch.exp(-_SQRT5 * r)
