"""NUTS on the hierarchical GP: recovery of known hyperparameters and agreement with MAP."""

import math

import numpy as np
import pytest
import torch

from hbo.errors import InvalidArgumentError
from hbo.surrogate import HierarchicalGP, Hyperprior
from hbo.surrogate.fully_bayesian import fit_fully_bayesian
from hbo.surrogate.nuts import NUTSOptions, run_nuts
from hbo.surrogate.posterior_pooling import PosteriorPoolingReport
from hbo.surrogate.simulation import simulate_family

# the hyperprior the simulated families are drawn from (and the model is given): log
# lengthscales around 0.25 on the unit interval, tasks spread by tau ~ HalfNormal(0.5)
LENGTHSCALE_PRIOR = Hyperprior(loc=math.log(0.25), scale=0.5, tau_scale=0.5)


@pytest.mark.slow
def test_posterior_intervals_of_m_and_tau_cover_the_truth():
    """Simulation-based coverage: every hyperparameter drawn from the model's own prior
    and the outputs from its prior predictive, so central 90% posterior intervals of each
    group's ``m`` and ``tau`` cover the drawn values in 90% of replications (Cook, Gelman
    & Rubin 2006, doi:10.1198/106186006X136976); the larger version, with its measured
    rates, is experiments/nuts_gp_coverage.py."""
    # not the shared fixture's generator: its 8th family draws m 3.9 prior sd above its
    # mean and tau in the prior's lowest 2%, and two more tau there, draws no calibrated
    # posterior of 40 points covers (14 of 20 lengthscale intervals at 2 x (200 + 200)
    # draws); this is the generator of experiments/nuts_gp_coverage.py
    rng = np.random.default_rng(2024)
    reps, T, n = 10, 4, 10  # ~13 CPU-s per replication
    covered, widths = [], []
    options = NUTSOptions(progress=False)  # the defaults, 2 x (128 + 128)
    for rep in range(reps):
        family = simulate_family(rng, {"lengthscale": LENGTHSCALE_PRIOR}, T, n)
        model = HierarchicalGP(family.train_X, family.train_Y, shared_function=False,
                               hyperpriors={"lengthscale": LENGTHSCALE_PRIOR},
                               standardize=False).fit()
        result = run_nuts(model, options, seed=rep)
        for name, truth in family.truths().items():
            lo, hi = np.quantile(result.samples[name].reshape(-1).numpy(), [0.05, 0.95])
            covered.append(lo <= truth <= hi)
            if name == "m.lengthscale":
                widths.append(hi - lo)
    # 60 intervals at 90%. Over 360 families (experiments/nuts_gp_coverage.py) the
    # defaults cover 0.889 (se 0.007); this generator's first 40 families cover less,
    # 0.842, and these 10 measured 49 of 60. < 45 has binomial probability 0.0002 at 90%
    # (0.014 at 85%, allowing for the families here being harder than most), while a
    # sampler off by one posterior sd covers ~60% and passes with probability 0.011.
    assert sum(covered) >= 45, f"covered {sum(covered)} of {len(covered)}"
    # the data must have taught something: a sampler that returned the prior would cover
    # too; the prior's 90% interval of m is 2 x 1.645 x 0.5 = 1.64 wide
    assert np.mean(widths) < 0.8 * 2 * 1.645 * LENGTHSCALE_PRIOR.scale


