"""Acquisition: analytic LogEI for one point, qLogNEI with pending points, mixed spaces,
and for several outcomes constrained qLogNEI and qLogNEHVI."""

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


@pytest.mark.parametrize("op", ["<=", ">="])
def test_an_outcome_constraint_steers_improvement_to_its_feasible_side(op):
    """One objective ``x`` (to maximize) and a constrained outcome ``x`` with bound 0.5: with
    ``<=`` the improvement at 0.45 beats that at 0.9 (infeasible there, though better),
    with ``>=`` the other way round. A flipped sign of ``c(Z)`` fails one of them."""
    from botorch.models import ModelListGP, SingleTaskGP

    x = torch.linspace(0, 1, 9, dtype=torch.double).unsqueeze(-1)
    models = [SingleTaskGP(x, x.clone()).eval() for _ in range(2)]
    Y = torch.cat([x, x], -1)
    acqf = acquisition.build_outcome_acquisition(
        ModelListGP(*models), 1, [(1, op, 0.5)], x, Y, (x[:, 0] <= 0.5) == (op == "<="),
        None, seed=0,
    )
    assert isinstance(acqf, qLogNoisyExpectedImprovement)
    low, high = acqf(torch.tensor([[[0.45]], [[0.9]]], dtype=torch.double))
    assert (low > high) == (op == "<=")


def test_several_objectives_use_qlognehvi_with_a_reference_below_the_front():
    from botorch.acquisition.multi_objective.logei import (
        qLogNoisyExpectedHypervolumeImprovement,
    )
    from botorch.models import ModelListGP, SingleTaskGP

    x = torch.linspace(0, 1, 9, dtype=torch.double).unsqueeze(-1)
    Y = torch.cat([x, 1 - x], -1)  # every point on the front
    models = [SingleTaskGP(x, Y[:, i:i + 1]).eval() for i in range(2)]
    acqf = acquisition.build_outcome_acquisition(
        ModelListGP(*models), 2, [], x, Y, torch.ones(9, dtype=torch.bool), None, seed=0
    )
    assert isinstance(acqf, qLogNoisyExpectedHypervolumeImprovement)
    # Ax's rule: the nadir (0, 0) moved 10% of the range (1) further away
    torch.testing.assert_close(acqf.ref_point, torch.tensor([-0.1, -0.1], dtype=torch.double))


def test_the_reference_point_reaches_as_far_as_the_predicted_front():
    """One observation spans no front: the models' predictions over the space place the
    reference point (Ax's rule on the union), so the whole trade-off counts."""
    from botorch.models import ModelListGP, SingleTaskGP

    x = torch.linspace(0, 1, 9, dtype=torch.double).unsqueeze(-1)
    Y = torch.cat([x, 1 - x], -1)
    models = ModelListGP(*[SingleTaskGP(x, Y[:, i:i + 1]).eval() for i in range(2)])
    observed = Y[4:5]  # (0.5, 0.5) alone
    args = (models, 2, [], x[4:5], observed, torch.ones(1, dtype=torch.bool), None)
    alone = acquisition.build_outcome_acquisition(*args, seed=0)
    torch.testing.assert_close(alone.ref_point, torch.tensor([0.45, 0.45], dtype=torch.double))
    grid = torch.linspace(0, 1, 33, dtype=torch.double).unsqueeze(-1)
    wide = acquisition.build_outcome_acquisition(*args, seed=0, X_reference=grid)
    torch.testing.assert_close(wide.ref_point, torch.tensor([-0.1, -0.1], dtype=torch.double),
                               atol=0.02, rtol=0)
    # predictions that break a constraint do not stretch the front: a third outcome
    # 1 - x >= 0.75 keeps x <= 0.25, so the predicted front adds (0..0.25, 0.75..1) to the
    # observed (0.5, 0.5): nadir (0, 0.5), range (0.5, 0.5)
    three = ModelListGP(*models.models, SingleTaskGP(x, Y[:, 1:]).eval())
    constrained = acquisition.build_outcome_acquisition(
        three, 2, [(2, ">=", 0.75)], x[4:5], torch.cat([observed, observed[:, 1:]], -1),
        torch.ones(1, dtype=torch.bool), None, seed=0, X_reference=grid)
    torch.testing.assert_close(constrained.ref_point,
                               torch.tensor([-0.05, 0.45], dtype=torch.double),
                               atol=0.02, rtol=0)
