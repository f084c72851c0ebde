"""Multilevel regression and poststratification (MrP) of a binary poll question by state.

Model (Gelman & Little 1997, "Poststratification into many categories using hierarchical
logistic regression", Survey Methodology 23(2); Park, Gelman & Bafumi 2004,
doi:10.1093/pan/mph024), for respondent ``n`` in cell ``k = (state s, age A, education E,
sex)``:

    y_n ~ Bernoulli(logistic(eta_k))
    eta_k = alpha + beta_female female_k + a^age_A + a^edu_E + a^region_{r[s]} + a^state_s
            + beta_state x_s                  x_s: state-level predictor, standardized
    a^g = u^g - mean(u^g), u^g ~ N(0, sigma_g^2) for g in age, edu, region, state;
    sigma_g ~ Half-Normal(0, scale)
    alpha ~ N(0, 2.5^2), beta_female, beta_state ~ N(0, 1)

The sum-to-zero centring of each group's effects pins ``alpha`` to the average log-odds;
without it ``alpha + c`` against ``a^age - c`` (four levels) is a ridge held only by the
priors, which NUTS crosses slowly.
The Bernoulli likelihood is marginalized to one Binomial per poll cell (``k_k`` successes
in ``n_k`` respondents): the same posterior with far fewer terms. Non-centered
(``u^g = sigma_g z^g``, default) or centered (``centered=True``, sites ``<group>_raw``).

Poststratification: with ``N_k`` people in population cell ``k``, the estimate for state s is

    theta_s = sum_{k in s} N_k logistic(eta_k) / sum_{k in s} N_k,

computed for every posterior draw by :meth:`MrP.poststratify` (after sampling, in one
vectorized pass: inside the model it would double the cost of every gradient), so its
posterior carries the model's uncertainty.

A non-representative poll (here: too many graduates) biases the raw state means; MrP
corrects the composition and pools small states toward their region and predictor.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyro
import pyro.distributions as dist
import torch

from hbo.errors import InvalidArgumentError, InvalidDataError
from hbo.hierarchy.models._base import DTYPE, FitResult, HierarchicalModel, normal

#: Cell variables shared by the poll and the population table.
CELL = ("state", "age", "education", "female")
_GROUPS = ("age", "education", "region", "state")


class MrP(HierarchicalModel):
    """Hierarchical logistic regression of a poll, poststratified to census cells.

    Use it to estimate a proportion in every state from a national poll too small (or too
    unrepresentative) for per-state means.

    Args:
        poll: one row per respondent, columns ``state``, ``age``, ``education``, ``female``
            (0 / 1) and ``y`` (0 / 1).
        population: one row per census cell, columns ``state``, ``age``, ``education``,
            ``female`` and ``count`` (people, >= 0); every poll cell's categories must appear.
        states: indexed by state, columns ``region`` and ``predictor`` (a number, e.g. the
            previous election's vote share); every state of ``population``.
        centered: sample the group effects directly instead of standardized ``z``.
        scale: Half-Normal scale of the four group SDs.
    """

    def __init__(
        self,
        poll: pd.DataFrame,
        population: pd.DataFrame,
        states: pd.DataFrame,
        *,
        centered: bool = False,
        scale: float = 1.0,
    ) -> None:
        _require(poll, "poll", [*CELL, "y"])
        _require(population, "population", [*CELL, "count"])
        _require(states, "states", ["region", "predictor"])
        if not scale > 0:
            raise InvalidArgumentError(f"scale must be > 0, got {scale}")
        if not poll["y"].isin([0, 1]).all() or not poll["female"].isin([0, 1]).all():
            raise InvalidDataError("poll columns y and female must contain only 0 and 1")
        if (population["count"] < 0).any() or population["count"].isna().any():
            raise InvalidDataError("population count must be >= 0 in every cell")
        self.levels = {
            "state": list(states.index),
            "age": sorted(population["age"].unique()),
            "education": sorted(population["education"].unique()),
            "region": sorted(states["region"].unique()),
        }
        for col in ("state", "age", "education"):
            unknown = set(poll[col]) - set(self.levels[col]) | (
                set(population[col]) - set(self.levels[col])
            )
            if unknown:
                raise InvalidDataError(f"{col} values without a level: {sorted(unknown)[:5]}")
        x = states["predictor"].to_numpy(dtype=float)
        if not np.isfinite(x).all() or x.std() == 0:
            raise InvalidDataError("states predictor must be finite and not constant")
        self.x_state = torch.tensor((x - x.mean()) / x.std(), dtype=DTYPE)
        region_code = {r: k for k, r in enumerate(self.levels["region"])}
        self.region_of_state = torch.tensor(
            [region_code[r] for r in states["region"]], dtype=torch.long
        )
        cells = poll.groupby(list(CELL))["y"].agg(["size", "sum"]).reset_index()
        self.poll_cells = self._codes(cells)
        pop = population.groupby(list(CELL))["count"].sum().reset_index()
        self.pop_cells = self._codes(pop)
        weights = torch.zeros(len(self.levels["state"]), len(pop), dtype=DTYPE)
        weights[self.pop_cells["state"], torch.arange(len(pop))] = torch.tensor(
            pop["count"].to_numpy(dtype=float), dtype=DTYPE
        )
        totals = weights.sum(1, keepdim=True)
        if (totals == 0).any():
            raise InvalidDataError("every state needs population count > 0")
        self.weights = (weights / totals).T.contiguous()  # cells x states
        self.poll, self.centered = poll, centered
        self.scale = torch.tensor(float(scale), dtype=DTYPE)
        self.trials = torch.tensor(cells["size"].to_numpy(dtype=float), dtype=DTYPE)
        self.observed = {"y": torch.tensor(cells["sum"].to_numpy(dtype=float), dtype=DTYPE)}
        self.coords = {**self.levels, "cell": list(range(len(cells)))}
        self.dims = {f"{p}{g}{q}": [g] for g in _GROUPS for p, q in
                     (("a_", ""), ("z_", ""), ("", "_raw"))}
        self.dims |= {"y": ["cell"]}

    def _codes(self, cells: pd.DataFrame) -> dict[str, torch.Tensor]:
        """Integer codes of each cell's state, age, education; ``female`` as 0. / 1."""
        out = {
            col: torch.tensor(
                cells[col].map({v: k for k, v in enumerate(self.levels[col])}).to_numpy(),
                dtype=torch.long,
            )
            for col in ("state", "age", "education")
        }
        out["female"] = torch.tensor(cells["female"].to_numpy(dtype=float), dtype=DTYPE)
        return out

    def _eta(self, c: dict[str, torch.Tensor], alpha: torch.Tensor, b_female: torch.Tensor,
             b_state: torch.Tensor, eff: dict[str, torch.Tensor]) -> torch.Tensor:
        """Linear predictor of cells ``c``, shape ``... x cells``."""
        s = c["state"]
        region = eff["region"][..., self.region_of_state]
        state_part = eff["state"] + region + b_state * self.x_state
        return (alpha + b_female * c["female"] + eff["age"][..., c["age"]]
                + eff["education"][..., c["education"]] + state_part[..., s])

    def model(self) -> None:
        alpha = pyro.sample("alpha", normal(0.0, 2.5))
        b_female = pyro.sample("beta_female", normal(0.0, 1.0))
        b_state = pyro.sample("beta_state", normal(0.0, 1.0))
        eff = {}
        for g in _GROUPS:
            sigma = pyro.sample(f"sigma_{g}", dist.HalfNormal(self.scale))
            with pyro.plate(g, len(self.levels[g]), dim=-1):
                if self.centered:
                    raw = pyro.sample(f"{g}_raw", dist.Normal(torch.zeros_like(sigma), sigma))
                else:
                    raw = sigma * pyro.sample(f"z_{g}", normal(0.0, 1.0))
                centred = raw - raw.mean(-1, keepdim=True)
                eff[g] = pyro.deterministic(f"a_{g}", centred, event_dim=0)
        eta = self._eta(self.poll_cells, alpha, b_female, b_state, eff)
        with pyro.plate("cell", len(self.trials), dim=-1):
            pyro.sample("y", dist.Binomial(self.trials, logits=eta), obs=self.observed["y"])

    def poststratify(self, result: FitResult) -> np.ndarray:
        """Posterior draws of the state proportions ``theta_s``, shape ``draws x states``
        (chains merged), from the draws of ``result`` (a fit of this model)."""
        d = {k: torch.as_tensor(result.draws(k), dtype=DTYPE)
             for k in ("alpha", "beta_female", "beta_state")}
        eff = {g: torch.as_tensor(result.draws(f"a_{g}"), dtype=DTYPE) for g in _GROUPS}
        eta = self._eta(self.pop_cells, d["alpha"][:, None], d["beta_female"][:, None],
                        d["beta_state"][:, None], eff)
        return (torch.sigmoid(eta) @ self.weights).numpy()

    def raw_state_means(self, level: float = 0.9) -> pd.DataFrame:
        """Per-state sample proportion of the poll with its normal ``level`` interval
        (NaN for states without respondents); columns ``n``, ``raw_mean``, ``raw_lower``,
        ``raw_upper``."""
        g = self.poll.groupby("state")["y"].agg(["size", "mean"]).reindex(self.levels["state"])
        n, p = g["size"].fillna(0).astype(int), g["mean"]
        z = float(torch.distributions.Normal(0.0, 1.0).icdf(torch.tensor(0.5 + level / 2)))
        half = z * np.sqrt(p * (1 - p) / n.where(n > 0))
        return pd.DataFrame(
            {"n": n, "raw_mean": p, "raw_lower": p - half, "raw_upper": p + half},
            index=pd.Index(self.levels["state"], name="state"),
        )

    def state_estimates(self, result: FitResult, level: float = 0.9) -> pd.DataFrame:
        """MrP state estimates (posterior mean and equal-tailed ``level`` interval of
        :meth:`poststratify`) beside :meth:`raw_state_means`."""
        draws = self.poststratify(result)
        q = np.quantile(draws, [0.5 - level / 2, 0.5 + level / 2], axis=0)
        raw = self.raw_state_means(level)
        mrp = pd.DataFrame(
            {"mrp_mean": draws.mean(0), "mrp_lower": q[0], "mrp_upper": q[1]}, index=raw.index
        )
        return pd.concat([mrp, raw], axis=1)


def _require(frame: pd.DataFrame, name: str, columns: list[str]) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise InvalidDataError(f"{name} must be a pandas DataFrame, got {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InvalidDataError(f"{name} lacks column(s) {missing}; it needs {columns}")
    if frame.empty:
        raise InvalidDataError(f"{name} is empty")


@dataclass(frozen=True)
class MrPTruth:
    """The population behind a simulated poll: each cell's true probability and each
    state's true proportion ``sum N_k p_k / sum N_k``."""

    cell_p: pd.Series
    state_p: pd.Series


def simulate_poll(
    n: int = 2000,
    n_states: int = 50,
    n_regions: int = 5,
    seed: int = 20261126,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, MrPTruth]:
    """A population table of ``n_states x 4 ages x 4 education levels x 2 sexes`` cells, the
    truth from the MrP model, and a national poll of ``n`` respondents that over-represents
    graduates (response rates 0.5, 0.8, 1.2, 2.0 relative, from lowest to highest education)
    and the old.

    State sizes are log-normal (a few large states, many small ones, as in the US), so small
    states get a handful of respondents. Truth: ``alpha = -0.3``, ``beta_female = 0.3``,
    ``beta_state = 0.4``, age effects (-0.4, -0.1, 0.1, 0.4), education effects
    (0.5, 0.1, -0.2, -0.4), region effects ~ N(0, 0.3^2), state effects ~ N(0, 0.25^2).

    Returns:
        ``(poll, population, states, truth)`` in the formats :class:`MrP` takes.
    """
    if n < 1 or n_states < 2 or n_regions < 1:
        raise InvalidArgumentError(f"need n >= 1, n_states >= 2, n_regions >= 1; got "
                                   f"{n}, {n_states}, {n_regions}")
    rng = np.random.default_rng(seed)
    names = [f"S{k:02d}" for k in range(n_states)]
    states = pd.DataFrame(
        {"region": [f"R{k % n_regions}" for k in range(n_states)],
         "predictor": rng.normal(0.5, 0.08, n_states)},
        index=pd.Index(names, name="state"),
    )
    size = rng.lognormal(np.log(2e6), 1.0, n_states)
    grid = pd.MultiIndex.from_product([names, range(4), range(4), [0, 1]], names=list(CELL))
    pop = grid.to_frame(index=False)
    shares = rng.dirichlet(np.full(32, 8.0), n_states).ravel()  # age x edu x sex per state
    pop["count"] = np.round(np.repeat(size, 32) * shares).astype(int)
    region_eff = dict(zip(sorted(states["region"].unique()), rng.normal(0, 0.3, n_regions),
                          strict=True))
    state_eff = pd.Series(rng.normal(0.0, 0.25, n_states), index=names)
    x = states["predictor"]
    x_std = (x - x.mean()) / x.std(ddof=0)
    st = pop["state"]
    eta = (-0.3 + 0.3 * pop["female"]
           + np.array([-0.4, -0.1, 0.1, 0.4])[pop["age"]]
           + np.array([0.5, 0.1, -0.2, -0.4])[pop["education"]]
           + st.map(states["region"]).map(region_eff) + st.map(state_eff) + 0.4 * st.map(x_std))
    cell_p = 1.0 / (1.0 + np.exp(-eta))
    state_p = (pop["count"] * cell_p).groupby(st).sum() / pop["count"].groupby(st).sum()
    rate = np.array([0.5, 0.8, 1.2, 2.0])[pop["education"]] * (0.7 + 0.2 * pop["age"])
    prob = pop["count"] * rate
    idx = rng.choice(len(pop), size=n, p=(prob / prob.sum()).to_numpy())
    poll = pop.loc[idx, list(CELL)].reset_index(drop=True)
    poll["y"] = (rng.random(n) < cell_p.to_numpy()[idx]).astype(int)
    cell_p.index = grid
    return poll, pop, states, MrPTruth(cell_p, state_p.reindex(names))
