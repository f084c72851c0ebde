"""Eight Schools with pyro's NUTS: the funnel of the centered form, and agreement of the
non-centered form with the exact posterior of NormalHierarchy (BDA3 §5.5).

Run sizes are small to keep the suite fast (pyro spends about 0.5 ms per leapfrog step);
every tolerance is a multiple of ArviZ's Monte Carlo standard error of that very run.
"""

import warnings

import arviz as az
import numpy as np
import pytest

from hbo._warnings import ConvergenceWarning
from hbo.diagnostics import funnel, pooling_factor
from hbo.diagnostics.funnel import DIVERGENT_LABEL
from hbo.errors import InvalidArgumentError, InvalidDataError
from hbo.hierarchy import NormalHierarchy
from hbo.hierarchy.models import EightSchools
from hbo.hierarchy.models.eight_schools import SIGMA, Y

PRIORS = dict(mu_prior=(0.0, 5.0), tau_prior="half_normal", tau_scale=5.0)
NAMES = ["mu", "tau"] + [f"theta[{j}]" for j in range(1, 9)]
# |NUTS - exact| <= K * MCSE: the error of a posterior-mean estimate is about normal with sd
# MCSE; with 10 parameters, K = 4 gives a false-alarm rate below 1e-3 for the whole test
K = 4.0


@pytest.fixture(scope="module")
def noncentered():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit = EightSchools(Y, SIGMA, centered=False, **PRIORS).fit(
            chains=4, warmup=500, draws=500, seed=1, progress=False
        )
    return fit, [w for w in caught if issubclass(w.category, ConvergenceWarning)]


@pytest.fixture(scope="module")
def centered():
    # four chains: one chain of 300 draws diverges 0 to 95 times (18 seeds, hbo's sampler;
    # pyro's 0 to 35), none in 2 of 18, so four chains all without one: about 1e-4
    with pytest.warns(ConvergenceWarning, match="divergent"):
        return EightSchools(Y, SIGMA, centered=True, **PRIORS).fit(
            chains=4, warmup=300, draws=300, seed=0, progress=False
        )


@pytest.fixture(scope="module")
def marginalized():
    # 4 x 1000 draws: tau's bulk ESS is only about 0.3 per draw (trajectories of 1 to 3
    # steps); 4 x 400 left R-hat(mu) at 1.012, 4 x 500 tau's tail ESS at 307
    return EightSchools(Y, SIGMA, marginalize=True, **PRIORS).fit(
        chains=4, warmup=500, draws=1000, seed=3, progress=False
    )


@pytest.fixture(scope="module")
def exact():
    return NormalHierarchy(Y, SIGMA, **PRIORS).fit()


def test_centered_diverges_and_non_centered_does_not(centered, noncentered):
    fit, caught = noncentered
    # both at fit's default sampler settings (target acceptance 0.9, tree depth 10); the
    # non-centered run is the longer one (4 x 500 against 4 x 300 draws), so "no divergence"
    # is the harder claim
    for f in (fit, centered):
        assert (f.settings["target_accept"], f.settings["max_tree_depth"]) == (0.9, 10)
    report = fit.convergence()
    assert report.divergences == 0 and report.ok, report.problems()
    assert caught == []
    assert (report.n_chains, report.n_draws) == (4, 500)
    assert report.tree_depth_saturation == 0.0
    # centered: divergences, and E-BFMI below Betancourt's 0.3 (the funnel's energy problem)
    bad = centered.convergence()
    assert bad.divergences > 0
    assert not bad.ok


def test_centered_divergences_sit_in_the_neck_of_the_funnel(centered):
    ax = funnel(centered.idata, "theta", "tau")
    (div,) = [c for c in ax.collections if c.get_label().startswith(DIVERGENT_LABEL)]
    log_tau = np.log(centered.draws("tau"))
    # divergences happen where the curvature is large: small tau
    assert np.median(np.asarray(div.get_offsets())[:, 1]) < np.quantile(log_tau, 0.25)


def test_non_centered_agrees_with_exact_posterior_within_mcse(noncentered, exact):
    fit, _ = noncentered
    nuts = fit.summary(var_names=["mu", "tau", "theta"]).loc[NAMES]
    ref = exact.summary().loc[NAMES]
    assert np.all(np.abs(nuts["mean"] - ref["mean"]) < K * nuts["mcse_mean"])
    assert np.all(np.abs(nuts["sd"] - ref["sd"]) < K * nuts["mcse_sd"])


def test_vectorized_chains_agree_with_exact_posterior_within_mcse(exact):
    """4 chains as copies in one trajectory (``vectorize=True``): each copy's draws are
    posterior draws, so the summary agrees with the exact posterior as the sequential
    run's does; the chains start apart and end in one distribution (R-hat)."""
    fit = EightSchools(Y, SIGMA, centered=False, **PRIORS).fit(
        chains=4, warmup=500, draws=500, seed=1, progress=False, vectorize=True
    )
    report = fit.convergence()
    assert (report.n_chains, report.n_draws) == (4, 500) and report.ok, report.problems()
    draws = fit.idata.posterior["mu"].values
    assert len({round(float(c[0]), 6) for c in draws}) == 4  # four different paths
    nuts = fit.summary(var_names=["mu", "tau", "theta"]).loc[NAMES]
    ref = exact.summary().loc[NAMES]
    assert np.all(np.abs(nuts["mean"] - ref["mean"]) < K * nuts["mcse_mean"])
    assert np.all(np.abs(nuts["sd"] - ref["sd"]) < K * nuts["mcse_sd"])


