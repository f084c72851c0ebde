"""Effect sizes against metafor's escalc, continuity corrections, and the errors for bad tables.

Sources (wviechtb/metafor, commit 71ae8f5ac9befeacc6654ead1b03ff05c065d54d; data from
wviechtb/metadat data-raw/):
- docs/reference/regtest.html prints, to 8 decimals, the log odds ratios of dat.egger2001
  (minus ISIS-4) from escalc(measure="OR", ...), including the Bertschat trial with a zero
  cell corrected by add=1/2, to="only0".
- tests/testthat/test_misc_escalc.r: SMD (Hedges' g) of dat.normand1999[1:4], 4 decimals;
  tests/testthat/test_misc_rma_uni.r: REML tau^2 = 1.0090 for those four.
- tests/testthat/test_analysis_example_normand1999.r: risk differences of dat.hine1989
  (percentage points), 4 decimals.
"""

import numpy as np
import pytest
from scipy.special import gamma

from hbo.errors import InvalidArgumentError, InvalidDataError
from hbo.meta import effect_sizes, random_effects

P4 = 0.5e-4 + 1e-9  # half a unit in the 4th printed decimal
P8 = 0.5e-8 + 1e-12

# dat.egger2001 (metadat data-raw/dat.egger2001.txt); the last row is ISIS-4
EG_AI = np.array([1, 9, 2, 1, 10, 1, 1, 0, 6, 1, 2, 5, 4, 90, 4, 2216])
EG_N1 = np.array([40, 135, 200, 48, 150, 59, 25, 22, 76, 27, 89, 23, 130, 1159, 107, 29011])
EG_CI = np.array([2, 23, 7, 1, 8, 9, 3, 1, 11, 7, 12, 13, 8, 118, 17, 2103])
EG_N2 = np.array([36, 135, 200, 46, 148, 56, 23, 21, 75, 27, 80, 33, 122, 1157, 108, 29039])


def egger_tables():
    return EG_AI, EG_N1 - EG_AI, EG_CI, EG_N2 - EG_CI


def test_log_odds_ratio_with_continuity_correction_matches_escalc():
    yi = [-0.83034830, -1.05605267, -1.27833981, -0.04348511, 0.22314355, -2.40751999,
          -1.28093385, -1.19170271, -0.69574796, -2.20827441, -2.03815988, -0.85015093,
          -0.79323064, -0.29933987, -1.57078846]
    es = effect_sizes.log_odds_ratio(*egger_tables())
    np.testing.assert_allclose(es.yi[:15], yi, atol=P8)
    # only the trial with a zero cell (index 7) was corrected: check it by hand
    a, b, c, d = 0.5, 22.5, 1.5, 20.5
    assert es.vi[7] == pytest.approx(1 / a + 1 / b + 1 / c + 1 / d, rel=1e-14)
    assert es.vi[0] == pytest.approx(1 / 1 + 1 / 39 + 1 / 2 + 1 / 34, rel=1e-14)
    np.testing.assert_allclose(es.sei, np.sqrt(es.vi))


def test_continuity_correction_options():
    tables = egger_tables()
    none_zero = tuple(t[:7] for t in tables)  # first 7 trials have no zero cell
    base = effect_sizes.log_odds_ratio(*none_zero)
    every = effect_sizes.log_odds_ratio(*none_zero, to="all")
    assert not np.allclose(base.yi, every.yi)  # "all" corrects every study
    with_zero = effect_sizes.log_odds_ratio(*tables, to="if0all")
    all_corrected = effect_sizes.log_odds_ratio(*tables, to="all")
    np.testing.assert_allclose(with_zero.yi, all_corrected.yi)  # one zero -> all corrected
    np.testing.assert_allclose(effect_sizes.log_odds_ratio(*none_zero, to="if0all").yi, base.yi)
    custom = effect_sizes.log_odds_ratio(*tables, add=0.25)
    a, b, c, d = 0.25, 22.25, 1.25, 20.25
    assert custom.yi[7] == pytest.approx(np.log(a * d / (b * c)), rel=1e-14)


def test_zero_cell_without_correction_is_an_error_naming_the_argument():
    with pytest.raises(InvalidDataError, match=r"ai is 0 in studies \[7\].*add"):
        effect_sizes.log_odds_ratio(*egger_tables(), add=0)
    with pytest.raises(InvalidDataError, match="to='none'"):
        effect_sizes.log_risk_ratio(*egger_tables(), to="none")


def test_drop00_drops_double_zero_studies():
    ai, bi, ci, di = [0, 3, 2], [10, 7, 8], [0, 4, 1], [12, 6, 9]
    es = effect_sizes.log_risk_ratio(ai, bi, ci, di, drop00=True)
    np.testing.assert_array_equal(es.kept, [False, True, True])
    assert es.yi.shape == (2,)
    assert es.yi[0] == pytest.approx(np.log(0.3 / 0.4))
    kept_all = effect_sizes.log_risk_ratio(ai, bi, ci, di)  # default: corrected, not dropped
    assert kept_all.yi.shape == (3,) and kept_all.yi[0] == pytest.approx(np.log(
        (0.5 / 11) / (0.5 / 13)))


