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
    original = fit_module._lbfgsb

    def short_first_run(closure, x0, bounds, maxiter):
        result = original(closure, x0, bounds, 2 if not runs else maxiter)
        runs.append(projected_gradient(result.x, result.jac, bounds))
        return result

    monkeypatch.setattr(fit_module, "_lbfgsb", short_first_run)
    HierarchicalGP(X, Y, shared_function=False).fit()
    assert len(runs) >= 2
    assert runs[0] > RESUME_GRADIENT  # cut short: resumed
    assert runs[-1] <= RESUME_GRADIENT


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


def three_tasks(rng, n: int = 36) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` noisy points of three related 2-d tasks (labels 0, 1, 2)."""
    x = torch.tensor(rng.random((n, 2)))
    task = torch.tensor(rng.integers(0, 3, (n, 1))).double()
    y = (torch.sin(5 * x[:, :1]) + x[:, 1:] * (1 + 0.3 * task)
         + 0.05 * torch.tensor(rng.standard_normal((n, 1))))
    return torch.cat([x, task], -1), y


def count_calls(monkeypatch, name: str) -> list:
    """Record each call of ``fit_module.<name>`` (still made)."""
    calls, original = [], getattr(fit_module, name)

    def counted(*args, **kwargs):
        calls.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr(fit_module, name, counted)
    return calls


def test_a_refit_starts_from_the_last_fits_curvature_and_reaches_the_same_optimum(
        monkeypatch, rng):
    """One more observation: BFGS from the carried inverse Hessian ends where L-BFGS-B from
    the same warm start ends (the objective within FTOL of it), without L-BFGS-B."""
    X, Y = three_tasks(rng)
    for shared in (False, True):
        first = HierarchicalGP(X[:-1], Y[:-1], shared_function=shared).fit()
        assert first.curvature is not None
        assert first.curvature.layout == fit_module.parameter_layout(first)
        bfgs, lbfgsb = count_calls(monkeypatch, "_bfgs"), count_calls(monkeypatch, "_lbfgsb")
        refit = HierarchicalGP(X, Y, shared_function=shared)
        refit.initialize_from(first)
        refit.fit()
        assert (len(bfgs), len(lbfgsb)) == (1, 0)
        cold = HierarchicalGP(X, Y, shared_function=shared)
        cold.initialize_from(first)
        cold.curvature = None  # the same start without it: L-BFGS-B
        cold.fit()
        assert len(lbfgsb) >= 1
        with torch.no_grad():
            gap = float(cold.log_joint() - refit.log_joint())
        assert abs(gap) < 10 * fit_module.FTOL * len(Y)
        monkeypatch.undo()


def test_curvature_of_another_layout_is_not_used(monkeypatch, rng):
    """A model of other tasks (or without ``g``) has another parameter vector: its
    curvature would be read entry for entry into the wrong parameters."""
    X, Y = three_tasks(rng)
    two_tasks = X[:, 2] < 2
    other = HierarchicalGP(X[two_tasks], Y[two_tasks], shared_function=False).fit()
    bfgs = count_calls(monkeypatch, "_bfgs")
    model = HierarchicalGP(X, Y, shared_function=False)
    model.initialize_from(other)
    model.fit()
    assert not bfgs
    assert model.curvature.layout == fit_module.parameter_layout(model)
    without_g = HierarchicalGP(X, Y, shared_function=True)
    without_g.initialize_from(model)
    without_g.fit()
    assert not bfgs


def test_a_stale_curvature_gives_way_to_l_bfgs_b(monkeypatch, rng):
    """An estimate 1e6 times too large: BFGS stops on a small reduction short of the
    optimum, its own estimate says so (not :func:`converged`), and L-BFGS-B goes on to the
    optimum L-BFGS-B reaches without the estimate."""
    X, Y = three_tasks(rng)
    first = HierarchicalGP(X[:-1], Y[:-1], shared_function=False).fit()
    lbfgsb = count_calls(monkeypatch, "_lbfgsb")
    fitted = {}
    for scale in (1e6, None):
        model = HierarchicalGP(X, Y, shared_function=False)
        model.initialize_from(first)
        if scale is None:
            model.curvature = None
        else:
            c = first.curvature
            model.curvature = fit_module.Curvature(scale * c.inverse_hessian, c.layout, c.n)
        model.fit()
        assert len(lbfgsb) >= 1
        lbfgsb.clear()
        with torch.no_grad():
            fitted[scale] = float(model.log_joint())
    assert abs(fitted[1e6] - fitted[None]) < 10 * fit_module.FTOL * len(Y)


def test_bfgs_trial_points_outside_the_box_are_a_wall_not_evaluated():
    evaluated = []

    def closure(x):
        evaluated.append(x)
        return np.float64(x @ x), 2 * x

    values = fit_module._values(closure, np.array([[-1.0, 1.0], [-1.0, 1.0]]))
    assert values(np.array([0.5, 2.0]))[0] == fit_module.FAILED_POINT_OBJECTIVE
    assert not evaluated
    value, grad = values(np.array([0.5, -0.5]))
    assert value == 0.5 and len(evaluated) == 1
    grad[:] = 7.0  # a copy: the closure's buffer is not SciPy's
    assert values(np.array([0.5, -0.5]))[1].tolist() == [1.0, -1.0]


def test_curvature_scales_with_the_number_of_observations_and_must_be_definite():
    H = np.array([[2.0, 0.5], [0.5, 1.0]])
    curvature = fit_module.Curvature(H, ((), ()), 40)
    np.testing.assert_allclose(curvature.scaled_to(50), H * 50 / 40)
    np.testing.assert_allclose(fit_module._inverse_hessian(H + [[0, 1e-3], [0, 0]]),
                               H + [[0, 5e-4], [5e-4, 0]])
    assert fit_module._inverse_hessian(np.array([[1.0, 2.0], [2.0, 1.0]])) is None


def test_projected_gradient_drops_entries_pushing_against_their_bound():
    bounds = np.array([[0.0, 1.0], [0.0, 1.0], [0.0, 1.0]])
    x = np.array([0.0, 1.0, 0.5])
    assert projected_gradient(x, np.array([3.0, -2.0, 0.1]), bounds) == pytest.approx(0.1)
    assert projected_gradient(x, np.array([-3.0, 2.0, 0.1]), bounds) == pytest.approx(3.0)


def test_stage_a_refits_do_not_start_from_the_curvature(monkeypatch, rng):
    """Hierarchical training's source fits (:mod:`hbo.surrogate.source_posterior`) refit by
    L-BFGS-B: with the curvature, regret after 20-30 evaluations was worse at 20 x 100."""
    from hbo.surrogate import source_posterior

    X, Y = three_tasks(rng)
    warm = HierarchicalGP(X[:-1], Y[:-1], shared_function=True).fit()
    assert warm.curvature is not None
    bfgs = count_calls(monkeypatch, "_bfgs")
    refit = source_posterior._fit(HierarchicalGP(X, Y, shared_function=True), warm)
    assert not bfgs
    assert refit.curvature is not None  # it leaves its own, as every fit does