def test_marginalized_agrees_with_exact_and_with_the_full_model(marginalized, noncentered,
                                                                 exact):
    assert list(marginalized.idata.posterior.data_vars) == ["mu", "tau", "theta"]
    assert marginalized.convergence().divergences == 0
    nuts = marginalized.summary(var_names=["mu", "tau", "theta"]).loc[NAMES]
    ref = exact.summary().loc[NAMES]
    assert np.all(np.abs(nuts["mean"] - ref["mean"]) < K * nuts["mcse_mean"])
    assert np.all(np.abs(nuts["sd"] - ref["sd"]) < K * nuts["mcse_sd"])
    # against the non-marginalized NUTS run: two independent estimates, so the error of
    # their difference has sd sqrt(MCSE_1^2 + MCSE_2^2)
    full = noncentered[0].summary(var_names=["mu", "tau", "theta"]).loc[NAMES]
    assert np.all(np.abs(nuts["mean"] - full["mean"])
                  < K * np.hypot(nuts["mcse_mean"], full["mcse_mean"]))


def test_pooling_factor_and_shrinkage_of_nuts_draws_match_exact(noncentered, exact):
    fit, _ = noncentered
    result = pooling_factor(fit.idata, "theta", "mu", scale_param="tau", sigma=SIGMA)
    # E[B_j | y]: exact from NormalHierarchy; MCSE of the mean of the per-draw B_j by ArviZ
    var = np.asarray(SIGMA) ** 2
    b_draws = var / (var + fit.idata.posterior["tau"].values[..., None] ** 2)
    mcse = az.mcse(az.from_dict(posterior={"b": b_draws}))["b"].values
    b_exact = exact.shrinkage()["B_mean"].to_numpy()
    assert np.all(np.abs(result.table["shrinkage"].to_numpy() - b_exact) < K * mcse)
    # lambda: reference from 100000 exact iid draws (their own MC sd is 5e-4, and
    # tests/diagnostics/test_pooling_factor.py checks them against the quadrature answer);
    # MCSE of the NUTS value by batch means: 10 batches of 50 consecutive draws per chain,
    # much longer than the autocorrelation of a non-centered run (ESS per draw > 0.3)
    exact_draws = exact.sample(100_000, seed=2)
    ref = pooling_factor(az.from_dict(posterior={k: v[None] for k, v in exact_draws.items()}),
                         "theta", "mu").pooling_factor
    post = fit.idata.posterior
    batches = [
        pooling_factor(az.from_dict(posterior={k: post[k].values[:, 50 * i:50 * (i + 1)]
                                               for k in ("theta", "mu")}),
                       "theta", "mu").pooling_factor
        for i in range(10)
    ]
    mcse_lam = np.hypot(np.std(batches, ddof=1) / np.sqrt(len(batches)), 5e-4)
    assert abs(result.pooling_factor - ref) < K * mcse_lam


def test_fit_arguments_are_checked():
    model = EightSchools()
    for kwargs, match in (({"chains": 0}, "chains"), ({"warmup": -1}, "warmup"),
                          ({"draws": 1.5}, "draws"), ({"target_accept": 1.0}, "target_accept"),
                          ({"max_tree_depth": 0}, "max_tree_depth"),
                          ({"vectorize": 1}, "vectorize must be True or False"),
                          ({"parallel": "yes"}, "parallel must be True or False")):
        with pytest.raises(InvalidArgumentError, match=match):
            model.fit(**kwargs)


def test_constructor_checks_data_and_priors():
    with pytest.raises(InvalidDataError, match="differ in length"):
        EightSchools([1.0, 2.0], [1.0])
    with pytest.raises(InvalidDataError, match="sigma must be > 0"):
        EightSchools([1.0, 2.0], [1.0, 0.0])
    with pytest.raises(InvalidArgumentError, match="mu_prior"):
        EightSchools(mu_prior=(0.0, -1.0))
    with pytest.raises(InvalidArgumentError, match="tau_prior"):
        EightSchools(tau_prior="lognormal")
    with pytest.raises(InvalidArgumentError, match="flat priors"):
        EightSchools(mu_prior=None).prior_draw(0)


def test_prior_draw_shapes_and_reproducibility():
    truth, model = EightSchools().prior_draw(3)
    assert {k: tuple(v.shape) for k, v in truth.items()} == {
        "mu": (), "tau": (), "z": (8,), "theta": (8,), "y": (8,)}
    np.testing.assert_allclose(truth["theta"], truth["mu"] + truth["tau"] * truth["z"])
    assert model.observed["y"] is truth["y"]
    again, _ = EightSchools().prior_draw(3)
    assert all(np.array_equal(truth[k], again[k]) for k in truth)
