"""Egger's regression test against metafor's regtest, and the forest and funnel plots.

Sources (wviechtb/metafor, commit 71ae8f5ac9befeacc6654ead1b03ff05c065d54d):
- docs/reference/regtest.html: dat.egger2001 without ISIS-4, REML fit;
  regtest(res, model="lm"): t = -3.1783, df = 13, p = 0.0073, b = -0.1512 (-0.5130, 0.2106);
  regtest(res): z = -2.8062, p = 0.0050, b = -0.1639 (-0.5681, 0.2402).
- tests/testthat/test_misc_pub_bias.r: all 16 trials, regtest(res): z = -4.6686.
Tolerance: half a unit in the 4th printed decimal.
"""

import numpy as np
import pytest
from matplotlib.image import imread

from hbo.errors import InvalidArgumentError, InvalidDataError
from hbo.meta import datasets, effect_sizes, egger_test, forest_plot, funnel_plot, random_effects
from hbo.meta.egger import MODELS

P4 = 0.5e-4 + 1e-9

AI = np.array([1, 9, 2, 1, 10, 1, 1, 0, 6, 1, 2, 5, 4, 90, 4, 2216])
N1 = np.array([40, 135, 200, 48, 150, 59, 25, 22, 76, 27, 89, 23, 130, 1159, 107, 29011])
CI = np.array([2, 23, 7, 1, 8, 9, 3, 1, 11, 7, 12, 13, 8, 118, 17, 2103])
N2 = np.array([36, 135, 200, 46, 148, 56, 23, 21, 75, 27, 80, 33, 122, 1157, 108, 29039])


@pytest.fixture(scope="module")
def egger2001():
    return effect_sizes.log_odds_ratio(AI, N1 - AI, CI, N2 - CI)


def test_classical_egger_matches_regtest_lm(egger2001):
    res = random_effects(egger2001.yi[:15], egger2001.vi[:15])
    assert (res.tau2, res.q) == pytest.approx((0.1911, 20.9184), abs=P4)
    e = egger_test(res, model="lm")
    assert e.df == 13
    np.testing.assert_allclose((e.stat, e.pval, e.limit_estimate, *e.limit_ci),
                               (-3.1783, 0.0073, -0.1512, -0.5130, 0.2106), atol=P4)
    assert "classical Egger" in str(e)


def test_default_egger_matches_regtest_rma(egger2001):
    e = egger_test(egger2001.yi[:15], egger2001.vi[:15])
    assert e.model == "rma" and e.df is None
    np.testing.assert_allclose((e.stat, e.pval, e.limit_estimate, *e.limit_ci),
                               (-2.8062, 0.0050, -0.1639, -0.5681, 0.2402), atol=P4)
    assert egger_test(egger2001.yi, sei=egger2001.sei).stat == pytest.approx(-4.6686, abs=P4)


def test_egger_bad_input(egger2001):
    with pytest.raises(InvalidArgumentError, match="model must be one of"):
        egger_test(egger2001.yi, egger2001.vi, model="probit")
    with pytest.raises(InvalidDataError, match="at least 3"):
        egger_test([0.1, 0.2], [0.1, 0.2])
    with pytest.raises(InvalidDataError, match="all standard errors are equal"):
        egger_test([0.1, 0.2, 0.5], [0.1, 0.1, 0.1])


def test_plots_write_readable_pngs(tmp_path):
    d = datasets.bcg()
    es = effect_sizes.log_risk_ratio(d.tpos, d.tneg, d.cpos, d.cneg)
    res = random_effects(es.yi, es.vi, labels=d.author + " " + d.year.astype(str))
    for plot, name in ((forest_plot, "forest.png"), (funnel_plot, "funnel.png")):
        path = tmp_path / "sub" / name
        ax = plot(res, path, xlabel="log risk ratio")
        assert ax.get_xlabel() == "log risk ratio"
        image = imread(path)
        assert image.ndim == 3 and image.shape[0] > 300 and image.shape[1] > 300
        assert image[..., :3].std() > 0.05  # not a blank canvas


def _forest_figure(res):
    """The tick labels and title forest_plot draws (no file written)."""
    ax = forest_plot(res)
    return [t.get_text() for t in ax.get_yticklabels()], ax.get_title()


def test_forest_plot_labels_the_model_fitted(egger2001):
    fe = random_effects(egger2001.yi, egger2001.vi, method="FE")
    labels, title = _forest_figure(fe)
    assert "FE model" in labels and not any("RE model" in lab for lab in labels)
    assert "tau^2" not in title and f"mu = {fe.mu:.3f}" in title
    re = random_effects(egger2001.yi, egger2001.vi, method="DL")
    labels, title = _forest_figure(re)
    assert "RE model (DL)" in labels and f"tau^2 = {re.tau2:.3f}" in title


@pytest.mark.parametrize(
    "kwargs",
    [{"vi": [0.1] * 16}, {"sei": [0.1] * 16}, {"method": "DL"}, {"test": "knha"},
     {"level": 0.9}, {"method": "REML", "level": 0.95}],
)
def test_egger_rejects_arguments_beside_a_fit(egger2001, kwargs):
    res = random_effects(egger2001.yi, egger2001.vi)
    with pytest.raises(InvalidArgumentError, match=", ".join(kwargs) + " cannot be given"):
        egger_test(res, **kwargs)


@pytest.mark.parametrize(("model", "test"), [("lm", "z"), ("rma", "knha")])
@pytest.mark.parametrize("yi", [[1.0, 1.0, 1.0, 1.0], [0.5, 1.0, 1.5, 2.0]],
                         ids=["identical", "on a line"])
def test_egger_with_zero_residuals_is_an_error(model, test, yi):
    # sei = 1, 2, 3, 4 (with y on a line in them, or constant): the residuals are rounding
    # noise, a t of 0.03 (p = 0.98) or 5e15 before this check
    with pytest.raises(InvalidDataError, match="effect sizes are identical"):
        egger_test(yi, sei=[1.0, 2.0, 3.0, 4.0], model=model, test=test)


def test_egger_does_not_depend_on_the_unit_of_the_effects():
    # the same five studies with y in units 1e50 times larger (y c, v c^2): same statistic,
    # limit estimate in the new unit. The predictor is scaled to its median, so X' W X stays
    # well-scaled; with sei itself as predictor the second fit failed (math domain error).
    y, v = np.array([0.5, 1.0, 0.7, 0.2, 0.9]), np.array([1.0, 2.0, 1.5, 3.0, 0.7])
    for model in MODELS:
        unit = egger_test(y * 1e50, v, model=model)
        small = egger_test(y, v * 1e-100, model=model)
        assert small.stat == pytest.approx(unit.stat, rel=1e-9)
        assert small.limit_estimate == pytest.approx(unit.limit_estimate * 1e-50, rel=1e-9)
