"""A GP posterior whose marginals are computed without its joint covariance.

BoTorch's ``GPyTorchPosterior`` holds a multivariate normal over all ``q`` points asked
for. GPyTorch's own models make its covariance lazy, so ``posterior(X).mean`` and
``.variance`` at many points cost ``O(q n^2)``; a posterior built from a dense ``q x q``
covariance costs ``O(q^2 n)`` time and ``q^2`` memory for the same two numbers per
point. Prediction at many points reads only those: Ax's sensitivity analysis asks for
4096 points at a time, its slice and contour plots and ``predict`` for grids.
:class:`MarginalFirstPosterior` therefore computes the means and variances on their
own, and the joint distribution only when something needs it (sampling, a posterior
transform, the distribution itself), once.

Its samples from base samples (what Monte Carlo acquisition functions differentiate, at
every step of their optimizer) are GPyTorch's, ``mean + L eps`` with the same root ``L`` of
the covariance, but the product is a plain tensor product: GPyTorch multiplies by the root
as a ``LinearOperator``, through an autograd function whose backward (a bilinear
derivative) took a fifth of the gradient of qLogNEI on the Ray Tune sweep's asks.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack

import torch
from botorch.posteriors.gpytorch import GPyTorchPosterior
from gpytorch.distributions import MultivariateNormal
from linear_operator import settings as linop_settings
from torch import Tensor


class MarginalFirstPosterior(GPyTorchPosterior):
    """A ``GPyTorchPosterior`` built on first use; ``mean`` and ``variance`` without it.

    Args:
        joint: Builds the ``MultivariateNormal`` (``MultitaskMultivariateNormal`` with
            several outputs) over all points; called at most once.
        marginals: Returns the means and variances, each ``batch x q x m`` (``m``
            outputs) as :attr:`mean` and :attr:`variance` of the joint would; called at
            most once.
        multi_output: Whether the joint is a ``MultitaskMultivariateNormal``.
        like: A tensor of the posterior's dtype and device.
    """

    def __init__(
        self,
        joint: Callable[[], MultivariateNormal],
        marginals: Callable[[], tuple[Tensor, Tensor]],
        multi_output: bool,
        like: Tensor,
    ) -> None:
        # TorchPosterior.__init__ would need the distribution; set its fields here
        self._joint_fn, self._marginals_fn = joint, marginals
        self._joint: MultivariateNormal | None = None
        self._moments: tuple[Tensor, Tensor] | None = None
        self._is_mt = multi_output
        self._device, self._dtype = like.device, like.dtype

    @property
    def distribution(self) -> MultivariateNormal:
        """The joint distribution over all points (built on first access)."""
        if self._joint is None:
            self._joint = self._joint_fn()
        return self._joint

    def _marginals(self) -> tuple[Tensor, Tensor]:
        if self._moments is None:
            if self._joint is not None:  # already paid for: read it
                self._moments = (super().mean, super().variance)
            else:
                self._moments = self._marginals_fn()
        return self._moments

    @property
    def mean(self) -> Tensor:
        """``batch x q x m`` posterior means."""
        return self._marginals()[0]

    @property
    def variance(self) -> Tensor:
        """``batch x q x m`` posterior variances."""
        return self._marginals()[1]

    def rsample_from_base_samples(self, sample_shape: torch.Size, base_samples: Tensor) -> Tensor:
        """BoTorch's reparameterized samples ``mean + L eps`` (module doc), ``sample_shape x
        batch x q x 1`` for one output; several outputs as BoTorch draws them."""
        if self._is_mt:
            return super().rsample_from_base_samples(sample_shape, base_samples)
        if base_samples.shape[: len(sample_shape)] != sample_shape:
            raise RuntimeError(
                "`sample_shape` disagrees with shape of `base_samples`. "
                f"Got {sample_shape=} and {base_samples.shape=}."
            )
        mvn = self.distribution
        with ExitStack() as stack:  # as BoTorch: Cholesky, unless the user chose otherwise
            if linop_settings._fast_covar_root_decomposition.is_default():
                stack.enter_context(linop_settings._fast_covar_root_decomposition(False))
            root = mvn.lazy_covariance_matrix.root_decomposition().root.to_dense()
        loc = mvn.loc
        # GPyTorch's MultivariateNormal.rsample: batch x rank x samples, times the root
        eps = base_samples.reshape(-1, *loc.shape[:-1], base_samples.shape[-1])
        eps = eps.permute(*range(1, loc.dim() + 1), 0)[..., : root.shape[-1], :]
        samples = (root @ eps + loc.unsqueeze(-1)).permute(-1, *range(loc.dim()))
        return samples.reshape(*base_samples.shape[: base_samples.dim() - loc.dim()],
                               *loc.shape).unsqueeze(-1)
