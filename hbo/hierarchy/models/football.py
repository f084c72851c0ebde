"""Football home advantage: Poisson goals with partially pooled attack, defence and home effects.

Model (Baio & Blangiardo 2010, doi:10.1080/02664760802684177, with the per-team home effect
partially pooled), for match ``m`` of home team ``h[m]`` against away team ``g[m]``:

    home_goals_m ~ Poisson(exp(alpha + eta_{h[m]} + att_{h[m]} - def_{g[m]}))
    away_goals_m ~ Poisson(exp(alpha + att_{g[m]} - def_{h[m]}))
    eta_t = home + delta_t                        team t's home advantage (log rate ratio)
    att_t = a_t - mean(a), a_t ~ N(0, sigma_att^2)     (likewise def from d, delta from e)
    alpha ~ N(0, 1), home ~ N(0, 0.5^2), sigma_att, sigma_def ~ Half-Normal(0, 1),
    sigma_home ~ Half-Normal(0, 0.25)

``exp(eta_t)`` is the factor by which team t scores more at home than away against the same
opponent. The sum-to-zero centring (as Baio & Blangiardo's) pins ``alpha`` and ``home`` to
the league averages; without it the posterior has flat ridges (``alpha + c``, ``att - c``)
held only by the priors, which NUTS crosses slowly.
With one season a team has only 19 home games, so the per-team ``delta_t`` are weakly
identified and ``sigma_home`` sits near 0: a funnel, hence the non-centered default
(``a_t = sigma_att z_t``, ...); ``centered=True`` samples ``a``, ``d``, ``e`` directly
(sites ``att_raw``, ``def_raw``, ``delta_raw``).

No pooling (:meth:`FootballHomeAdvantage.no_pooling`): the maximum-likelihood fit of the
same Poisson model with a free home effect per team (no ``home``, no group distributions;
team 0's attack and defence fixed at 0), by Newton's method, with Wald standard errors.

Bundled data (:func:`load_epl_2018_19`): the 380 matches of the 2018-19 English Premier
League, from footballcsv/england (CC0 1.0, public domain),
https://github.com/footballcsv/england/blob/master/2010s/2018-19/eng.1.csv (commit 52b7e5f),
reshaped to one row per match with the goals split into two columns.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources

import numpy as np
import pandas as pd
import pyro
import pyro.distributions as dist
import torch

from hbo.errors import InvalidArgumentError, InvalidDataError, ModelFittingError
from hbo.hierarchy.models._base import (
    DTYPE,
    FitResult,
    HierarchicalModel,
    as_tensor,
    normal,
)

_TEAM_SITES = ("att", "def", "delta")


def load_epl_2018_19() -> pd.DataFrame:
    """The 2018-19 Premier League: columns ``round``, ``date``, ``home_team``, ``away_team``,
    ``home_goals``, ``away_goals``; 380 rows (source in the module docstring)."""
    with resources.files("hbo").joinpath("data", "epl_2018_19.csv").open() as f:
        return pd.read_csv(f)


class FootballHomeAdvantage(HierarchicalModel):
    """Poisson model of a league season with partially pooled team and home effects.

    Use it to estimate each team's home advantage ``home_advantage[t]`` (log rate ratio) when
    one season is too short to estimate it alone: teams borrow strength from the league.

    Args:
        home_team, away_team: team labels of each match, shape ``M``.
        home_goals, away_goals: goals scored, non-negative integers, shape ``M``.
        centered: sample ``att``, ``def``, ``delta`` directly instead of standardized ``z``.
        att_scale, def_scale, home_scale: Half-Normal scales of ``sigma_att``,
            ``sigma_def``, ``sigma_home``.
    """

    def __init__(
        self,
        home_team: Sequence,
        away_team: Sequence,
        home_goals: Sequence[int],
        away_goals: Sequence[int],
        *,
        centered: bool = False,
        att_scale: float = 1.0,
        def_scale: float = 1.0,
        home_scale: float = 0.25,
    ) -> None:
        hg = as_tensor(home_goals, "home_goals")
        ag = as_tensor(away_goals, "away_goals")
        for name, g in (("home_goals", hg), ("away_goals", ag)):
            if (g < 0).any() or (g != torch.round(g)).any():
                raise InvalidDataError(f"{name} must be non-negative integers")
        m = len(hg)
        if not len(ag) == len(home_team) == len(away_team) == m:
            raise InvalidDataError(
                "home_team, away_team, home_goals and away_goals differ in length: "
                f"{len(home_team)}, {len(away_team)}, {m}, {len(ag)}"
            )
        teams = sorted(set(home_team) | set(away_team))
        code = {t: k for k, t in enumerate(teams)}
        self.home = torch.tensor([code[t] for t in home_team], dtype=torch.long)
        self.away = torch.tensor([code[t] for t in away_team], dtype=torch.long)
        if (self.home == self.away).any():
            raise InvalidDataError("a team plays itself in some match (home_team == away_team)")
        scales = dict(att_scale=att_scale, def_scale=def_scale, home_scale=home_scale)
        for name, v in scales.items():
            if not v > 0:
                raise InvalidArgumentError(f"{name} must be > 0, got {v}")
        self.scales = [torch.tensor(float(v), dtype=DTYPE) for v in scales.values()]
        self.centered = centered
        self.observed = {"home_goals": hg, "away_goals": ag}
        self.coords = {"team": teams, "match": list(range(m))}
        team_sites = [*_TEAM_SITES, "home_advantage"]
        team_sites += [f"{p}{s}{q}" for s in _TEAM_SITES for p, q in (("z_", ""), ("", "_raw"))]
        self.dims = {s: ["team"] for s in team_sites}
        self.dims |= {"home_goals": ["match"], "away_goals": ["match"]}

    def model(self) -> None:
        alpha = pyro.sample("alpha", normal(0.0, 1.0))
        home = pyro.sample("home", normal(0.0, 0.5))
        sigmas = [
            pyro.sample(f"sigma_{s}", dist.HalfNormal(scale))
            for s, scale in zip(("att", "def", "home"), self.scales, strict=True)
        ]
        with pyro.plate("team", len(self.coords["team"]), dim=-1):
            effects = []
            for site, sigma in zip(_TEAM_SITES, sigmas, strict=True):
                if self.centered:
                    raw = pyro.sample(f"{site}_raw", dist.Normal(torch.zeros_like(sigma), sigma))
                else:
                    raw = sigma * pyro.sample(f"z_{site}", normal(0.0, 1.0))
                centred = raw - raw.mean(-1, keepdim=True)
                effects.append(pyro.deterministic(site, centred, event_dim=0))
            att, dfn, delta = effects
            eta = pyro.deterministic("home_advantage", home + delta, event_dim=0)
        h, g = self.home, self.away
        with pyro.plate("match", len(h), dim=-1):
            log_home = alpha + eta[..., h] + att[..., h] - dfn[..., g]
            log_away = alpha + att[..., g] - dfn[..., h]
            pyro.sample("home_goals", dist.Poisson(torch.exp(log_home)),
                        obs=self.observed["home_goals"])
            pyro.sample("away_goals", dist.Poisson(torch.exp(log_away)),
                        obs=self.observed["away_goals"])

    def no_pooling(self, level: float = 0.9) -> pd.DataFrame:
        """Per-team home advantage without pooling: Poisson maximum likelihood.

        Returns:
            One row per team: ``estimate`` (log rate ratio), ``se`` (Wald), ``lower`` and
            ``upper`` of the normal ``level`` interval.
        """
        n_t = len(self.coords["team"])
        X, y = self._design(), torch.cat([self.observed["home_goals"], self.observed["away_goals"]])
        beta, cov = _poisson_mle(X.numpy(), y.numpy())
        home_cols = slice(1 + 2 * (n_t - 1), None)
        est, se = beta[home_cols], np.sqrt(np.diag(cov)[home_cols])
        z = _normal_quantile(0.5 + level / 2)
        return pd.DataFrame(
            {"estimate": est, "se": se, "lower": est - z * se, "upper": est + z * se},
            index=pd.Index(self.coords["team"], name="team"),
        )

    def home_advantage(self, result: FitResult, level: float = 0.9) -> pd.DataFrame:
        """Each team's home advantage with partial pooling (posterior mean and equal-tailed
        ``level`` interval of ``home_advantage``) beside the no-pooling estimate."""
        draws = result.draws("home_advantage")
        q = np.quantile(draws, [0.5 - level / 2, 0.5 + level / 2], axis=0)
        none = self.no_pooling(level)
        return pd.DataFrame(
            {
                "partial_mean": draws.mean(0), "partial_lower": q[0], "partial_upper": q[1],
                "none_estimate": none["estimate"], "none_lower": none["lower"],
                "none_upper": none["upper"],
            },
            index=none.index,
        )

    def _design(self) -> torch.Tensor:
        """Design of the no-pooling Poisson regression: rows home goals then away goals;
        columns intercept, attack of teams 1.., defence of teams 1.., home of every team."""
        n_t, m = len(self.coords["team"]), len(self.home)
        eye = torch.eye(n_t, dtype=DTYPE)
        att = torch.cat([eye[self.home], eye[self.away]])[:, 1:]
        dfn = -torch.cat([eye[self.away], eye[self.home]])[:, 1:]
        home = torch.cat([eye[self.home], torch.zeros(m, n_t, dtype=DTYPE)])
        return torch.cat([torch.ones(2 * m, 1, dtype=DTYPE), att, dfn, home], dim=1)


def _normal_quantile(p: float) -> float:
    return float(torch.distributions.Normal(0.0, 1.0).icdf(torch.tensor(p)))


def _poisson_mle(X: np.ndarray, y: np.ndarray, tol: float = 1e-10, max_iter: int = 100
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Poisson log-linear regression by Newton's method: ``(beta_hat, inverse Fisher
    information)``. The log-likelihood is concave, so Newton with step halving converges from
    ``beta = (log mean y, 0, ...)``."""
    def loglik(b: np.ndarray) -> float:
        eta = X @ b
        return float(y @ eta - np.exp(eta).sum())

    beta = np.zeros(X.shape[1])
    beta[0] = np.log(max(y.mean(), 1e-12))
    ll = loglik(beta)
    for _ in range(max_iter):
        mu = np.exp(X @ beta)
        info = X.T @ (mu[:, None] * X)
        step = np.linalg.solve(info, X.T @ (y - mu))
        t = 1.0
        while loglik(beta + t * step) < ll - 1e-12 and t > 1e-8:
            t /= 2
        beta = beta + t * step
        new = loglik(beta)
        if abs(new - ll) < tol * (1.0 + abs(ll)):
            mu = np.exp(X @ beta)
            return beta, np.linalg.inv(X.T @ (mu[:, None] * X))
        ll = new
    raise ModelFittingError(
        "no-pooling Poisson fit did not converge (a team may never score at home: its home "
        "effect has no finite maximum-likelihood estimate)"
    )


