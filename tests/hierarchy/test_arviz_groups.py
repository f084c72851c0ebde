"""The ArviZ groups of the hierarchical models: log_likelihood, posterior_predictive, prior.

Checks: the pointwise log-likelihood against the model's log-likelihood computed another way
(one draw at a time, by pyro's own trace, and in closed form); PSIS-LOO of Eight Schools
against the published value; az.compare of centered, non-centered and pooled fits;
posterior-predictive moments against the exact posterior (NormalHierarchy); prior draws
against the prior.

Published reference (the same model and data: mu ~ N(0, 5), tau ~ Half-Cauchy(5), Rubin's
eight schools): PSIS-LOO of ArviZ's example posteriors, ``az.load_arviz_data(
"non_centered_eight")``: elpd_loo -30.72, se 1.33; ``"centered_eight"``: -30.78, se 1.35
(jordandeklerk/pyloo, README.md, "Model Comparison" output, commit 18b4c29).
"""

import warnings

import arviz as az
import numpy as np
import pyro
import pyro.distributions as dist
import pytest
import torch
from matplotlib import pyplot as plt
from pyro import poutine
from pyro.poutine.util import site_is_subsample
from scipy import stats

from hbo._warnings import ConvergenceWarning, HBOWarning
from hbo.errors import InvalidArgumentError
from hbo.hierarchy import HierarchicalModel, NormalHierarchy
from hbo.hierarchy.models import (
    IRT2PL,
    EightSchools,
    FootballHomeAdvantage,
    MrP,
    StochasticVolatility,
    _base,
    _predictive,
    simulate_irt,
    simulate_poll,
    simulate_returns,
    simulate_season,
)
from hbo.hierarchy.models._base import DTYPE, normal
from hbo.hierarchy.models.eight_schools import SIGMA, Y

PRIORS = dict(mu_prior=(0.0, 5.0), tau_prior="half_cauchy", tau_scale=5.0)
PUBLISHED_ELPD_LOO, PUBLISHED_SE = -30.72, 1.33  # non_centered_eight (module docstring)
FIT = dict(chains=4, warmup=500, draws=1000, seed=1, progress=False)
# Eight Schools' Pareto k lie near 0.7 (0.3 to 0.8 over seeds of the exact posterior's 4000
# draws); ArviZ warns above 0.7 (its own example posterior gets one k in (0.7, 1]:
# PosteriorStats.jl, src/compare.jl, the compare doctest). Expected here, not an error
PARETO_K_WARNING = pytest.mark.filterwarnings(
    "ignore:Estimated shape parameter of Pareto distribution:UserWarning"
)


@pytest.fixture(scope="module")
def noncentered():
    return EightSchools(Y, SIGMA, centered=False, **PRIORS).fit(**FIT)


@pytest.fixture(scope="module")
def centered():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # the funnel: its divergences
        return EightSchools(Y, SIGMA, centered=True, **PRIORS).fit(**FIT)


@pytest.fixture(scope="module")
def pooled():
    return EightSchools(Y, SIGMA, pooled=True, **PRIORS).fit(**FIT)


@pytest.fixture(scope="module")
def marginalized():
    return EightSchools(Y, SIGMA, marginalize=True, **PRIORS).fit(**FIT)


@pytest.fixture(scope="module")
def exact():
    return NormalHierarchy(Y, SIGMA, **PRIORS).fit()


def _irt_with_gaps() -> IRT2PL:
    data, _ = simulate_irt(4, 10, 6, seed=1)
    data = data.sample(frac=0.9, random_state=0)  # 10% of the responses missing: a mask
    return IRT2PL(data.correct, data.student, data.item, data.country)


def _football() -> FootballHomeAdvantage:
    m, _ = simulate_season(6)
    return FootballHomeAdvantage(m.home_team, m.away_team, m.home_goals, m.away_goals)


MODELS = {
    "eight_schools": lambda: EightSchools(**PRIORS),
    "eight_schools_centered": lambda: EightSchools(centered=True, **PRIORS),
    "eight_schools_marginalized": lambda: EightSchools(marginalize=True, **PRIORS),
    "eight_schools_pooled": lambda: EightSchools(pooled=True, **PRIORS),
    "irt_missing_responses": _irt_with_gaps,
    "football": _football,
    "mrp": lambda: MrP(*simulate_poll(300, 8, 2)[:3]),
    "sv": lambda: StochasticVolatility(simulate_returns(40)[0]),
    "sv_centered": lambda: StochasticVolatility(simulate_returns(40)[0], centered=True),
}


