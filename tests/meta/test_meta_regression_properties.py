"""Meta-regression by independent computation: the intercept-only model equals the
random-effects fit (hypothesis), the fixed-tau^2 regression equals statsmodels' WLS, t and
Knapp-Hartung inference, R^2, BLUPs, and bad input.

statsmodels WLS with weights ``1 / (v + tau^2)`` gives the same coefficients; its covariance
``scale (X' W X)^{-1}`` with ``scale = RSS / (k - p)`` is exactly the Knapp-Hartung covariance,
and ``cov / scale`` the model-based one (test="z" and "t").
"""

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats

from hbo._warnings import NumericalWarning
from hbo.errors import ArgumentTypeError, InvalidArgumentError, InvalidDataError
from hbo.meta import METHODS, MetaRegressionResult, random_effects


def _data(seed, k=12):
    rng = np.random.default_rng(seed)
    x1, x2 = rng.normal(size=k), rng.uniform(0, 10, size=k)
    v = rng.uniform(0.02, 0.3, size=k)
    y = 0.2 + 0.3 * x1 - 0.05 * x2 + rng.normal(0, np.sqrt(v + 0.05))
    return y, v, pd.DataFrame({"x1": x1, "x2": x2, "g": rng.choice(["a", "b", "c"], size=k)})


studies = st.integers(3, 25).flatmap(lambda k: st.tuples(
    st.lists(st.floats(-3, 3, allow_nan=False), min_size=k, max_size=k),
    st.lists(st.floats(0.01, 2.0, allow_nan=False), min_size=k, max_size=k)))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(studies, st.sampled_from(METHODS), st.sampled_from(["z", "t", "knha"]))
def test_intercept_only_regression_is_the_random_effects_fit(data, method, test):
    y, v = data
    if method == "FE" and test == "knha":
        return  # warns; covered below
    re = random_effects(y, v, method=method, test=test)
    mr = random_effects(y, v, method=method, test=test, mods="~ 1", data=pd.DataFrame(
        index=range(len(y))))
    assert isinstance(mr, MetaRegressionResult) and mr.names == ("intrcpt",)
    assert mr.tau2 == pytest.approx(re.tau2, rel=1e-9, abs=1e-12)
    assert mr.beta[0] == pytest.approx(re.mu, rel=1e-9, abs=1e-12)
    assert mr.se[0] == pytest.approx(re.se, rel=1e-9, abs=1e-12)
    assert (mr.qe, mr.qe_df, mr.i2, mr.h2) == pytest.approx((re.q, re.q_df, re.i2, re.h2),
                                                           rel=1e-9, abs=1e-9)
    assert mr.tau2_ci == pytest.approx(re.tau2_ci, rel=1e-9, abs=1e-12)
    assert mr.r2 is None and mr.df == re.df
    pred = mr.predict([[1.0]]).iloc[0]
    assert (pred.pi_lb, pred.pi_ub) == pytest.approx(re.pi, rel=1e-9, abs=1e-9)
    assert re.predict().iloc[0].pred == re.mu


