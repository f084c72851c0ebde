"""HierarchicalGP.posterior's means and variances equal its joint's, without forming it."""

import pytest
import torch

from hbo.surrogate import HierarchicalGP
from hbo.surrogate.marginal_posterior import MarginalFirstPosterior


def model(shared_function: bool) -> HierarchicalGP:
    """Two tasks, a numeric and a 3-level categorical feature; parameters off the prior
    start (random ``z``) so that the tasks differ."""
    gen = torch.Generator().manual_seed(0)
    X = torch.rand(16, 3, dtype=torch.double, generator=gen)
    X[:, 1] = torch.randint(0, 3, (16,), generator=gen).double()
    X[:, 2] = (torch.arange(16) % 2).double()
    Y = torch.sin(6 * X[:, :1]) + X[:, 1:2] + 0.3 * X[:, 2:]
    gp = HierarchicalGP(X, Y, categorical_dims={1: 3}, shared_function=shared_function)
    with torch.no_grad():
        for z in gp.z.values():
            z.copy_(0.5 * torch.randn(z.shape, dtype=torch.double, generator=gen))
    return gp


def points(with_task: bool) -> torch.Tensor:
    gen = torch.Generator().manual_seed(1)
    X = torch.rand(4, 5, 3 if with_task else 2, dtype=torch.double, generator=gen)
    X[..., 1] = torch.randint(0, 3, (4, 5), generator=gen).double()
    if with_task:
        X[..., 2] = torch.randint(0, 2, (4, 5), generator=gen).double()
    return X


@pytest.mark.parametrize("shared_function", [False, True])
@pytest.mark.parametrize("with_task", [True, False])
@pytest.mark.parametrize("noise", [False, True, "tensor"])
def test_marginals_equal_the_joint_and_do_not_form_it(shared_function, with_task, noise):
    gp, X = model(shared_function), points(with_task)
    m = 1 if with_task else 2  # without the task column: both tasks' outputs
    if noise == "tensor":
        noise = torch.full((4, 5, m), 0.05, dtype=torch.double)
    posterior = gp.posterior(X, observation_noise=noise)
    assert isinstance(posterior, MarginalFirstPosterior)
    mean, variance = posterior.mean, posterior.variance
    assert posterior._joint is None  # the q x q covariance was never formed
    assert mean.shape == variance.shape == (4, 5, m)
    joint = gp.posterior(X, observation_noise=noise)
    distribution = joint.distribution
    torch.testing.assert_close(mean, joint.mean)  # read from the joint once it exists
    expected_mean = distribution.mean if m > 1 else distribution.mean.unsqueeze(-1)
    expected_var = distribution.variance if m > 1 else distribution.variance.unsqueeze(-1)
    torch.testing.assert_close(mean, expected_mean)
    torch.testing.assert_close(variance, expected_var)
    assert posterior.rsample(torch.Size([3])).shape == (3, 4, 5, m)


def test_a_conditioned_model_reads_its_marginals_from_the_joint():
    gp = model(False)
    X = points(True)[0, :2]
    fantasy = gp.condition_on_observations(X, torch.zeros(2, 1, dtype=torch.double))
    posterior = fantasy.posterior(points(True)[1])
    mean, variance = posterior.mean, posterior.variance
    torch.testing.assert_close(variance.squeeze(-1), posterior.distribution.variance)
    torch.testing.assert_close(mean.squeeze(-1), posterior.distribution.mean)


@pytest.mark.parametrize("q", [1, 5])
@pytest.mark.parametrize("sample_shape", [(16,), (2, 3)])
def test_samples_from_base_samples_are_gpytorchs_with_its_gradients(q, sample_shape):
    """The plain-tensor product ``mean + L eps`` (one output) gives GPyTorch's samples and
    gradients exactly, for one point (a 1 x 1 root) and for a joint over several."""
    from botorch.posteriors.gpytorch import GPyTorchPosterior

    gp = model(shared_function=True)
    gp._output_tasks = gp._output_tasks[:1]  # one output: the columns are the features
    X = points(with_task=False)[:, :q].clone().requires_grad_(True)
    posterior = gp.posterior(X)
    base = torch.randn(*sample_shape, 4, q, generator=torch.Generator().manual_seed(2),
                       dtype=torch.double)
    ours = posterior.rsample_from_base_samples(torch.Size(sample_shape), base)
    theirs = GPyTorchPosterior.rsample_from_base_samples(posterior, torch.Size(sample_shape),
                                                         base)
    assert ours.shape == theirs.shape == (*sample_shape, 4, q, 1)
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-14)
    weights = torch.randn(ours.shape, generator=torch.Generator().manual_seed(3),
                          dtype=torch.double)
    ours_grad, = torch.autograd.grad((weights * ours).sum(), X, retain_graph=True)
    theirs_grad, = torch.autograd.grad((weights * theirs).sum(), X)
    torch.testing.assert_close(ours_grad, theirs_grad, rtol=0, atol=1e-12)
    with pytest.raises(RuntimeError, match="sample_shape"):
        posterior.rsample_from_base_samples(torch.Size([7]), base)
