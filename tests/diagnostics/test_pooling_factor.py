"""Gelman & Pardoe's pooling factor and per-group shrinkage against known answers.

The exact reference for Eight Schools is computed here from the exact posterior of
:class:`hbo.hierarchy.NormalHierarchy`: ``p(tau | y)`` on its quadrature nodes
(``tau_posterior()``, weights summing to 1) and, given ``tau``, the normal conditionals of
BDA3 §5.4 (``mu | tau, y`` normal; ``theta_j | mu, tau, y`` independent normals).
"""

import arviz as az
import numpy as np
import pytest

from hbo.diagnostics import PoolingFactor, pooling_factor
from hbo.errors import InvalidArgumentError, InvalidDataError
from hbo.hierarchy import NormalHierarchy
from hbo.hierarchy.models.eight_schools import SIGMA, Y

MU_PRIOR = (0.0, 5.0)


def exact_pooling_factor(y, sigma, posterior, mu_prior) -> float:
    """``1 - V_j(E[eps_j]) / E[V_j(eps_j)]`` with ``eps = theta - mu``, by quadrature over tau.

    Given tau: ``v_j = sigma_j^2 + tau^2``, ``B_j = sigma_j^2 / v_j``,
    ``mu | tau ~ N(mu_hat, V_mu)`` with ``1/V_mu = 1/s0^2 + sum 1/v_j``,
    ``mu_hat = V_mu (m0/s0^2 + sum y_j/v_j)``; ``eps_j = (1 - B_j)(y_j - mu) + e_j`` with
    ``e_j ~ N(0, (1 - B_j) sigma_j^2)`` independent, so ``eps | tau`` has mean
    ``m = (1 - B)(y - mu_hat)`` and covariance ``C = V_mu b b^T + diag((1 - B) sigma^2)``,
    ``b = 1 - B``; ``E[V_j(eps) | tau] = m^T P m + tr(P C)``, ``P = (I - 11^T/J) / (J - 1)``.
    """
    y, var = np.asarray(y), np.asarray(sigma) ** 2
    J = len(y)
    P = (np.eye(J) - 1.0 / J) / (J - 1)
    grid = posterior.tau_posterior()
    m0, s0 = mu_prior
    mean_eps, mean_var = np.zeros(J), 0.0
    for tau, w in zip(grid["tau"], grid["weight"], strict=True):
        v = var + tau**2
        b = tau**2 / v  # 1 - B_j
        v_mu = 1.0 / (1.0 / s0**2 + np.sum(1.0 / v))
        mu_hat = v_mu * (m0 / s0**2 + np.sum(y / v))
        m = b * (y - mu_hat)
        C = v_mu * np.outer(b, b) + np.diag(b * var)
        mean_eps += w * m
        mean_var += w * (m @ P @ m + np.trace(P @ C))
    return 1.0 - np.var(mean_eps, ddof=1) / mean_var


@pytest.fixture(scope="module")
def exact():
    model = NormalHierarchy(Y, SIGMA, mu_prior=MU_PRIOR, tau_prior="half_normal", tau_scale=5.0)
    return model.fit()


def _batch_mcse(idata, n_batches=40, **kwargs):
    """Monte Carlo sd of the pooling factor by batch means over the (chain-merged) draws."""
    post = idata.posterior
    n = post.sizes["draw"] // n_batches
    values = [pooling_factor(az.from_dict(posterior={k: post[k].values[:, i * n:(i + 1) * n]
                                                     for k in ("theta", "mu", "tau")}),
                             "theta", "mu", **kwargs).pooling_factor
              for i in range(n_batches)]
    return np.std(values, ddof=1) / np.sqrt(n_batches)


def test_exact_draws_recover_exact_pooling_factor_and_shrinkage(exact):
    n = 100_000
    draws = exact.sample(n, seed=1)
    idata = az.from_dict(posterior={k: v[None] for k, v in draws.items()},
                         dims={"theta": ["school"]}, coords={"school": list(range(1, 9))})
    result = pooling_factor(idata, "theta", "mu", scale_param="tau", sigma=SIGMA)
    assert isinstance(result, PoolingFactor)
    lam = exact_pooling_factor(Y, SIGMA, exact, MU_PRIOR)
    assert 0.5 < lam < 1.0  # Eight Schools pools strongly under tau ~ Half-Normal(5)
    # iid draws: the Monte Carlo sd of lambda-hat, by batch means, is about 1e-3; 5 sds
    assert result.pooling_factor == pytest.approx(lam, abs=5 * _batch_mcse(idata))
    # E[B_j | y]: mean of n iid values in [0, 1] with sd < 0.2, so MC sd < 7e-4; 3e-3 is 4+ sds
    b_mean = exact.shrinkage()["B_mean"].to_numpy()
    np.testing.assert_allclose(result.table["shrinkage"], b_mean, atol=3e-3)
    assert list(result.table.index) == list(range(1, 9))
    # eps means: E[theta_j - mu | y] exactly from the summary
    summ = exact.summary()
    eps_exact = summ.loc[[f"theta[{j}]" for j in range(1, 9)], "mean"] - summ.loc["mu", "mean"]
    # sd of eps_j is below 6 here, so the MC sd of its mean is below 0.02; 0.1 is 5 sds
    np.testing.assert_allclose(result.table["eps_mean"], eps_exact, atol=0.1)


