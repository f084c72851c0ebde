"""HierarchicalGP honours BoTorch's model contract: the acquisition functions and
optimizer it is used with, ``fantasize`` / ``condition_on_observations``, noise, output
subsets, and ``UnsupportedError`` where something is not supported.

A small fitted model: 3 tasks, 10 points each, d = 2, with and without the shared
function ``g``; the target (output task) is task 2.
"""

import numpy as np
import pytest
import torch
from botorch.acquisition import (
    LogExpectedImprovement,
    PosteriorMean,
    qKnowledgeGradient,
    qLogNoisyExpectedImprovement,
    qUpperConfidenceBound,
)
from botorch.acquisition.multi_objective.logei import qLogNoisyExpectedHypervolumeImprovement
from botorch.acquisition.objective import ScalarizedPosteriorTransform
from botorch.exceptions.errors import UnsupportedError
from botorch.models import SingleTaskGP
from botorch.models.model import ModelList
from botorch.optim import optimize_acqf
from botorch.sampling import ListSampler, SobolQMCNormalSampler

from hbo.surrogate import HierarchicalGP
from hbo.surrogate.fully_bayesian import FullyBayesianHierarchicalGP
from hbo.surrogate.nuts import sampled_parameters

TARGET = 2
BOUNDS = torch.tensor([[0.0, 0.0], [1.0, 1.0]], dtype=torch.double)
SHARED = pytest.mark.parametrize("shared", [False, True], ids=["no_g", "g"])


@pytest.fixture(scope="module")
def data():
    X, Y = [], []
    rng = np.random.default_rng(0)
    for t in range(3):
        x = torch.tensor(rng.random((10, 2)))
        X.append(torch.cat([x, torch.full((10, 1), float(t), dtype=torch.double)], -1))
        Y.append((1 + 0.5 * t) * (torch.sin(5 * x[:, :1]) + (x[:, 1:] - 0.3) ** 2) + 3 * t)
    return torch.cat(X), torch.cat(Y)


@pytest.fixture(scope="module")
def models(data):
    return {
        shared: HierarchicalGP(*data, output_tasks=[TARGET], shared_function=shared).fit(
            maxiter=50
        )
        for shared in (False, True)
    }


def _rand(*shape: int, seed: int = 1) -> torch.Tensor:
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.double)


def _with_task(X: torch.Tensor, task: int) -> torch.Tensor:
    return torch.cat([X, torch.full((*X.shape[:-1], 1), float(task), dtype=X.dtype)], -1)


def _value_and_grad(acqf, X: torch.Tensor) -> torch.Tensor:
    X = X.clone().requires_grad_(True)
    value = acqf(X)
    value.sum().backward()
    assert torch.isfinite(value).all() and torch.isfinite(X.grad).all()
    return value


# ----------------------------------------------------------------- conditioning is exact
@SHARED
def test_conditioning_equals_the_model_of_all_the_data_at_the_same_parameters(data, shared):
    """Conditioning on ``(X', Y')`` (twice: with a task column, then the output task)
    = a HierarchicalGP of the union with the fitted parameters loaded (nothing refitted)."""
    X, Y = data
    model = HierarchicalGP(X, Y, output_tasks=[TARGET], shared_function=shared,
                           standardize=False).fit(maxiter=30)
    X1 = torch.cat([_with_task(_rand(2, 2, seed=2), 0), _with_task(_rand(2, 2, seed=3), 2)])
    Y1 = _rand(4, 1, seed=4) * 5
    X2, Y2 = _rand(3, 2, seed=5), _rand(3, 1, seed=6) + 6
    conditioned = model.condition_on_observations(X1, Y1).condition_on_observations(X2, Y2)
    union = HierarchicalGP(
        torch.cat([X, X1, _with_task(X2, TARGET)]), torch.cat([Y, Y1, Y2]),
        output_tasks=[TARGET], shared_function=shared, standardize=False,
    )
    union.load_state_dict(model.state_dict())
    tests = [_rand(5, 2, seed=7), torch.cat([_with_task(_rand(3, 2, seed=8), t) for t in (0, 1)])]
    for X_test in tests:
        ours, theirs = conditioned.posterior(X_test), union.posterior(X_test)
        torch.testing.assert_close(ours.mean, theirs.mean)
        torch.testing.assert_close(ours.distribution.covariance_matrix,
                                   theirs.distribution.covariance_matrix)