@pytest.mark.parametrize("method", ["REML", "DL", "ML", "PM", "EB", "HE", "SJ", "HS", "FE"])
@pytest.mark.parametrize("test", ["z", "t", "knha"])
def test_regression_equals_statsmodels_wls_at_the_estimated_tau2(method, test):
    sm = pytest.importorskip("statsmodels.api")
    y, v, frame = _data(1)
    if method == "FE" and test == "knha":
        with pytest.warns(NumericalWarning, match="meant for random-effects"):
            res = random_effects(y, v, mods=frame[["x1", "x2"]], method=method, test=test)
    else:
        res = random_effects(y, v, mods=frame[["x1", "x2"]], method=method, test=test)
    X = np.column_stack([np.ones(len(y)), frame.x1, frame.x2])
    wls = sm.WLS(y, X, weights=1 / (v + res.tau2)).fit()
    np.testing.assert_allclose(res.beta, wls.params, rtol=1e-10)
    cov = wls.cov_params() if test == "knha" else wls.cov_params() / wls.scale
    np.testing.assert_allclose(res.vb, cov, rtol=1e-9)
    k, p = X.shape
    if test == "z":
        assert res.df is None and res.qm_df == (2, None)
        np.testing.assert_allclose(res.pval, 2 * stats.norm.sf(np.abs(res.stat)), rtol=1e-12)
        b, V = res.beta[1:], res.vb[1:, 1:]
        assert res.qm == pytest.approx(b @ np.linalg.solve(V, b), rel=1e-10)
    else:  # t with k - p df, QM as F(2, k - p)
        assert res.df == k - p and res.qm_df == (2, k - p)
        np.testing.assert_allclose(res.pval, 2 * stats.t.sf(np.abs(res.stat), k - p),
                                   rtol=1e-12)
        if test == "knha":
            ftest = wls.f_test(np.eye(3)[1:])
            assert res.qm == pytest.approx(float(ftest.fvalue), rel=1e-9)
            assert res.qm_pvalue == pytest.approx(float(ftest.pvalue), rel=1e-8)
    # QE: Cochran's Q of the fixed-effect regression
    fe = sm.WLS(y, X, weights=1 / v).fit()
    assert res.qe == pytest.approx(float(np.sum(fe.resid**2 / v)), rel=1e-10)


def test_pseudo_r2_is_the_proportional_reduction_in_tau2():
    y, v, frame = _data(2, k=30)
    res = random_effects(y, v, mods="~ x1 + x2", data=frame, method="DL")
    tau2_re = random_effects(y, v, method="DL").tau2
    assert res.r2 == pytest.approx(max(0.0, 100 * (tau2_re - res.tau2) / tau2_re), rel=1e-12)
    # FE: metafor's adjusted R^2 of the weighted regression
    sm = pytest.importorskip("statsmodels.api")
    fe = random_effects(y, v, mods="~ x1 + x2", data=frame, method="FE")
    wls = sm.WLS(y, sm.add_constant(frame[["x1", "x2"]].to_numpy()), weights=1 / v).fit()
    assert fe.r2 == pytest.approx(max(0.0, 100 * wls.rsquared_adj), rel=1e-10)
    # no intercept: no R^2 (the model does not nest the intercept-only model)
    assert random_effects(y, v, mods="~ x1 + x2 - 1", data=frame).r2 is None


def test_categorical_moderator_is_dummy_coded_against_the_first_level():
    y, v, frame = _data(3, k=15)
    res = random_effects(y, v, mods="~ g", data=frame)
    assert res.names == ("intrcpt", "gb", "gc")
    np.testing.assert_array_equal(res.X[:, 1], (frame.g == "b").to_numpy(float))
    # without intercept the first factor gets one column per level (R's model.matrix): the
    # same model, reparametrized as the three group means
    cells = random_effects(y, v, mods="~ g - 1", data=frame)
    assert cells.names == ("ga", "gb", "gc") and cells.btt == (0, 1, 2)
    assert cells.tau2 == pytest.approx(res.tau2, rel=1e-9)
    np.testing.assert_allclose(cells.beta, res.beta[0] + np.r_[0, res.beta[1:]], rtol=1e-9)
    no_int = random_effects(y, v, mods="~ 0 + x1", data=frame)
    assert no_int.names == ("x1",) and no_int.btt == (0,)


def test_blup_shrinks_each_study_toward_its_fitted_value():
    y, v, frame = _data(4)
    res = random_effects(y, v, mods="~ x1", data=frame)
    b = res.blup()
    lam = res.tau2 / (res.tau2 + v)
    fitted = res.X @ res.beta
    np.testing.assert_allclose(b.pred, lam * y + (1 - lam) * fitted, rtol=1e-12)
    var_fit = np.einsum("ij,jk,ik->i", res.X, res.vb, res.X)
    np.testing.assert_allclose(b.se, np.sqrt(lam * v + (1 - lam) ** 2 * var_fit), rtol=1e-12)
    np.testing.assert_allclose(b.pi_ub - b.pred, res.crit * b.se, rtol=1e-12)
    assert list(res.blup(transf=np.exp).columns) == ["pred", "pi_lb", "pi_ub"]
    # the random-effects fit: the classical shrinkage estimate (1 - B) y + B mu
    re = random_effects(y, v)
    shrink = v / (v + re.tau2)
    np.testing.assert_allclose(re.blup().pred, (1 - shrink) * y + shrink * re.mu, rtol=1e-12)