def test_no_and_complete_pooling_limits(rng):
    # eps_j = c_j + noise with noise iid N(0, s^2) across draws and groups:
    # V_j(E eps) = V_j(c), E[V_j(eps)] = V_j(c) + s^2, so lambda = s^2 / (V_j(c) + s^2)
    c = np.linspace(-2, 2, 10)
    v_c = np.var(c, ddof=1)
    for s, expected in ((1e-3, 0.0), (1.0, 1 / (v_c + 1)), (1e3, 1.0)):
        eps = c + s * rng.normal(size=(2, 2000, 10))
        lam = pooling_factor(az.from_dict(posterior={"a": eps}), "a").pooling_factor
        # MC error: sd of the per-draw V_j(noise) is s^2 sqrt(2/9) ~ 0.47 s^2, so the mean
        # over 4000 draws has sd 0.0075 s^2 (relative to s^2 + V_j(c)): 0.01 is > 2.5 sds
        # in the worst case (s = 1), and the noise in V_j(E eps) is s^2 / 4000
        assert lam == pytest.approx(expected, abs=0.01)


def test_mean_param_is_subtracted_per_draw(rng):
    eps = rng.normal(size=(2, 500, 6)) + np.arange(6)
    mu = 10 * rng.normal(size=(2, 500))
    direct = pooling_factor(az.from_dict(posterior={"a": eps}), "a")
    shifted = pooling_factor(az.from_dict(posterior={"theta": eps + mu[..., None], "mu": mu}),
                             "theta", "mu")
    assert shifted.pooling_factor == pytest.approx(direct.pooling_factor, rel=1e-12)
    # a group-level regression: mu_j per draw and group
    mu_j = mu[..., None] + np.linspace(0, 1, 6)
    reg = pooling_factor(az.from_dict(posterior={"theta": eps + mu_j, "m": mu_j}), "theta", "m")
    assert reg.pooling_factor == pytest.approx(direct.pooling_factor, rel=1e-12)


def test_shrinkage_at_fixed_tau_is_the_textbook_formula(rng):
    sigma = np.array([1.0, 2.0, 4.0])
    idata = az.from_dict(posterior={"a": rng.normal(size=(1, 50, 3)), "tau": np.full((1, 50), 2.0)})
    shrink = pooling_factor(idata, "a", scale_param="tau", sigma=sigma).table["shrinkage"]
    np.testing.assert_allclose(shrink, sigma**2 / (sigma**2 + 4.0), rtol=1e-12)


def test_bad_input_raises(rng):
    idata = az.from_dict(posterior={"a": rng.normal(size=(1, 50, 3)),
                                    "tau": np.ones((1, 50)), "m": rng.normal(size=(1, 50, 2))})
    with pytest.raises(InvalidDataError, match="InferenceData"):
        pooling_factor({"a": 1}, "a")
    with pytest.raises(InvalidArgumentError, match="group_param"):
        pooling_factor(idata, "b")
    with pytest.raises(InvalidDataError, match="chain x draw x J"):
        pooling_factor(idata, "tau")
    with pytest.raises(InvalidDataError, match="mean_param"):
        pooling_factor(idata, "a", "m")
    with pytest.raises(InvalidArgumentError, match="both scale_param"):
        pooling_factor(idata, "a", scale_param="tau")
    with pytest.raises(InvalidDataError, match="shape"):
        pooling_factor(idata, "a", scale_param="tau", sigma=[1.0, 2.0])
    with pytest.raises(InvalidDataError, match="> 0"):
        pooling_factor(idata, "a", scale_param="tau", sigma=[1.0, 0.0, 2.0])
    one = az.from_dict(posterior={"a": rng.normal(size=(1, 50, 1))})
    with pytest.raises(InvalidDataError, match=">= 2"):
        pooling_factor(one, "a")
