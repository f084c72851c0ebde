"""influence(), Mantel-Haenszel and Peto pooling on dat.bcg against metafor.

Sources (wviechtb/metafor, commit 71ae8f5ac9befeacc6654ead1b03ff05c065d54d):
- docs/reference/influence.rma.uni.html: influence(rma(yi, vi, mods = ~ ablat + year)),
  the full $inf and $dfbs tables (4 decimals) and hatvalues(res) (8 digits).
- tests/testthat/test_misc_influence.r: influence(rma(yi, vi)) first row (15 digits);
  hatvalues and cooks.distance of rma(yi, vi, mods = ~ ablat).
- docs/reference/rma.mh.html: rma.mh(measure="OR"/"RR") prints (with the CMH and Tarone
  tests); tests/testthat/test_misc_metan_vs_rma.mh_with_dat.bcg.r: measure="RD".
- docs/reference/rma.peto.html: rma.peto() print.

The influence statistics come from k refits whose tau^2 metafor stops at a change < 1e-5
(see test_meta_regression_reference.py); the largest gap that leaves on these tables is
1.3e-4 (cov.r of study 11: 2.8337 vs 2.8336), hence ``INFL`` = 2e-4.
"""

import numpy as np
import pytest

from hbo.errors import InvalidArgumentError, InvalidDataError
from hbo.meta import datasets, effect_sizes, influence, mantel_haenszel, peto, random_effects

PRINTED = 0.5e-4 + 1e-9
PRINTED2 = 0.5e-2 + 1e-9
INFL = 2e-4


@pytest.fixture(scope="module")
def bcg():
    d = datasets.bcg()
    es = effect_sizes.log_risk_ratio(d.tpos, d.tneg, d.cpos, d.cneg)
    return d.assign(yi=es.yi, vi=es.vi)


INF_ABLAT_YEAR = np.array([
    # rstudent dffits  cook.d  cov.r  tau2.del QE.del   hat    weight
    [0.2978, 0.1785, 0.0348, 1.8003, 0.1317, 28.3142, 0.1725, 3.3664],
    [-0.4303, -0.2368, 0.0620, 1.9207, 0.1308, 27.5744, 0.2367, 4.8106],
    [-0.5100, -0.1094, 0.0125, 1.2348, 0.1191, 27.7572, 0.0487, 2.7920],
    [-1.4032, -2.9415, 7.3179, 3.5225, 0.0906, 23.1836, 0.8082, 11.2312],
    [-0.1490, -0.0263, 0.0032, 2.6341, 0.1497, 27.2543, 0.2483, 9.0681],
    [1.0551, 0.8926, 0.7205, 1.3621, 0.0994, 21.2875, 0.4061, 12.4817],
    [-2.5961, -0.6815, 0.4173, 0.2379, 0.0544, 19.1240, 0.0766, 4.4008],
    [0.4793, 0.3703, 0.1899, 2.9984, 0.1498, 24.1266, 0.3627, 12.8020],
    [0.2027, 0.1305, 0.0237, 2.2071, 0.1501, 28.2874, 0.1030, 8.7848],
    [-0.9872, -0.3870, 0.1470, 1.0702, 0.1072, 24.7567, 0.1310, 7.9919],
    [-0.1197, -0.0030, 0.0052, 2.8336, 0.1583, 25.5103, 0.2214, 11.9238],
    [1.4677, 0.2171, 0.0469, 0.9274, 0.1059, 26.1197, 0.0235, 2.2836],
    [2.1302, 0.8150, 0.4994, 0.2178, 0.0498, 21.4920, 0.1612, 8.0630],
])
DFBS_ABLAT_YEAR = np.array([
    [0.1492, -0.0622, -0.1491], [-0.0949, -0.1001, 0.0963], [-0.0280, -0.0403, 0.0283],
    [2.2248, -2.5380, -2.2161], [0.0350, 0.0063, -0.0354], [0.5935, -0.0008, -0.5954],
    [-0.2659, 0.5368, 0.2591], [-0.0394, -0.2110, 0.0431], [0.0728, -0.0865, -0.0718],
    [-0.1188, -0.0973, 0.1194], [0.0631, -0.0343, -0.0631], [-0.0413, 0.0465, 0.0419],
    [-0.8276, 0.6269, 0.8279],
])


