"""NormalHierarchy: priors on tau and mu, propriety of p(tau | y), and bad input.

Propriety (BDA3 §5.4 and hbo/hierarchy/_tau_prior.py): p(y | tau) is positive at tau = 0 and
decays like tau^-(J-1) (flat mu) or tau^-J (normal mu) at infinity, so a uniform prior on
tau with flat mu needs J >= 3; a prior must be integrable at 0.
"""

import numpy as np
import pytest
from scipy import stats

from hbo.errors import ImproperPosteriorError, InvalidArgumentError, InvalidDataError
from hbo.hierarchy import NormalHierarchy
from hbo.hierarchy._tau_prior import make_tau_prior

Y = np.array([28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0])
SIGMA = np.array([15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0])


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(tau_prior="uniform"),
        dict(tau_prior="uniform", tau_scale=30.0),
        dict(tau_prior="half_normal", tau_scale=5.0),
        dict(tau_prior="half_cauchy", tau_scale=5.0),
        dict(tau_prior="exponential", tau_scale=5.0),
        dict(tau_prior=lambda t: -np.log1p(t**2), mu_prior=(0.0, 10.0)),
        dict(tau_prior="half_normal", tau_scale=5.0, mu_prior=(0.0, 5.0)),
    ],
    ids=["uniform", "uniform_bounded", "half_normal", "half_cauchy", "exponential", "callable",
         "normal_mu"],
)
def test_every_prior_gives_a_proper_summary(kwargs):
    table = NormalHierarchy(Y, SIGMA, **kwargs).fit().summary()
    assert np.all(np.isfinite(table.to_numpy()))
    assert table.loc["tau", "2.5%"] > 0


def test_bounded_uniform_respects_its_bound():
    """Uniform(0, 3) on tau: every quantile of tau below 3. With the bound b far beyond the
    data the posterior tends to the unbounded one, whose tail is ~tau^-7: the cut changes
    E[tau^2] by ~(b / 5)^-4 relative, 6e-14 for b = 1e4 (at b = 300 it is 1e-5 and shows)."""
    bounded = NormalHierarchy(Y, SIGMA, tau_scale=3.0).fit().summary()
    assert bounded.loc["tau", "97.5%"] < 3.0
    far = NormalHierarchy(Y, SIGMA, tau_scale=1e4).fit().summary()
    flat = NormalHierarchy(Y, SIGMA).fit().summary()
    np.testing.assert_allclose(far.to_numpy(), flat.to_numpy(), rtol=1e-8)


def test_priors_order_the_posterior_of_tau():
    """A tighter half-normal scale pulls tau down: posterior medians are increasing in the
    scale (a sign error in a log-density would reverse this)."""
    medians = [NormalHierarchy(Y, SIGMA, tau_prior="half_normal", tau_scale=s).fit()
               .summary().loc["tau", "50%"] for s in (0.5, 2.0, 8.0, 50.0)]
    assert np.all(np.diff(medians) > 0)
    assert medians[0] < 0.5  # posterior median below the prior's scale: the prior dominates


def test_normal_mu_prior_pulls_mu_to_its_location():
    flat = NormalHierarchy(Y, SIGMA, tau_prior="half_normal", tau_scale=5.0).fit().mu_mean()
    tight = NormalHierarchy(Y, SIGMA, tau_prior="half_normal", tau_scale=5.0,
                            mu_prior=(-50.0, 0.01)).fit()
    assert tight.mu_mean() == pytest.approx(-50.0, abs=0.01)  # prior sd 0.01 dominates
    assert flat > 0


def test_callable_prior_that_vanishes_near_zero_is_accepted():
    """Regression: a prior that is zero on (0, 1] (log-density -inf) is integrable at 0, but
    the propriety check read its -inf log-density as a slope of -inf and called the posterior
    improper. Support (1, inf), smooth at 1 (exp(-1/(t - 1)))."""

    def log_prior(t):
        t = np.asarray(t, dtype=float)
        out = np.full(t.shape, -np.inf)
        inside = t > 1.0
        out[inside] = -1.0 / (t[inside] - 1.0) - np.log1p(t[inside] ** 2 / 25.0)
        return out

    fit = NormalHierarchy(Y, SIGMA, tau_prior=log_prior).fit()
    table = fit.summary(probs=(1e-6, 0.5))
    assert table.loc["tau", "0.0001%"] > 1.0
    assert fit.tau_mode > 1.0


@pytest.mark.parametrize(
    ("y", "sigma", "kwargs", "words"),
    [
        # uniform tau, flat mu, J = 2: p(tau | y) ~ tau^-1 at infinity
        (Y[:2], SIGMA[:2], dict(tau_prior="uniform"), "J = 2"),
        # a prior growing like tau^2 with J = 3 and flat mu: p(tau | y) ~ tau^0
        (Y[:3], SIGMA[:3], dict(tau_prior=lambda t: 2.0 * np.log(t)), "infinity"),
        # exponential growth beats any power
        (Y, SIGMA, dict(tau_prior=lambda t: t / 5.0), "infinity"),
        # 1/tau is not integrable at 0, where the likelihood stays positive
        (Y, SIGMA, dict(tau_prior=lambda t: -np.log(t)), "near tau = 0"),
    ],
    ids=["uniform_J2", "callable_tau2", "callable_exp", "callable_1_over_tau"],
)
def test_improper_posterior_raises(y, sigma, kwargs, words):
    with pytest.raises(ImproperPosteriorError, match=words):
        NormalHierarchy(y, sigma, **kwargs).fit()


