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
        return self.of_squared_distance(squared_distance(x1, x2, lengthscale))

    def log_lengthscale_grad(self, x1: Tensor, x2: Tensor, lengthscale: Tensor) -> Tensor:
        scaled = _scaled_squares(x1, x2, lengthscale)
        return -2.0 * self.slope(scaled.sum(-1)).unsqueeze(-1) * scaled


#: Floor of the lengthscales in :func:`squared_distance`'s product form.
MIN_PRODUCT_LENGTHSCALE = 1e-30


def distance(sq: Tensor) -> Tensor:
    """``r = sqrt(r^2)`` for a kernel of ``r``, the square clamped at ``1e-36`` first so
    that the gradient at ``r = 0`` (diagonal entries) is finite, as in GPyTorch."""
    return sq.clamp_min(1e-36).sqrt()


def squared_distance(x1: Tensor, x2: Tensor, lengthscale: Tensor) -> Tensor:
    r"""``batch x n x m`` scaled squared distances ``r^2 = sum_j w_ij (x1_ij - x2_kj)^2``,
    ``w = 1 / ell^2`` (arguments as :meth:`Kernel.__call__`).

    Expanded into products, ``sum_j w_ij x1_ij^2 - 2 (w x1) x2^T + w (x2^2)^T`` (matrix
    products over ``j``; GPyTorch's ``Distance._dist`` with one lengthscale per batch),
    so that the ``n x m x D`` differences, their squares and their gradients are never
    formed. On 312 points in 7 dimensions (stage A's fit,
    :mod:`hbo.surrogate.source_posterior`) the kernel's value and gradient took 6 ms
    against 23 ms for the differences. What the expansion costs is cancellation, an
    error of about ``1e-16`` times the terms' size: the inputs are first shifted to
    ``x1``'s mean (the distances do not change), the result is clamped at 0, and the
    diagonal of ``x1``'s distances to itself is set to exactly 0. A coincident pair
    elsewhere then stays within ``1e-16 D / ell^2`` of 0 for inputs in the unit cube,
    which moves its correlation by less than ``1e-6`` for lengthscales above ``1e-5``.
    Lengthscales are floored at ``MIN_PRODUCT_LENGTHSCALE``, so that an underflowed one
    (a line search's trial step) gives large finite distances, not ``inf * 0``. A
    lengthscale that varies along ``x2``'s rows cannot be factored so: the differences
    are summed.
    """
    if lengthscale.dim() >= 2 and lengthscale.shape[-2] != 1:
        return _scaled_squares(x1, x2, lengthscale).sum(-1)
    w = lengthscale.clamp_min(MIN_PRODUCT_LENGTHSCALE).pow(-2)
    w = w.squeeze(-2) if w.dim() >= 3 else w.reshape(1, -1)  # batch x (n or 1) x D
    shift = x1.detach().mean(-2, keepdim=True)
    x1c, x2c = x1 - shift, x2 - shift
    wx1 = w * x1c
    sq = ((wx1 * x1c).sum(-1, keepdim=True) - 2.0 * wx1 @ x2c.transpose(-1, -2)
          + w @ x2c.pow(2).transpose(-1, -2)).clamp_min(0.0)
    if x1 is x2:
        sq.diagonal(dim1=-2, dim2=-1).fill_(0.0)
    return sq


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