def test_influence_matches_metafor_for_ablat_year(bcg):
    res = random_effects(bcg.yi, bcg.vi, mods="~ ablat + year", data=bcg)
    inf = influence(res)
    cols = ["rstudent", "dffits", "cook_d", "cov_r", "tau2_del", "qe_del", "hat", "weight"]
    np.testing.assert_allclose(inf.table[cols].to_numpy(), INF_ABLAT_YEAR, atol=INFL)
    np.testing.assert_allclose(inf.dfbetas.to_numpy(), DFBS_ABLAT_YEAR, atol=INFL)
    assert list(inf.dfbetas.columns) == ["intrcpt", "ablat", "year"]
    # metafor marks study 4 only
    np.testing.assert_array_equal(inf.influential, np.arange(13) == 3)
    # hatvalues(res), 8 digits: the leverages do not depend on the refits, only (through the
    # weights) on the full fit's tau^2, whose 3e-6 gap to metafor's moves them by up to 3e-6
    np.testing.assert_allclose(inf.table.hat, [
        0.17250070, 0.23668273, 0.04870101, 0.80821407, 0.24826116, 0.40606407, 0.07657599,
        0.36274386, 0.10304034, 0.13102564, 0.22140605, 0.02353859, 0.16124580], atol=5e-6)
    assert "*" in str(inf) and inf is not res.influence()  # the method gives the same table
    np.testing.assert_allclose(res.influence().table[cols], inf.table[cols], rtol=1e-12)


def test_influence_matches_metafor_for_the_random_effects_model(bcg):
    # tests/testthat/test_misc_influence.r: influence(rma(yi, vi)), study 1, to 15 digits;
    # metafor's tau^2 (stopped at a change < 1e-5) leaves about 1e-5 on each
    inf = random_effects(bcg.yi, bcg.vi).influence()
    row = inf.table.iloc[0]
    expected = {"rstudent": -0.218142474344442, "dffits": -0.0407075604868486,
                "cook_d": 0.00171654236729195, "cov_r": 1.11644891104804,
                "tau2_del": 0.336156745300306, "qe_del": 151.582572747109,
                "hat": 0.0505948307931551, "weight": 5.05948307931551}
    for name, value in expected.items():
        assert row[name] == pytest.approx(value, rel=1e-4), name
    assert inf.dfbetas.iloc[0, 0] == pytest.approx(-0.0402659025974144, rel=1e-4)
    assert not inf.influential[0]


def test_hat_and_cooks_distance_for_ablat(bcg):
    # tests/testthat/test_misc_influence.r (4 decimals)
    inf = random_effects(bcg.yi, bcg.vi, mods="~ ablat", data=bcg).influence()
    np.testing.assert_allclose(inf.table.hat, [0.049, 0.1493, 0.0351, 0.3481, 0.2248, 0.2367,
                                               0.064, 0.357, 0.0926, 0.1157, 0.2309, 0.0189,
                                               0.0778], atol=PRINTED)
    np.testing.assert_allclose(inf.table.cook_d, [0.0048, 0.0489, 0.0104, 0.2495, 0.0072,
                                                  0.2883, 0.3643, 0.2719, 0.02, 0.1645, 0.0009,
                                                  0.0403, 0.1433], atol=INFL)


def test_influence_of_a_lost_column_is_nan_and_too_few_studies_an_error():
    # study 3 is the only one with g = "b": without it the design loses rank (metafor: NA)
    y = np.array([0.1, 0.4, 0.3, -0.2, 0.5, 0.0])
    v = np.full(6, 0.05)
    res = random_effects(y, v, mods=np.array([0, 0, 1, 0, 0, 0.0]), method="DL")
    inf = res.influence()
    assert np.isnan(inf.table.rstudent.iloc[2]) and np.isfinite(inf.table.rstudent.iloc[0])
    with pytest.raises(InvalidDataError, match="at least 3 studies"):
        random_effects(y[:2], v[:2]).influence()


