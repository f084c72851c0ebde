"""The numerical helpers behind NormalHierarchy: conditionals given tau, the log-tau
quadrature (CDF and its inverse), mixture quantiles, and the tail exponent."""

import numpy as np
import pytest
from scipy import stats
from scipy.special import ndtr

import hbo.hierarchy._mixture as mixture
from hbo.hierarchy import NormalHierarchy
from hbo.hierarchy._conjugate import GroupData, log_marginal, mu_given_tau, theta_given_tau
from hbo.hierarchy._quadrature import _upper_drop, log_scale_quadrature
from hbo.hierarchy._tau_prior import make_tau_prior, posterior_tail_exponent

# Rubin (1981) Table 2, unrounded; BDA3 p. 119 quotes school A as 28.4 +- 14.9
Y_RUBIN = np.array([28.39, 7.94, -2.75, 6.82, -0.64, 0.63, 18.01, 12.16])
SIGMA_RUBIN = np.array([14.9, 10.2, 16.3, 11.0, 9.4, 11.4, 10.4, 17.6])


def test_conditional_at_tau_10_matches_bda3():
    """BDA3 p. 121: at tau = 10 the effect in school A has E = 14.5, sd = 9.1 and
    Pr(theta_A < 28 | tau, y) = Phi((28 - 14.5) / 9.1) = 93% (printed to those digits)."""
    data = GroupData(Y_RUBIN, SIGMA_RUBIN**2, None)
    tau = np.array([10.0])
    mu_hat, v_mu = mu_given_tau(data, tau)
    mean, var = theta_given_tau(data, tau, mu_hat, v_mu, slice(None))
    assert mean[0, 0] == pytest.approx(14.5, abs=0.05)
    assert np.sqrt(var[0, 0]) == pytest.approx(9.1, abs=0.1)  # 9.15: printed as 9.1
    assert ndtr((28 - mean[0, 0]) / np.sqrt(var[0, 0])) == pytest.approx(0.93, abs=0.005)


def test_log_marginal_is_the_multivariate_normal_density():
    """With mu ~ N(m0, s0^2), p(y | tau) = N(y; m0 1, diag(sigma^2 + tau^2) + s0^2 11'):
    log_marginal equals it up to a constant that does not depend on tau."""
    rng = np.random.default_rng(1)
    y, sigma = rng.normal(0, 3, 6), rng.uniform(0.5, 2.0, 6)
    data = GroupData(y, sigma**2, (1.0, 2.0))
    taus = np.array([0.0, 0.1, 1.0, 3.0, 30.0])
    ours = log_marginal(data, taus)
    ref = [stats.multivariate_normal(np.full(6, 1.0), np.diag(sigma**2 + t**2) + 4.0).logpdf(y)
           for t in taus]
    np.testing.assert_allclose(ours - ours[0], np.array(ref) - ref[0], atol=1e-10)


def test_quadrature_cdf_and_quantile_are_inverse():
    """On a log-normal density (exact CDF known): CDF to 1e-10 absolute; CDF(quantile(q)) = q
    to 1e-15 from q = 1e-12 to 1 - 1e-12; quantiles to 1e-8 relative for q in
    [1e-6, 1 - 1e-6] (further out the CDF's absolute error, ~1e-16, is a large relative
    error of the tail mass, and the quantile follows it)."""
    law = stats.lognorm(s=0.7, scale=3.0)
    quad = log_scale_quadrature(law.logpdf, 3.0)
    taus = np.geomspace(0.05, 200.0, 40)
    np.testing.assert_allclose(quad.cdf(taus), law.cdf(taus), atol=1e-10)
    q = np.concatenate([[1e-12, 1e-6], np.linspace(0.01, 0.99, 25), [1 - 1e-6, 1 - 1e-12]])
    x = quad.quantile(q)
    np.testing.assert_allclose(quad.cdf(x), q, rtol=0, atol=1e-15)
    np.testing.assert_allclose(x[1:-1], law.ppf(q[1:-1]), rtol=1e-8)
    assert np.sum(quad.weights) == pytest.approx(1.0, abs=1e-13)


