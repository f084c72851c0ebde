"""IRT2PL: the likelihood against the 2PL formula, input checks, and recovery of a known truth.

The recovery fit uses a smaller simulated test than the bundled experiment (8 countries x 25
students x 15 items instead of 20 x 100 x 30) and 2 chains of 300 warm-up + 300 draws: two
chains are the least R-hat needs, and a few hundred effective draws pin the 5% / 95%
quantiles the coverage check reads to within about +-0.03 in probability, far inside its
binomial tolerance. experiments/irt.py runs the full set with 4 chains.
"""

import warnings

import numpy as np
import pandas as pd
import pyro
import pytest
import torch
from pyro import poutine

from hbo._warnings import ConvergenceWarning
from hbo.errors import InvalidArgumentError, InvalidDataError
from hbo.hierarchy.models import IRT2PL, simulate_irt
from hbo.hierarchy.models.irt import sum_to_zero_basis


def _long(n_countries=3, n_students=4, n_items=5, seed=0):
    data, truth = simulate_irt(n_countries, n_students, n_items, seed=seed)
    return data, truth


def test_likelihood_is_the_2pl_with_unanswered_items_left_out(rng):
    data, _ = _long()
    data = data.sample(frac=0.8, random_state=1)  # 20% of the responses missing
    m = IRT2PL(data["correct"], data["student"], data["item"], data["country"],
               centered=True)
    theta = torch.as_tensor(rng.normal(size=12))
    b, v = torch.as_tensor(rng.normal(size=5)), torch.as_tensor(rng.normal(0, 0.3, 4))
    values = {"theta": theta, "b": b, "log_a_free": v}
    tr = poutine.trace(poutine.condition(m.model, values)).get_trace()
    lp = tr.nodes["correct"]["fn"].log_prob(tr.nodes["correct"]["value"]).sum()
    # by hand, long format, with the log discriminations S v (S: the sum-to-zero basis)
    s, j, y = (data[c].to_numpy() for c in ("student", "item", "correct"))
    log_a = sum_to_zero_basis(5).numpy() @ v.numpy()
    eta = np.exp(log_a[j]) * (theta.numpy()[s] - b.numpy()[j])
    ref = np.sum(y * eta - np.logaddexp(0.0, eta))
    assert lp.item() == pytest.approx(ref, rel=1e-12)


def test_students_theta_is_centred_on_their_country():
    data, _ = _long()
    m = IRT2PL(data["correct"], data["student"], data["item"], data["country"],
               centered=False)
    pyro.set_rng_seed(0)
    tr = poutine.trace(m.model).get_trace()
    c = torch.tensor(data.groupby("student")["country"].first().to_numpy())
    theta, z = tr.nodes["theta"]["value"], tr.nodes["z_theta"]["value"]
    mu, sigma = tr.nodes["mu_country"]["value"], tr.nodes["sigma_country"]["value"]
    torch.testing.assert_close(theta, mu[c] + sigma[c] * z)
    # identifying constraints: country means and log discriminations sum to zero
    assert abs(mu.sum().item()) < 1e-12
    assert abs(tr.nodes["log_a"]["value"].sum().item()) < 1e-12


@pytest.mark.parametrize("k", [2, 3, 20])
def test_sum_to_zero_basis_gives_unit_marginals_summing_to_zero(k):
    s = sum_to_zero_basis(k)
    assert s.shape == (k, k - 1)
    # every S w sums to zero, and the K - 1 coordinates are all used (rank K - 1)
    torch.testing.assert_close(s.sum(0), torch.zeros(k - 1, dtype=s.dtype))
    assert torch.linalg.matrix_rank(s) == k - 1
    # Cov(S w) for w ~ N(0, I) is S S^T = K / (K - 1) (I - 11^T / K): unit variances and
    # correlation -1 / (K - 1), the law of K iid N(0, 1) conditioned on their sum being 0
    ref = (torch.eye(k, dtype=s.dtype) - 1.0 / k) * k / (k - 1)
    torch.testing.assert_close(s @ s.T, ref)


