"""HierarchicalGP: agreement with BoTorch's SingleTaskGP, the two pooling limits, exact
likelihood and prediction formulas, and the BoTorch Model contract."""

import math

import numpy as np
import pytest
import torch
from botorch.acquisition import LogExpectedImprovement, qLogNoisyExpectedImprovement
from botorch.fit import fit_gpytorch_mll
from botorch.models import SingleTaskGP
from botorch.models.utils.gpytorch_modules import (
    MIN_INFERRED_NOISE_LEVEL,
    get_covar_module_with_dim_scaled_prior,
)
from botorch.optim import optimize_acqf
from gpytorch.constraints import GreaterThan
from gpytorch.kernels import MaternKernel, ScaleKernel
from gpytorch.likelihoods import GaussianLikelihood
from gpytorch.mlls import ExactMarginalLogLikelihood
from gpytorch.priors import LogNormalPrior

from hbo.errors import InvalidArgumentError, InvalidDataError
from hbo.surrogate import HierarchicalGP, Hyperprior
from hbo.surrogate.hierarchical_gp import MIN_NOISE


def single_task_peer(X, Y, model: HierarchicalGP | None = None, task: int = 0,
                     standardized: bool = False) -> SingleTaskGP:
    """BoTorch's SingleTaskGP with hbo's kernel and priors (Matern-5/2, outputscale
    LogNormal(1, 1), dimension-scaled lengthscale prior, noise LogNormal(4, 3), i.e.
    N(-5, 3) on log noise);
    with ``model``, its hyperparameters are set to that model's values for ``task``.
    ``standardized``: ``Y`` is in ``model``'s standard units for ``task`` (with several
    tasks, a scale pooled across them), and no outcome transform is applied."""
    covar = ScaleKernel(
        get_covar_module_with_dim_scaled_prior(X.shape[-1], use_rbf_kernel=False),
        outputscale_prior=LogNormalPrior(1.0, 1.0),
    )
    noise_prior = LogNormalPrior(4.0, 3.0)
    likelihood = GaussianLikelihood(
        noise_prior=noise_prior,
        noise_constraint=GreaterThan(MIN_INFERRED_NOISE_LEVEL, transform=None,
                                     initial_value=noise_prior.mode),
    )
    transform = {"outcome_transform": None} if standardized else {}
    peer = SingleTaskGP(X, Y, likelihood=likelihood, covar_module=covar, **transform)
    if model is not None:
        theta = {k: v.detach()[task] for k, v in model.log_hyperparameters().items()}
        peer.covar_module.base_kernel.lengthscale = theta["lengthscale"].exp()
        peer.covar_module.outputscale = theta["outputscale"].exp()
        peer.likelihood.noise = theta["noise"].exp() + MIN_NOISE
        peer.mean_module.constant = model.constant.detach()[task]
    return peer.eval()


def with_task(X: torch.Tensor, task: float = 0.0) -> torch.Tensor:
    return torch.cat([X, torch.full((len(X), 1), task, dtype=X.dtype)], -1)


@pytest.fixture
def one_task(rng):
    X = torch.tensor(rng.random((20, 2)))
    y = torch.sin(5 * X[:, 0]) + (X[:, 1] - 0.3) ** 2 + 0.05 * torch.tensor(rng.normal(size=20))
    return X, 3.0 * y.unsqueeze(-1) + 1.0, torch.tensor(rng.random((40, 2)))


def test_one_task_equals_single_task_gp_at_equal_hyperparameters(one_task):
    X, Y, X_test = one_task
    model = HierarchicalGP(with_task(X), Y).fit()
    peer = single_task_peer(X, Y, model)
    ours, theirs = model.posterior(X_test), peer.posterior(X_test)
    # same formulas, same numbers: only floating-point round-off differs
    torch.testing.assert_close(ours.mean, theirs.mean, rtol=1e-8, atol=1e-9)
    torch.testing.assert_close(ours.variance, theirs.variance, rtol=1e-6, atol=1e-9)
    noisy = model.posterior(X_test, observation_noise=True).variance
    torch.testing.assert_close(noisy, peer.posterior(X_test, observation_noise=True).variance)


