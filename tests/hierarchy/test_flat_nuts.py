"""FlatNUTS, hbo's NUTS trajectory builder: it leaves the target invariant, as pyro's does."""

import warnings

import numpy as np
import pytest
import torch
from scipy import stats

from hbo._warnings import ConvergenceWarning
from hbo.errors import InvalidArgumentError
from hbo.hierarchy.models import EightSchools
from hbo.mcmc import FLAT, FlatNUTS, FlatPotential, RecordingNUTS, seeded

# Two targets with exact draws, each written as ``U`` and a map of its draws to independent
# N(0, 1) coordinates:
# - Neal's funnel in two dimensions, v ~ N(0, 1.5^2), x | v ~ N(0, exp(v)): its neck makes
#   trajectories diverge, turn early and vary in length;
# - a stiff Gaussian, sd (1, 0.55), at step size 1.0 (stable up to 1.1 = 2 x 0.55): large
#   energy errors along every trajectory, so the weights exp(-H) of its states differ.
V_SCALE, STIFF_SD = 1.5, 0.55


def funnel_energy(params: dict[str, torch.Tensor]) -> torch.Tensor:
    v, x = params["z"][..., 0], params["z"][..., 1]
    return 0.5 * (v / V_SCALE) ** 2 + 0.5 * x**2 * torch.exp(-v) + 0.5 * v


def stiff_energy(params: dict[str, torch.Tensor]) -> torch.Tensor:
    z = params["z"]
    return 0.5 * (z[..., 0] ** 2 + (z[..., 1] / STIFF_SD) ** 2)


TARGETS = {  # energy, step size, exact draws from N(0, 1) pairs, standard coordinates
    "funnel": (funnel_energy, 0.6,
               lambda u: np.stack([V_SCALE * u[:, 0], u[:, 1] * np.exp(V_SCALE * u[:, 0] / 2)], 1),
               lambda z: np.stack([z[:, 0] / V_SCALE, z[:, 1] * np.exp(-z[:, 0] / 2)], 1)),
    "stiff_gaussian": (stiff_energy, 1.0,
                       lambda u: u * [1.0, STIFF_SD], lambda z: z / [1.0, STIFF_SD]),
}


@pytest.mark.parametrize("target", list(TARGETS))
@pytest.mark.parametrize("sampler", ["hbo", "pyro"])
def test_transitions_from_exact_draws_stay_exact(sampler, target):
    """Invariance: start N = 2,000 independent chains at exact draws, make three NUTS
    transitions each (fixed step size, unit mass, tree depth up to 6), and the states are
    still exact draws. Each standard coordinate ``u`` must pass a Kolmogorov-Smirnov test
    against N(0, 1) at level 0.001 and have ``|mean(u^2) - 1| < 4 sqrt(2 / N)`` (the second
    moment's z-score; KS is blind to a wrong scale: level 6e-5).

    Sensitivity, measured on hbo's builder: choosing within a subtree uniformly instead of
    by the weights ``exp(-H)`` makes the stiff Gaussian's variance 1.20 (z = 6); keeping the
    newest subtree's choice at every doubling (no biased progressive sampling) gives KS
    p = 6e-7 on the funnel's ``v``. The correct builders: KS p 0.07 to 0.99, variances
    within 0.03 of 1.
    """
    energy, step_size, from_normal, to_normal = TARGETS[target]
    potential = FlatPotential(energy, {"z": torch.zeros(2, dtype=torch.float64)})
    options = dict(step_size=step_size, adapt_step_size=False, adapt_mass_matrix=False,
                   max_tree_depth=6)
    kernel = (FlatNUTS(potential, **options) if sampler == "hbo"
              else RecordingNUTS(potential_fn=potential, **options))
    kernel.initial_params = {FLAT: torch.zeros(2, dtype=torch.float64)}
    kernel.setup(warmup_steps=0)
    n = 2000
    start = from_normal(np.random.default_rng(0).standard_normal((n, 2)))
    end = []
    with seeded(1):
        for x0 in start:
            kernel.clear_cache()
            z = {FLAT: torch.as_tensor(x0)}
            for _ in range(3):
                z = kernel.sample(z)
            end.append(z[FLAT].numpy())
    end = np.array(end)
    assert np.median(np.abs(end - start), axis=0).min() > 0.3  # the chains moved
    if target == "funnel":
        assert len(kernel._divergences) > 20  # and the neck was reached
    u = to_normal(end)
    for k in range(2):
        assert stats.kstest(u[:, k], "norm").pvalue > 1e-3, k
        assert abs(np.mean(u[:, k] ** 2) - 1.0) < 4 * np.sqrt(2.0 / n), k


def test_both_samplers_recover_the_eight_schools_posterior():
    """The same model fitted by both kernels: equal summaries within Monte Carlo error
    (K = 4 joint MCSE), and equal shapes of everything recorded."""
    model = EightSchools(mu_prior=(0.0, 5.0), tau_prior="half_normal", tau_scale=5.0)
    fits = {s: model.fit(chains=4, warmup=400, draws=500, seed=3, progress=False, sampler=s)
            for s in ("hbo", "pyro")}
    a, b = (fits[s].summary(var_names=["mu", "tau", "theta"]) for s in ("hbo", "pyro"))
    mcse = np.hypot(a["mcse_mean"], b["mcse_mean"])
    assert np.all(np.abs(a["mean"] - b["mean"]) < 4 * mcse)
    assert np.all(np.abs(a["sd"] - b["sd"]) < 4 * np.hypot(a["mcse_sd"], b["mcse_sd"]))
    for s, fit in fits.items():
        assert fit.settings["sampler"] == s
        stats_ = fit.idata.sample_stats
        assert stats_["n_steps"].shape == (4, 500)
        assert (stats_["tree_depth"] == np.ceil(np.log2(stats_["n_steps"] + 1))).all()


def test_same_seed_same_draws_and_sampler_is_checked():
    model = EightSchools()
    with warnings.catch_warnings():  # 50 draws: not converged, and not the point here
        warnings.simplefilter("ignore", ConvergenceWarning)
        runs = [model.fit(chains=1, warmup=50, draws=50, seed=s, progress=False)
                for s in (4, 4, 5)]
    np.testing.assert_array_equal(runs[0].draws("theta"), runs[1].draws("theta"))
    assert not np.array_equal(runs[0].draws("theta"), runs[2].draws("theta"))
    with pytest.raises(InvalidArgumentError, match="sampler must be one of"):
        model.fit(sampler="stan")


def test_a_start_far_in_the_tail_is_not_an_overflow():
    """From ``x = 1000`` on N(0, 1) with step size 1.5 (stable, but the energy error along
    the trajectory swings by about +-10^5): a new half whose states weigh ``exp(700+)``
    times the old ones is accepted, not an ``OverflowError`` (as a bad initial point in
    warm-up produced)."""
    potential = FlatPotential(lambda p: 0.5 * (p["x"] ** 2).sum(),
                              {"x": torch.zeros(1, dtype=torch.float64)})
    kernel = FlatNUTS(potential, step_size=1.5, adapt_step_size=False,
                      adapt_mass_matrix=False, max_tree_depth=4)
    kernel.initial_params = {FLAT: torch.zeros(1, dtype=torch.float64)}
    kernel.setup(warmup_steps=0)
    with seeded(0):
        z = kernel.sample({FLAT: torch.tensor([1000.0], dtype=torch.float64)})
    assert abs(float(z[FLAT])) < 1000.0