def test_summary_under_knapp_hartung_prints_the_f_test():
    y, v, frame = _data(5)
    res = random_effects(y, v, mods="~ x1 + x2", data=frame, test="knha")
    assert f"F(df1 = 2, df2 = {len(y) - 3}) = {res.qm:.4f}" in res.summary()
    assert "tval" in res.summary() and "tval" in res.coefficients.columns


Y, V, FRAME = _data(6, k=8)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"mods": np.ones((7, 1))}, InvalidDataError, "mods has 7 rows for 8 studies"),
        ({"mods": np.ones((8, 2, 2))}, InvalidDataError, "vector or a k x p matrix"),
        ({"mods": np.r_[np.nan, np.ones(7)]}, InvalidDataError, r"NaN or infinite .*\[0\]"),
        ({"mods": "~ x1", "data": FRAME.assign(x1=np.r_[np.nan, FRAME.x1[1:]])},
         InvalidDataError, r"'x1' is missing \(NaN\) for study index \[0\]"),
        ({"mods": np.column_stack([FRAME.x1, 2 * FRAME.x1])}, InvalidDataError,
         "linearly dependent"),
        ({"mods": np.ones(8)}, InvalidDataError, "linearly dependent"),
        ({"mods": "~ ablat", "data": FRAME}, InvalidArgumentError,
         "column 'ablat' is not in data"),
        ({"mods": np.random.default_rng(0).normal(size=(8, 7))}, InvalidDataError,
         "8 coefficients .* for 8 studies"),
        ({"mods": "ablat + year", "data": FRAME}, InvalidArgumentError, "one-sided"),
        ({"mods": "~ x1 * x2", "data": FRAME}, InvalidArgumentError, "not supported"),
        ({"mods": "~ x1 + x1", "data": FRAME}, InvalidArgumentError, "twice"),
        ({"mods": "~ x1"}, ArgumentTypeError, "pass the DataFrame"),
        ({"mods": FRAME.x1.to_numpy(), "data": FRAME}, ArgumentTypeError, "formula only"),
        ({"mods": FRAME[["g"]]}, InvalidDataError, "not numeric"),
        ({"mods": "~ g", "data": FRAME.assign(g="a")}, InvalidDataError, "one level"),
        ({"mods": FRAME.x1.to_numpy(), "btt": [5]}, InvalidArgumentError, "btt must name"),
        ({"mods": FRAME.x1.to_numpy(), "intercept": 1}, ArgumentTypeError, "True or False"),
        ({"btt": [1]}, InvalidArgumentError, "meta-regression only"),
    ],
)
def test_bad_moderators_raise_named_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        random_effects(Y, V, **kwargs)


def test_bad_newmods_raise_named_errors():
    res = random_effects(Y, V, mods="~ x1 + g", data=FRAME)
    with pytest.raises(InvalidDataError, match="newmods has 5 columns; the model has 3"):
        res.predict(np.ones((2, 5)))
    with pytest.raises(InvalidDataError, match="level"):
        res.predict(pd.DataFrame({"x1": [0.0], "g": ["z"]}))
    with pytest.raises(ArgumentTypeError, match="transf must be a function"):
        res.predict([0.0, 1.0, 0.0], transf="exp")


def _explicit_p(X, w):
    """The k x k residual projector P = W - W X (X'WX)^-1 X'W, formed directly."""
    W = np.diag(w)
    return W - W @ X @ np.linalg.inv(X.T @ W @ X) @ X.T @ W