def test_risk_ratio_matches_bcg_first_trial_by_hand():
    es = effect_sizes.log_risk_ratio([4], [119], [11], [128])
    assert es.yi[0] == pytest.approx(np.log((4 / 123) / (11 / 139)), rel=1e-14)
    assert es.vi[0] == pytest.approx(1 / 4 - 1 / 123 + 1 / 11 - 1 / 139, rel=1e-14)


def test_risk_difference_matches_hine1989():
    n1 = np.array([39, 44, 107, 103, 110, 154])
    n2 = np.array([43, 44, 110, 100, 106, 146])
    ai = np.array([2, 4, 6, 7, 7, 11])
    ci = np.array([1, 4, 4, 5, 3, 4])
    es = effect_sizes.risk_difference(ai, n1 - ai, ci, n2 - ci)
    np.testing.assert_allclose(100 * es.yi, [2.8026, 0.0, 1.9711, 1.7961, 3.5334, 4.4031],
                               atol=P4)
    np.testing.assert_allclose(1e4 * es.vi, [17.7575, 37.5657, 8.1323, 10.8998, 8.0114,
                                             6.1320], atol=P4)


def test_hedges_g_matches_escalc_and_rma():
    n1, m1, s1 = [155, 31, 75, 18], [55, 27, 64, 66], [47, 7, 17, 20]
    n2, m2, s2 = [156, 32, 71, 18], [75, 29, 119, 137], [64, 4, 29, 48]
    es = effect_sizes.hedges_g(m1, s1, n1, m2, s2, n2)
    np.testing.assert_allclose(es.yi, [-0.3552, -0.3479, -2.3176, -1.8880], atol=P4)
    np.testing.assert_allclose(es.vi, [0.0131, 0.0645, 0.0458, 0.1606], atol=P4)
    assert random_effects(es.yi, es.vi).tau2 == pytest.approx(1.0090, abs=P4)
    assert effect_sizes.standardized_mean_difference is effect_sizes.hedges_g


def test_exact_correction_against_gamma_and_its_approximation():
    m = np.array([2.0, 5.0, 20.0, 100.0])
    exact = gamma(m / 2) / (np.sqrt(m / 2) * gamma((m - 1) / 2))
    np.testing.assert_allclose(effect_sizes.small_sample_correction(m), exact, rtol=1e-13)
    # Hedges' approximation 1 - 3/(4m - 1) is within 1e-4 for m >= 20 (Hedges 1981)
    big = np.array([20.0, 100.0, 1e4])
    np.testing.assert_allclose(effect_sizes.small_sample_correction(big),
                               1 - 3 / (4 * big - 1), atol=1e-4)
    # no overflow where Gamma(m/2) itself overflows (m >= 344)
    assert np.isfinite(effect_sizes.small_sample_correction(np.array([5000.0]))).all()


def test_mean_difference_by_hand():
    es = effect_sizes.mean_difference([10.0], [2.0], [20], [8.0], [3.0], [30])
    assert es.yi[0] == 2.0 and es.vi[0] == pytest.approx(4 / 20 + 9 / 30)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"to": "sometimes"}, InvalidArgumentError, "to must be one of"),
        ({"add": -1.0}, InvalidArgumentError, "add must be"),
    ],
)
def test_bad_correction_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        effect_sizes.log_odds_ratio([1], [2], [3], [4], **kwargs)


def test_bad_tables():
    with pytest.raises(InvalidDataError, match="ai and ci must have the same length"):
        effect_sizes.log_risk_ratio([1, 2], [3, 4], [5], [6, 7])
    with pytest.raises(InvalidDataError, match="bi holds negative counts"):
        effect_sizes.log_risk_ratio([1], [-3], [5], [6])
    with pytest.raises(InvalidDataError, match="NaN"):
        effect_sizes.log_odds_ratio([1, np.nan], [3, 4], [5, 6], [6, 7])
    with pytest.raises(InvalidDataError, match="vi = 0"):  # 0% events in both, no correction
        effect_sizes.risk_difference([0], [10], [0], [12], add=0)
    with pytest.raises(InvalidDataError, match="sd2i holds negative"):
        effect_sizes.hedges_g([1], [1], [10], [2], [-1], [10])
    with pytest.raises(InvalidDataError, match="n1i holds group sizes"):
        effect_sizes.mean_difference([1], [1], [0], [2], [1], [10])


def test_zero_standard_deviations_name_what_mean_difference_accepts():
    # mean_difference has no continuity correction: the message must not offer one
    with pytest.raises(InvalidDataError, match=r"vi = 0 in studies \[1\]") as err:
        effect_sizes.mean_difference([1, 2], [1, 0], [10, 10], [0, 1], [1, 0], [10, 10])
    assert "sd1i and sd2i are both 0" in str(err.value)
    assert not any(arg in str(err.value) for arg in ("add", "to=", "drop00"))


def test_numpy_continuity_correction_is_accepted():
    plain = effect_sizes.log_odds_ratio([0], [10], [3], [9], add=0.5)
    numpy = effect_sizes.log_odds_ratio([0], [10], [3], [9], add=np.float32(0.5))
    assert (numpy.yi, numpy.vi) == (plain.yi, plain.vi)
    with pytest.raises(InvalidArgumentError, match="add must be"):
        effect_sizes.log_odds_ratio([0], [10], [3], [9], add=True)