# at these run lengths the z of a concentrated tau (weakly identified, each z_t only fixes
# theta_t through a small tau) reach R-hat ~1.06; the predictions compared here are not
# sensitive to it
@pytest.mark.filterwarnings("ignore::hbo._warnings.ConvergenceWarning")
def test_full_bayes_agrees_with_map_when_tau_is_concentrated():
    """8 tasks x 25 points whose lengthscales agree (tau = 0.13): the posterior of tau is
    concentrated well inside its prior, and averaging over the hyperparameter posterior
    changes the target's predictions by a small fraction of their sd."""
    rng = np.random.default_rng(12345)  # the numbers in the comments below are this draw's
    # (s2 = 1 and noise 0.01 in every task: only the lengthscales vary)
    fixed = {"outputscale": Hyperprior(loc=0.0, scale=1e-9, tau_scale=1e-9),  # s2 = 1
             "noise": Hyperprior(loc=math.log(0.01), scale=1e-9, tau_scale=1e-9)}
    family = simulate_family(
        rng, {"lengthscale": Hyperprior(loc=math.log(0.3), scale=1e-9, tau_scale=0.1), **fixed},
        T=8, n=25)
    model = HierarchicalGP(family.train_X, family.train_Y, output_tasks=[0],
                           shared_function=False, standardize=False,
                           hyperpriors={"lengthscale": LENGTHSCALE_PRIOR}).fit()
    grid = torch.linspace(0.02, 0.98, 25, dtype=torch.double).unsqueeze(-1)
    with torch.no_grad():
        map_post = model.posterior(grid)
    # 2 x 400 draws thinned to 400: with 100 kept draws, one outlying draw once moved the
    # mixture sd at one grid point to 1.34 x MAP; at 400 draws the max ratio over sampler
    # seeds 1..5 was 1.10 .. 1.12 and the max gap 0.06 .. 0.10 sd
    options = NUTSOptions(warmup=300, draws=400, chains=2, thinning=2, progress=False)
    ensemble = fit_fully_bayesian(model, options, seed=1)
    post = ensemble.posterior(grid)
    # concentrated: tau's 95% quantile (measured 0.33 .. 0.38) is well below the prior's (0.98)
    tau = ensemble.draws["log_tau.lengthscale"].exp().numpy()
    assert np.quantile(tau, 0.95) < 0.8 * 1.96 * LENGTHSCALE_PRIOR.tau_scale
    sd = map_post.variance.sqrt().squeeze(-1)
    gap = (post.mixture_mean - map_post.mean).abs().squeeze(-1)
    # the mixture mean moves by a small fraction of the predictive sd: the hyperparameter
    # uncertainty is a small part of the total (measured max 0.06 sd; bound 0.3 sd)
    assert (gap / sd).max() < 0.3
    # the mixture sd adds the between-draw spread (law of total variance), so it is at
    # least about the MAP sd and not much more (measured 1.00 .. 1.12)
    ratio = post.mixture_variance.sqrt().squeeze(-1) / sd
    assert ratio.min() > 0.9 and ratio.max() < 1.3


def test_negative_transfer_sentence(make_task_data, related_fns):
    """A target whose loading a_t^2 is ~0 in every draw is told the sources do not help."""
    from hbo.surrogate.fully_bayesian import FullyBayesianHierarchicalGP
    from hbo.surrogate.nuts import sampled_parameters

    X, Y = make_task_data(np.random.default_rng(4), related_fns[:3], n=8, d=2)
    model = HierarchicalGP(X, Y, output_tasks=[0], shared_function=True).fit()
    draws = {k: v.detach().expand(4, *v.shape).clone()
             for k, v in sampled_parameters(model).items()}
    names = ["a", "b", "c"]
    helpful = PosteriorPoolingReport.from_ensemble(
        FullyBayesianHierarchicalGP(model, draws), names, target="a")
    draws["z.shared_scale"][:, 0] = -30.0 / draws["log_tau.shared_scale"].exp()[:, None][:, 0]
    hurt = PosteriorPoolingReport.from_ensemble(
        FullyBayesianHierarchicalGP(model, draws), names, target="a")
    assert hurt.function_share.loc["a", "share_95%"] < 1e-6
    assert hurt.negative_transfer and "the sources are not helping 'a'" in str(hurt)
    assert helpful.function_share.loc["a", "share"] > 0.1
    assert not helpful.negative_transfer and "Negative transfer" not in str(helpful)


def test_simulation_needs_a_lengthscale_location():
    """The default lengthscale prior's location depends on the dimension: not drawable."""
    with pytest.raises(InvalidArgumentError, match=r"hyperpriors\['lengthscale'\].loc"):
        simulate_family(np.random.default_rng(0), {}, T=2, n=3)
