"""Simulation-based calibration (Talts et al. 2018, arXiv:1804.06788) of hbo's NUTS fits.

For each parameter the ranks of the truth among L = 20 thinned posterior draws (every 5th
of 100) are uniform on 0..20 if sampler and model code are right. 100 replications, ranks
grouped into 7 bins of 3 (expected count 14.3 per bin, enough for the chi-square
approximation), Pearson's chi-square with 6 degrees of freedom. Level: 0.01 for the whole
test, Bonferroni-split across the parameters, so a correct sampler fails it with
probability <= 1 %. Thinning by 5 keeps the kept draws close to independent: the
non-centered runs below have ESS per draw around 0.3 to 1, i.e. autocorrelation times of
1 to 3 draws.
"""

import warnings

import numpy as np
import pandas as pd
import pyro
import pytest
import torch

from hbo._warnings import ConvergenceWarning
from hbo.errors import InvalidArgumentError
from hbo.hierarchy.models import EightSchools, HierarchicalModel
from hbo.hierarchy.models._base import DTYPE, normal
from hbo.hierarchy.sbc import SBCResult, sbc

N_REP, DRAWS, THIN, BINS = 100, 100, 5, 7
LEVEL = 0.01


def _assert_uniform(result: SBCResult) -> None:
    assert result.n_ranks == DRAWS // THIN + 1
    assert len(result.ranks) == N_REP
    assert result.ranks.to_numpy().min() >= 0 and result.ranks.to_numpy().max() <= DRAWS // THIN
    table = result.uniformity(BINS)
    assert np.all(table["p_value"] > LEVEL / len(table)), table


class HierarchicalPoisson(HierarchicalModel):
    """Counts of ``K = 4`` groups, ``n = 5`` each, with a partially pooled log rate:

        y_ki ~ Poisson(exp(log_rate_k)),  log_rate_k = mu + tau z_k,  z_k ~ N(0, 1)
        mu ~ N(1, 0.5^2),  tau ~ Half-Normal(0, 0.5)

    the cheap second model: a group level with its scale (non-centered), a log link and a
    discrete likelihood, so the checked code paths differ from Eight Schools' (the log
    transform of the constrained ``tau`` with its Jacobian is shared). Priors keep the
    counts moderate (mean rate e^1 ~ 2.7, 95% of group rates within 0.7..11).
    """

    K, N = 4, 5

    def __init__(self) -> None:
        self.observed = {"y": torch.zeros(self.K, self.N, dtype=DTYPE)}
        self.coords, self.dims = {}, {}

    def model(self) -> None:
        mu = pyro.sample("mu", normal(1.0, 0.5))
        tau = pyro.sample("tau", pyro.distributions.HalfNormal(torch.tensor(0.5, dtype=DTYPE)))
        # group plate at dim -2, observations at -1; under sbc's outer plate mu and tau have
        # shape (..., 1, 1), which broadcasts without indexing
        with pyro.plate("group", self.K, dim=-2):
            z = pyro.sample("z", normal(0.0, 1.0))
            log_rate = pyro.deterministic("log_rate", mu + tau * z, event_dim=0)
            with pyro.plate("obs", self.N, dim=-1):
                pyro.sample("y", pyro.distributions.Poisson(torch.exp(log_rate)),
                            obs=self.observed["y"])


@pytest.mark.slow
def test_sbc_eight_schools_non_centered():
    # 4 batches of 25 replications: half the time of 10 batches of 10 (pyro's per-step cost
    # hardly depends on the tensor size; trajectories grow only like batch^(1/4))
    result = sbc(EightSchools(centered=False), N_REP, batch_size=25, warmup=150, draws=DRAWS,
                 thin=THIN, seed=0, params=["mu", "tau", "theta"])
    _assert_uniform(result)


@pytest.mark.slow
def test_sbc_hierarchical_poisson():
    # 2 batches of 50: pyro's cost is per leapfrog step, nearly whatever the batch's size,
    # and trajectories lengthen only like batch^(1/4)
    result = sbc(HierarchicalPoisson(), N_REP, batch_size=50, warmup=150, draws=DRAWS,
                 thin=THIN, seed=1, params=["mu", "tau", "log_rate"])
    assert list(result.ranks.columns) == ["mu", "tau"] + [f"log_rate[{k}]" for k in range(4)]
    _assert_uniform(result)


def test_sbc_rank_test_rejects_a_miscalibrated_sampler():
    # the test must be able to fail: ranks from a posterior that is too narrow pile up at
    # both ends (a U shape), which the chi-square statistic flags
    rng = np.random.default_rng(0)
    import pandas as pd

    u_shaped = np.where(rng.random(N_REP) < 0.5, rng.integers(0, 3, N_REP),
                        rng.integers(18, 21, N_REP))
    bad = SBCResult(pd.DataFrame({"x": u_shaped}), n_ranks=21)
    assert bad.uniformity(BINS).loc["x", "p_value"] < 1e-6
    good = SBCResult(pd.DataFrame({"x": np.arange(N_REP * 21) % 21}), n_ranks=21)
    assert good.uniformity(BINS).loc["x", "chi2"] == 0.0


def test_sbc_arguments_are_checked():
    with pytest.raises(InvalidArgumentError, match="n_replications"):
        sbc(EightSchools(), 1)
    with pytest.raises(InvalidArgumentError, match="params"):
        sbc(EightSchools(), 4, params=["sigma"])
    with pytest.raises(InvalidArgumentError, match="flat priors"):
        sbc(EightSchools(mu_prior=None), 4)
    with pytest.raises(InvalidArgumentError, match="bins"):
        SBCResult(ranks=None, n_ranks=21).uniformity(4)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)  # sbc keeps its own fits quiet
        small = sbc(EightSchools(), 3, batch_size=2, warmup=20, draws=10, thin=5, seed=0)
    assert len(small.ranks) == 3 and small.n_ranks == 3


def test_sbc_uniformity_accepts_numpy_integer_bins():
    result = SBCResult(pd.DataFrame({"x": np.arange(10 * 22) % 22}), n_ranks=22)
    pd.testing.assert_frame_equal(result.uniformity(np.int64(11)), result.uniformity(11))
    with pytest.raises(InvalidArgumentError, match="bins must be an integer"):
        result.uniformity(True)
