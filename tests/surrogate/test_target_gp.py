"""Hierarchical training (stage A sources, stage B target) against the exact joint model.

With every source input an inducing input, the PITC posterior of ``g`` is exact, so the
target's GP given the sources must reproduce the exact joint model at the same
hyperparameters: its posterior at new points, and the chain rule of the likelihood
``log p(y_S, y_T) = log p(y_S) + log p(y_T | y_S)``.
"""

import math

import pytest
import torch

from hbo.errors import InvalidArgumentError
from hbo.surrogate import HierarchicalGP, source_posterior
from hbo.surrogate.information import fisher_information
from hbo.surrogate.source_posterior import (
    SourcePosterior,
    fit_sources,
    g_posterior,
    stratified_subsample,
)
from hbo.surrogate.target_gp import TargetGP

D, S, N_SOURCE, N_TARGET = 2, 3, 9, 5


def _data(seed: int):
    g = torch.Generator().manual_seed(seed)
    X = torch.rand(S * N_SOURCE + N_TARGET, D, generator=g, dtype=torch.double)
    tasks = torch.cat([torch.arange(S).repeat_interleave(N_SOURCE),
                       torch.full((N_TARGET,), S)])
    y = torch.sin(5 * X[:, 0]) + X[:, 1] * (1 + 0.3 * tasks) + 0.05 * torch.randn(
        len(X), generator=g, dtype=torch.double)
    return X, tasks, y


def _build(Xs, labels, ys, shared):
    """Stage A's model of standardized data (``fit_sources``'s ``build``)."""
    return HierarchicalGP(torch.cat([Xs, labels], -1), ys, shared_function=shared,
                          standardize=False)


