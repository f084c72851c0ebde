"""Convergence diagnostics of an MCMC run, computed by ArviZ and gathered into one report.

Nothing here is hand-rolled: R-hat, ESS, MCSE and E-BFMI are ArviZ's implementations.
The report reads any ArviZ ``InferenceData`` with a ``posterior`` group (``chain x draw x
...`` arrays) and, when present, a ``sample_stats`` group with ``diverging``, ``energy`` and
``tree_depth`` (``chain x draw``); the NUTS runs of :mod:`hbo.hierarchy.models` and the
hierarchical GP write exactly those.

Diagnostics and the thresholds of :attr:`ConvergenceReport.ok`:

- rank-normalized split R-hat (Vehtari, Gelman, Simpson, Carpenter & Bürkner 2021,
  doi:10.1214/20-BA1221) below ``r_hat_max = 1.01``. The older rule R-hat < 1.1 (Gelman &
  Rubin 1992, doi:10.1214/ss/1177011136) lets through chains that have not mixed; it is
  not used here.
- bulk and tail effective sample size (same paper) above ``ess_min = 400`` (100 per chain
  for four chains, the paper's recommendation).
- Monte Carlo standard error of the mean, ``mcse_mean`` (reported, no threshold).
- divergent transitions of Hamiltonian Monte Carlo: at most ``max_divergences = 0``
  (Betancourt 2017, arXiv:1701.02434, §6.2).
- E-BFMI per chain, ``sum_n (E_n - E_{n-1})^2 / sum_n (E_n - mean E)^2``, above
  ``ebfmi_min = 0.3`` (Betancourt 2016, arXiv:1604.00695).
- tree-depth saturation: the fraction of draws whose NUTS tree reached ``max_tree_depth``
  (read from ``sample_stats.attrs["max_tree_depth"]`` unless given). Saturation is an
  efficiency problem, not a validity one, so it is reported and does not affect ``ok``.

Degenerate input follows ArviZ: with one chain or fewer than four draws R-hat (and the
ESS) are NaN, and a NaN never passes a threshold, so ``ok`` is False.
"""

from __future__ import annotations

from dataclasses import dataclass

import arviz as az
import numpy as np
import pandas as pd

from hbo._numbers import is_integer
from hbo.diagnostics._input import check_var_names, posterior_of
from hbo.errors import InvalidArgumentError

_COLUMNS = ["r_hat", "ess_bulk", "ess_tail", "mcse_mean"]

#: Default R-hat threshold (Vehtari et al. 2021); the forest plot marks it too.
R_HAT_MAX = 1.01


@dataclass(frozen=True)
class ConvergenceReport:
    """Convergence diagnostics of one MCMC run and the thresholds they were judged by.

    Attributes:
        table: one row per scalar parameter (``"theta[1]"``...), columns ``r_hat``,
            ``ess_bulk``, ``ess_tail``, ``mcse_mean``.
        divergences: number of divergent post-warm-up transitions (0 if not recorded).
        ebfmi: E-BFMI of each chain, shape ``(chains,)``; empty if energy was not recorded.
        tree_depth_saturation: fraction of draws that hit the maximum tree depth (NaN if
            tree depth or its maximum was not recorded).
        n_chains, n_draws: shape of the posterior (draws per chain).
        r_hat_max, ess_min, max_divergences, ebfmi_min: the thresholds.
    """

    table: pd.DataFrame
    divergences: int
    ebfmi: np.ndarray
    tree_depth_saturation: float
    n_chains: int
    n_draws: int
    r_hat_max: float
    ess_min: float
    max_divergences: int
    ebfmi_min: float

    def problems(self) -> list[str]:
        """One sentence per failed check, naming the worst parameter; empty when :attr:`ok`."""
        out = []
        t = self.table
        checks = [("r_hat", f"R-hat >= {self.r_hat_max}", t["r_hat"] < self.r_hat_max, ".3f")]
        checks += [(col, f"{col} <= {self.ess_min:g}", t[col] > self.ess_min, ".0f")
                   for col in ("ess_bulk", "ess_tail")]
        for col, rule, passed, fmt in checks:
            # worst first: NaN (undefined), then the largest R-hat or the smallest ESS
            bad = t.loc[~passed, col].sort_values(ascending=col != "r_hat", na_position="first")
            if len(bad):
                out.append(f"{rule} (or NaN) for {len(bad)} parameter(s); worst: "
                           f"{bad.index[0]} ({bad.iloc[0]:{fmt}})")
        if self.divergences > self.max_divergences:
            out.append(
                f"{self.divergences} divergent transition(s) after warm-up "
                f"(allowed: {self.max_divergences}); reparameterize (non-centered) or raise "
                "target_accept"
            )
        low = np.flatnonzero(~(self.ebfmi > self.ebfmi_min))
        if len(low):
            out.append(f"E-BFMI <= {self.ebfmi_min} in chain(s) {low.tolist()}")
        return out

    @property
    def ok(self) -> bool:
        """True when every R-hat, ESS, divergence and E-BFMI check passes."""
        return not self.problems()

    def __str__(self) -> str:
        head = (
            f"{self.n_chains} chains x {self.n_draws} draws; divergences: {self.divergences}; "
            f"E-BFMI: {np.round(self.ebfmi, 2).tolist()}; "
            f"tree-depth saturation: {self.tree_depth_saturation:.1%}"
        )
        verdict = "ok" if self.ok else "NOT ok: " + "; ".join(self.problems())
        return f"{head}\n{verdict}\n{self.table.round(3).to_string()}"


