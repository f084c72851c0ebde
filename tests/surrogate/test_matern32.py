"""The Matern-3/2 kernel: GPyTorch's values, and a HierarchicalGP fitted with it."""

import numpy as np
import torch
from botorch.models import SingleTaskGP
from gpytorch.kernels import MaternKernel, ScaleKernel
from gpytorch.likelihoods import GaussianLikelihood

from hbo.surrogate import HierarchicalGP
from hbo.surrogate.hierarchical_gp import MIN_NOISE
from hbo.surrogate.kernels import resolve_kernel


def test_matern32_equals_gpytorch():
    g = torch.Generator().manual_seed(0)
    x1 = torch.rand(2, 6, 3, dtype=torch.double, generator=g)
    x2 = torch.rand(2, 4, 3, dtype=torch.double, generator=g)
    ell = torch.rand(2, 3, dtype=torch.double, generator=g) + 0.1
    ours = resolve_kernel("matern32")(x1, x2, ell[:, None, None, :])
    for b in range(2):
        theirs = MaternKernel(nu=1.5, ard_num_dims=3).double()
        theirs.lengthscale = ell[b]
        with torch.no_grad():
            expected = theirs(x1[b], x2[b]).to_dense()
        torch.testing.assert_close(ours[b], expected, rtol=1e-10, atol=1e-12)
    assert torch.allclose(resolve_kernel("matern32")(x1, x1, ell[:, None, None, :])
                          .diagonal(dim1=-2, dim2=-1), torch.ones(2, 6, dtype=torch.double))


def tasks(rng, n=12):
    """Three rough related tasks (d = 1): |sin| kinks, shifted."""
    Xs, Ys = [], []
    for t in range(3):
        x = np.sort(rng.random(n))
        Xs.append(np.column_stack([x, np.full(n, t)]))
        Ys.append(np.abs(np.sin(6 * x + 0.2 * t)) + 0.05 * rng.standard_normal(n))
    return torch.tensor(np.vstack(Xs)), torch.tensor(np.concatenate(Ys)).unsqueeze(-1)


def test_fit_and_posterior_with_matern32(rng):
    """Without ``g``, task 1's posterior is GPyTorch's exact GP with a Matern-3/2 kernel at
    task 1's fitted hyperparameters; with ``g`` the fit runs and interpolates."""
    X, Y = tasks(rng)
    model = HierarchicalGP(X, Y, shared_function=False, output_tasks=[1], kernel="matern32")
    model.fit()
    rows = X[:, -1] == 1
    mean, std = model._y_mean[1], model._y_std[1]
    theta = {k: v.detach()[1] for k, v in model.log_hyperparameters().items()}
    covar = ScaleKernel(MaternKernel(nu=1.5, ard_num_dims=1))
    peer = SingleTaskGP(X[rows, :-1], (Y[rows] - mean) / std, likelihood=GaussianLikelihood(),
                        covar_module=covar, outcome_transform=None)
    peer.covar_module.base_kernel.lengthscale = theta["lengthscale"].exp()
    peer.covar_module.outputscale = theta["outputscale"].exp()
    peer.likelihood.noise = theta["noise"].exp() + MIN_NOISE
    peer.mean_module.constant = model.constant.detach()[1]
    peer.eval()
    X_test = torch.tensor(rng.random((7, 1)))
    ours, theirs = model.posterior(X_test), peer.posterior(X_test)
    torch.testing.assert_close(ours.mean, theirs.mean * std + mean)
    torch.testing.assert_close(ours.variance, theirs.variance * std**2, rtol=1e-6, atol=1e-9)

    shared = HierarchicalGP(X, Y, shared_function=True, output_tasks=[1], kernel="matern32")
    shared.fit()
    at_data = shared.posterior(X[rows, :-1])
    assert (at_data.mean - Y[rows]).abs().max() < 0.2
    assert (at_data.variance > 0).all()
