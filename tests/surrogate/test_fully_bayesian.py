"""The fully Bayesian ensemble: exactly the mixture of per-draw HierarchicalGP posteriors."""

import copy

import numpy as np
import pytest
import torch
from botorch.acquisition import LogExpectedImprovement, qLogNoisyExpectedImprovement
from botorch.optim import optimize_acqf
from botorch.posteriors.fully_bayesian import GaussianMixturePosterior

from hbo.errors import InvalidArgumentError, NotReadyError
from hbo.mcmc import can_fork
from hbo.surrogate import HierarchicalGP
from hbo.surrogate.fully_bayesian import FullyBayesianHierarchicalGP
from hbo.surrogate.nuts import NUTSOptions, run_nuts, sampled_parameters

S = 6  # draws in the hand-made ensembles


def _fitted(make_task_data, related_fns, shared: bool) -> HierarchicalGP:
    X, Y = make_task_data(np.random.default_rng(3), related_fns[:3], n=8, d=2)
    return HierarchicalGP(X, Y, output_tasks=[0], shared_function=shared).fit()


def _draws(model: HierarchicalGP) -> dict[str, torch.Tensor]:
    """``S`` parameter sets around the fit (spread 0.3: visibly different predictions)."""
    gen = torch.Generator().manual_seed(0)
    return {
        k: v.detach() + 0.3 * torch.randn((S, *v.shape), generator=gen, dtype=v.dtype)
        for k, v in sampled_parameters(model).items()
    }


def _per_draw_posteriors(model, draws, X, **kwargs):
    means, covs = [], []
    for s in range(S):
        replica = copy.deepcopy(model)
        with torch.no_grad():
            for name, p in replica.named_parameters():
                p.copy_(draws[name][s])
        post = replica.posterior(X, **kwargs)
        means.append(post.mean)
        covs.append(post.distribution.covariance_matrix)
    return torch.stack(means, -3), torch.stack(covs, -3)


@pytest.mark.parametrize("shared", [False, True])
@pytest.mark.parametrize("task_column", [False, True])
def test_ensemble_is_the_mixture_of_per_draw_posteriors(
    make_task_data, related_fns, shared, task_column
):
    model = _fitted(make_task_data, related_fns, shared)
    draws = _draws(model)
    ensemble = FullyBayesianHierarchicalGP(model, draws)
    X = torch.rand(4, 3, 2, dtype=torch.double, generator=torch.Generator().manual_seed(1))
    if task_column:  # each point on its own task
        X = torch.cat([X, torch.tensor([0.0, 1.0, 2.0]).expand(4, 3).unsqueeze(-1).double()], -1)
    post = ensemble.posterior(X, observation_noise=True)
    assert isinstance(post, GaussianMixturePosterior)
    assert post.mean.shape == (4, S, 3, 1)
    means, covs = _per_draw_posteriors(model, draws, X, observation_noise=True)
    # the same arithmetic batched over draws: equal up to float64 summation order
    tol = {"rtol": 1e-10, "atol": 1e-12}
    torch.testing.assert_close(post.mean, means, **tol)
    torch.testing.assert_close(post.distribution.covariance_matrix, covs, **tol)
    # mixture moments: mean of means; law of total variance E[var] + Var[mean]
    torch.testing.assert_close(post.mixture_mean, means.mean(-3), **tol)
    variances = covs.diagonal(dim1=-2, dim2=-1).unsqueeze(-1)
    total = variances.mean(-3) + means.var(-3, unbiased=False)
    torch.testing.assert_close(post.mixture_variance, total, **tol)


def test_an_ensemble_of_given_draws_has_no_convergence_report(make_task_data, related_fns):
    model = _fitted(make_task_data, related_fns, shared=False)
    ensemble = FullyBayesianHierarchicalGP(model, _draws(model))
    with pytest.raises(NotReadyError, match="not from a NUTS run"):
        _ = ensemble.convergence


def test_log_ei_averages_over_draws_and_optimizes(make_task_data, related_fns):
    model = _fitted(make_task_data, related_fns, shared=True)
    draws = _draws(model)
    ensemble = FullyBayesianHierarchicalGP(model, draws)
    X = torch.rand(5, 1, 2, dtype=torch.double, generator=torch.Generator().manual_seed(2))
    acqf = LogExpectedImprovement(ensemble, best_f=0.5)
    per_draw = []
    for s in range(S):
        replica = copy.deepcopy(model)
        with torch.no_grad():
            for name, p in replica.named_parameters():
                p.copy_(draws[name][s])
        per_draw.append(LogExpectedImprovement(replica, best_f=0.5)(X))
    # log of the average EI over draws, exactly (BoTorch's average_over_ensemble_models)
    expected = torch.logsumexp(torch.stack(per_draw, -1), -1) - np.log(S)
    torch.testing.assert_close(acqf(X), expected, rtol=1e-10, atol=1e-10)
    bounds = torch.tensor([[0.0, 0.0], [1.0, 1.0]], dtype=torch.double)
    x, value = optimize_acqf(acqf, bounds, q=1, num_restarts=2, raw_samples=32)
    assert x.shape == (1, 2) and torch.isfinite(value)
    batch = qLogNoisyExpectedImprovement(ensemble, X_baseline=model._Z[:8], cache_root=False)
    xq, vq = optimize_acqf(batch, bounds, q=2, num_restarts=2, raw_samples=32)
    assert xq.shape == (2, 2) and torch.isfinite(vq)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"warmup": -1}, "'warmup' must be an integer >= 0"),
        ({"draws": 0}, "'draws' must be an integer >= 1"),
        ({"chains": 1.5}, "'chains' must be an integer"),
        ({"thinning": 10, "draws": 5}, "must not exceed 'draws'"),
        ({"target_accept": 1.0}, "'target_accept' must lie in"),
        ({"progress": "yes"}, "'progress' must be True or False"),
        ({"warmpu": 10}, "unknown options \\['warmpu'\\]"),
    ],
)
def test_nuts_options_are_checked(options, message):
    with pytest.raises(InvalidArgumentError, match=message):
        NUTSOptions.from_value(options)


def test_nuts_options_kept_draws():
    assert NUTSOptions(draws=10, thinning=3, chains=2).kept_per_chain == 4
    with pytest.raises(InvalidArgumentError, match="nuts must be a dict"):
        NUTSOptions.from_value([("warmup", 1)])


@pytest.mark.skipif(not can_fork(2), reason="forked chains need Linux and 2 cores")
def test_a_fully_bayesian_gp_gets_the_same_draws_with_forked_chains(make_task_data, related_fns):
    X, Y = make_task_data(np.random.default_rng(3), related_fns[:3], n=6, d=2)
    model = HierarchicalGP(X, Y, output_tasks=[0]).fit()
    short = dict(warmup=15, draws=10, chains=2, progress=False)
    assert torch.get_num_threads() == 1  # tests/conftest.py: as a forked chain runs
    results = [run_nuts(model, NUTSOptions(**short, parallel=p), seed=1) for p in (False, True)]
    for name, value in results[0].samples.items():
        assert torch.equal(results[1].samples[name], value), name
