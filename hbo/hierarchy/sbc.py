"""Simulation-based calibration (SBC) of a NUTS-fitted hierarchical model.

Talts, Betancourt, Simpson, Vehtari & Gelman (2018), arXiv:1804.06788: draw
``theta~ ~ p(theta)`` and ``y~ ~ p(y | theta~)``, sample ``L`` (near-)independent draws
``theta_1..L ~ p(theta | y~)``; the rank ``r = #{l : theta_l < theta~}`` of the truth among
them is uniform on ``0..L`` for every scalar parameter if and only if the sampler (and the
model code) is right. Over ``N`` replications the ranks are binned and compared with the
uniform by Pearson's chi-square test with ``bins - 1`` degrees of freedom. Autocorrelated
draws make the rank histogram too peaked or too flat even for a correct sampler, so the
chain is thinned (``thin``) until the kept draws are close to independent.

Replications are fitted ``batch_size`` at a time *together*, as one pyro model: the model
under an outer ``pyro.plate`` whose data are ``batch_size`` simulated datasets. The joint
posterior factorizes over replications, so each replication's marginal is exactly its own
posterior; NUTS advances all of them in one trajectory of vectorized tensors (the
"vectorized chains" device) instead of separate runs that each pay pyro's per-step Python
overhead. The price is a step size and tree depth fitted to the joint: the hardest
replication of a batch sets the step size, and trajectories lengthen like
``(batch_size d)^(1/4)``, which is why batches are kept small (10 by default: Eight Schools
then needs about 27 leapfrog steps per iteration for 10 replications, against 7 to 12 for
one).
The model must broadcast over a leading batch dimension, as :mod:`hbo.hierarchy.models`
requires of every model.

SBC lives beside the models it checks, not in :mod:`hbo.diagnostics`: it fits them, and
the models' results use the diagnostics (``hbo.diagnostics`` -> ``hbo.hierarchy`` ->
``hbo.diagnostics`` was an import cycle).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyro
import torch
from pyro import poutine
from scipy import stats

from hbo._numbers import is_integer
from hbo._warnings import ConvergenceWarning
from hbo.errors import InvalidArgumentError
from hbo.hierarchy.models import HierarchicalModel


@dataclass(frozen=True)
class SBCResult:
    """Ranks of the true values among thinned posterior draws, one row per replication.

    Attributes:
        ranks: ``N x K`` integers in ``0..n_ranks - 1``, columns the scalar parameters
            (``"mu"``, ``"theta[0]"``...).
        n_ranks: ``L + 1`` with ``L`` the number of thinned draws per replication.
    """

    ranks: pd.DataFrame
    n_ranks: int

    def uniformity(self, bins: int) -> pd.DataFrame:
        """Pearson chi-square test of uniform ranks, per parameter.

        Ranks are grouped into ``bins`` equal bins (``bins`` must divide ``n_ranks``); the
        statistic ``sum_b (O_b - N / bins)^2 / (N / bins)`` is referred to chi-square with
        ``bins - 1`` degrees of freedom. Returns columns ``chi2`` and ``p_value``.
        """
        if not (is_integer(bins) and 2 <= bins <= self.n_ranks and self.n_ranks % bins == 0):
            raise InvalidArgumentError(
                f"bins must be an integer >= 2 that divides n_ranks = {self.n_ranks}, got {bins!r}"
            )
        bins = int(bins)
        width = self.n_ranks // bins
        n = len(self.ranks)
        expected = n / bins
        rows = {}
        for name, col in self.ranks.items():
            counts = np.bincount(col.to_numpy() // width, minlength=bins)
            chi2 = float(((counts - expected) ** 2 / expected).sum())
            rows[name] = (chi2, float(stats.chi2.sf(chi2, bins - 1)))
        return pd.DataFrame.from_dict(rows, orient="index", columns=["chi2", "p_value"])


class _Replicated(HierarchicalModel):
    """``n`` independent copies of ``base`` under an outer plate (data: ``n x ...``)."""

    def __init__(self, base: HierarchicalModel, n: int) -> None:
        self.base, self.n = base, n
        self.dim = _outermost_plate_dim(base) - 1
        self.observed = {k: v.expand(n, *v.shape) for k, v in base.observed.items()}
        self.coords, self.dims = {}, {}

    def model(self) -> None:
        inner = self.base.with_observed(self.observed)
        with pyro.plate("replication", self.n, dim=self.dim):
            inner.model()


def sbc(
    model: HierarchicalModel,
    n_replications: int = 100,
    *,
    batch_size: int = 10,
    warmup: int = 200,
    draws: int = 200,
    thin: int = 10,
    seed: int = 0,
    params: list[str] | None = None,
    jit: bool = True,
) -> SBCResult:
    """Rank statistics of simulation-based calibration for ``model`` (its priors, its design).

    Args:
        model: a model whose priors are all proper; its observed data only fix the design
            (shapes, covariates), the values are redrawn from the prior predictive.
        n_replications: ``N`` simulated datasets.
        batch_size: replications fitted together in one chain (module docstring).
        warmup, draws: NUTS iterations of each batch's chain.
        thin: keep every ``thin``-th draw, so ``L = ceil(draws / thin)`` and the ranks lie in
            ``0..L``.
        seed: seed of the prior draws and of the chains (batch ``b`` uses ``seed + b``).
        params: sites to rank (default: every latent and deterministic site).
        jit: compile the potential energy (pays for the long joint run).

    Returns:
        An :class:`SBCResult`; ``.uniformity(bins)`` tests it.
    """
    for name, v, lo in (("n_replications", n_replications, 2), ("batch_size", batch_size, 1),
                        ("warmup", warmup, 1), ("draws", draws, 1), ("thin", thin, 1)):
        if not is_integer(v) or v < lo:
            raise InvalidArgumentError(f"{name} must be an integer >= {lo}, got {v!r}")
    latent = [k for k in model.prior_draw(seed)[0] if k not in model.observed]
    names = latent if params is None else list(params)
    unknown = sorted(set(names) - set(latent))
    if unknown:
        raise InvalidArgumentError(f"params {unknown} are not latent sites; choose from {latent}")
    sizes = [batch_size] * (n_replications // batch_size)
    if n_replications % batch_size:
        sizes.append(n_replications % batch_size)
    batches = [
        _batch_ranks(model, n, names, warmup, draws, thin, seed + b, jit)
        for b, n in enumerate(sizes)
    ]
    ranks = pd.concat(batches, ignore_index=True)
    return SBCResult(ranks, n_ranks=-(-draws // thin) + 1)


def _batch_ranks(
    model: HierarchicalModel, n: int, names: list[str], warmup: int, draws: int, thin: int,
    seed: int, jit: bool,
) -> pd.DataFrame:
    """Ranks (``n x K``) of ``n`` replications drawn from the prior and fitted in one chain."""
    truth, fitted = _Replicated(model, n).prior_draw(seed)
    with warnings.catch_warnings():
        # a short chain per batch is the design: its ESS check is meaningless here
        warnings.simplefilter("ignore", ConvergenceWarning)
        result = fitted.fit(chains=1, warmup=warmup, draws=draws, seed=seed, jit=jit,
                            progress=False, predictive=False)
    columns = {}
    for name in names:
        kept = result.idata.posterior[name].values[0, ::thin]  # L x (n-batched site shape)
        true = truth[name].expand(kept.shape[1:]).numpy().reshape(n, -1)
        ranks = (kept.reshape(kept.shape[0], n, -1) < true).sum(axis=0)
        for k in range(ranks.shape[1]):
            columns[name if ranks.shape[1] == 1 else f"{name}[{k}]"] = ranks[:, k]
    return pd.DataFrame(columns)


def _outermost_plate_dim(model: HierarchicalModel) -> int:
    """The leftmost plate dim used by ``model`` (0 if it has no plates)."""
    with torch.random.fork_rng():
        tr = poutine.trace(model.model).get_trace()
    dims = [f.dim for s in tr.nodes.values() if s["type"] == "sample"
            for f in s["cond_indep_stack"] if f.dim is not None]
    return min(dims, default=0)
