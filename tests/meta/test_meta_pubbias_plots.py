"""Trim and fill and the rank correlation test against metafor, and plots that compose.

Sources (wviechtb/metafor, commit 71ae8f5ac9befeacc6654ead1b03ff05c065d54d):
- docs/reference/trimfill.html: trimfill(rma(yi, vi, data=dat, method="EE")) (L0 and R0)
  and trimfill(rma(yi, vi, data=dat)) (REML) on dat.bcg log risk ratios, and the filled
  yi / vi of the EE fit (8 digits).
- docs/reference/ranktest.html: ranktest(rma(yi, vi, data=dat)) on dat.bcg.
- tests/testthat/test_misc_pub_bias.r: ranktest on dat.egger2001 (all 16 trials).
"""

import numpy as np
import pytest
from matplotlib.figure import Figure

from hbo.errors import ArgumentTypeError, InvalidArgumentError, InvalidDataError
from hbo.meta import (
    bubble_plot,
    datasets,
    effect_sizes,
    forest_plot,
    funnel_plot,
    random_effects,
    ranktest,
    trimfill,
)

PRINTED = 0.5e-4 + 1e-9
PRINTED2 = 0.5e-2 + 1e-9


@pytest.fixture(scope="module")
def bcg():
    d = datasets.bcg()
    es = effect_sizes.log_risk_ratio(d.tpos, d.tneg, d.cpos, d.cneg)
    return d.assign(yi=es.yi, vi=es.vi)


def test_trimfill_equal_effects_matches_metafor(bcg):
    taf = trimfill(random_effects(bcg.yi, bcg.vi, method="FE"))
    assert (taf.k0, taf.side, taf.estimator) == (4, "right", "L0")
    assert taf.se_k0 == pytest.approx(2.3853, abs=PRINTED) and taf.p_k0 is None
    fit = taf.fit
    assert fit.k == 17
    assert (fit.mu, fit.se, fit.zval) == pytest.approx((-0.2910, 0.0383, -7.6057), abs=PRINTED)
    assert fit.ci == pytest.approx((-0.3660, -0.2160), abs=PRINTED)
    assert fit.q == pytest.approx(262.7316, abs=PRINTED)
    assert (fit.i2, fit.h2) == pytest.approx((93.91, 16.42), abs=PRINTED2)
    np.testing.assert_allclose(fit.yi[13:], [0.78929282, 0.85949921, 1.00333667, 1.03884624],
                               atol=1e-8)
    np.testing.assert_allclose(fit.vi[13:], [0.073024794, 0.020010032, 0.194581121,
                                             0.223017248], atol=1e-9)
    np.testing.assert_array_equal(taf.filled, np.arange(17) >= 13)
    assert fit.labels[-1] == "Filled 4"
    assert "missing studies on the right side: 4 (SE = 2.3853)" in str(taf)


def test_trimfill_r0_and_random_effects_match_metafor(bcg):
    r0 = trimfill(random_effects(bcg.yi, bcg.vi, method="FE"), estimator="R0")
    assert (r0.k0, r0.se_k0) == (4, pytest.approx(3.1623, abs=PRINTED))
    assert r0.p_k0 == pytest.approx(0.0312, abs=PRINTED)
    re = trimfill(random_effects(bcg.yi, bcg.vi))
    assert (re.k0, re.side) == (1, "right")
    assert re.se_k0 == pytest.approx(2.4528, abs=PRINTED)
    fit = re.fit
    # metafor's REML stops at a tau^2 change < 1e-5 (see test_meta_regression_reference.py):
    # its z prints -3.6805, the converged fit gives -3.68055...; tau^2 and the rest match
    assert (fit.tau2, fit.tau2_se, fit.tau) == pytest.approx((0.3313, 0.1701, 0.5756),
                                                             abs=PRINTED)
    assert (fit.mu, fit.se) == pytest.approx((-0.6571, 0.1785), abs=PRINTED)
    assert fit.zval == pytest.approx(-3.6805, abs=1e-4)
    assert fit.ci == pytest.approx((-1.0070, -0.3072), abs=PRINTED)
    assert fit.q == pytest.approx(154.6750, abs=PRINTED)
    assert (fit.i2, fit.h2) == pytest.approx((92.14, 12.72), abs=PRINTED2)


def test_trimfill_side_can_be_given_and_bad_calls_are_refused(bcg):
    res = random_effects(bcg.yi, bcg.vi, method="FE")
    left = trimfill(res, side="left")
    assert left.side == "left" and left.k0 >= 0
    with pytest.raises(InvalidArgumentError, match="without moderators"):
        trimfill(random_effects(bcg.yi, bcg.vi, mods="~ ablat", data=bcg))
    with pytest.raises(InvalidArgumentError, match="estimator must be one of"):
        trimfill(res, estimator="Q1")
    with pytest.raises(InvalidArgumentError, match="side must be"):
        trimfill(res, side="up")
    with pytest.raises(InvalidDataError, match="at least 3"):
        trimfill(random_effects([0.1, 0.2], [0.1, 0.1]))


