"""Robust fitting: jitter and restarts warn instead of crashing; hopeless fits raise."""

import math
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from hbo._warnings import NumericalWarning
from hbo.errors import ModelFittingError
from hbo.surrogate import HierarchicalGP
from hbo.surrogate import fit as fit_module
from hbo.surrogate.constant_means import constant_solve
from hbo.surrogate.fit import PRIOR_BOX_SDS, RESUME_GRADIENT, prior_box, projected_gradient
from hbo.surrogate.hierarchical_gp import robust_cholesky

DATA = Path(__file__).parent / "data"


def test_robust_cholesky_adds_jitter_only_when_needed():
    v = torch.tensor([[1.0], [2.0], [3.0]], dtype=torch.double)
    L, jitter = robust_cholesky(v @ v.T + torch.eye(3, dtype=torch.double))
    assert jitter == 0.0
    L, jitter = robust_cholesky(v @ v.T)  # rank 1: not positive definite
    assert jitter > 0 and torch.isfinite(L).all()
    with pytest.raises(ModelFittingError, match="not positive definite"):
        robust_cholesky(-torch.eye(3, dtype=torch.double))


def fail_on_evaluation(monkeypatch, evaluation: int) -> None:
    """Make the ``evaluation``-th call of ``HierarchicalGP.log_joint`` (from 1) raise a
    simulated Cholesky failure; every other call is the real one."""
    calls = {"n": 0}
    original = HierarchicalGP.log_joint

    def flaky(self):
        calls["n"] += 1
        if calls["n"] == evaluation:
            raise ModelFittingError("simulated Cholesky failure")
        return original(self)

    monkeypatch.setattr(HierarchicalGP, "log_joint", flaky)


def test_fit_restarts_from_the_prior_with_a_warning(monkeypatch, rng):
    X = torch.tensor(rng.random((12, 1)))
    X = torch.cat([X, torch.zeros(12, 1, dtype=torch.double)], -1)
    Y = torch.sin(6 * X[:, :1])
    model = HierarchicalGP(X, Y)
    fail_on_evaluation(monkeypatch, 1)
    with pytest.warns(NumericalWarning, match="2 attempts"):
        model.fit()
    assert torch.isfinite(model.posterior(X[:3, :1]).mean).all()


def test_fit_that_always_fails_raises(monkeypatch, rng):
    X = torch.cat([torch.tensor(rng.random((6, 1))), torch.zeros(6, 1, dtype=torch.double)], -1)
    model = HierarchicalGP(X, torch.tensor(rng.random((6, 1))))

    def broken(self):
        raise ModelFittingError("never factors")

    monkeypatch.setattr(HierarchicalGP, "log_joint", broken)
    with pytest.raises(ModelFittingError, match="3 attempts"):
        model.fit()


