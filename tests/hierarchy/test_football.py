"""FootballHomeAdvantage: the bundled season against published totals, the no-pooling fit
against statsmodels, and recovery of a known truth by NUTS.

The recovery fit uses 2 chains of 300 warm-up + 300 draws on one simulated 20-team season
(380 matches, like the bundled one): two chains are the least R-hat needs, and a few hundred
effective draws pin the 5% / 95% quantiles the coverage check reads far inside its binomial
tolerance. experiments/football.py runs the 4-chain fit on the real season.
"""

import warnings

import numpy as np
import pytest
import statsmodels.api as sm
import torch

from hbo._warnings import ConvergenceWarning
from hbo.errors import InvalidArgumentError, InvalidDataError
from hbo.hierarchy.models import FootballHomeAdvantage, load_epl_2018_19, simulate_season


def _model(d, **kw):
    return FootballHomeAdvantage(d["home_team"], d["away_team"], d["home_goals"],
                                 d["away_goals"], **kw)


def test_bundled_season_is_the_2018_19_premier_league():
    # published: 380 matches, 1072 goals (596 home, 476 away), champions Manchester City on
    # 98 points one ahead of Liverpool (premierleague.com 2018/19 table; Wikipedia
    # "2018-19 Premier League")
    d = load_epl_2018_19()
    assert len(d) == 380
    assert (d["home_goals"].sum(), d["away_goals"].sum()) == (596, 476)
    assert (d.groupby("home_team").size() == 19).all()
    pts = {}
    for r in d.itertuples():
        h = 3 * (r.home_goals > r.away_goals) + (r.home_goals == r.away_goals)
        a = 3 * (r.home_goals < r.away_goals) + (r.home_goals == r.away_goals)
        pts[r.home_team] = pts.get(r.home_team, 0) + h
        pts[r.away_team] = pts.get(r.away_team, 0) + a
    assert pts["Manchester City FC"] == 98 and pts["Liverpool FC"] == 97


def test_no_pooling_is_the_poisson_glm_maximum_likelihood():
    # reference: statsmodels' IRLS fit of the same design (dev dependency)
    m = _model(load_epl_2018_19())
    X = m._design().numpy()
    y = np.concatenate([m.observed["home_goals"].numpy(), m.observed["away_goals"].numpy()])
    ref = sm.GLM(y, X, family=sm.families.Poisson()).fit()
    n = len(m.coords["team"])
    table = m.no_pooling(level=0.9)
    np.testing.assert_allclose(table["estimate"], ref.params[-n:], rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(table["se"], ref.bse[-n:], rtol=1e-5)
    np.testing.assert_allclose(table["upper"] - table["estimate"], 1.6448536 * table["se"],
                               rtol=1e-6)


def test_effects_sum_to_zero_and_home_advantage_adds_the_league_mean():
    from pyro import poutine

    d, _ = simulate_season(6, seed=1)
    for centered in (False, True):
        tr = poutine.trace(_model(d, centered=centered).model).get_trace()
        for site in ("att", "def", "delta"):
            assert abs(tr.nodes[site]["value"].sum().item()) < 1e-12
        torch.testing.assert_close(tr.nodes["home_advantage"]["value"],
                                   tr.nodes["home"]["value"] + tr.nodes["delta"]["value"])


def test_invalid_input_is_named():
    d, _ = simulate_season(4, seed=0)
    with pytest.raises(InvalidDataError, match="home_goals"):
        FootballHomeAdvantage(d.home_team, d.away_team, d.home_goals - 5, d.away_goals)
    with pytest.raises(InvalidDataError, match="differ in length"):
        FootballHomeAdvantage(d.home_team[:-1], d.away_team, d.home_goals, d.away_goals)
    with pytest.raises(InvalidDataError, match="plays itself"):
        FootballHomeAdvantage(d.home_team, d.home_team, d.home_goals, d.away_goals)
    with pytest.raises(InvalidArgumentError, match="home_scale"):
        _model(d, home_scale=0.0)


@pytest.fixture(scope="module")
def recovery():
    d, truth = simulate_season(20, seed=7)
    m = _model(d)
    with warnings.catch_warnings():
        # ESS > 400 is not reachable with 2 x 300 draws; the checks read R-hat instead
        warnings.simplefilter("ignore", ConvergenceWarning)
        res = m.fit(chains=2, warmup=300, draws=300, seed=3, progress=False)
    return m, res, truth


def test_recovers_attack_and_defence(recovery):
    _, res, truth = recovery
    covered = []
    for name, value in (("att", truth.att), ("def", truth.defence)):
        lo, hi = np.quantile(res.draws(name), [0.05, 0.95], axis=0)
        covered.extend((lo <= value) & (value <= hi))
    # 40 nominal-90% intervals: P(covered <= 31) = 0.016 under Binomial(40, 0.9)
    assert sum(covered) >= 32, sum(covered)
    lo, hi = np.quantile(res.draws("home"), [0.025, 0.975])
    assert lo < truth.home_advantage.mean() < hi
    assert (res.convergence().table.loc[["alpha", "home"], "r_hat"] < 1.05).all()


def test_partial_pooling_beats_no_pooling_for_home_advantage(recovery):
    m, res, truth = recovery
    table = m.home_advantage(res)
    mse_partial = np.mean((table["partial_mean"] - truth.home_advantage) ** 2)
    mse_none = np.mean((table["none_estimate"] - truth.home_advantage) ** 2)
    # true spread sigma_home = 0.1 against a no-pooling standard error of ~0.25 per team:
    # shrinkage should cut the error by far more than half (James-Stein: by about
    # se^2 / (se^2 + sigma^2) ~ 0.86 at the optimum)
    assert mse_partial < 0.5 * mse_none, (mse_partial, mse_none)