def test_one_task_map_fit_equals_single_task_gp_fit(one_task):
    """Both maximize the same posterior density (hbo on log scale with the LogNormal's
    Jacobian folded into the prior's location), so the fitted models agree up to the
    optimizers' tolerances (L-BFGS-B, relative 1e-9 on the objective in both)."""
    X, Y, X_test = one_task
    model = HierarchicalGP(with_task(X), Y).fit()
    peer = single_task_peer(X, Y)
    fit_gpytorch_mll(ExactMarginalLogLikelihood(peer.likelihood, peer))
    ours, theirs = model.posterior(X_test), peer.posterior(X_test)
    scale = Y.std()
    assert (ours.mean - theirs.mean).abs().max() < 1e-4 * scale
    assert ((ours.variance / theirs.variance) - 1).abs().max() < 1e-3
    assert model.tau("lengthscale") == 0 and not model.hierarchical


def related(rng, lengthscales, n=25, noise=0.1):
    """Tasks drawn from GPs with the given lengthscales (d = 1), as train_X, train_Y."""
    Xs, Ys = [], []
    for t, ell in enumerate(lengthscales):
        x = np.sort(rng.random(n))
        K = np.exp(-0.5 * (x[:, None] - x[None]) ** 2 / ell**2) + 1e-8 * np.eye(n)
        f = np.linalg.cholesky(K) @ rng.normal(size=n)
        Xs.append(np.column_stack([x, np.full(n, t)]))
        Ys.append(f + noise * rng.normal(size=n))
    return torch.tensor(np.vstack(Xs)), torch.tensor(np.concatenate(Ys)).unsqueeze(-1)


def test_tau_large_gives_independent_per_task_fits(rng):
    """tau = 100 on the log scale makes each task's prior flat over any plausible value, so
    each task's fit equals a GP fitted to that task alone with flat priors. Variances are
    compared in the data's units: the joint model standardizes a task by a scale pooled
    across tasks (task_standardization), the model alone by the task's own; a task's log
    variance then lies a few units from the shared m, and tau = 20 (enough when every task
    was standardized by its own spread) left a pull of 0.053 along the long-lengthscale
    task's lengthscale-outputscale ridge."""
    X, Y = related(rng, [0.08, 0.3, 1.0])
    flat = {g: dict(scale=50.0) for g in ("lengthscale", "outputscale", "noise")}
    from hbo.surrogate import Hyperprior, default_hyperpriors

    priors = {
        g: Hyperprior(loc=p.location(1), scale=flat[g]["scale"], tau_scale=p.tau_scale)
        for g, p in default_hyperpriors().items()
        if g in flat
    }
    pooled = HierarchicalGP(X, Y, shared_function=False, fixed_tau=100.0).fit()
    theta = pooled.log_hyperparameters()
    for t in range(3):
        rows = X[:, -1] == t
        alone = HierarchicalGP(X[rows], Y[rows], hyperpriors=priors).fit()
        solo = alone.log_hyperparameters()
        for g in ("lengthscale", "outputscale", "noise"):
            # 0.05 on the log scale = 5 %: the residual pull of z's N(0, 1) prior at tau = 100
            # and of m's scale-50 prior is far smaller; the rest is optimizer tolerance
            ours, alone_value = theta[g][t].detach().numpy(), solo[g][0].detach().numpy()
            if g != "lengthscale":  # log variances, from standard units to the data's
                ours = ours + 2 * pooled._y_std[t].log().item()
                alone_value = alone_value + 2 * alone._y_std[0].log().item()
            assert ours == pytest.approx(alone_value, abs=0.05), (g, t)


def test_tau_zero_gives_one_shared_set(rng):
    X, Y = related(rng, [0.08, 0.3, 1.0])
    model = HierarchicalGP(X, Y, shared_function=False, fixed_tau=0.0).fit()
    for value in model.log_hyperparameters().values():
        torch.testing.assert_close(value, value[:1].expand_as(value), rtol=0, atol=0)
    # and the shared value is a compromise: between the extreme tasks' own lengthscales
    free = HierarchicalGP(X, Y, shared_function=False).fit()
    own = free.log_hyperparameters()["lengthscale"].detach().squeeze(-1)
    shared = model.log_hyperparameters()["lengthscale"][0, 0].detach()
    assert own.min() < shared < own.max()


def test_fitted_tau_tells_similar_from_different_tasks(rng):
    """Same lengthscale everywhere -> small tau; lengthscales a factor 12 apart -> large."""
    same = HierarchicalGP(*related(rng, [0.25] * 6), shared_function=False).fit()
    mixed = HierarchicalGP(*related(rng, [0.06, 0.75] * 3), shared_function=False).fit()
    tau_same, tau_mixed = same.tau("lengthscale").item(), mixed.tau("lengthscale").item()
    # log(12) / 2 ~ 1.24 is the sd of the mixed family's log lengthscales
    assert tau_mixed > 0.6 and tau_same < 0.4 and tau_mixed > 2 * tau_same