def test_a_trial_point_without_a_factor_is_stepped_back_from(monkeypatch, rng):
    """A failure after the start (a line search's trial point) is a wall, not a failed
    attempt: the fit ends without a restart and at the same optimum."""
    X = torch.cat([torch.tensor(rng.random((12, 1))), torch.zeros(12, 1, dtype=torch.double)], -1)
    Y = torch.sin(6 * X[:, :1])
    expected = HierarchicalGP(X, Y).fit().log_hyperparameters()
    fail_on_evaluation(monkeypatch, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("error", NumericalWarning)  # no restart was needed
        fitted = HierarchicalGP(X, Y).fit().log_hyperparameters()
    for g, value in expected.items():
        torch.testing.assert_close(fitted[g], value, atol=1e-3, rtol=0)


def test_a_run_stopped_short_of_the_minimum_is_resumed(monkeypatch, rng):
    """L-BFGS-B cut short (here: after 2 iterations) is resumed from where it stopped until
    the projected gradient is below RESUME_GRADIENT."""
    X = torch.cat([torch.tensor(rng.random((20, 2))), torch.tensor(rng.integers(0, 2, (20, 1)))],
                  -1).double()
    Y = torch.sin(6 * X[:, :1]) + X[:, 2:]
    runs = []
    original = fit_module.scipy_minimize

    def short_first_run(closure, params, bounds, options):
        runs.append(params)
        if len(runs) == 1:
            options = {**options, "maxiter": 2}
        return original(closure, params, bounds=bounds, options=options)

    monkeypatch.setattr(fit_module, "scipy_minimize", short_first_run)
    model = HierarchicalGP(X, Y, shared_function=False).fit()
    assert len(runs) >= 2
    n = model._tasks.numel()
    closure = fit_module.ForwardBackwardClosure(lambda: -model.log_joint() / n, runs[0])
    assert projected_gradient(closure, runs[0], prior_box(model)) <= RESUME_GRADIENT


def test_constants_are_profiled_out_at_their_least_squares_estimate(rng):
    """After the fit the constants maximize ``log p(y | theta, c)`` (the gradient in ``c``
    vanishes) and the objective is the likelihood at them: the joint MAP of ``(theta, c)``."""
    X = torch.cat([torch.tensor(rng.random((24, 2))), torch.tensor(rng.integers(0, 3, (24, 1)))],
                  -1).double()
    Y = torch.cos(4 * X[:, :1]) + 0.5 * X[:, 2:] + 0.05 * torch.tensor(rng.standard_normal((24, 1)))
    for shared in (False, True):
        model = HierarchicalGP(X, Y, shared_function=shared).fit()
        constant = model.constant.detach().clone().requires_grad_(True)
        theta = {g: v.detach() for g, v in model.log_hyperparameters().items()}
        L, r = model._factor(theta, constant)
        likelihood = model._gaussian_log_density(L, r)
        (gradient,) = torch.autograd.grad(likelihood, constant)
        assert gradient.abs().max() < 1e-8
        with torch.no_grad():
            L0, y0 = model._factor(theta, torch.zeros_like(constant))
            quadratic = constant_solve(model, L0, y0, 0.0)[0]
            logdet = L0.diagonal(dim1=-2, dim2=-1).log().sum()
            profiled = -0.5 * quadratic - logdet - 12.0 * math.log(2 * math.pi)
        assert float(profiled) == pytest.approx(likelihood.item(), rel=1e-10)


def test_duplicate_noise_free_points_fit_without_crashing():
    x = torch.tensor([[0.1], [0.1], [0.1], [0.5], [0.5], [0.9]], dtype=torch.double)
    X = torch.cat([x, torch.zeros(6, 1, dtype=torch.double)], -1)
    Y = torch.tensor([[1.0], [1.0], [1.0], [0.0], [0.0], [2.0]], dtype=torch.double)
    model = HierarchicalGP(X, Y).fit()  # exact repeats: the noise floor keeps K definite
    mean = model.posterior(x[[0, 3, 5]]).mean.squeeze(-1)
    torch.testing.assert_close(mean, torch.tensor([1.0, 0.0, 2.0], dtype=torch.double),
                               atol=0.05, rtol=0)


def test_prior_box_is_eight_prior_sds_around_the_hyperprior():
    model = HierarchicalGP(torch.tensor([[0.1, 0.0], [0.5, 1.0], [0.9, 1.0]]).double(),
                           torch.tensor([[0.0], [1.0], [2.0]]).double())
    box = prior_box(model)
    assert box["m.noise"] == (-5.0 - 8 * 3.0, -5.0 + 8 * 3.0)
    assert box["z.outputscale"] == (-PRIOR_BOX_SDS, PRIOR_BOX_SDS)
    assert box["log_tau.noise"] == (None, pytest.approx(math.log(8 * 0.5)))
    assert box["g_log_lengthscale"] == box["m.lengthscale"]
    assert "constant" not in box
    named = dict(model.named_parameters())
    assert set(box) <= set(named)


def test_search_stays_in_the_prior_box_where_it_once_overflowed(monkeypatch):
    """Without the box, L-BFGS-B's line search tried ``log tau`` of 8.7 and ``|z|`` of 12
    on these data; every lengthscale overflowed, the kernel matrix was NaN, and all three
    attempts failed (ModelFittingError). With it the first attempt fits, and no point the
    search evaluates leaves the box."""
    # the benchmark's unrelated family at seed 113: 5 x 30 source and 5 target points
    data = torch.tensor(np.loadtxt(DATA / "unrelated_family_seed113.csv", delimiter=",",
                                   skiprows=3))
    model = HierarchicalGP(data[:, :4], data[:, 4:], output_tasks=[0], shared_function=False)
    box = prior_box(model)
    outside = []
    original = HierarchicalGP.log_joint

    def watched(self):
        for name, p in self.named_parameters():
            low, high = box.get(name, (None, None))
            if (low is not None and p.min() < low - 1e-9) or (
                    high is not None and p.max() > high + 1e-9):
                outside.append(name)
        return original(self)

    monkeypatch.setattr(HierarchicalGP, "log_joint", watched)
    with warnings.catch_warnings():
        warnings.simplefilter("error", NumericalWarning)  # a restart or jitter would warn
        model.fit()
    assert not outside
    assert torch.isfinite(model.posterior(torch.rand(4, 3).double()).mean).all()