def test_sum_to_zero_levels_have_the_intended_prior_marginal():
    data, _ = _long(n_countries=4)
    m = IRT2PL(data["correct"], data["student"], data["item"], data["country"])
    pyro.set_rng_seed(1)
    with pyro.plate("draws", 4000, dim=-2):
        tr = poutine.trace(poutine.uncondition(m.model)).get_trace()
    mu, tau = tr.nodes["mu_country"]["value"], tr.nodes["tau"]["value"]
    assert mu.shape == (4000, 4)
    torch.testing.assert_close(mu.sum(-1), torch.zeros(4000, dtype=mu.dtype))
    # given tau, mu_c / tau ~ N(0, 1) for each country: the variance of 16000 such values
    # has sd sqrt(2 / 16000) ~ 0.011 (less with the -1/3 correlations); 0.05 is 4.5 sd
    assert float((mu / tau).var()) == pytest.approx(1.0, abs=0.05)


def test_invalid_input_is_named():
    data, _ = _long()
    args = [data[c] for c in ("correct", "student", "item", "country")]
    with pytest.raises(InvalidDataError, match="0 and 1"):
        IRT2PL(args[0] * 2, *args[1:])
    moved = data["country"].copy()
    moved.iloc[0] = (moved.iloc[0] + 1) % 3
    with pytest.raises(InvalidDataError, match="more than one country"):
        IRT2PL(args[0], args[1], args[2], moved)
    twice = pd.concat([data, data.iloc[:1]])
    with pytest.raises(InvalidDataError, match="more than one response"):
        IRT2PL(twice["correct"], twice["student"], twice["item"], twice["country"])
    with pytest.raises(InvalidDataError, match="item"):
        IRT2PL(args[0], args[1], args[2][:-1], args[3])
    with pytest.raises(InvalidArgumentError, match="centered"):
        IRT2PL(*args, centered=("country", "school"))
    one = data[data["country"] == 0]
    with pytest.raises(InvalidDataError, match="country needs at least 2"):
        IRT2PL(*(one[c] for c in ("correct", "student", "item", "country")))


@pytest.fixture(scope="module")
def recovery():
    data, truth = simulate_irt(8, 25, 15, seed=5)
    m = IRT2PL(data["correct"], data["student"], data["item"], data["country"])
    with warnings.catch_warnings():
        # ESS > 400 is not reachable with 2 x 300 draws; the checks read R-hat instead
        warnings.simplefilter("ignore", ConvergenceWarning)
        res = m.fit(chains=2, warmup=300, draws=300, seed=2, progress=False)
    return res, truth


def test_recovers_item_difficulties_and_country_means(recovery):
    res, truth = recovery
    covered = []
    for name, value in (("b", truth.b), ("mu_country", truth.mu_country)):
        lo, hi = np.quantile(res.draws(name), [0.05, 0.95], axis=0)
        covered.extend((lo <= value) & (value <= hi))
    # 15 + 8 = 23 nominal-90% intervals: if independent, P(covered <= 16) = 0.006 under
    # Binomial(23, 0.9); they share the location and scale of the ability scale, which
    # widens the spread, so 16 (70%) is the floor rather than the 0.2% point (15)
    assert sum(covered) >= 16, sum(covered)
    # and the intervals are informative: posterior means track the truth
    assert np.corrcoef(res.draws("b").mean(0), truth.b)[0, 1] > 0.9
    assert np.corrcoef(res.draws("mu_country").mean(0), truth.mu_country)[0, 1] > 0.7


def test_short_run_mixed_for_the_hyperparameters(recovery):
    res, _ = recovery
    table = res.convergence().table
    assert (table.loc[["tau", "mu_b", "sigma_b", "sigma_a"], "r_hat"] < 1.05).all()
    assert res.convergence().divergences == 0