def test_ranktest_matches_metafor(bcg):
    r = ranktest(random_effects(bcg.yi, bcg.vi))
    assert (r.tau, r.pval) == pytest.approx((0.0256, 0.9524), abs=PRINTED) and r.exact
    same = ranktest(bcg.yi, bcg.vi)
    assert (same.tau, same.pval) == (r.tau, r.pval)
    # dat.egger2001 (16 trials, log odds ratios): tau = 0.15, p = 0.4503
    ai = np.array([1, 9, 2, 1, 10, 1, 1, 0, 6, 1, 2, 5, 4, 90, 4, 2216])
    n1 = np.array([40, 135, 200, 48, 150, 59, 25, 22, 76, 27, 89, 23, 130, 1159, 107, 29011])
    ci = np.array([2, 23, 7, 1, 8, 9, 3, 1, 11, 7, 12, 13, 8, 118, 17, 2103])
    n2 = np.array([36, 135, 200, 46, 148, 56, 23, 21, 75, 27, 80, 33, 122, 1157, 108, 29039])
    es = effect_sizes.log_odds_ratio(ai, n1 - ai, ci, n2 - ci)
    e = ranktest(es.yi, sei=es.sei)
    assert (e.tau, e.pval) == pytest.approx((0.15, 0.4503), abs=PRINTED)
    with pytest.raises(InvalidArgumentError, match="without moderators|cannot be given"):
        ranktest(random_effects(bcg.yi, bcg.vi, mods="~ ablat", data=bcg))
    with pytest.raises(InvalidDataError, match="at least 3"):
        ranktest([0.1, 0.2], [0.1, 0.2])


def test_ranktest_with_ties_uses_the_normal_approximation():
    r = ranktest([0.1, 0.5, 0.3, 0.8, 0.2], [0.1, 0.1, 0.2, 0.3, 0.3])
    assert not r.exact and 0 <= r.pval <= 1 and "normal approximation" in str(r)


def test_plots_draw_onto_a_given_axes_and_compose(bcg, tmp_path):
    fig = Figure(figsize=(12, 5))
    left, middle, right = fig.subplots(1, 3)
    res = random_effects(bcg.yi, bcg.vi, labels=bcg.author)
    reg = random_effects(bcg.yi, bcg.vi, mods="~ ablat", data=bcg)
    assert forest_plot(res, ax=left) is left
    assert funnel_plot(res, ax=middle) is middle
    assert bubble_plot(reg, ax=right) is right
    assert right.get_xlabel() == "ablat" and len(right.collections) >= 3  # bands and points
    path = tmp_path / "three.png"
    fig.savefig(path)
    assert path.stat().st_size > 10_000
    # a new Axes on its own Figure when none is given; path= writes it
    ax = bubble_plot(reg, "ablat", tmp_path / "bubble.png", transf=np.exp)
    assert (tmp_path / "bubble.png").exists() and ax.figure is not fig


def test_forest_plot_atransf_labels_the_axis_and_transf_moves_the_points(bcg):
    res = random_effects(bcg.yi, bcg.vi)
    ax = forest_plot(res, atransf=np.exp)
    ax.figure.canvas.draw()
    ticks = ax.get_xticks()
    labels = [t.get_text() for t in ax.get_xticklabels()]
    i = int(np.argmin(np.abs(ticks)))  # the tick at log RR 0 reads 1 (risk ratio)
    assert ticks[i] == 0 and labels[i] == "1"
    moved = forest_plot(res, transf=np.exp)
    squares = moved.collections[1].get_offsets()[:, 0]
    np.testing.assert_allclose(np.sort(squares), np.sort(np.exp(bcg.yi)), rtol=1e-12)
    with pytest.raises(InvalidArgumentError, match="not both"):
        forest_plot(res, transf=np.exp, atransf=np.exp)
    with pytest.raises(ArgumentTypeError, match="matplotlib Axes"):
        forest_plot(res, ax="left")


def test_forest_plot_of_a_meta_regression_shows_fitted_values(bcg):
    reg = random_effects(bcg.yi, bcg.vi, mods="~ ablat + year", data=bcg)
    ax = forest_plot(reg)
    assert len(ax.patches) == 13 and "R^2" in ax.get_title()
    with pytest.raises(InvalidArgumentError, match="choose one with mod="):
        bubble_plot(reg)
    with pytest.raises(InvalidArgumentError, match="mod must be one of"):
        bubble_plot(reg, "latitude")
    with pytest.raises(InvalidArgumentError, match="no moderators"):
        bubble_plot(random_effects(bcg.yi, bcg.vi))
    with pytest.raises(InvalidArgumentError, match="bubble_plot"):
        funnel_plot(reg)