def _joint(seed: int) -> tuple[HierarchicalGP, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The exact joint model of sources and target with random (not fitted) parameters."""
    X, tasks, y = _data(seed)
    model = HierarchicalGP(torch.cat([X, tasks[:, None].double()], -1), y[:, None],
                           shared_function=True, standardize=False)
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.4 * torch.randn(p.shape, generator=g, dtype=p.dtype))
    return model, X, tasks, y


def _exact_stages(model: HierarchicalGP, X, tasks, y) -> tuple[HierarchicalGP, TargetGP]:
    """Stage A with every source input inducing, and stage B, at ``model``'s parameters."""
    src = tasks < S
    sources_model = HierarchicalGP(torch.cat([X[src], tasks[src, None].double()], -1),
                                   y[src, None], shared_function=True, standardize=False)
    sources_model.initialize_from(model)  # the sources' rows and the shared parameters
    factors = g_posterior(sources_model, X[src], tasks[src], y[src], X[src])
    sources = SourcePosterior(sources_model, X[src], sources_model.g_log_lengthscale.detach().exp(),
                              *factors, int(src.sum()), int(src.sum()))
    target = TargetGP(sources, X[~src], y[~src, None], 0.0, 1.0)
    with torch.no_grad():
        target.constant.copy_(model.constant[S])
        for group, z in model.z.items():
            target.z[group].copy_(z[S])
    return sources_model, target


def _assert_same_posterior(target: TargetGP, model: HierarchicalGP) -> None:
    """The target's posterior at new points is the joint model's of task ``S``: the same
    Gaussian conditional computed two ways, equal up to rounding."""
    X_new = torch.rand(2, 4, D, generator=torch.Generator().manual_seed(9), dtype=torch.double)
    with torch.no_grad():
        mean, cov = model.predict_standardized(X_new, torch.full((4,), S))
        mean_h, cov_h = target.predict_standardized(X_new)
    torch.testing.assert_close(mean_h, mean, atol=1e-7, rtol=1e-6)
    torch.testing.assert_close(cov_h, cov, atol=1e-7, rtol=1e-6)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_target_posterior_matches_the_exact_joint_model(seed):
    model, X, tasks, y = _joint(seed)
    _, target = _exact_stages(model, X, tasks, y)
    _assert_same_posterior(target, model)


@pytest.mark.parametrize("seed", [0, 1])
def test_likelihood_factors_into_sources_and_target_given_sources(seed):
    model, X, tasks, y = _joint(seed)
    sources_model, target = _exact_stages(model, X, tasks, y)
    with torch.no_grad():
        total = sources_model.log_likelihood() + target.log_likelihood()
        torch.testing.assert_close(total, model.log_likelihood(), atol=1e-7, rtol=1e-9)


@pytest.mark.parametrize("seed", [0, 1])
def test_stage_a_that_saw_the_target_starts_stage_b_at_the_joint_model(seed):
    """Stage A fitted with the target as its last task (``fit_sources(target=...)``) is, on
    all the data, the joint model itself. ``g``'s posterior from the sources' rows only and
    a TargetGP that starts at stage A's fit of the target then give the joint model's
    posterior: the target's data enter once, through stage B. Stage B's pooling holds the
    sources' rows only, as it adds the target's own terms."""
    model, X, tasks, y = _joint(seed)
    src = tasks < S
    factors = g_posterior(model, X[src], tasks[src], y[src], X[src])
    sources = SourcePosterior(model, X[src], model.g_log_lengthscale.detach().exp(), *factors,
                              int(src.sum()), int(src.sum()), num_target_points=N_TARGET)
    assert sources.num_sources == S
    hierarchy = sources.hierarchy(True)
    assert all(v.shape[0] == S for v in hierarchy.log_theta.values())
    assert all(v.shape[0] == S for v in hierarchy.information.values())
    _assert_same_posterior(TargetGP(sources, X[~src], y[~src, None], 0.0, 1.0), model)


def test_fewer_inducing_inputs_change_the_posterior_but_stay_finite():
    model, X, tasks, y = _joint(0)
    src = tasks < S
    sources_model, exact = _exact_stages(model, X, tasks, y)
    factors = g_posterior(sources_model, X[src], tasks[src], y[src], X[src][::3])
    sparse = SourcePosterior(sources_model, X[src][::3], exact.sources.g_lengthscale,
                             *factors, int(src.sum()), int(src.sum()))
    target = TargetGP(sparse, X[~src], y[~src, None], 0.0, 1.0)
    target.initialize_from(exact)
    X_new = torch.rand(6, D, dtype=torch.double)
    with torch.no_grad():
        mean, cov = target.predict_standardized(X_new)
        mean_e, _ = exact.predict_standardized(X_new)
    assert torch.isfinite(mean).all() and torch.isfinite(cov).all()
    assert (cov.diagonal() >= -1e-9).all()
    assert not torch.allclose(mean, mean_e, atol=1e-6)  # a real approximation


def test_fit_sources_then_target_fit_and_posterior():
    X, tasks, y = _data(3)
    src = tasks < S

    sources = fit_sources(_build, X[src], tasks[src], y[src], S, fit_points=18)
    assert sources.num_fit_points == 18 and sources.num_points == S * N_SOURCE
    assert "18 of 27 source points with the shared function; without it on 27" in (
        sources.describe())
    target = TargetGP(sources, X[~src], y[~src, None] * 3 + 1, 1.0, 3.0).fit()
    posterior = target.posterior(torch.rand(5, 1, D, dtype=torch.double))
    assert posterior.mean.shape == (5, 1, 1) and torch.isfinite(posterior.variance).all()
    assert math.isfinite(float(target.loo_log_density()))
    without = TargetGP(sources, X[~src], y[~src, None] * 3 + 1, 1.0, 3.0, shared=False)
    without.initialize_from(target)
    assert "shared_scale" not in without.z
    assert math.isfinite(float(without.fit().log_joint().detach()))
    # without g, the hyperprior is that of the sources' own model without g, fitted to
    # every source point, not the residual groups of the model with g
    own = sources.own_model
    assert not own.shared_function and own.num_observations(0) == N_SOURCE
    for group in without.groups:
        torch.testing.assert_close(without.hierarchy.m[group], own.m[group].detach())
        torch.testing.assert_close(without.hierarchy.tau[group], own.tau(group).detach())
    assert not torch.allclose(without.hierarchy.m["outputscale"], sources.model.m["outputscale"])
    alone = fit_sources(_build, X[src], tasks[src], y[src], S, fit_points=18, own=False)
    assert alone.own_model is None
    with pytest.raises(InvalidArgumentError, match="fit_sources\\(..., own=True\\)"):
        TargetGP(alone, X[~src], y[~src, None], 0.0, 1.0, shared=False)


def test_the_model_without_g_sees_every_source_point_up_to_its_cost(monkeypatch):
    """fit_own_model keeps every point while ``sum_s n_s^3 <= OWN_FIT_COST``, then at most
    ``(OWN_FIT_COST / S)^(1/3)`` per source, each source's best and worst among them; the
    target is never among them, and fit_sources keeps a model it is given."""
    X, tasks, y = _data(4)
    src = tasks < S
    full = source_posterior.fit_own_model(_build, X[src], tasks[src], y[src], S)
    assert full.train_targets.numel() == S * N_SOURCE and full.num_tasks == S
    monkeypatch.setattr(source_posterior, "OWN_FIT_COST", S * 5**3)
    capped = source_posterior.fit_own_model(_build, X[src], tasks[src], y[src], S)
    assert [capped.num_observations(t) for t in range(S)] == [5] * S
    for t in range(S):
        assert float(y[tasks == t].max()) in capped.train_targets.tolist()
        assert float(y[tasks == t].min()) in capped.train_targets.tolist()
    sources = fit_sources(_build, X[src], tasks[src], y[src], S, fit_points=18, own=capped,
                          target=(X[~src], y[~src]))
    assert sources.own_model is capped and sources.num_target_points == N_TARGET


def test_stratified_subsample_keeps_each_task_range():
    tasks = torch.arange(4).repeat_interleave(10)
    y = torch.randn(40, dtype=torch.double)
    keep = stratified_subsample(tasks, y, 4, 12)
    assert len(keep) == 12 and torch.bincount(tasks[keep]).tolist() == [3, 3, 3, 3]
    for t in range(4):
        own = y[tasks == t]
        assert own.max() in y[keep] and own.min() in y[keep]
    assert torch.equal(stratified_subsample(tasks, y, 4, 40), torch.arange(40))


def test_long_lengthscales_and_large_loadings_still_factor():
    # a smooth family: g's lengthscale long (K_UU nearly singular) and loadings a^2 ~ e^8.6,
    # as the Branin family's stage-A fit had them; the target must still factor and fit
    g = torch.Generator().manual_seed(4)
    X = torch.rand(3 * 30 + 6, D, generator=g, dtype=torch.double)
    tasks = torch.cat([torch.arange(3).repeat_interleave(30), torch.full((6,), 3)])
    y = (X**2).sum(-1) * (1 + 0.1 * tasks)
    src = tasks < 3
    model = HierarchicalGP(torch.cat([X[src], tasks[src, None].double()], -1), y[src, None],
                           shared_function=True, standardize=False)
    with torch.no_grad():
        model.g_log_lengthscale.fill_(3.0)
        model.m["shared_scale"].fill_(8.6)
        model.m["noise"].fill_(-15.0)
    factors = g_posterior(model, X[src], tasks[src], y[src], X[src])
    sources = SourcePosterior(model, X[src], model.g_log_lengthscale.detach().exp(), *factors,
                              int(src.sum()), int(src.sum()))
    target = TargetGP(sources, X[~src], y[~src, None], 0.0, 1.0).fit()
    mean, cov = target.predict_standardized(X[~src])
    assert torch.isfinite(mean).all() and torch.isfinite(cov).all()


def test_the_target_scale_makes_the_fit_free_of_the_target_units():
    """The target's standardization is its own (the optimizer's points, not the sources'
    random ones): the same data in units 3 times smaller must give the same predictions
    in the data's units, the scale ``kappa_T`` taking the factor 9 (module doc)."""
    X, tasks, y = _data(3)
    src = tasks < S

    sources = fit_sources(_build, X[src], tasks[src], y[src], S, fit_points=18)
    X_new = torch.rand(6, 1, D, generator=torch.Generator().manual_seed(4), dtype=torch.double)
    fits = [TargetGP(sources, X[~src], y[~src, None], 0.0, std).fit() for std in (1.0, 1 / 3)]
    log_scales = [float(f.log_scale.detach()) for f in fits]
    # the prior N(0, 2^2) on log kappa pulls each fit a little towards 0, so not exactly
    assert log_scales[1] - log_scales[0] == pytest.approx(math.log(9), abs=0.25)
    with torch.no_grad():
        (m0, v0), (m1, v1) = ((p.mean, p.variance) for p in (f.posterior(X_new) for f in fits))
    # with kappa_T fixed at 1 the means differed by up to 7.5 sds and the sds by a factor
    # 2; with a flat prior on log kappa_T they agree exactly; with N(0, 2^2), to 0.47 sds
    assert ((m0 - m1).abs() / v0.sqrt()).max() < 1.0
    assert torch.allclose(v0.sqrt(), v1.sqrt(), rtol=0.1)


@pytest.mark.parametrize("seed", [0, 1])
def test_the_target_information_is_that_of_the_joint_models_conditional(seed):
    """``P = Cov[y_T | y_S]^{-1}`` is the target's block of the joint ``K^{-1}``, so the
    groups scaled within the target's block have the joint model's information. The
    loading ``a_T`` also moves ``E[y_T | y_S]`` and the conditional covariance through the
    cross blocks: its information is checked against the conditional Gaussian built from
    the joint covariance, differentiated automatically."""
    model, X, tasks, y = _joint(seed)
    _, target = _exact_stages(model, X, tasks, y)
    with torch.no_grad():
        theta_T = target.log_hyperparameters()
        info = target.information(theta_T, target._factor(theta_T)[0])
        theta = model.log_hyperparameters()
        joint = fisher_information(model, theta, model._factor(theta)[0])
    for group in ("outputscale", "noise", "lengthscale"):
        torch.testing.assert_close(info[group], joint[group][S], rtol=1e-6, atol=1e-9)

    def conditional(log_a2_target):
        log_a2 = torch.cat([theta["shared_scale"][:S], log_a2_target.reshape(1)])
        L, r = model._factor({**theta, "shared_scale": log_a2})
        K, n = L @ L.mT, N_TARGET  # the target's points are the last (tasks sorted)
        solve = torch.linalg.solve(K[:-n, :-n], torch.cat([K[:-n, -n:], r[:-n, None]], -1))
        cross = K[:-n, -n:].mT
        return cross @ solve[:, -1], K[-n:, -n:] - cross @ solve[:, :-1]

    a = theta["shared_scale"][S].detach()
    _, cov = conditional(a)
    dmean, dcov = torch.autograd.functional.jacobian(conditional, a)
    P = torch.linalg.inv(cov)
    A = P @ dcov
    expected = 0.5 * (A * A.mT).sum() + dmean @ P @ dmean
    torch.testing.assert_close(info["shared_scale"], expected, rtol=1e-6, atol=1e-9)
