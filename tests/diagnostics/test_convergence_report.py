"""hbo.diagnostics.convergence on synthetic draws whose answers are known."""

import arviz as az
import numpy as np
import pandas as pd
import pytest

from hbo.diagnostics import ConvergenceReport, convergence
from hbo.errors import InvalidArgumentError, InvalidDataError

CHAINS, DRAWS = 4, 1000


def _idata(posterior, **sample_stats):
    return az.from_dict(posterior=posterior, sample_stats=sample_stats or None)


def test_iid_draws_pass_with_rhat_one_and_ess_near_n(rng):
    idata = _idata({"a": rng.normal(size=(CHAINS, DRAWS)),
                    "b": rng.normal(size=(CHAINS, DRAWS, 3))})
    report = convergence(idata)
    assert isinstance(report, ConvergenceReport)
    assert list(report.table.index) == ["a", "b[0]", "b[1]", "b[2]"]
    assert list(report.table.columns) == ["r_hat", "ess_bulk", "ess_tail", "mcse_mean"]
    # iid draws: R-hat is 1 up to its sampling error (sd about 1/N = 2.5e-4 here); 0.01 is
    # the paper's threshold, 40 sds away
    assert np.all(np.abs(report.table["r_hat"] - 1.0) < 0.01)
    # ESS of n iid draws is n. Over 300 simulated 4 x 1000 iid sets ArviZ's bulk ESS / n had
    # mean 0.98, sd 0.043; tail ESS / n (the smaller of two quantile-indicator ESS, so lower
    # and noisier) mean 0.96, sd 0.041, min 0.81. Bounds: 20 % (bulk, 4.6 sd) and 30 %
    # (tail, 7 sd): far outside the noise, yet an ESS off by a factor fails.
    n = CHAINS * DRAWS
    assert np.all(np.abs(report.table["ess_bulk"] / n - 1.0) < 0.2)
    assert np.all(np.abs(report.table["ess_tail"] / n - 1.0) < 0.3)
    # MCSE of the mean of iid N(0, 1) draws is 1 / sqrt(n); 20 % as for the ESS
    assert np.allclose(report.table["mcse_mean"], 1 / np.sqrt(n), rtol=0.2)
    assert report.ok and report.problems() == []
    assert (report.n_chains, report.n_draws, report.divergences) == (CHAINS, DRAWS, 0)


def test_chains_with_shifted_means_fail_rhat(rng):
    draws = rng.normal(size=(CHAINS, DRAWS))
    draws[3] += 3.0  # one chain stuck three posterior sds away
    report = convergence(_idata({"a": draws}))
    # between-chain variance 9 * 3/16 against within-chain 1: classic R-hat sqrt(1 + 1.7);
    # the rank-normalized one is lower (ranks compress the gap) but still near 1.5
    assert report.table.loc["a", "r_hat"] > 1.3
    assert not report.ok
    assert any("R-hat" in p for p in report.problems())


def test_thresholds_are_arguments(rng):
    draws = rng.normal(size=(CHAINS, DRAWS))
    draws[3] += 3.0
    idata = _idata({"a": draws})
    assert convergence(idata, r_hat_max=2.0, ess_min=5).ok  # R-hat ~1.46, bulk ESS ~8
    iid = _idata({"a": rng.normal(size=(CHAINS, DRAWS))})
    strict = convergence(iid, ess_min=10 * CHAINS * DRAWS)
    assert not strict.ok and all("ess" in p for p in strict.problems())


@pytest.mark.parametrize("shape", [(1, 500), (2, 3)], ids=["one chain", "three draws"])
def test_degenerate_shapes_give_nan_and_not_ok(rng, shape):
    # ArviZ's documented contract: R-hat needs >= 2 chains and >= 4 draws, ESS >= 4 draws
    report = convergence(_idata({"a": rng.normal(size=shape)}))
    assert np.isnan(report.table.loc["a", "r_hat"])
    if shape[1] < 4:
        assert report.table.loc["a"].isna().all()
    assert not report.ok


def test_ebfmi_of_ar1_energy_is_two_times_one_minus_rho(rng):
    # E-BFMI = sum (E_n - E_{n-1})^2 / sum (E_n - mean E)^2 -> 2 (1 - rho) for a stationary
    # AR(1) energy sequence with lag-one autocorrelation rho (iid: rho = 0, E-BFMI = 2)
    n, rho = 20000, 0.9
    ar = np.empty(n)
    ar[0] = rng.normal()
    noise = rng.normal(size=n) * np.sqrt(1 - rho**2)
    for t in range(1, n):
        ar[t] = rho * ar[t - 1] + noise[t]
    energy = np.stack([ar, rng.normal(size=n)])
    report = convergence(_idata({"a": rng.normal(size=(2, n))}, energy=energy))
    # relative sd of the ratio is about 3 % for rho = 0.9 and 1 % for rho = 0 at n = 20000
    # (variance of a sample variance of an AR(1)); 15 % is 5 sds
    assert report.ebfmi == pytest.approx([2 * (1 - rho), 2.0], rel=0.15)
    assert not report.ok
    assert report.problems() == ["E-BFMI <= 0.3 in chain(s) [0]"]