def test_log_likelihood_without_g_is_sum_of_per_task_gp_likelihoods(rng):
    """Batched padded blocks = independent GPs: compare with GPyTorch's exact MLL per task."""
    X, Y = related(rng, [0.1, 0.4, 0.9], n=17)
    keep = torch.ones(len(X), dtype=torch.bool)
    keep[[3, 30, 31]] = False  # unequal task sizes exercise the padding
    X, Y = X[keep], Y[keep]
    model = HierarchicalGP(X, Y, shared_function=False)
    with torch.no_grad():
        for g in model.z:
            model.z[g].normal_()
        model.constant.normal_()
        total = model.log_likelihood()
    expected = 0.0
    for t in range(3):
        rows = model._tasks == t
        peer = single_task_peer(model._Z[rows], model._y[rows].unsqueeze(-1), model, t,
                                standardized=True)
        peer.train()
        mll = ExactMarginalLogLikelihood(peer.likelihood, peer)
        out = peer(*peer.train_inputs)
        # GPyTorch's MLL divides by n and adds the priors; undo both
        n = int(rows.sum())
        prior = sum(p.log_prob(c(m)).sum() for _, m, p, c, _ in peer.named_priors())
        expected += (mll(out, peer.train_targets) * n - prior).item()
    assert total.item() == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("shared", [False, True])
def test_log_prior_is_the_sum_of_the_hyperpriors_densities(rng, related_fns, make_task_data,
                                                           shared):
    """Every ``m`` (and ``g``'s log lengthscale), ``z`` and fitted ``log tau`` against
    SciPy's densities, with a group's own hyperprior and a fixed ``tau``."""
    from scipy import stats

    X, Y = make_task_data(rng, related_fns[:3], n=6, d=2)
    model = HierarchicalGP(
        X, Y, shared_function=shared, fixed_tau={"noise": 0.1},
        hyperpriors={"outputscale": Hyperprior(loc=0.5, scale=2.0, tau_scale=0.7)},
    )
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.normal_()
    D, expected = 2, 0.0
    for g in model.groups:
        prior = model.hyperpriors[g]
        expected += stats.norm.logpdf(model.m[g].detach(), prior.location(D), prior.scale).sum()
        expected += stats.norm.logpdf(model.z[g].detach()).sum()
        if g in model.log_tau:  # the density of log tau: tau's, times the Jacobian tau
            log_tau = model.log_tau[g].item()
            expected += stats.halfnorm.logpdf(math.exp(log_tau), scale=prior.tau_scale) + log_tau
    if shared:
        prior = model.hyperpriors["lengthscale"]
        expected += stats.norm.logpdf(model.g_log_lengthscale.detach(), prior.location(D),
                                      prior.scale).sum()
    assert "noise" not in model.log_tau
    assert model.log_prior().item() == pytest.approx(float(expected), rel=1e-12)


def cross_covariance(model: HierarchicalGP, Z1, t1, Z2, t2) -> torch.Tensor:
    """``Cov(f_{t1}(Z1), f_{t2}(Z2))`` written out entry by entry with GPyTorch's Matern:
    ``a_t a_u k_g(x, x') + [t = u] s_t^2 k_t(x, x')``."""
    theta = {k: v.detach() for k, v in model.log_hyperparameters().items()}
    ell, s2 = theta["lengthscale"].exp(), theta["outputscale"].exp()
    a = (0.5 * theta["shared_scale"]).exp()
    kernel = MaternKernel(nu=2.5, ard_num_dims=Z1.shape[-1]).double().requires_grad_(False)
    kernel.lengthscale = model.g_log_lengthscale.detach().exp()
    K = a[t1][:, None] * a[t2][None, :] * kernel(Z1, Z2).to_dense()
    for i in range(len(t1)):
        for j in range(len(t2)):
            if t1[i] == t2[j]:
                kernel.lengthscale = ell[t1[i]]
                K[i, j] += s2[t1[i]] * kernel(Z1[i : i + 1], Z2[j : j + 1]).to_dense()[0, 0]
    return K