def _latent_draws(model: HierarchicalModel, n: int) -> list[dict[str, torch.Tensor]]:
    """``n`` draws of the latent sites from the prior, one model run each (no batching)."""
    out = []
    for s in range(n):
        pyro.set_rng_seed(s)
        tr = poutine.trace(poutine.uncondition(model.model)).get_trace()
        out.append({k: v["value"] for k, v in tr.nodes.items()
                    if v["type"] == "sample" and k not in model.observed
                    and not v["infer"].get("_deterministic") and not site_is_subsample(v)})
    return out


@pytest.mark.parametrize("name", list(MODELS))
def test_pointwise_log_likelihood_sums_to_the_log_likelihood_of_each_draw(name):
    # batched (all draws in one pass, under a plate of draws) against unbatched: pyro's
    # log-density of the observed sites, model run once per draw, masks applied by pyro
    model = MODELS[name]()
    draws = _latent_draws(model, 5)
    stacked = {k: torch.stack([d[k] for d in draws]) for k in draws[0]}
    loglik, replicated = _predictive.pointwise(model.model, model.observed, stacked)
    masks = _predictive.observation_mask(model.model, model.observed)
    for s, draw in enumerate(draws):
        tr = poutine.trace(poutine.condition(model.model, draw)).get_trace()
        for k, y in model.observed.items():
            expected = tr.log_prob_sum(lambda site, _, k=k: site == k)
            kept = loglik[k][s] if masks[k] is None else loglik[k][s][masks[k]]
            torch.testing.assert_close(kept.sum(), expected, rtol=1e-10, atol=1e-8)
            assert replicated[k][s].shape == y.shape
    masked = [k for k, m in masks.items() if m is not None]
    assert masked == (["correct"] if name == "irt_missing_responses" else [])


@pytest.mark.parametrize("name", list(MODELS))
def test_prior_predictive_has_the_shape_of_the_data_and_plots(name):
    model = MODELS[name]()
    idata = model.sample_prior(draws=40, seed=1)
    for k, observed in idata.observed_data.items():
        assert idata.prior_predictive[k].shape == (1, 40, *observed.shape)
        assert idata.prior_predictive[k].dims[2:] == observed.dims
    axes = az.plot_ppc(idata, group="prior", num_pp_samples=20, random_seed=0)
    assert np.asarray(axes).size == len(model.observed)  # one panel per observed site
    plt.close("all")


def test_log_likelihood_group_is_the_normal_density_of_each_draw(noncentered):
    # closed form: log N(y_j; theta_j, sigma_j^2), theta from the same fit's posterior
    idata = noncentered.idata
    theta = idata.posterior["theta"].values
    expected = stats.norm.logpdf(np.asarray(Y), theta, np.asarray(SIGMA))
    np.testing.assert_allclose(idata.log_likelihood["y"].values, expected, rtol=1e-12)
    assert idata.log_likelihood["y"].dims == ("chain", "draw", "school")
    assert idata.posterior_predictive["y"].dims == ("chain", "draw", "school")
    assert idata.observed_data["y"].dims == ("school",)


def test_masked_responses_leave_the_groups_with_the_answered_cells_only():
    model = _irt_with_gaps()
    n_answered = int(model.answered.sum())
    prior = model.sample_prior(draws=50, seed=0)
    assert prior.prior_predictive["correct"].shape == (1, 50, n_answered)
    assert prior.observed_data["correct"].shape == (n_answered,)
    np.testing.assert_array_equal(prior.observed_data["correct"].values,
                                  model.observed["correct"][model.answered].numpy())


@PARETO_K_WARNING
def test_loo_of_eight_schools_matches_the_published_value(noncentered, exact):
    nuts = az.loo(noncentered.idata)
    exact_loo = az.loo(exact.to_inference_data(4000, seed=0))
    for res in (nuts, exact_loo):
        assert abs(res.elpd_loo - PUBLISHED_ELPD_LOO) < res.se, res
        assert abs(res.se - PUBLISHED_SE) < 0.1  # se: the spread of 8 pointwise elpds
        assert (res.pareto_k < 1.0).all()  # importance sampling still usable
    # the two estimate one number; their Monte Carlo sds are 0.026 (exact, 4000 independent
    # draws, 20 seeds) and about 2-3 times that for NUTS: 0.3 is 4 combined sds
    assert abs(nuts.elpd_loo - exact_loo.elpd_loo) < 0.3
    waic = az.waic(noncentered.idata)
    assert abs(waic.elpd_waic - nuts.elpd_loo) < 0.5  # WAIC ~ LOO for p_loo ~ 1