def test_quadrature_handles_a_sharp_peak():
    """Regression: a density of width 2.5e-4 in log tau (prior N(4, 0.001^2)) was measured
    with finite-difference steps >= 1e-4, taken as flat (width 2), and integrated on panels
    far wider than the peak (2048 panels, a NumericalWarning, wrong moments)."""
    quad = log_scale_quadrature(lambda t: stats.norm(4.0, 1e-3).logpdf(t), 4.0)
    assert quad.weights @ quad.tau == pytest.approx(4.0, rel=1e-12)
    sd = np.sqrt(quad.weights @ (quad.tau - 4.0) ** 2)
    assert sd == pytest.approx(1e-3, rel=1e-8)


def test_many_groups_give_a_narrow_posterior_of_tau():
    """J = 3,000 groups, true tau = 0.7: the posterior of tau is narrow (sd ~ 0.03) and its
    95% interval holds the truth; the quadrature needs only tens of panels."""
    rng = np.random.default_rng(2)
    sigma = rng.uniform(0.5, 2.0, 3_000)
    y = rng.normal(1.0, 0.7, 3_000) + sigma * rng.standard_normal(3_000)
    fit = NormalHierarchy(y, sigma, tau_prior="half_normal", tau_scale=2.0).fit()
    tau = fit.summary(probs=(0.025, 0.975)).loc["tau"]
    assert tau["2.5%"] < 0.7 < tau["97.5%"]
    assert tau["97.5%"] - tau["2.5%"] < 0.2
    assert len(fit.tau_posterior()) <= 16 * 64


def test_mixture_quantiles_converge_in_few_newton_steps(monkeypatch):
    """Regression: a Newton step that had converged landed on its own bracket end, was
    rejected as 'outside', and every such quantile fell back to ~50 bisection halvings
    (12x slower for 1000 groups). Count passes through the loop (one ndtr call each)."""
    rng = np.random.default_rng(3)
    n, p = 300, 400
    weights = rng.dirichlet(np.ones(n))
    means = rng.normal(0, 1, (n, p)) + np.linspace(0, 3, n)[:, None]
    variances = rng.uniform(0.2, 2.0, (n, p))
    calls = []

    def counting_ndtr(z):
        calls.append(1)
        return ndtr(z)

    monkeypatch.setattr(mixture, "ndtr", counting_ndtr)
    probs = np.array([0.025, 0.5, 0.975])
    x = mixture.mixture_quantiles(weights, means, variances, probs)
    assert len(calls) <= 12
    z = (x[None, :, :] - means[:, :, None]) / np.sqrt(variances)[:, :, None]  # n x P x Q
    cdf = np.tensordot(weights, ndtr(z), axes=1)
    np.testing.assert_allclose(cdf, np.broadcast_to(probs, cdf.shape), atol=1e-12)


@pytest.mark.parametrize(
    ("prior", "groups", "flat", "expected"),
    [
        ("uniform", 8, True, -7.0),
        ("uniform", 8, False, -8.0),
        ("half_cauchy", 3, True, -4.0),
    ],
)
def test_tail_exponent(prior, groups, flat, expected):
    """p(y | tau) ~ tau^-(J-1) (flat mu) or tau^-J (normal mu); half-Cauchy adds -2."""
    scale = None if prior == "uniform" else 5.0
    tail = posterior_tail_exponent(make_tau_prior(prior, scale), groups, flat, 10.0)
    assert tail == pytest.approx(expected, abs=1e-4)


def test_upper_cut_deepens_for_heavy_tails():
    """tau^-4: E[tau^2]'s integrand decays like e^(-u) while the density of u decays like
    e^(-3u): the cut must go 3x deeper; light tails keep the default."""
    assert _upper_drop(-np.inf) == pytest.approx(37.0)
    assert _upper_drop(-4.0) == pytest.approx(3 * 37.0)
    assert _upper_drop(-2.5) == pytest.approx(3 * 37.0)  # E[tau] only: (a+1)/(a+2) = 3
    assert _upper_drop(-3.0 - 1e-9) == pytest.approx(8 * 37.0)  # capped
