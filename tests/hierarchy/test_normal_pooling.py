"""NormalHierarchyPosterior.shrinkage(), pooling_table(), tau_posterior() and tau_mode against
hand computations (BDA3 §5.4: B_j = sigma_j^2 / (sigma_j^2 + tau^2),
E[theta_j | tau, y] = (1 - B_j) y_j + B_j mu_hat(tau))."""

import numpy as np
import pytest
from scipy import integrate, optimize

from hbo.hierarchy import NormalHierarchy

Y = np.array([28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0])
SIGMA = np.array([15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0])
# well-separated groups with small errors: p(tau | y) has an interior mode near 20
Y_SPREAD = np.array([-20.0, -10.0, 0.0, 10.0, 20.0, 30.0, -30.0, 5.0])
SIGMA_SPREAD = np.full(8, 3.0)


def _log_post_flat(tau, y, sigma):
    """log p(tau | y) + const under p(mu, tau) ∝ 1 (BDA3 eq. 5.21)."""
    prec = 1.0 / (sigma**2 + tau**2)
    mu_hat = np.sum(prec * y) / prec.sum()
    return -0.5 * np.log(prec.sum()) + 0.5 * np.sum(np.log(prec) - prec * (y - mu_hat) ** 2)


def test_tau_pinned_by_prior_gives_the_conditional_answer():
    """A prior N(4, 0.001^2) pins tau at 4, so the posterior is the tau = 4 conditional: by hand,
    B_j = sigma_j^2 / (sigma_j^2 + 16), mu_hat = sum(y_j / d_j) / sum(1 / d_j) with
    d_j = sigma_j^2 + 16, E[theta_j | y] = (1 - B_j) y_j + B_j mu_hat. Posterior sd of tau is
    ~0.001, which moves B_j by ~|dB/dtau| * 0.001 ~ 1e-4 on average only to second order:
    tolerance 1e-5."""
    fit = NormalHierarchy(Y, SIGMA, tau_prior=lambda t: -0.5 * ((t - 4.0) / 1e-3) ** 2).fit()
    d = SIGMA**2 + 16.0
    b = SIGMA**2 / d
    mu_hat = np.sum(Y / d) / np.sum(1 / d)
    table = fit.shrinkage()
    np.testing.assert_allclose(table["B_mean"], b, atol=1e-5)
    np.testing.assert_allclose(table["B_at_mode"], b, atol=1e-8)  # mode is 4 to ~1e-9
    np.testing.assert_allclose(table["theta_mean"], (1 - b) * Y + b * mu_hat, atol=1e-4)
    assert fit.tau_mode == pytest.approx(4.0, abs=1e-6)
    assert fit.mu_mean() == pytest.approx(mu_hat, abs=1e-4)
    np.testing.assert_array_equal(table["y"], Y)
    np.testing.assert_array_equal(table["sigma"], SIGMA)


def test_expected_shrinkage_matches_exact_draws():
    """E[B_j | y] against the mean of B_j over 40,000 exact draws of tau (inverse-CDF, a route
    independent of the quadrature weights); 4 Monte Carlo standard errors."""
    fit = NormalHierarchy(Y, SIGMA).fit()
    tau = fit.sample(40_000, seed=7)["tau"]
    b = SIGMA**2 / (SIGMA**2 + tau[:, None] ** 2)
    mcse = b.std(axis=0) / np.sqrt(len(tau))
    assert np.all(np.abs(fit.shrinkage()["B_mean"].to_numpy() - b.mean(axis=0)) < 4 * mcse)


def test_mode_of_tau_is_the_maximum_of_the_density():
    """Regression: tau_mode was the quadrature node of highest density (0.6% off here), so
    B_at_mode was off too. Now within 1e-6 of scipy's maximizer of BDA3 eq. 5.21 (the
    density is flat at its mode, so the maximizer itself is only good to ~1e-7)."""
    fit = NormalHierarchy(Y_SPREAD, SIGMA_SPREAD).fit()
    best = optimize.minimize_scalar(lambda t: -_log_post_flat(t, Y_SPREAD, SIGMA_SPREAD),
                                    bounds=(1.0, 100.0), method="bounded",
                                    options={"xatol": 1e-10})
    assert fit.tau_mode == pytest.approx(best.x, rel=1e-6)
    b = SIGMA_SPREAD**2 / (SIGMA_SPREAD**2 + best.x**2)
    np.testing.assert_allclose(fit.shrinkage()["B_at_mode"], b, rtol=1e-5)