@PARETO_K_WARNING
def test_marginalized_likelihood_leaves_a_school_out_reliably(marginalized, exact):
    # log p(y_j | mu, tau) = log N(y_j; mu, tau^2 + sigma_j^2): theta_j integrated out, so
    # the same leave-one-out density p(y_j | y_-j), with no parameter of school j's own for
    # importance sampling to miss: every Pareto k small (0.06 to 0.2 with seed 3)
    loo = az.loo(marginalized.idata)
    assert (loo.pareto_k < 0.5).all()
    assert abs(loo.elpd_loo - PUBLISHED_ELPD_LOO) < loo.se
    assert abs(loo.elpd_loo - az.loo(exact.to_inference_data(4000, seed=0)).elpd_loo) < 0.3


@PARETO_K_WARNING
def test_compare_ranks_the_parameterizations_and_the_pooled_model(noncentered, centered,
                                                                  pooled):
    fits = {"non-centered": noncentered, "centered": centered, "pooled": pooled}
    table = az.compare({k: f.idata for k, f in fits.items()})
    assert sorted(table["rank"]) == [0, 1, 2]
    assert table["weight"].sum() == pytest.approx(1.0)
    # centered and non-centered are one model in two coordinates: their elpds differ by
    # Monte Carlo error (and the centered run's bias at the funnel's neck), far below se
    diff = table.loc["centered", "elpd_loo"] - table.loc["non-centered", "elpd_loo"]
    assert abs(diff) < 0.5
    # complete pooling is not worse here (BDA3 §5.5: the data are consistent with tau = 0)
    assert table.loc["pooled", "elpd_loo"] > table.loc["non-centered", "elpd_loo"] - 1.0


def test_posterior_predictive_has_the_predictive_mean_and_spread(noncentered, exact):
    # y_rep_j = theta_j + sigma_j e: mean E[theta_j | y], sd sqrt(Var(theta_j | y) +
    # sigma_j^2) (exact moments). Without the noise the sd would be sd(theta_j), about a
    # third of it; 4000 draws estimate an sd to ~2% (NUTS: fewer effective draws): 8%
    table = exact.summary()
    mean = table["mean"].to_numpy()[2:]
    sd = np.sqrt(table["sd"].to_numpy()[2:] ** 2 + np.asarray(SIGMA) ** 2)
    for idata in (noncentered.idata, exact.to_inference_data(4000, seed=1)):
        rep = idata.posterior_predictive["y"].values.reshape(-1, 8)
        assert rep.shape[1] == idata.observed_data["y"].shape[0]
        np.testing.assert_allclose(rep.std(0), sd, rtol=0.08)
        # the mean's error: sd / sqrt(ESS) <= 20 / sqrt(1000) = 0.63; 4 of them
        np.testing.assert_allclose(rep.mean(0), mean, atol=2.5)


def test_plot_ppc_draws_the_predictive_against_the_data(noncentered, exact):
    for idata in (noncentered.idata, exact.to_inference_data(500, seed=2)):
        axes = az.plot_ppc(idata, num_pp_samples=50, random_seed=0)
        assert np.asarray(axes).size == 1
        plt.close("all")


def test_prior_group_holds_draws_from_the_prior(noncentered):
    prior = noncentered.idata.prior
    assert prior.sizes == {"chain": 1, "draw": 1000, "school": 8}
    # KS test at level 1e-3 against tau ~ Half-Cauchy(5) and mu ~ N(0, 5)
    assert stats.kstest(prior["tau"].values.ravel(), stats.halfcauchy(scale=5).cdf).pvalue > 1e-3
    assert stats.kstest(prior["mu"].values.ravel(), stats.norm(0, 5).cdf).pvalue > 1e-3
    # theta = mu + tau z, and y ~ N(theta, sigma): the prior predictive is y given theta
    theta = prior["theta"].values
    np.testing.assert_allclose(theta, prior["mu"].values[..., None]
                               + prior["tau"].values[..., None] * prior["z"].values)
    noise = (noncentered.idata.prior_predictive["y"].values - theta) / np.asarray(SIGMA)
    assert abs(noise.std() - 1.0) < 0.05 and abs(noise.mean()) < 0.05  # 8000 N(0, 1) draws


SHORT_RUN = pytest.mark.filterwarnings("ignore::hbo._warnings.ConvergenceWarning")  # 2 x 50


@SHORT_RUN
def test_flat_prior_has_no_prior_draws_and_says_so():
    model = EightSchools(mu_prior=None)
    with pytest.raises(InvalidArgumentError, match="proper prior"):
        model.sample_prior(10)
    with pytest.raises(InvalidArgumentError, match="flat priors"):
        model.fit(chains=1, warmup=10, draws=10, prior_draws=10, progress=False)
    fit = model.fit(chains=2, warmup=50, draws=50, seed=0, progress=False, jit=False)
    assert "prior" not in fit.idata.groups() and "log_likelihood" in fit.idata.groups()