def test_divergences_and_tree_depth_saturation_are_counted(rng):
    diverging = np.zeros((2, 100), dtype=bool)
    diverging[1, [3, 50, 99]] = True
    depth = np.full((2, 100), 3)
    depth[0, :25] = 10
    idata = _idata({"a": rng.normal(size=(2, 100))}, diverging=diverging, tree_depth=depth)
    report = convergence(idata, ess_min=0, max_tree_depth=10)
    assert report.divergences == 3
    assert report.tree_depth_saturation == pytest.approx(25 / 200)
    assert report.problems() == [
        "3 divergent transition(s) after warm-up (allowed: 0); reparameterize (non-centered) "
        "or raise target_accept"
    ]
    assert convergence(idata, ess_min=0, max_divergences=3).ok
    # without a maximum, saturation cannot be computed
    assert np.isnan(convergence(idata).tree_depth_saturation)
    idata.sample_stats.attrs["max_tree_depth"] = 10
    assert convergence(idata).tree_depth_saturation == pytest.approx(0.125)


def test_var_names_select_rows(rng):
    idata = _idata({"a": rng.normal(size=(2, 50)), "b": rng.normal(size=(2, 50))})
    assert list(convergence(idata, ["b"]).table.index) == ["b"]


@pytest.mark.parametrize(
    "kwargs",
    [{"r_hat_max": 1.0}, {"r_hat_max": float("nan")}, {"ess_min": -1}, {"max_divergences": -1},
     {"max_divergences": 0.5}, {"ebfmi_min": float("inf")}, {"max_tree_depth": 0}],
)
def test_bad_thresholds_raise(rng, kwargs):
    idata = _idata({"a": rng.normal(size=(2, 50))})
    with pytest.raises(InvalidArgumentError, match=next(iter(kwargs))):
        convergence(idata, **kwargs)


def test_bad_input_raises(rng):
    with pytest.raises(InvalidDataError, match="InferenceData"):
        convergence({"a": rng.normal(size=(2, 50))})
    with pytest.raises(InvalidArgumentError, match=r"\['c'\]"):
        convergence(_idata({"a": rng.normal(size=(2, 50))}), ["c"])


def test_problems_name_the_worst_parameter_with_its_own_value():
    # the tester's reproduction (its own seed: alpha's R-hat is near the threshold, 1.018
    # here). alpha: 64 distinct draws per chain, each repeated 16 times, bulk ESS 268; beta: a
    # random walk, R-hat 1.87 and bulk ESS 6. Both fail every check, alpha first in the table,
    # beta worst: the message must quote beta with beta's numbers.
    rng = np.random.default_rng(0)
    alpha = np.repeat(rng.normal(size=(4, 1024))[:, ::16], 16, axis=1)
    beta = np.cumsum(rng.normal(size=(4, 1024)), axis=1) * 0.05
    report = convergence(_idata({"alpha": alpha, "beta": beta}))
    t = report.table
    assert (t["r_hat"] >= 1.01).all() and (t[["ess_bulk", "ess_tail"]] <= 400).all().all()
    assert (t.loc["beta", "r_hat"] > t.loc["alpha", "r_hat"]
            and (t.loc["beta", ["ess_bulk", "ess_tail"]]
                 < t.loc["alpha", ["ess_bulk", "ess_tail"]]).all())
    r_hat, bulk, tail = report.problems()
    assert r_hat == (f"R-hat >= 1.01 (or NaN) for 2 parameter(s); worst: beta "
                     f"({t.loc['beta', 'r_hat']:.3f})")
    assert bulk.endswith(f"2 parameter(s); worst: beta ({t.loc['beta', 'ess_bulk']:.0f})")
    assert tail.endswith(f"2 parameter(s); worst: beta ({t.loc['beta', 'ess_tail']:.0f})")


def test_problems_put_an_undefined_value_first():
    # NaN (e.g. R-hat of a constant parameter) is worse than any finite value
    table = pd.DataFrame({"r_hat": [1.5, np.nan, 1.2], "ess_bulk": [900.0, np.nan, 100.0],
                          "ess_tail": [900.0, 500.0, 100.0], "mcse_mean": [0.1, 0.1, 0.1]},
                         index=["a", "b", "c"])
    report = ConvergenceReport(table, 0, np.array([1.0]), np.nan, 4, 1000, 1.01, 400.0, 0, 0.3)
    assert report.problems() == [
        "R-hat >= 1.01 (or NaN) for 3 parameter(s); worst: b (nan)",
        "ess_bulk <= 400 (or NaN) for 2 parameter(s); worst: b (nan)",
        "ess_tail <= 400 (or NaN) for 1 parameter(s); worst: c (100)",
    ]


@pytest.mark.parametrize("kwargs", [{"max_divergences": True}, {"max_tree_depth": True}])
def test_bool_is_not_an_integer_threshold(rng, kwargs):
    with pytest.raises(InvalidArgumentError, match=next(iter(kwargs))):
        convergence(_idata({"a": rng.normal(size=(2, 50))}), **kwargs)


def test_numpy_integer_thresholds_are_accepted(rng):
    report = convergence(_idata({"a": rng.normal(size=(2, 50))}),
                         max_divergences=np.int64(0), max_tree_depth=np.int32(10))
    assert report.max_divergences == 0