def test_shared_function_likelihood_and_prediction_match_dense_formulas(
    rng, related_fns, make_task_data
):
    X, Y = make_task_data(rng, related_fns[:3], n=8, d=2)
    keep = torch.cat([torch.arange(8), torch.arange(8, 13), torch.arange(16, 24)])
    keep = keep[torch.randperm(keep.numel())]  # unequal tasks, in mixed order
    model = HierarchicalGP(X[keep], Y[keep], shared_function=True).fit(maxiter=30)
    Z, t = model._Z, model._tasks
    noise = model.log_hyperparameters()["noise"].detach().exp() + MIN_NOISE
    K = cross_covariance(model, Z, t, Z, t) + torch.diag(noise[t])
    r = model._y - model.constant.detach()[t]
    mvn = torch.distributions.MultivariateNormal(torch.zeros_like(r), K)
    assert model.log_likelihood().item() == pytest.approx(mvn.log_prob(r).item(), rel=1e-9)
    # prediction for task 1 at new points: the GP conditional given every task's data
    Z_new = torch.tensor(rng.random((5, 2)))
    t_new = torch.ones(5, dtype=torch.long)
    mean, cov = model.predict_standardized(Z_new, t_new)
    K_sn = cross_covariance(model, Z_new, t_new, Z, t)
    K_ss = cross_covariance(model, Z_new, t_new, Z_new, t_new)
    expected_mean = model.constant.detach()[1] + K_sn @ torch.linalg.solve(K, r)
    expected_cov = K_ss - K_sn @ torch.linalg.solve(K, K_sn.T)
    torch.testing.assert_close(mean, expected_mean, rtol=1e-7, atol=1e-9)
    torch.testing.assert_close(cov, expected_cov, rtol=1e-6, atol=1e-8)


def test_prediction_without_g_uses_only_the_task_asked_for(rng):
    """Tasks are independent given the hyperparameters: task 1's posterior is a GP on
    task 1's data alone with task 1's hyperparameters (BoTorch's SingleTaskGP)."""
    X, Y = related(rng, [0.1, 0.4, 0.9], n=12)
    model = HierarchicalGP(X, Y, shared_function=False, output_tasks=[1]).fit()
    rows = X[:, -1] == 1
    mean, std = model._y_mean[1], model._y_std[1]  # the model's units for task 1
    peer = single_task_peer(X[rows, :-1], (Y[rows] - mean) / std, model, task=1,
                            standardized=True)
    X_test = torch.tensor(rng.random((7, 1)))
    theirs = peer.posterior(X_test)
    torch.testing.assert_close(model.posterior(X_test).mean, theirs.mean * std + mean)
    torch.testing.assert_close(
        model.posterior(X_test).variance, theirs.variance * std**2, rtol=1e-6, atol=1e-9
    )
    _, L, w = model._posterior_cache()
    assert L.shape == (3, 12, 12) and w.shape == (3, 12)  # per-task blocks, no N x N


def test_botorch_model_contract(rng, related_fns, make_task_data):
    X, Y = make_task_data(rng, related_fns[:3], n=10, d=2)
    model = HierarchicalGP(X, Y, task_feature=-1, output_tasks=[2]).fit(maxiter=50)
    assert model.num_outputs == 1
    post = model.posterior(torch.rand(4, 3, 2, dtype=torch.double))
    assert post.mean.shape == (4, 3, 1) and post.variance.shape == (4, 3, 1)
    # with the task column: one output, each point on its own task
    Xt = torch.cat([torch.rand(3, 2, dtype=torch.double), torch.tensor([[0.0], [1.0], [2.0]])], -1)
    assert model.posterior(Xt).mean.shape == (3, 1)
    # several output tasks: a q x m multitask posterior
    every = HierarchicalGP(X, Y, output_tasks=[0, 2])
    every.load_state_dict(model.state_dict(), strict=False)
    assert every.posterior(torch.rand(5, 2, dtype=torch.double)).mean.shape == (5, 2)
    # BoTorch acquisition functions and optimizers take it as it is
    bounds = torch.tensor([[0.0, 0.0], [1.0, 1.0]], dtype=torch.double)
    target = X[X[:, -1] == 2, :-1]
    best = model.posterior(target).mean.max()
    for acqf in (
        LogExpectedImprovement(model, best_f=best),
        qLogNoisyExpectedImprovement(model, X_baseline=target, cache_root=False),
    ):
        x, value = optimize_acqf(acqf, bounds, q=2 if "q" in type(acqf).__name__ else 1,
                                 num_restarts=2, raw_samples=32)
        assert torch.isfinite(value).all() and ((x >= 0) & (x <= 1)).all()
    # sampling (what qLogNEI does) works and matches the posterior's moments
    samples = model.posterior(target[:3]).rsample(torch.Size([4000]))
    torch.testing.assert_close(
        samples.mean(0), model.posterior(target[:3]).mean, atol=0.1 * Y.std(), rtol=0
    )