@SHORT_RUN
def test_groups_leave_the_callers_random_stream_alone():
    # fit's contract: the run is seeded by seed, the global generators are restored
    torch.manual_seed(123)
    before = torch.get_rng_state()
    model = EightSchools(**PRIORS)
    model.sample_prior(20, seed=0)
    fit = model.fit(chains=2, warmup=50, draws=50, seed=0, progress=False, jit=False)
    assert torch.equal(torch.get_rng_state(), before)
    again = model.fit(chains=2, warmup=50, draws=50, seed=0, progress=False, jit=False)
    for group in ("posterior_predictive", "prior", "prior_predictive"):  # same seed, same draws
        np.testing.assert_array_equal(fit.idata[group]["y" if "predictive" in group else "mu"],
                                      again.idata[group]["y" if "predictive" in group else "mu"])


@SHORT_RUN
def test_predictive_false_leaves_the_groups_out():
    fit = EightSchools(**PRIORS).fit(chains=2, warmup=50, draws=50, seed=0, progress=False,
                                     jit=False, predictive=False)
    assert set(fit.idata.groups()) == {"posterior", "sample_stats", "observed_data"}
    with pytest.raises(InvalidArgumentError, match="predictive"):
        EightSchools().fit(predictive=1)


@SHORT_RUN
def test_predictive_groups_too_large_for_memory_are_left_out_with_a_warning(monkeypatch):
    # 2 x 50 draws x 8 schools = 800 numbers per group; a limit of 799 turns them off
    monkeypatch.setattr(_base, "PREDICTIVE_MAX", 799)
    with pytest.warns(HBOWarning, match="predictive=True"):
        fit = EightSchools(**PRIORS).fit(chains=2, warmup=50, draws=50, seed=0,
                                         progress=False, jit=False)
    assert "log_likelihood" not in fit.idata.groups() and "prior" not in fit.idata.groups()
    fit = EightSchools(**PRIORS).fit(chains=2, warmup=50, draws=50, seed=0, progress=False,
                                     jit=False, predictive=True)  # asked for: no warning
    assert "log_likelihood" in fit.idata.groups()


class _DeterministicWithoutEventDim(HierarchicalModel):
    def __init__(self) -> None:
        self.observed = {"y": torch.zeros(3, dtype=DTYPE)}
        self.coords, self.dims = {}, {}

    def model(self) -> None:
        with pyro.plate("g", 3, dim=-1):
            x = pyro.sample("x", normal(0.0, 1.0))
            pyro.deterministic("x2", 2 * x)  # pyro reads every dim as an event dim
            pyro.sample("y", dist.Normal(x, 1.0), obs=self.observed["y"])


def test_a_deterministic_site_across_a_plate_is_refused_before_sampling():
    with pytest.raises(InvalidArgumentError, match="event_dim=0"):
        _DeterministicWithoutEventDim().fit(chains=1, warmup=5, draws=5, progress=False)


def test_exact_posterior_carries_the_same_groups_as_a_nuts_fit(exact, noncentered):
    idata = exact.to_inference_data(2000, seed=3)
    nuts_groups = set(noncentered.idata.groups()) - {"sample_stats"}  # no chain: no stats
    assert set(idata.groups()) == nuts_groups
    theta = idata.posterior["theta"].values
    np.testing.assert_allclose(idata.log_likelihood["y"].values,
                               stats.norm.logpdf(np.asarray(Y), theta, np.asarray(SIGMA)))
    prior = idata.prior
    assert stats.kstest(prior["tau"].values.ravel(), stats.halfcauchy(scale=5).cdf).pvalue > 1e-3
    assert stats.kstest(prior["mu"].values.ravel(), stats.norm(0, 5).cdf).pvalue > 1e-3
    z = (prior["theta"].values - prior["mu"].values[..., None]) / prior["tau"].values[..., None]
    e = (idata.prior_predictive["y"].values - prior["theta"].values) / np.asarray(SIGMA)
    for standard_normal in (z, e):  # 8000 draws each: mean and sd to about 0.011
        assert abs(standard_normal.mean()) < 0.05 and abs(standard_normal.std() - 1) < 0.05
    flat = NormalHierarchy(Y, SIGMA).fit()  # flat mu, flat tau: nothing to draw from
    assert "prior" not in flat.to_inference_data(100).groups()
    with pytest.raises(InvalidArgumentError, match="prior draws need"):
        flat.to_inference_data(100, prior_draws=10)