def test_mode_at_the_boundary_for_eight_schools():
    """BDA3 §5.5: the posterior mode of tau is 0, where B_j = 1 (complete pooling)."""
    fit = NormalHierarchy(Y, SIGMA).fit()
    assert fit.tau_mode == 0.0
    np.testing.assert_array_equal(fit.shrinkage()["B_at_mode"], 1.0)


def test_pooling_table_flat_mu():
    """Complete pooling = precision-weighted mean with sd (sum 1/sigma^2)^-1/2 (BDA3 p. 119:
    7.7 and 4.1 for Eight Schools); no pooling = (y_j, sigma_j); partial = the summary's
    theta rows."""
    fit = NormalHierarchy(Y, SIGMA).fit()
    table = fit.pooling_table()
    w = 1.0 / SIGMA**2
    np.testing.assert_allclose(table["complete_pooling"], np.sum(w * Y) / w.sum(), rtol=1e-12)
    np.testing.assert_allclose(table["complete_pooling_sd"], w.sum() ** -0.5, rtol=1e-12)
    assert table["complete_pooling"].iloc[0] == pytest.approx(7.7, abs=0.05)
    assert table["complete_pooling_sd"].iloc[0] == pytest.approx(4.1, abs=0.05)
    np.testing.assert_array_equal(table["no_pooling"], Y)
    np.testing.assert_array_equal(table["no_pooling_sd"], SIGMA)
    summary = fit.summary()
    np.testing.assert_allclose(table["partial_pooling"], summary["mean"].iloc[2:], rtol=1e-12)
    np.testing.assert_allclose(table["partial_pooling_sd"], summary["sd"].iloc[2:], rtol=1e-12)
    assert "n" not in table.columns


def test_pooling_table_normal_mu_prior():
    """With mu ~ N(m0, s0^2) complete pooling is mu | tau = 0, y: precision m0 / s0^2 added."""
    m0, s0 = -3.0, 5.0
    table = NormalHierarchy(Y, SIGMA, tau_prior="half_cauchy", tau_scale=5.0,
                            mu_prior=(m0, s0)).fit().pooling_table()
    prec = np.sum(1.0 / SIGMA**2) + 1.0 / s0**2
    mean = (np.sum(Y / SIGMA**2) + m0 / s0**2) / prec
    np.testing.assert_allclose(table["complete_pooling"], mean, rtol=1e-12)
    np.testing.assert_allclose(table["complete_pooling_sd"], prec**-0.5, rtol=1e-12)


def test_tau_posterior_grid_is_the_normalized_density():
    """Density at the nodes equals exp(eq. 5.21) / Z with Z by scipy quad (rel 1e-8); weights
    sum to 1 and the weighted mean of tau is the summary's mean."""
    fit = NormalHierarchy(Y_SPREAD, SIGMA_SPREAD).fit()
    grid = fit.tau_posterior()
    assert list(grid.columns) == ["tau", "density", "weight"]
    assert np.all(np.diff(grid["tau"]) > 0)
    ref = _log_post_flat(20.0, Y_SPREAD, SIGMA_SPREAD)

    def unnorm(t):
        return np.exp(_log_post_flat(t, Y_SPREAD, SIGMA_SPREAD) - ref)

    z = sum(integrate.quad(unnorm, a, b, epsabs=0, epsrel=1e-12, limit=200)[0]
            for a, b in ((0, 20), (20, 100), (100, np.inf)))
    nodes = grid["tau"].to_numpy()[::37]
    expected = np.array([unnorm(t) for t in nodes]) / z
    np.testing.assert_allclose(grid["density"].to_numpy()[::37], expected, rtol=1e-8,
                               atol=1e-300)
    assert grid["weight"].sum() == pytest.approx(1.0, abs=1e-12)
    assert grid["weight"] @ grid["tau"] == pytest.approx(fit.summary().loc["tau", "mean"],
                                                         rel=1e-12)
