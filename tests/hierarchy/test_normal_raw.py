"""NormalHierarchy.from_observations: group summaries and REML against statsmodels' MixedLM.

The reference is the frequentist random-intercept model ``y ~ 1 + (1 | group)`` fitted by
REML with ``statsmodels.formula.api.mixedlm("y ~ 1", df, groups=...)`` (statsmodels'
``MixedLM``; Lindstrom & Bates 1988 REML criterion).
"""

import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from statsmodels.regression.mixed_linear_model import MixedLMParams

from hbo.errors import InvalidDataError
from hbo.hierarchy import NormalHierarchy


def _simulate(rng, n_groups, tau, sigma_e=3.0, mu=5.0):
    """Unbalanced one-way data: n_j in 2..14, x_ij = mu + u_j + e_ij."""
    n = rng.integers(2, 15, n_groups)
    groups = np.repeat(np.array([f"g{j:02d}" for j in range(n_groups)]), n)
    effects = rng.normal(0.0, tau, n_groups) if tau > 0 else np.zeros(n_groups)
    values = mu + np.repeat(effects, n) + rng.normal(0.0, sigma_e, len(groups))
    return values, groups


def _statsmodels_reml(values, groups):
    df = pd.DataFrame({"y": values, "g": groups})
    with warnings.catch_warnings():
        # at tau = 0 MixedLM warns (boundary, retries of its optimizers); we compare numbers
        warnings.simplefilter("ignore")
        result = smf.mixedlm("y ~ 1", df, groups=df["g"]).fit(reml=True)
    return result


def _profile_reml_loglike(result, tau, sigma_e):
    """statsmodels' own REML log-likelihood (fixed effect and scale profiled out) at the
    variance ratio tau^2 / sigma_e^2."""
    params = MixedLMParams.from_components(fe_params=np.zeros(1),
                                           cov_re=np.array([[tau**2 / sigma_e**2]]))
    return result.model.loglike(params, profile_fe=True)


@pytest.mark.parametrize("tau", [2.0, 0.7])
def test_reml_agrees_with_statsmodels_mixedlm(rng, tau):
    """tau, mu and sigma_e within 1e-3 relative of MixedLM (its optimizer stops at a gradient
    tolerance, ~1e-4 relative here), and our optimum is at least as high on statsmodels' own
    REML criterion (to 1e-8: we maximize the same function)."""
    values, groups = _simulate(rng, 15, tau)
    model = NormalHierarchy.from_observations(values, groups)
    ref = _statsmodels_reml(values, groups)
    ref_tau = float(np.sqrt(ref.cov_re.iloc[0, 0]))
    assert model.reml.tau == pytest.approx(ref_tau, rel=1e-3)
    assert model.reml.mu == pytest.approx(float(ref.fe_params.iloc[0]), rel=1e-4)
    assert model.reml.sigma_e == pytest.approx(float(np.sqrt(ref.scale)), rel=1e-4)
    ours = _profile_reml_loglike(ref, model.reml.tau, model.reml.sigma_e)
    assert ours >= ref.llf - 1e-8


def test_reml_at_the_boundary(rng):
    """Identical group means (within-group noise centred per group): the between-group
    mean square is 0, below its expectation under tau = 0, so REML's tau is exactly 0.
    statsmodels warns (boundary) and stops near 0; our optimum is at least as high on its
    criterion."""
    values, groups = _simulate(rng, 10, tau=0.0, sigma_e=2.0)
    group_means = pd.Series(values).groupby(groups).transform("mean").to_numpy()
    values = values - group_means + 5.0
    model = NormalHierarchy.from_observations(values, groups)
    ref = _statsmodels_reml(values, groups)
    assert model.reml.tau == 0.0
    assert model.reml.mu == pytest.approx(5.0, rel=1e-12)
    assert _profile_reml_loglike(ref, model.reml.tau, model.reml.sigma_e) >= ref.llf - 1e-8


def test_group_summaries_and_blups(rng):
    """y_j = group mean, sigma_j = s_pooled / sqrt(n_j) with s_pooled^2 = W / (N - J); the
    summary's "reml" column holds (mu, tau, BLUPs) and the BLUPs equal MixedLM's predicted
    random effects plus the intercept (1e-3: statsmodels' tolerance on tau)."""
    values, groups = _simulate(rng, 12, tau=2.0)
    model = NormalHierarchy.from_observations(values, groups)
    df = pd.DataFrame({"x": values, "g": groups})
    stats = df.groupby("g")["x"].agg(["mean", "count", "var"])
    s_pooled = np.sqrt(np.sum((stats["count"] - 1) * stats["var"]) / (len(df) - len(stats)))
    np.testing.assert_allclose(model.y, stats["mean"], rtol=1e-12)
    np.testing.assert_allclose(model.sigma, s_pooled / np.sqrt(stats["count"]), rtol=1e-12)
    assert model.labels == list(stats.index)

    fit = model.fit()
    table = fit.summary()
    assert table.loc["mu", "reml"] == model.reml.mu
    assert table.loc["tau", "reml"] == model.reml.tau
    ref = _statsmodels_reml(values, groups)
    blup = np.array([ref.fe_params.iloc[0] + ref.random_effects[g].iloc[0] for g in stats.index])
    np.testing.assert_allclose(table["reml"].to_numpy()[2:], blup, rtol=1e-3)

    pooling = fit.pooling_table()
    assert pooling["n"].dtype.kind == "i"
    np.testing.assert_array_equal(pooling["n"], stats["count"])


@pytest.mark.parametrize(
    ("values", "groups", "words"),
    [
        ([1.0, 2.0, np.nan, 4.0], ["a", "a", "b", "b"], "values contains NaN"),
        ([1.0, 2.0, 3.0], ["a", "a", "b", "b"], "same length"),
        ([1.0, 2.0, 3.0, 4.0], ["a", "a", "a", "a"], "at least 2 distinct groups"),
        ([1.0, 1.0, 3.0, 3.0], ["a", "a", "b", "b"], "vary within"),
        ([1.0, 2.0], ["a", "b"], "vary within"),
    ],
    ids=["nan", "lengths", "one_group", "no_within_variation", "singletons"],
)
def test_bad_observations_raise(values, groups, words):
    with pytest.raises(InvalidDataError, match=words):
        NormalHierarchy.from_observations(values, groups)
