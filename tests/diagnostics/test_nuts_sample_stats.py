"""The sample statistics hbo's NUTS run records for ArviZ (energy, tree depth), checked on a
Gaussian target where their distribution is known."""

import math
import warnings

import arviz as az
import numpy as np
import pyro
import pytest

from hbo._warnings import ConvergenceWarning
from hbo.hierarchy.models import HierarchicalModel
from hbo.hierarchy.models._base import normal

D, SCALE = 20, 3.0


class IsoGaussian(HierarchicalModel):
    """x ~ N(0, SCALE^2 I_D): no data, a known posterior."""

    def __init__(self) -> None:
        self.observed, self.coords, self.dims = {}, {}, {}

    def model(self) -> None:
        with pyro.plate("d", D, dim=-1):
            pyro.sample("x", normal(0.0, SCALE))


@pytest.fixture(scope="module")
def gauss():
    return IsoGaussian().fit(chains=4, warmup=150, draws=500, seed=0, progress=False)


def test_energy_has_the_gamma_distribution_of_the_hamiltonian(gauss):
    # H = U + K with U = |x|^2 / (2 s^2) + c, c = D log(s sqrt(2 pi)), and K = p^T M^-1 p / 2.
    # At stationarity |x|^2 / (2 s^2) and K are independent Gamma(D/2, 1), so H - c is
    # Gamma(D, 1): mean D, variance D. A kinetic energy left out (mean D/2) or computed on
    # the scaled momentum (M ~ s^2 = 9 here: mean ~5 D) fails by far.
    c = D * math.log(SCALE * math.sqrt(2 * math.pi))
    energy = gauss.idata.sample_stats["energy"].values - c
    ess = float(az.ess(energy))
    # tolerances: 5 Monte Carlo sds of the mean (sd sqrt(D / ess)) and of the variance
    # (relative sd about sqrt(2 / ess) for a gamma with D = 20, kurtosis small)
    assert abs(energy.mean() - D) < 5 * math.sqrt(D / ess)
    assert abs(energy.var() / D - 1) < 5 * math.sqrt(2 / ess)
    # lp is -U: mean -(D/2 + c)
    lp = gauss.idata.sample_stats["lp"].values
    assert abs(-lp.mean() - c - D / 2) < 5 * math.sqrt(D / 2 / float(az.ess(lp)))


def test_ebfmi_of_a_gaussian_target_is_near_one(gauss):
    # independent successive energies give E-BFMI 2, perfectly persistent ones 0; for a
    # Gaussian NUTS mixes the energy well: Betancourt (2016) reports values near 1
    assert np.all((gauss.convergence().ebfmi > 0.6) & (gauss.convergence().ebfmi < 1.6))


def test_tree_depth_counts_doublings_and_saturation_uses_the_maximum():
    with warnings.catch_warnings():  # a capped tree mixes slowly: not the subject here
        warnings.simplefilter("ignore", ConvergenceWarning)
        fit = IsoGaussian().fit(chains=1, warmup=100, draws=200, seed=1, progress=False,
                                max_tree_depth=2)
    stats = fit.idata.sample_stats
    depth, steps = stats["tree_depth"].values, stats["n_steps"].values
    # a tree of depth k has at most 2^k - 1 leapfrog steps and more than 2^(k-1) - 1
    assert np.all(depth <= 2) and np.all(steps <= 3)
    assert np.all((2 ** (depth - 1) - 1 < steps) & (steps <= 2**depth - 1))
    report = fit.convergence()
    assert report.tree_depth_saturation == pytest.approx(np.mean(depth == 2))
    # an isotropic Gaussian in 20 dims wants trajectories of several steps: the cap binds
    assert report.tree_depth_saturation > 0.5
    assert stats.attrs["max_tree_depth"] == 2


def test_posterior_moments_of_the_gaussian(gauss):
    x = gauss.draws("x")
    ess = az.ess(gauss.idata, var_names=["x"])["x"].values
    # mean 0, sd SCALE per coordinate; 5 MCSE of the mean (SCALE / sqrt(ess))
    assert np.all(np.abs(x.mean(axis=0)) < 5 * SCALE / np.sqrt(ess))