def test_propriety_boundary_in_the_number_of_groups():
    """Uniform tau: J = 2 is improper with flat mu but proper with a normal mu (tau^-2), and
    J = 3 is proper with flat mu (tau^-2)."""
    NormalHierarchy(Y[:2], SIGMA[:2], mu_prior=(0.0, 10.0)).fit()
    NormalHierarchy(Y[:3], SIGMA[:3]).fit()


@pytest.mark.parametrize(
    ("y", "sigma", "words"),
    [
        (Y, -SIGMA, "sigma"),
        (Y, np.where(np.arange(8) == 3, 0.0, SIGMA), "sigma"),
        (np.where(np.arange(8) == 2, np.nan, Y), SIGMA, "y contains NaN"),
        (Y, np.where(np.arange(8) == 2, np.nan, SIGMA), "sigma contains NaN"),
        (np.where(np.arange(8) == 2, np.inf, Y), SIGMA, "y contains NaN or infinite"),
        (Y, SIGMA[:7], "same length"),
        (Y[:1], SIGMA[:1], "at least 2 groups"),
        (Y.reshape(2, 4), SIGMA.reshape(2, 4), "1-D"),
        (["a", "b"], [1.0, 1.0], "y must be a 1-D array of numbers"),
    ],
    ids=["negative_sigma", "zero_sigma", "nan_y", "nan_sigma", "inf_y", "lengths", "one_group",
         "two_d", "strings"],
)
def test_bad_data_raises_naming_the_argument(y, sigma, words):
    with pytest.raises(InvalidDataError, match=words):
        NormalHierarchy(y, sigma)


def test_bad_labels_raise():
    with pytest.raises(InvalidDataError, match="labels needs 8"):
        NormalHierarchy(Y, SIGMA, labels=["a", "b"])


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        (dict(tau_prior="gamma", tau_scale=1.0), "tau_prior must be one of"),
        (dict(tau_prior="half_normal"), "needs tau_scale"),
        (dict(tau_prior="half_cauchy", tau_scale=-1.0), "tau_scale must be positive"),
        (dict(tau_prior="exponential", tau_scale=np.inf), "tau_scale must be positive"),
        (dict(tau_prior="uniform", tau_scale=0.0), "tau_scale must be positive"),
        (dict(tau_prior=lambda t: -t, tau_scale=1.0), "tau_scale must be None"),
        (dict(tau_prior=lambda t: 0.0), "same shape"),
        (dict(tau_prior=lambda t: np.full_like(t, np.nan)), "same shape"),
        (dict(tau_prior=lambda t: 1 / 0), "callable failed"),
        (dict(mu_prior=(0.0, -1.0)), "mu_prior scale must be positive"),
        (dict(mu_prior=(0.0,)), "mu_prior must be None"),
        (dict(mu_prior="wide"), "mu_prior must be None"),
    ],
    ids=["unknown_prior", "missing_scale", "negative_scale", "infinite_scale", "zero_bound",
         "scale_with_callable", "scalar_callable", "nan_callable", "raising_callable",
         "negative_mu_scale", "short_mu_prior", "string_mu_prior"],
)
def test_bad_prior_arguments_raise(kwargs, words):
    with pytest.raises(InvalidArgumentError, match=words):
        NormalHierarchy(Y, SIGMA, **kwargs)


@pytest.mark.parametrize("probs", [(0.0, 0.5), (0.5, 1.0), (np.nan,), ((0.1, 0.2), (0.3, 0.4))])
def test_bad_summary_probabilities_raise(probs):
    fit = NormalHierarchy(Y, SIGMA).fit()
    with pytest.raises(InvalidArgumentError, match="probs must be"):
        fit.summary(probs=probs)


def test_labels_with_raw_observations_raise():
    with pytest.raises(InvalidArgumentError, match="labels cannot be given"):
        NormalHierarchy.from_observations([1.0, 2.0, 3.0, 5.0], ["a", "a", "b", "b"],
                                          labels=["x", "y"])


@pytest.mark.parametrize(
    ("name", "reference"),
    [("half_normal", stats.halfnorm(scale=5.0)), ("half_cauchy", stats.halfcauchy(scale=5.0)),
     ("exponential", stats.expon(scale=5.0)), ("uniform", stats.uniform(0.0, 5.0))],
)
def test_named_tau_priors_draw_from_their_density(name, reference):
    # KS test at level 1e-3 on 4000 draws; the density the quadrature uses is the same
    # family and scale (checked in closed form: log_density differences match logpdf's)
    prior = make_tau_prior(name, 5.0)
    draws = prior.sample(4000, np.random.default_rng(3))
    assert stats.kstest(draws, reference.cdf).pvalue > 1e-3
    t = np.array([0.5, 2.0, 4.0])
    np.testing.assert_allclose(np.diff(prior.log_density(t)), np.diff(reference.logpdf(t)))


def test_a_callable_or_unbounded_flat_tau_prior_cannot_be_sampled():
    for prior in (make_tau_prior("uniform", None), make_tau_prior(lambda t: -t, None)):
        assert not prior.samplable
        with pytest.raises(InvalidArgumentError, match="cannot be sampled"):
            prior.sample(3, np.random.default_rng(0))
