"""Correlation kernels of the hierarchical GP: the :class:`Kernel` protocol and its kernels.

Each kernel is one module here named as the kernel (``matern52``, ``matern32``), so
``HierarchicalGP(..., kernel="matern32")`` finds a new kernel without a registry to edit
(:func:`resolve_kernel`).
"""

from hbo.surrogate.kernels.base import Kernel, StationaryKernel, kernel_names, resolve_kernel
from hbo.surrogate.kernels.matern52 import Matern52

#: The default kernel (the hierarchical GP's, as BoTorch's ``SingleTaskGP``).
matern52 = Matern52()

__all__ = ["Kernel", "Matern52", "StationaryKernel", "kernel_names", "matern52", "resolve_kernel"]