def test_given_noise_is_in_standardized_units(models):
    """``noise`` as BoTorch's outcome-transformed space: the task's fitted noise
    (standardized) gives the default; a tiny one makes the posterior mean interpolate."""
    model = models[False]
    X_new, Y_new = _rand(3, 2, seed=9), _rand(3, 1, seed=10) + 5
    noise = model.task_noise()[model._output_tasks].expand(3, 1)
    default = model.condition_on_observations(X_new, Y_new).posterior(X_new)
    given = model.condition_on_observations(X_new, Y_new, noise=noise).posterior(X_new)
    torch.testing.assert_close(given.mean, default.mean)
    exact = model.condition_on_observations(X_new, Y_new, noise=torch.full((3, 1), 1e-9))
    torch.testing.assert_close(exact.posterior(X_new).mean, Y_new, atol=1e-4, rtol=0)


# ----------------------------------------------------------------- fantasize
@SHARED
def test_fantasize_shapes(models, shared):
    model = models[shared]
    sampler = SobolQMCNormalSampler(torch.Size([3]), seed=0)
    fantasy = model.fantasize(_rand(4, 2, 2), sampler)  # batch 4, n' = 2
    assert fantasy.batch_shape == (3, 4) and fantasy.num_outputs == 1
    assert fantasy.posterior(_rand(5, 2)).mean.shape == (3, 4, 5, 1)
    assert fantasy.posterior(_rand(3, 4, 5, 2)).mean.shape == (3, 4, 5, 1)
    assert fantasy.posterior(_with_task(_rand(4, 5, 2), 0)).mean.shape == (3, 4, 5, 1)
    again = fantasy.fantasize(_rand(3, 4, 1, 2), SobolQMCNormalSampler(torch.Size([2]), seed=1))
    assert again.batch_shape == (2, 3, 4)
    assert again.posterior(_rand(2, 3, 4, 5, 2)).mean.shape == (2, 3, 4, 5, 1)
    noisy = model.fantasize(_rand(4, 2, 2), sampler, observation_noise=torch.full((1, 1), 0.1))
    assert noisy.batch_shape == (3, 4)
    # the fantasy at X' (not its noise) is pulled to the fantasized values: less variance
    X_new = _rand(4, 2, 2)
    before = model.posterior(X_new).variance
    assert (fantasy.posterior(X_new).variance < before).all()
    tasks = model.fantasize(_with_task(_rand(4, 2, 2), 0), sampler)
    assert tasks.posterior(_rand(5, 2)).mean.shape == (3, 4, 5, 1)


# ----------------------------------------------------------------- posterior options
def test_observation_noise_and_posterior_transform(data):
    model = HierarchicalGP(*data, output_tasks=[1, TARGET], shared_function=False)
    X = _rand(4, 2)
    plain = model.posterior(X)
    std2 = model._y_std[model._output_tasks].pow(2)
    added = model.posterior(X, observation_noise=True).variance - plain.variance
    torch.testing.assert_close(added, (model.task_noise()[model._output_tasks] * std2).expand(4, 2))
    noise = torch.tensor([[0.1, 0.2]], dtype=torch.double)  # 1 x m, standardized
    added = model.posterior(X, observation_noise=noise).variance - plain.variance
    torch.testing.assert_close(added, (noise * std2).expand(4, 2))
    weights = torch.tensor([0.3, 0.7], dtype=torch.double)
    scalarized = model.posterior(X, posterior_transform=ScalarizedPosteriorTransform(weights))
    torch.testing.assert_close(scalarized.mean.squeeze(-1), plain.mean @ weights)
    one = model.subset_output([1])
    assert one.num_outputs == 1
    torch.testing.assert_close(one.posterior(X).mean, plain.mean[..., 1:])


