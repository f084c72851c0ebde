"""StochasticVolatility: the AR(1) scan and density against closed forms, then recovery of a
known truth by NUTS.

The recovery fit uses 2 chains of 300 warm-up + 300 draws on T = 200 returns: enough for
R-hat (which needs two chains) and for the 5% / 95% quantiles the checks read (a few hundred
effective draws), while the whole file stays well under a minute of CPU. The experiment
(experiments/stochastic_volatility.py) runs the 4-chain, 1000-draw fit whose convergence
table must pass.
"""

import warnings

import numpy as np
import pyro
import pytest
import torch
from pyro.infer import Predictive

from hbo._warnings import ConvergenceWarning
from hbo.errors import InvalidArgumentError, InvalidDataError
from hbo.hierarchy.models import StochasticVolatility, simulate_returns
from hbo.hierarchy.models.stochastic_volatility import AR1, ar1_filter


@pytest.mark.parametrize("phi", [0.97, 0.3, -0.6, 0.0])
def test_ar1_filter_matches_the_recursion(phi, rng):
    b = torch.as_tensor(rng.standard_normal((3, 37)))
    x = ar1_filter(b, torch.tensor(phi, dtype=torch.float64))
    ref = b.clone()
    for t in range(1, 37):
        ref[:, t] = phi * ref[:, t - 1] + b[:, t]
    torch.testing.assert_close(x, ref, rtol=1e-12, atol=1e-12)


def test_ar1_filter_broadcasts_a_batch_of_phi(rng):
    b = torch.as_tensor(rng.standard_normal((4, 50)))
    phi = torch.tensor([[0.1], [0.5], [0.9], [-0.9]], dtype=torch.float64)
    x = ar1_filter(b, phi)
    for k in range(4):
        torch.testing.assert_close(x[k], ar1_filter(b[k], phi[k, 0]))


def test_ar1_log_prob_is_the_stationary_gaussian_density(rng):
    # closed form: h ~ N(mu 1, sigma^2 / (1 - phi^2) * phi^|i - j|)
    T, mu, phi, sigma = 12, 0.3, 0.8, 0.4
    idx = np.arange(T)
    cov = sigma**2 / (1 - phi**2) * phi ** np.abs(idx[:, None] - idx[None, :])
    h = torch.as_tensor(rng.normal(mu, 1.0, T))
    ref = torch.distributions.MultivariateNormal(
        torch.full((T,), mu, dtype=torch.float64), torch.as_tensor(cov)
    ).log_prob(h)
    mu_t, phi_t, sigma_t = (torch.tensor(v, dtype=torch.float64) for v in (mu, phi, sigma))
    lp = AR1(mu_t, phi_t, sigma_t, T).log_prob(h)
    torch.testing.assert_close(lp, ref, rtol=1e-10, atol=1e-10)


def test_ar1_sample_has_the_stationary_variance():
    # Var h_t = sigma^2 / (1 - phi^2) = 0.25 / 0.19 = 1.316; 4000 paths of 30 steps, the sd
    # of the sample variance of 4000 normal draws is var * sqrt(2 / 4000) = 0.029: 0.1 is > 3 sd
    pyro.set_rng_seed(1)
    h = AR1(torch.tensor(0.0), torch.tensor(0.9), torch.tensor(0.5), 30).sample((4000,))
    assert h.shape == (4000, 30)
    assert abs(h[:, -1].var().item() - 0.25 / 0.19) < 0.1
    assert abs(h[:, 0].var().item() - 0.25 / 0.19) < 0.1


def test_non_centered_model_broadcasts_over_draws():
    y, _ = simulate_returns(T=40, seed=3)
    m = StochasticVolatility(y)
    draws = {
        "mu": torch.tensor([0.1, -0.5], dtype=torch.float64),
        "phi": torch.tensor([0.9, 0.2], dtype=torch.float64),
        "sigma_eta": torch.tensor([0.3, 0.7], dtype=torch.float64),
        "eta": torch.as_tensor(np.random.default_rng(0).standard_normal((2, 40))),
    }
    h = Predictive(m.model, posterior_samples=draws, return_sites=["h"], parallel=True)()["h"]
    for k in range(2):
        first = draws["eta"][k, :1] / torch.sqrt(1 - draws["phi"][k] ** 2)
        x = ar1_filter(torch.cat([first, draws["eta"][k, 1:]]), draws["phi"][k])
        torch.testing.assert_close(h[k], draws["mu"][k] + draws["sigma_eta"][k] * x)


def test_invalid_input_is_named():
    with pytest.raises(InvalidDataError, match="y"):
        StochasticVolatility([0.1])
    with pytest.raises(InvalidDataError, match="NaN"):
        StochasticVolatility([0.1, float("nan"), 0.2])
    with pytest.raises(InvalidArgumentError, match="sigma_scale"):
        StochasticVolatility([0.1, 0.2], sigma_scale=0.0)
    with pytest.raises(InvalidArgumentError, match="phi"):
        simulate_returns(T=10, phi=1.0)


@pytest.fixture(scope="module")
def recovery():
    y, truth = simulate_returns(T=200, seed=11)
    with warnings.catch_warnings():
        # ESS > 400 is not reachable with 2 x 300 draws; the checks below read R-hat instead
        warnings.simplefilter("ignore", ConvergenceWarning)
        res = StochasticVolatility(y).fit(chains=2, warmup=300, draws=300, seed=1, progress=False)
    return res, truth


def test_recovers_mu_phi_sigma_within_their_intervals(recovery):
    res, truth = recovery
    for name, value in (("mu", truth.mu), ("phi", truth.phi), ("sigma_eta", truth.sigma_eta)):
        lo, hi = np.quantile(res.draws(name), [0.025, 0.975])
        assert lo < value < hi, (name, lo, value, hi)
    # the short run must still have mixed for the parameters the checks read
    table = res.convergence().table
    assert (table.loc[["mu", "phi", "sigma_eta"], "r_hat"] < 1.05).all()


def test_latent_volatility_covered_at_about_the_nominal_rate(recovery):
    res, truth = recovery
    lo, hi = np.quantile(res.draws("h"), [0.05, 0.95], axis=0)
    coverage = np.mean((lo <= truth.h) & (truth.h <= hi))
    # h_t is strongly autocorrelated (phi = 0.95): the 200 indicators carry about
    # T (1 - phi) / (1 + phi) ~ 5..10 independent ones, so the binomial sd of the rate is
    # up to sqrt(0.09 / 10) ~ 0.1; [0.7, 1.0) is nominal 0.9 -2 sd, and 1.0 (every h_t
    # covered) would betray bands far too wide
    assert 0.7 <= coverage < 1.0
    # and the band tracks the truth, not just the stationary mean: each return says little
    # about h_t (signal-to-noise var(h) / var(log chi^2_1) = 0.64 / 4.93), so the posterior
    # median reaches a correlation of only about 0.6 at T = 200 (0.58 in this run); 0.4
    # is still far from the 0 of bands that ignore the data
    assert np.corrcoef(np.median(res.draws("h"), axis=0), truth.h)[0, 1] > 0.4
