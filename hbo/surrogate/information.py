r"""Fisher information of each task's data about each of its own log hyperparameters.

For a Gaussian likelihood ``y ~ N(c, K(theta))`` the expected information about two
parameters is ``I_ij = 1/2 tr(K^{-1} dK/dtheta_i K^{-1} dK/dtheta_j)`` (e.g. Rasmussen &
Williams 2006, §5.4.1; Mardia & Marshall 1984). hbo needs only the diagonal for the
per-task log hyperparameters ``log theta_t``. ``dK/d log theta_t`` lives in task ``t``'s
block (with a shared function ``g``, the loading ``a_t^2`` also couples task ``t`` to the
others; only its within-task block is counted), so

    I_t = 1/2 tr(P_tt D_t P_tt D_t),   P_tt = (K^{-1})_{tt},   D_t = dK_tt / d log theta_t,

where the lengthscale's ``D_t`` (one per input) is the model kernel's
:meth:`~hbo.surrogate.kernels.Kernel.log_lengthscale_grad`, automatic differentiation of the
kernel itself, and the other groups' are the terms they scale (``d(s^2 k)/d log s^2 =
s^2 k``). With ``T`` tasks the cost is one inverse (``T`` blocks of ``n_t``, or one ``N x N``
with ``g``) plus ``T (D + 3)`` small products.

Its uses, one quantity (the ``sigma_j^2 = 1 / I`` of the Eight Schools):

* the fit's Laplace correction ``-1/2 sum_t log(1 + tau^2 I_t)``, which integrates the
  non-centered ``z`` out of the joint so that ``tau`` is a marginal-MAP estimate of the
  spread between tasks, not an artefact of the joint mode (see
  :meth:`HierarchicalGP.log_joint`);
* the shrinkage ``B_t = 1 / (1 + tau^2 I_t)`` (:func:`shrinkage`) of
  :mod:`hbo.surrogate.pooling`, which also decides where the fully Bayesian fit samples a
  task's value centered (:mod:`hbo.surrogate.nuts`).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor


def fisher_information(
    model, theta: Mapping[str, Tensor], L: Tensor,
    correlations: tuple[Tensor, Tensor | None] | None = None,
) -> dict[str, Tensor]:
    """Diagonal Fisher information per task and log hyperparameter.

    With ``P = (K^{-1})_{tt}`` zero outside task ``t``'s points, the padding of ``D`` drops
    out of ``tr(P D P D)``; the noise's ``D = sigma_t^2 I`` gives ``sigma_t^4 ||P||_F^2``.

    Args:
        model: a :class:`~hbo.surrogate.HierarchicalGP`.
        theta: its per-task log hyperparameters (``T x D`` lengthscales, ``T`` others).
        L: the Cholesky factor of the training covariance from ``model._factor(theta)``.
        correlations: ``model.correlations(theta)``, if already computed for ``L``.

    Returns:
        group -> ``T x D`` (lengthscale) or ``T`` (other groups), non-negative.
    """
    Zp, _ = model.padded_inputs()
    within, shared = model.correlations(theta) if correlations is None else correlations
    P = _inverse_blocks(model, L)
    ell = theta["lengthscale"].exp()[:, None, None, :]
    s2 = theta["outputscale"].exp()[:, None, None]
    info = {
        "outputscale": gaussian_information(P, s2 * within),
        "noise": 0.5 * theta["noise"].exp().pow(2) * P.pow(2).sum((-1, -2)),
        # T x D x n x n: one matrix per input dimension
        "lengthscale": gaussian_information(
            P[:, None], (s2[..., None] * model.kernel.log_lengthscale_grad(Zp, Zp, ell)).permute(
                0, 3, 1, 2)
        ),
    }
    if model.shared_function:
        rows = model._padded_rows
        a2 = theta["shared_scale"].exp()[:, None, None]
        info["shared_scale"] = gaussian_information(P, a2 * shared[rows[:, :, None],
                                                                  rows[:, None, :]])
    return info


def gaussian_information(P: Tensor, D: Tensor) -> Tensor:
    """``1/2 tr(P D P D)`` over the last two dimensions (batched): the expected information
    of ``y ~ N(mu, K)`` about a parameter of ``K`` with ``dK = D``, ``P = K^{-1}``."""
    A = P @ D
    return 0.5 * (A * A.transpose(-1, -2)).sum((-1, -2)).clamp_min(0.0)


def shrinkage(model) -> dict[str, Tensor]:
    """Per-task shrinkage ``B_t = 1 / (1 + tau^2 I_t)`` at the model's current parameters.

    ``B`` near 1: the task's data say little and its value is pulled to ``m``; near 0:
    the data dominate. Returns group -> ``T x D`` (lengthscale) or ``T``; zeros with one
    task (nothing to pool toward).
    """
    with torch.no_grad():
        theta = {g: v.detach() for g, v in model.log_hyperparameters().items()}
        info = fisher_information(model, theta, model._factor(theta)[0])
        if not model.hierarchical:
            return {g: torch.zeros_like(info[g]) for g in model.groups}
        return {g: 1.0 / (1.0 + model.tau(g).detach() ** 2 * info[g]) for g in model.groups}


def _inverse_blocks(model, L: Tensor) -> Tensor:
    """``T x n_max x n_max`` diagonal blocks ``(K^{-1})_{tt}``, zero on the padding."""
    inverse = torch.cholesky_inverse(L)
    if model.shared_function:  # N x N in training order: read each task's block
        rows = model._padded_rows
        inverse = inverse[rows[:, :, None], rows[:, None, :]]
    return torch.where(model._pair, inverse, torch.zeros_like(inverse))