@pytest.mark.parametrize("method", ["DL", "HE", "HS", "SJ", "PM", "EB", "ML", "REML"])
def test_residual_tau2_with_moderators_by_direct_computation(method):
    # each estimator written out with the explicit k x k matrix P (metafor's R/rma.uni.r
    # formulas), or for ML/REML by maximizing the (restricted) likelihood numerically
    from scipy.optimize import brentq, minimize_scalar

    y, v, frame = _data(7, k=20)
    X = np.column_stack([np.ones(20), frame.x1, frame.x2])
    k, p = X.shape
    res = random_effects(y, v, mods=X, intercept=False, method=method)
    if method == "DL":
        P = _explicit_p(X, 1 / v)
        expected = max(0.0, (y @ P @ y - (k - p)) / np.trace(P))
    elif method == "HE":
        P = _explicit_p(X, np.ones(k))
        expected = max(0.0, (y @ P @ y - np.trace(P @ np.diag(v))) / (k - p))
    elif method == "HS":
        P = _explicit_p(X, 1 / v)
        expected = max(0.0, (y @ P @ y - k) / np.sum(1 / v))
    elif method == "SJ":
        t0 = np.var(y)
        P = _explicit_p(X, 1 / (v + t0))
        expected = t0 * (y @ P @ y) / (k - p)
    elif method in ("PM", "EB"):
        def q(t):
            return y @ _explicit_p(X, 1 / (v + t)) @ y - (k - p)

        expected = brentq(q, 0, 10, xtol=1e-14) if q(0) > 0 else 0.0
    else:
        def nll(t):
            w = 1 / (v + t)
            P = _explicit_p(X, w)
            out = 0.5 * np.sum(np.log(v + t)) + 0.5 * y @ P @ y
            if method == "REML":
                out += 0.5 * np.linalg.slogdet(X.T @ np.diag(w) @ X)[1]
            return out

        expected = minimize_scalar(nll, bounds=(0, 10), method="bounded",
                                   options={"xatol": 1e-12}).x
    assert res.tau2 == pytest.approx(expected, rel=1e-6, abs=1e-10), method


def test_ml_meta_regression_matches_van_houwelingen_2002():
    # metafor tests/testthat/test_analysis_example_vanhouwelingen2002.r: dat.colditz1994 (the
    # BCG trials), log odds ratios, rma(yi, vi, mods = ~ ablat, method="ML"); van Houwelingen,
    # Arends & Stijnen (2002), Statistics in Medicine 21, pp. 608-609, in the text (4 decimals,
    # from other software; metafor checks them to 1%). Ours: intercept 0.37107, within 0.1%
    from hbo.meta import datasets, effect_sizes

    d = datasets.bcg()
    es = effect_sizes.log_odds_ratio(d.tpos, d.tneg, d.cpos, d.cneg)
    res = random_effects(es.yi, es.vi, mods="~ ablat", data=d, method="ML")
    np.testing.assert_allclose(res.beta, [0.3710, -0.0327], rtol=1e-3)
    np.testing.assert_allclose(res.se, [0.1061, 0.0034], rtol=1e-3, atol=0.5e-4)
    assert res.tau2 == pytest.approx(0.0040, abs=0.5e-4)
    assert res.r2 == pytest.approx(98.6691, rel=1e-3)


def test_predict_intercept_argument_as_metafor():
    y, v, frame = _data(8)
    res = random_effects(y, v, mods="~ x1 + x2", data=frame)
    with_int = res.predict([[0.5, 2.0]])
    without = res.predict([[0.5, 2.0]], intercept=False)
    assert with_int.pred[0] - without.pred[0] == pytest.approx(res.beta[0], rel=1e-12)
    # p columns: the first column decides, intercept= is ignored (metafor)
    full = res.predict([[0.0, 0.5, 2.0]], intercept=True)
    assert full.pred[0] == pytest.approx(without.pred[0], rel=1e-12)
