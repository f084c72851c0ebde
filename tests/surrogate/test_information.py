"""Fisher information of each task's log hyperparameters, against autograd's dK/dtheta."""

import pytest
import torch

from hbo.surrogate import HierarchicalGP
from hbo.surrogate.hierarchical_gp import MIN_NOISE
from hbo.surrogate.information import fisher_information


def covariance_of_task(model: HierarchicalGP, t: int, theta_t: dict) -> torch.Tensor:
    """Task ``t``'s within-task covariance as a function of its own log hyperparameters."""
    Z = model._Z[model._tasks == t]
    from hbo.surrogate.kernels import matern52

    K = theta_t["outputscale"].exp() * matern52(Z, Z, theta_t["lengthscale"].exp())
    if model.shared_function:
        a2 = theta_t["shared_scale"].exp()
        K = K + a2 * matern52(Z, Z, model.g_log_lengthscale.detach().exp())
    return K + (theta_t["noise"].exp() + MIN_NOISE) * torch.eye(len(Z), dtype=Z.dtype)


@pytest.mark.parametrize("sizes", [(9, 9, 9), (9, 5, 2)])
@pytest.mark.parametrize("shared", [False, True])
def test_fisher_information_matches_half_trace_formula(
    rng, related_fns, make_task_data, shared, sizes
):
    """Also with tasks of unequal sizes given in mixed order: the padded blocks' zeros
    and each task's rows in the N x N inverse are then exercised."""
    X, Y = make_task_data(rng, related_fns[:3], n=9, d=2)
    keep = torch.cat([torch.arange(9 * t, 9 * t + n) for t, n in enumerate(sizes)])
    keep = keep[torch.randperm(keep.numel())]
    model = HierarchicalGP(X[keep], Y[keep], shared_function=shared)
    with torch.no_grad():
        for z in model.z.values():
            z.normal_()
    theta = {k: v.detach() for k, v in model.log_hyperparameters().items()}
    L, _ = model._factor(theta)
    info = fisher_information(model, theta, L)
    K_full_inverse = None
    if shared:
        K_full = L @ L.T
        K_full_inverse = torch.linalg.inv(K_full)
    for t in range(3):
        names = list(theta)
        flat = torch.cat([theta[g][t].reshape(-1) for g in names])
        sizes = [theta[g][t].numel() for g in names]

        def K_of(v, t=t, names=names, sizes=sizes):
            parts = dict(zip(names, torch.split(v, sizes), strict=True))
            parts = {g: p.reshape(theta[g][t].shape) for g, p in parts.items()}
            return covariance_of_task(model, t, parts)

        jac = torch.autograd.functional.jacobian(K_of, flat)  # n x n x p
        rows = model._tasks == t
        # with g: the block of the full inverse, as the module documents
        P = K_full_inverse[rows][:, rows] if shared else torch.linalg.inv(K_of(flat))
        expected = torch.stack(
            [0.5 * torch.trace(P @ jac[..., j] @ P @ jac[..., j]) for j in range(flat.numel())]
        )
        ours = torch.cat([info[g][t].reshape(-1) for g in names])
        torch.testing.assert_close(ours, expected, rtol=1e-8, atol=1e-10)
