"""The kernel protocol of the hierarchical GP, and kernels found by name.

GPyTorch's kernels own their lengthscale as a module parameter; the hierarchical model
needs the lengthscale to be a *function* of the hyperprior parameters (``log ell_t = m +
tau z_t``), so a :class:`Kernel` is evaluated from a tensor of lengthscales instead.
"""

from __future__ import annotations

import importlib
import pkgutil
from abc import ABC, abstractmethod
from typing import ClassVar

import torch
from torch import Tensor

from hbo.errors import InvalidArgumentError


class Kernel(ABC):
    r"""A unit-variance correlation with ARD lengthscales, batched over leading dimensions.

    A kernel is one module of :mod:`hbo.surrogate.kernels` whose file name is its
    :attr:`name` (``"matern52"`` is ``hbo/surrogate/kernels/matern52.py``): defining the
    subclass there is all it takes for ``HierarchicalGP(..., kernel="<name>")`` to find
    it (:func:`resolve_kernel`). Instances hold no state, so they pickle, and
    :attr:`name` is the kernel's JSON form.

    Subclasses implement :meth:`__call__` (a stationary kernel: :class:`StationaryKernel`
    and its ``k(r^2)``). The derivative the Fisher information needs,
    :meth:`log_lengthscale_grad`, is by default automatic differentiation of the kernel,
    so a kernel can be written once; a subclass may override it with a cheaper
    formulation (a stationary kernel's closed-form slope), tested against this one.
    """

    #: Registry name, equal to the kernel's module name in :mod:`hbo.surrogate.kernels`.
    name: ClassVar[str]
    _registry: ClassVar[dict[str, type[Kernel]]] = {}

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if "name" in vars(cls):  # a concrete kernel, not an intermediate base
            Kernel._registry[cls.name] = cls

    @abstractmethod
    def __call__(self, x1: Tensor, x2: Tensor, lengthscale: Tensor) -> Tensor:
        """Correlation matrix ``k(x1_i, x2_j; ell)``.

        Args:
            x1: ``batch x n x D`` inputs.
            x2: ``batch x m x D`` inputs.
            lengthscale: positive lengthscales broadcastable to ``batch x n x m x D``: pass
                ``ell[..., None, None, :]`` for one lengthscale per batch, or
                ``ell_rows[..., :, None, :]`` for one per row of ``x1`` (the task of that
                row).

        Returns:
            ``batch x n x m`` correlations (1 on coincident inputs).
        """

    def log_lengthscale_grad(self, x1: Tensor, x2: Tensor, lengthscale: Tensor) -> Tensor:
        r"""``dk / d log ell_j`` for each input dimension ``j``, by forward-mode autodiff.

        Entry ``[..., i, k]`` of the correlation depends only on the lengthscales that
        broadcast to it, so the directional derivative along ``e_j`` (1 at dimension
        ``j`` of every lengthscale, 0 elsewhere) is each entry's own partial derivative:
        one Jacobian-vector product per dimension (``torch.func.jvp``, vectorized over
        ``j``), differentiable again by reverse mode (the MAP fit backpropagates through
        the Fisher information).

        Args: as :meth:`__call__`.

        Returns:
            ``batch x n x m x D``: one derivative matrix per input dimension (last axis).
        """
        log_ell = lengthscale.log()
        D = log_ell.shape[-1]
        tangents = torch.eye(D, dtype=log_ell.dtype, device=log_ell.device)
        tangents = tangents.reshape(D, *[1] * (log_ell.dim() - 1), D).expand(D, *log_ell.shape)

        def along(tangent: Tensor) -> Tensor:
            return torch.func.jvp(lambda v: self(x1, x2, v.exp()), (log_ell,), (tangent,))[1]

        return torch.func.vmap(along)(tangents).movedim(0, -1)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self)

    def __hash__(self) -> int:
        return hash(type(self))


class StationaryKernel(Kernel):
    r"""A kernel of the scaled squared distance ``r^2 = sum_j (x_j - x'_j)^2 / ell_j^2``.

    Subclasses implement :meth:`of_squared_distance`, the correlation as an elementwise
    function ``k(r^2)``, and :meth:`slope`, its derivative ``k'(r^2)`` in closed form.
    The lengthscale derivative then follows from the chain rule,

        dk / d log ell_j = k'(r^2) dr^2 / d log ell_j = -2 k'(r^2) (x_j - x'_j)^2 / ell_j^2,

    one pass over ``n m`` entries instead of the ``D`` passes over ``n m D`` entries of
    the generic :meth:`Kernel.log_lengthscale_grad`, which it equals (tested, with the
    gradients the MAP fit backpropagates through it). The closed form, not a
    Jacobian-vector product of ``k``, because ``torch.func.jvp`` runs elementwise
    functions through its reference decompositions: it took 60% of the Fisher
    information's time, and the Fisher information half of each MAP step.
    """

    @abstractmethod
    def of_squared_distance(self, sq: Tensor) -> Tensor:
        """Correlation ``k(r^2)``, elementwise in ``sq = r^2 >= 0``; 1 at ``sq = 0``."""

    @abstractmethod
    def slope(self, sq: Tensor) -> Tensor:
        """``dk / d(r^2)``, elementwise in ``sq = r^2 >= 0`` (finite at 0)."""

    def __call__(self, x1: Tensor, x2: Tensor, lengthscale: Tensor) -> Tensor:
        return self.of_squared_distance(_scaled_squares(x1, x2, lengthscale).sum(-1))

    def log_lengthscale_grad(self, x1: Tensor, x2: Tensor, lengthscale: Tensor) -> Tensor:
        scaled = _scaled_squares(x1, x2, lengthscale)
        return -2.0 * self.slope(scaled.sum(-1)).unsqueeze(-1) * scaled


def distance(sq: Tensor) -> Tensor:
    """``r = sqrt(r^2)`` for a kernel of ``r``, the square clamped at ``1e-36`` first so
    that the gradient at ``r = 0`` (diagonal entries) is finite, as in GPyTorch."""
    return sq.clamp_min(1e-36).sqrt()


def _scaled_squares(x1: Tensor, x2: Tensor, lengthscale: Tensor) -> Tensor:
    """``batch x n x m x D`` terms ``(x1_i - x2_k)_j^2 / ell_j^2`` of the squared distance."""
    return ((x1.unsqueeze(-2) - x2.unsqueeze(-3)) / lengthscale).pow(2)

def kernel_names() -> list[str]:
    """Names :func:`resolve_kernel` accepts: the kernel modules of :mod:`hbo.surrogate.kernels`."""
    package = importlib.import_module("hbo.surrogate.kernels")
    return sorted(m.name for m in pkgutil.iter_modules(package.__path__) if m.name != "base")


def resolve_kernel(kernel: str | Kernel) -> Kernel:
    """A :class:`Kernel` from itself or its registry name (``"matern52"``, ``"matern32"``).

    Raises:
        InvalidArgumentError: an unknown name, or neither a name nor a Kernel.
    """
    if isinstance(kernel, Kernel):
        return kernel
    if not isinstance(kernel, str):
        raise InvalidArgumentError(
            f"kernel must be a name or an hbo.surrogate.kernels.Kernel, got {type(kernel).__name__}"
        )
    names = kernel_names()
    if kernel not in names:
        raise InvalidArgumentError(f"kernel: unknown name {kernel!r}; accepted: {names}")
    importlib.import_module(f"hbo.surrogate.kernels.{kernel}")
    return Kernel._registry[kernel]()