@dataclass(frozen=True)
class SeasonTruth:
    """Parameters behind a simulated season (teams indexed ``0..T-1``)."""

    alpha: float
    home: float
    att: np.ndarray
    defence: np.ndarray
    home_advantage: np.ndarray


def simulate_season(
    n_teams: int = 20,
    seed: int = 20261126,
    *,
    rounds: int = 1,
    alpha: float = 0.1,
    home: float = 0.25,
    sigma_att: float = 0.3,
    sigma_def: float = 0.3,
    sigma_home: float = 0.1,
) -> tuple[pd.DataFrame, SeasonTruth]:
    """A league where every team hosts every other team ``rounds`` times, goals drawn from
    the model with ``att ~ N(0, sigma_att^2)``, ``def ~ N(0, sigma_def^2)``,
    ``home_advantage = home + N(0, sigma_home^2)``, each then centred to mean zero as the
    model's constraint requires (so ``home`` is the mean home advantage).

    Returns:
        ``(matches, truth)``: ``matches`` has the columns of :func:`load_epl_2018_19` except
        ``date``, teams labelled ``"T00"``, ``"T01"``, ...
    """
    if n_teams < 2 or rounds < 1:
        raise InvalidArgumentError(f"need n_teams >= 2 and rounds >= 1, got {n_teams}, {rounds}")
    rng = np.random.default_rng(seed)
    att, dfn, delta = (rng.normal(0.0, sd, n_teams) for sd in (sigma_att, sigma_def, sigma_home))
    att, dfn, eta = att - att.mean(), dfn - dfn.mean(), home + delta - delta.mean()
    h, g = (a.ravel() for a in np.meshgrid(np.arange(n_teams), np.arange(n_teams), indexing="ij"))
    keep = h != g
    h, g = np.tile(h[keep], rounds), np.tile(g[keep], rounds)
    names = np.array([f"T{k:02d}" for k in range(n_teams)])
    matches = pd.DataFrame({
        "round": np.repeat(np.arange(1, rounds + 1), keep.sum()),
        "home_team": names[h], "away_team": names[g],
        "home_goals": rng.poisson(np.exp(alpha + eta[h] + att[h] - dfn[g])),
        "away_goals": rng.poisson(np.exp(alpha + att[g] - dfn[h])),
    })
    return matches, SeasonTruth(alpha, home, att, dfn, eta)
