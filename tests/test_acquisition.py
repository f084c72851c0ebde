"""Acquisition: analytic LogEI for one point, qLogNEI with pending points, mixed spaces."""

import pytest
import torch
from botorch.acquisition import LogExpectedImprovement, qLogNoisyExpectedImprovement

import hbo
from hbo import acquisition
from hbo.surrogate import HierarchicalGP


@pytest.fixture
def fitted(rng):
    x = torch.tensor(rng.random((12, 2)))
    y = -((x - 0.3) ** 2).sum(-1, keepdim=True)
    X = torch.cat([x, torch.zeros(12, 1, dtype=torch.double)], -1)
    return HierarchicalGP(X, y).fit(), x


def test_one_point_uses_analytic_log_ei_with_posterior_mean_incumbent(fitted):
    model, x = fitted
    acqf = acquisition.build_acquisition(model, x, None, q=1, seed=0)
    assert isinstance(acqf, LogExpectedImprovement)
    assert acqf.best_f.item() == pytest.approx(model.posterior(x).mean.max().item())


def test_pending_points_switch_to_noisy_batch_ei(fitted):
    model, x = fitted
    pending = torch.tensor([[0.3, 0.3]], dtype=torch.double)
    acqf = acquisition.build_acquisition(model, x, pending, q=1, seed=0)
    assert isinstance(acqf, qLogNoisyExpectedImprovement)
    # incremental qLogNEI folds pending points into the incumbent set (jointly fantasized)
    torch.testing.assert_close(acqf._full_X_baseline[-1:], pending)
    # a candidate at the pending point gains (almost) nothing over one far from it
    near = acqf(pending.unsqueeze(0) + 1e-3)
    without = acquisition.build_acquisition(model, x, None, q=2, seed=0)
    assert near < without(torch.cat([pending, pending + 1e-3]).unsqueeze(0))


def test_optimizer_returns_admissible_points_on_mixed_space(fitted):
    space = hbo.SearchSpace([hbo.Float("a", 0, 1), hbo.Int("n", 1, 4)])
    model, x = fitted
    snapped = space.snap(x)
    acqf = acquisition.build_acquisition(model, snapped, None, q=3, seed=0)
    X = acquisition.optimize(acqf, space, q=3)
    assert X.shape == (3, 2)
    assert torch.equal(space.snap(X), X)  # integers searched as integers, not rounded later
    assert set(X[:, 1].tolist()) <= set(space.discrete_dims()[1])
