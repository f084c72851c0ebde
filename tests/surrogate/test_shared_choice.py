"""Leave-one-out density of a task, and the data's choice of the shared function g."""

import numpy as np
import pytest
import torch

import hbo.surrogate.shared_choice as shared_choice
from hbo.surrogate import HierarchicalGP
from hbo.surrogate.shared_choice import MIN_TARGET_POINTS, SharedFunctionChoice, fit_surrogate


def brute_force_loo(model: HierarchicalGP, task: int) -> float:
    """Condition the model's dense covariance on all points but one, point by point."""
    L, r = model._factor(model.log_hyperparameters())
    if model.shared_function:
        K, resid = L @ L.T, r
        rows = torch.nonzero(model._tasks == task).squeeze(-1).tolist()
    else:  # the task's own block: tasks are independent given the hyperparameters
        n = model.num_observations(task)
        K, resid = L[task, :n, :n] @ L[task, :n, :n].T, r[task, :n]
        rows = list(range(n))
    total = 0.0
    for i in rows:
        rest = [j for j in range(len(resid)) if j != i]
        k = K[i, rest]
        mean = k @ torch.linalg.solve(K[rest][:, rest], resid[rest])
        var = K[i, i] - k @ torch.linalg.solve(K[rest][:, rest], k)
        total += torch.distributions.Normal(mean, var.sqrt()).log_prob(resid[i]).item()
    return total


def family(task_data, target_fn, seed: int = 0, n_target: int = 12):
    """Four related 2-D sources (15 points each) and a target (label 4): a model builder."""

    def related(shift, scale, offset):
        return lambda x: scale * (np.sin(5 * (x[:, 0] + shift)) + (x[:, 1] - 0.3) ** 2) + offset

    rng = np.random.default_rng(seed)
    Xs, Ys = task_data(rng, [related(0.02 * k, 1 + 0.5 * k, 3.0 * k) for k in range(1, 5)], 15, 2)
    Xt, Yt = task_data(rng, [target_fn or related(0.0, 1.0, 0.0)], n_target, 2)
    Xt[:, -1] = 4
    X, Y = torch.cat([Xs, Xt]), torch.cat([Ys, Yt])
    return lambda shared: HierarchicalGP(X, Y, output_tasks=[4], shared_function=shared)


def unlike_target(x: np.ndarray) -> np.ndarray:
    """A target unlike the sources of :func:`family`: cos(12 x1) + 2 x0."""
    return np.cos(12 * x[:, 1]) + 2 * x[:, 0]


@pytest.mark.parametrize("shared", [True, False])
def test_loo_log_density_equals_conditioning_point_by_point(make_task_data, shared):
    model = family(make_task_data, None)(shared).fit(maxiter=40)
    assert model.loo_log_density(4).item() == pytest.approx(brute_force_loo(model, 4), rel=1e-8)


def test_related_target_keeps_g_unrelated_target_drops_it(make_task_data):
    """A target from the sources' family is predicted far better with g (LOO 6.4 vs -0.1
    at this seed); a target unlike them (cos(12 x1) + 2 x0) worse (-16.1 vs -11.6)."""
    _, related, _ = fit_surrogate(family(make_task_data, None), 4, {})
    assert related.used and related.loo_with > related.loo_without + 3
    unlike = family(make_task_data, unlike_target)
    _, unrelated, fitted = fit_surrogate(unlike, 4, {})
    assert not unrelated.used and unrelated.loo_without > unrelated.loo_with + 3
    assert set(fitted) == {True, False}
    assert "do not help" in str(unrelated)


def test_g_goes_only_when_the_model_without_it_is_better_by_the_margin(make_task_data,
                                                                      monkeypatch):
    """The unlike target of the test above, whose LOO favours the model without g by
    4.5 nats: dropped at the default margin, kept (and said so) at a margin above that."""
    unlike = family(make_task_data, unlike_target)
    _, choice, _ = fit_surrogate(unlike, 4, {})
    gap = choice.loo_without - choice.loo_with
    assert not choice.used and gap > shared_choice.LOO_MARGIN
    monkeypatch.setattr(shared_choice, "LOO_MARGIN", gap + 0.5)
    model, kept, _ = fit_surrogate(unlike, 4, {})
    assert kept.used and model.shared_function
    assert kept.loo_without - kept.loo_with == pytest.approx(gap)
    assert "kept" in str(kept) and f"{gap + 0.5:g} nats" in str(kept)


def test_choice_sentence_says_which_way_the_evidence_went():
    assert "help predict" in str(SharedFunctionChoice(True, 5, 1.0, -2.0))
    assert "kept" in str(SharedFunctionChoice(True, 5, -1.0, 0.5))
    assert "do not help" in str(SharedFunctionChoice(False, 5, -4.0, 0.5))


def test_too_few_target_points_keep_g_without_a_comparison(make_task_data):
    """Even the unlike target, whose 12 points drop g (above), keeps it on 9."""
    few = family(make_task_data, unlike_target, n_target=MIN_TARGET_POINTS - 1)
    model, choice, fitted = fit_surrogate(few, 4, {})
    assert model.shared_function and choice.used and choice.loo_without is None
    assert set(fitted) == {True}  # the model without g is not fitted
    assert f"needs {MIN_TARGET_POINTS}" in str(choice)


@pytest.mark.parametrize("shared", [True, False])
def test_a_fixed_choice_fits_one_model(make_task_data, shared):
    build = family(make_task_data, None)
    model, choice, fitted = fit_surrogate(build, 4, {}, shared_function=shared)
    assert model.shared_function is shared and choice is None and set(fitted) == {shared}