def convergence(
    idata: az.InferenceData,
    var_names: list[str] | None = None,
    *,
    r_hat_max: float = R_HAT_MAX,
    ess_min: float = 400.0,
    max_divergences: int = 0,
    ebfmi_min: float = 0.3,
    max_tree_depth: int | None = None,
) -> ConvergenceReport:
    """Gather ArviZ's convergence diagnostics of ``idata`` into a :class:`ConvergenceReport`.

    Args:
        idata: an ``InferenceData`` with a ``posterior`` group of ``chain x draw x ...``
            arrays; ``sample_stats`` (``diverging``, ``energy``, ``tree_depth``) is optional.
        var_names: posterior variables to tabulate (default: all).
        r_hat_max: R-hat must be strictly below this (1.01, Vehtari et al. 2021).
        ess_min: bulk and tail ESS must be strictly above this.
        max_divergences: the largest number of divergent transitions accepted.
        ebfmi_min: every chain's E-BFMI must be strictly above this.
        max_tree_depth: NUTS maximum tree depth, for the saturation fraction; default
            ``idata.sample_stats.attrs["max_tree_depth"]``.

    Returns:
        The report; ``.ok`` is the verdict and ``.problems()`` says what failed.
    """
    post = posterior_of(idata)
    _check_thresholds(r_hat_max, ess_min, max_divergences, ebfmi_min, max_tree_depth)
    check_var_names(post, var_names)
    n_chains, n_draws = post.sizes["chain"], post.sizes["draw"]
    table = az.summary(idata, var_names=var_names, kind="diagnostics", round_to="none")
    table = table[_COLUMNS]
    stats = getattr(idata, "sample_stats", None)
    divergences = 0
    ebfmi = np.array([])
    saturation = float("nan")
    if stats is not None:
        if "diverging" in stats:
            divergences = int(stats["diverging"].values.sum())
        if "energy" in stats and n_draws > 1:
            ebfmi = np.asarray(az.bfmi(idata), dtype=float)
        depth_max = max_tree_depth or stats.attrs.get("max_tree_depth")
        if "tree_depth" in stats and depth_max:
            saturation = float((stats["tree_depth"].values >= depth_max).mean())
    return ConvergenceReport(
        table=table,
        divergences=divergences,
        ebfmi=ebfmi,
        tree_depth_saturation=saturation,
        n_chains=n_chains,
        n_draws=n_draws,
        r_hat_max=r_hat_max,
        ess_min=ess_min,
        max_divergences=max_divergences,
        ebfmi_min=ebfmi_min,
    )


def _check_thresholds(
    r_hat_max: float, ess_min: float, max_divergences: int, ebfmi_min: float,
    max_tree_depth: int | None,
) -> None:
    """Raise :class:`InvalidArgumentError` for a threshold outside its meaningful range."""
    checks = (
        ("r_hat_max", r_hat_max, np.isfinite(r_hat_max) and r_hat_max > 1.0, "a number > 1"),
        ("ess_min", ess_min, np.isfinite(ess_min) and ess_min >= 0, "a number >= 0"),
        ("max_divergences", max_divergences,
         is_integer(max_divergences) and max_divergences >= 0,
         "an integer >= 0"),
        ("ebfmi_min", ebfmi_min, np.isfinite(ebfmi_min) and ebfmi_min >= 0, "a number >= 0"),
        ("max_tree_depth", max_tree_depth,
         max_tree_depth is None
         or (is_integer(max_tree_depth) and max_tree_depth >= 1),
         "None or an integer >= 1"),
    )
    for name, value, ok, accepted in checks:
        if not ok:
            raise InvalidArgumentError(f"{name} must be {accepted}, got {value!r}")