def test_unsupported_uses_raise_unsupported_error(models):
    model = models[False]
    with pytest.raises(UnsupportedError, match="float64"):
        model.posterior(_rand(3, 2).float())
    with pytest.raises(UnsupportedError, match="unsupported arguments"):
        model.condition_on_observations(_rand(2, 2), _rand(2, 1), evaluation_mask=None)
    with pytest.raises(UnsupportedError, match="conditioned"):
        model.condition_on_observations(_rand(2, 2), _rand(2, 1)).fit()


def test_fully_bayesian_ensemble_raises_unsupported_for_conditioning(models):
    model = models[True]
    draws = {k: v.detach().expand(2, *v.shape) for k, v in sampled_parameters(model).items()}
    ensemble = FullyBayesianHierarchicalGP(model, draws)
    with pytest.raises(UnsupportedError, match="fantasize"):
        ensemble.fantasize(_rand(1, 2), SobolQMCNormalSampler(torch.Size([2])))
    with pytest.raises(UnsupportedError, match="qKnowledgeGradient"):
        qKnowledgeGradient(ensemble, num_fantasies=2)(_rand(2, 3, 2))
    X = _rand(4, 2)
    torch.testing.assert_close(ensemble.subset_output([0]).posterior(X).mean,
                               ensemble.posterior(X).mean)


# ----------------------------------------------------------------- acquisition functions
@SHARED
def test_acquisition_functions_evaluate_with_gradients(data, models, shared):
    model = models[shared]
    X, Y = data
    target = X[X[:, -1] == TARGET, :-1]
    best = Y[X[:, -1] == TARGET].max()
    sampler = SobolQMCNormalSampler(torch.Size([32]), seed=0)
    kg = qKnowledgeGradient(model, num_fantasies=4)
    acqfs = [  # (acquisition function, q of its input: KG's holds the fantasies' points)
        (LogExpectedImprovement(model, best_f=best), 1),
        (qLogNoisyExpectedImprovement(model, X_baseline=target, sampler=sampler), 2),
        (qUpperConfidenceBound(model, beta=2.0, sampler=sampler), 2),
        (kg, kg.get_augmented_q_batch_size(2)),
    ]
    for acqf, q in acqfs:
        assert _value_and_grad(acqf, _rand(3, q, 2)).shape == (3,)


@SHARED
def test_optimize_acqf_with_look_ahead_and_noisy_ei(data, models, shared):
    model = models[shared]
    X, _ = data
    target = X[X[:, -1] == TARGET, :-1]
    kg = qKnowledgeGradient(model, num_fantasies=4,
                            current_value=PosteriorMean(model)(target[:, None]).max())
    nei = qLogNoisyExpectedImprovement(model, X_baseline=target)
    for acqf in (kg, nei):
        candidate, value = optimize_acqf(acqf, BOUNDS, q=1, num_restarts=2, raw_samples=16,
                                         options={"maxiter": 20})
        assert candidate.shape == (1, 2) and torch.isfinite(value)
        assert ((candidate >= 0) & (candidate <= 1)).all()


def test_model_list_with_a_multi_objective_acquisition(data, models):
    """The hierarchical model of one objective beside a SingleTaskGP of another."""
    X, _ = data
    target = X[X[:, -1] == TARGET, :-1]
    other = SingleTaskGP(target, (target - 0.5).pow(2).sum(-1, keepdim=True))
    both = ModelList(models[False], other)
    assert both.num_outputs == 2
    acqf = qLogNoisyExpectedHypervolumeImprovement(
        both, ref_point=[0.0, 0.0], X_baseline=target[:4], prune_baseline=False,
        sampler=ListSampler(*(SobolQMCNormalSampler(torch.Size([16]), seed=s) for s in (0, 1))),
    )
    assert _value_and_grad(acqf, _rand(2, 1, 2)).shape == (2,)
    candidate, _ = optimize_acqf(acqf, BOUNDS, q=1, num_restarts=1, raw_samples=8,
                                 options={"maxiter": 10})
    assert candidate.shape == (1, 2)