def test_categorical_inputs_are_one_hot(rng):
    x = rng.random(30)
    c = rng.integers(0, 3, 30)
    y = np.sin(6 * x) + np.array([0.0, 2.0, -1.0])[c]
    X = torch.tensor(np.column_stack([x, c, np.zeros(30)]))
    model = HierarchicalGP(X, torch.tensor(y).unsqueeze(-1), categorical_dims={1: 3}).fit()
    assert model._Z.shape == (30, 4)  # 1 numeric + 3 one-hot columns
    grid = torch.tensor([[0.5, 0.0], [0.5, 1.0], [0.5, 2.0]], dtype=torch.double)
    mean = model.posterior(grid).mean.squeeze(-1)
    # the categories' offsets (0, +2, -1) are recovered in order
    assert mean[1] > mean[0] > mean[2]


@pytest.mark.parametrize(
    ("kwargs", "error", "fragment"),
    [
        (dict(train_X=torch.rand(5, 1), train_Y=torch.rand(5, 1)), InvalidDataError, "task column"),
        (dict(train_Y=torch.rand(4, 1)), InvalidDataError, "n x 1"),
        (dict(task_feature=5), InvalidArgumentError, "task_feature"),
        (dict(output_tasks=[7]), InvalidArgumentError, "output_tasks"),
        (dict(fixed_tau={"speed": 0.0}), InvalidArgumentError, "unknown groups"),
        (dict(fixed_tau=-1.0), InvalidArgumentError, ">= 0"),
        (dict(fixed_tau={"noise": True}), InvalidArgumentError, "finite number"),
        (dict(hyperpriors={"speed": Hyperprior(0.0, 1.0)}), InvalidArgumentError,
         "unknown groups"),
        (dict(hyperpriors={"noise": {"loc": -5.0}}), InvalidArgumentError, "Hyperprior"),
        (dict(categorical_dims={0: 3}), InvalidDataError, "category codes"),
        (dict(shared_function=True, one_task=True), InvalidArgumentError, "at least 2 tasks"),
    ],
)
def test_bad_model_input(kwargs, error, fragment):
    labels = torch.tensor([[0.0]] * 3 + [[1.0]] * 2)
    X = torch.cat([torch.rand(5, 2, dtype=torch.double), labels], 1)
    args = dict(train_X=X, train_Y=torch.rand(5, 1, dtype=torch.double))
    if kwargs.pop("one_task", False):
        args["train_X"] = torch.cat([X[:, :2], torch.zeros(5, 1, dtype=torch.double)], 1)
    args.update(kwargs)
    with pytest.raises(error, match=fragment):
        HierarchicalGP(**args)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        (dict(loc=0.0, scale=0.0), "scale must be a finite number > 0, got 0.0"),
        (dict(loc=0.0, scale=1.0, tau_scale=float("inf")), "tau_scale must be a finite"),
        (dict(loc=float("nan"), scale=1.0), "loc must be a finite number or None"),
        (dict(loc="0", scale=1.0), "loc must be a finite number or None"),
    ],
)
def test_bad_hyperprior(kwargs, fragment):
    with pytest.raises(InvalidArgumentError, match=fragment):
        Hyperprior(**kwargs)


def test_nan_in_training_data_is_rejected():
    X = torch.rand(4, 2, dtype=torch.double)
    X[1, 0] = math.nan
    with pytest.raises(InvalidDataError, match="finite"):
        HierarchicalGP(X, torch.rand(4, 1, dtype=torch.double))


def test_standardize_false_fits_the_outputs_as_given(rng):
    """``standardize=False`` keeps ``train_Y`` as the model's data: on outputs already
    standardized per task it is the default model exactly; raw outputs are not rescaled."""
    X, Y = related(rng, [0.1, 0.4], n=12)
    tasks = X[:, -1].long()
    Z = Y.clone()
    for t in (0, 1):
        Z[tasks == t] = (Y[tasks == t] - Y[tasks == t].mean()) / Y[tasks == t].std()
    default, given = HierarchicalGP(X, Z), HierarchicalGP(X, Z, standardize=False)
    given.load_state_dict(default.state_dict())
    torch.testing.assert_close(given._y, default._y)
    torch.testing.assert_close(given.log_likelihood(), default.log_likelihood())
    raw = HierarchicalGP(X, 10.0 * Y + 3.0, standardize=False)
    order = torch.argsort(tasks, stable=True)
    torch.testing.assert_close(raw._y, (10.0 * Y + 3.0).squeeze(-1)[order])
    assert not torch.allclose(raw.log_likelihood(), default.log_likelihood())
