"""The Matern-3/2 kernel: rougher functions than the default Matern-5/2."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from hbo.surrogate.kernels.base import StationaryKernel, distance

_SQRT3 = math.sqrt(3.0)


class Matern32(StationaryKernel):
    r"""Unit-variance Matern-3/2 correlation with ARD lengthscales.

    ``k(r) = (1 + sqrt3 r) exp(-sqrt3 r)``, ``r = ||(x - x') / ell||`` (Rasmussen &
    Williams 2006, eq. 4.17 with ``nu = 3/2``): sample paths once differentiable, for
    objectives rougher than the Matern-5/2 default assumes.
    """

    name = "matern32"

    def of_squared_distance(self, sq: Tensor) -> Tensor:
        r = distance(sq)
        return (1.0 + _SQRT3 * r) * torch.exp(-_SQRT3 * r)

    def slope(self, sq: Tensor) -> Tensor:
        """``dk/dr / (2 r) = -3/2 exp(-sqrt3 r)``."""
        return -1.5 * torch.exp(-_SQRT3 * distance(sq))