def test_mantel_haenszel_odds_ratio_matches_rma_mh(bcg):
    r = mantel_haenszel(bcg.tpos, bcg.tneg, bcg.cpos, bcg.cneg, measure="OR")
    assert (r.estimate, r.se, r.zval) == pytest.approx((-0.4734, 0.0410, -11.5444), abs=PRINTED)
    assert r.ci == pytest.approx((-0.5538, -0.3930), abs=PRINTED)
    assert r.exp == pytest.approx((0.6229, 0.5748, 0.6750), abs=PRINTED)
    assert (r.q, r.q_df) == (pytest.approx(163.9426, abs=PRINTED), 12)
    assert (r.i2, r.h2) == pytest.approx((92.68, 13.66), abs=PRINTED2)
    assert r.cmh == pytest.approx(135.6889, abs=PRINTED) and r.cmh_pvalue < 1e-4
    assert r.tarone == pytest.approx(171.7567, abs=PRINTED) and r.tarone_df == 12
    text = r.summary()
    assert "CMH = 135.6889, df = 1" in text and "X^2 = 171.7567, df = 12" in text


def test_mantel_haenszel_risk_ratio_and_difference(bcg):
    rr = mantel_haenszel(bcg.tpos, bcg.tneg, bcg.cpos, bcg.cneg, measure="RR")
    assert (rr.estimate, rr.se, rr.zval) == pytest.approx((-0.4537, 0.0393, -11.5338),
                                                          abs=PRINTED)
    assert rr.ci == pytest.approx((-0.5308, -0.3766), abs=PRINTED)
    assert rr.exp == pytest.approx((0.6353, 0.5881, 0.6862), abs=PRINTED)
    assert rr.q == pytest.approx(152.5676, abs=PRINTED)
    assert (rr.i2, rr.h2) == pytest.approx((92.13, 12.71), abs=PRINTED2)
    assert rr.cmh is None and rr.tarone is None
    rd = mantel_haenszel(bcg.tpos, bcg.tneg, bcg.cpos, bcg.cneg, measure="RD")
    assert (rd.estimate, rd.zval) == pytest.approx((-0.0033, -11.4708), abs=PRINTED)
    assert rd.ci == pytest.approx((-0.0039, -0.0027), abs=PRINTED)
    assert rd.q == pytest.approx(386.7759, abs=PRINTED) and rd.exp is None


def test_peto_matches_rma_peto(bcg):
    r = peto(bcg.tpos, bcg.tneg, bcg.cpos, bcg.cneg)
    assert (r.estimate, r.se, r.zval) == pytest.approx((-0.4744, 0.0407, -11.6689), abs=PRINTED)
    assert r.ci == pytest.approx((-0.5541, -0.3948), abs=PRINTED)
    assert r.exp == pytest.approx((0.6222, 0.5746, 0.6738), abs=PRINTED)
    assert (r.q, r.q_df) == (pytest.approx(167.7302, abs=PRINTED), 12)
    assert (r.i2, r.h2) == pytest.approx((92.85, 13.98), abs=PRINTED2)
    assert "Peto" in r.summary()


def test_table_pooling_bad_input():
    with pytest.raises(InvalidArgumentError, match="measure must be one of"):
        mantel_haenszel([1], [2], [3], [4], measure="HR")
    with pytest.raises(InvalidDataError, match="same length"):
        peto([1, 2], [2, 3], [3], [4])
    with pytest.raises(InvalidDataError, match="negative"):
        mantel_haenszel([1, -1], [2, 3], [3, 4], [4, 5])
    with pytest.raises(InvalidDataError, match="no participants"):
        peto([0, 1], [0, 3], [3, 4], [4, 5])
    with pytest.raises(InvalidDataError, match="never occurred"):
        peto([0, 0], [5, 3], [0, 0], [4, 5])
    with pytest.raises(InvalidDataError, match="no events in any study"):
        mantel_haenszel([0, 0], [5, 3], [1, 2], [4, 5], measure="RR")
