"""Plots of a :class:`~hbo.hierarchy.NormalHierarchyPosterior` (matplotlib, headless).

Each function draws one panel into ``ax`` (by default a new pyplot-free
:class:`matplotlib.figure.Figure`), returns that :class:`~matplotlib.axes.Axes` and saves its
figure as PNG if given a ``path`` (:mod:`hbo.diagnostics.figures`), so they compose into
one figure; :func:`write_plots` saves all four as PNG files.

- :func:`forest_plot`: per group, the no-pooling estimate ``y_j +- z sigma_j`` beside the
  partial-pooling posterior mean of ``theta_j`` with its equal-tailed interval, and the
  posterior median of ``mu``.
- :func:`shrinkage_plot`: one line per group from ``y_j`` (no pooling) to
  ``E[theta_j | y]`` (partial pooling), with the complete-pooling estimate.
- :func:`tau_posterior_plot`: the density ``p(tau | y)`` (exact, on the quadrature nodes),
  its median, and the REML estimate when the model was built from raw observations.
- :func:`funnel_plot`: ``|y_j - mu_med|`` (``mu_med`` the posterior median of ``mu``)
  against ``n_j`` (raw observations) or ``sigma_j``, with the bands ``z sigma`` (no
  heterogeneity, ``tau = 0``) and ``z sqrt(sigma^2 + tau_med^2)`` (``tau`` at its posterior
  median) a group would fall inside with probability ``prob`` if ``mu`` were known
  (DESIGN.md, "Diagnostics").

References: Gelman et al. (2013), *Bayesian Data Analysis*, 3rd ed., §5.5 (Figures 5.5-5.7);
Gelman & Pardoe (2006), Bayesian measures of explained variance and pooling in multilevel
models, *Technometrics* 48(2), doi:10.1198/004017005000000517.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.axes import Axes
from scipy.special import ndtri

from hbo.diagnostics.figures import save, single_axes
from hbo.errors import InvalidArgumentError

if TYPE_CHECKING:
    from hbo.hierarchy.normal import NormalHierarchyPosterior

_NO_POOL = "tab:gray"
_PARTIAL = "tab:blue"
_POOLED = "tab:red"


def forest_plot(
    posterior: NormalHierarchyPosterior,
    prob: float = 0.95,
    *,
    ax: Axes | None = None,
    path: str | os.PathLike | None = None,
) -> Axes:
    """No-pooling vs partial-pooling estimates with ``prob`` intervals, one row per group.

    Lines (by label): ``"no pooling"`` at ``y_j`` with ``y_j +- z sigma_j``
    (``z = Phi^-1((1 + prob) / 2)``) and ``"partial pooling"`` at ``E[theta_j | y]`` with the
    equal-tailed posterior interval; a vertical line ``"median of mu"`` (the median exists
    for every proper posterior; the mean of ``mu`` may not). Row ``j`` (top to bottom) is at
    height ``J - 1 - j`` (``j = 0..J-1``). The legend sits below the axes.
    """
    z, lo_p, hi_p = _interval(prob)
    summary = posterior.summary(probs=(lo_p, 0.5, hi_p))
    model = posterior.model
    n_groups = len(model.y)
    rows = np.arange(n_groups)[::-1].astype(float)
    theta = summary.iloc[2:]
    ax = single_axes(ax, width=6.4, height=1.8 + 0.35 * n_groups)
    ax.errorbar(model.y, rows + 0.15, xerr=z * model.sigma, fmt="o", color=_NO_POOL,
                capsize=2, label="no pooling")
    lo, hi = theta.iloc[:, 2].to_numpy(), theta.iloc[:, 4].to_numpy()
    mean = theta["mean"].to_numpy()
    ax.errorbar(mean, rows - 0.15, xerr=np.vstack([mean - lo, hi - mean]), fmt="s",
                color=_PARTIAL, capsize=2, label="partial pooling")
    ax.axvline(summary.loc["mu", "50%"], color=_POOLED, ls="--", lw=1, label="median of mu")
    ax.set_yticks(rows, [str(label) for label in model.labels])
    ax.set_xlabel(f"effect ({100 * prob:g}% intervals)")
    ax.set_ylabel("group")
    ax.set_title("No pooling vs partial pooling")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncols=3, fontsize="small")
    save(ax, path)
    return ax


def shrinkage_plot(
    posterior: NormalHierarchyPosterior,
    *,
    ax: Axes | None = None,
    path: str | os.PathLike | None = None,
) -> Axes:
    """Lines from ``(0, y_j)`` to ``(1, E[theta_j | y])``, one per group, labelled
    ``"group <label>"``; a dashed line ``"complete pooling"`` at the precision-weighted mean."""
    table = posterior.shrinkage()
    pooled = float(posterior.pooling_table()["complete_pooling"].iloc[0])
    ax = single_axes(ax, width=5.0, height=5.0)
    for label, row in table.iterrows():
        ax.plot([0.0, 1.0], [row["y"], row["theta_mean"]], "o-", color=_PARTIAL, alpha=0.8,
                label=f"group {label}")
        ax.annotate(str(label), (0.0, row["y"]), xytext=(-8, 0), textcoords="offset points",
                    ha="right", va="center", fontsize="small")
    pooled_line = ax.axhline(pooled, color=_POOLED, ls="--", lw=1, label="complete pooling")
    ax.legend(handles=[pooled_line], loc="best", fontsize="small")
    ax.set_xticks([0.0, 1.0], ["no pooling\n$y_j$", "partial pooling\n$E[\\theta_j | y]$"])
    ax.set_xlim(-0.3, 1.2)
    ax.set_ylabel("estimate")
    ax.set_title("Shrinkage toward the population mean")
    save(ax, path)
    return ax


def tau_posterior_plot(
    posterior: NormalHierarchyPosterior,
    upper_prob: float = 0.995,
    *,
    ax: Axes | None = None,
    path: str | os.PathLike | None = None,
) -> Axes:
    """``p(tau | y)`` (line ``"p(tau | y)"``) on ``[0, q_upper]``, ``q_upper`` its
    ``upper_prob`` quantile; vertical lines ``"median"`` and, for raw observations,
    ``"REML"``."""
    if not 0.5 < upper_prob < 1.0:
        raise InvalidArgumentError(f"upper_prob must lie in (0.5, 1); got {upper_prob!r}.")
    grid = posterior.tau_posterior()
    summary = posterior.summary(probs=(0.5, upper_prob))
    top = float(summary.loc["tau", f"{100 * upper_prob:g}%"])
    shown = grid[grid["tau"] <= top]
    ax = single_axes(ax, width=6.0, height=4.0)
    ax.plot(shown["tau"], shown["density"], color=_PARTIAL, label="p(tau | y)")
    ax.axvline(summary.loc["tau", "50%"], color=_NO_POOL, ls=":", label="median")
    reml = posterior.model.reml
    if reml is not None:
        ax.axvline(reml.tau, color=_POOLED, ls="--", label="REML")
    ax.set_xlim(0.0, top)
    ax.set_ylim(bottom=0.0)
    ax.set_xlabel("tau (between-group sd)")
    ax.set_ylabel("posterior density")
    ax.set_title("Marginal posterior of tau")
    ax.legend(loc="best", fontsize="small")
    save(ax, path)
    return ax


def funnel_plot(
    posterior: NormalHierarchyPosterior,
    prob: float = 0.95,
    *,
    ax: Axes | None = None,
    path: str | os.PathLike | None = None,
) -> Axes:
    """Points ``|y_j - mu_med|`` (collection ``"groups"``) against ``n_j`` for raw
    observations, else against ``sigma_j``; lines ``"tau = 0"`` (``z sigma``) and
    ``"tau = median"`` (``z sqrt(sigma^2 + tau_med^2)``) over a grid of the x axis."""
    z, _, _ = _interval(prob)
    model = posterior.model
    medians = posterior.summary(probs=(0.5,))["50%"]
    dev = np.abs(model.y - medians["mu"])
    tau_med = float(medians["tau"])
    ax = single_axes(ax, width=6.0, height=4.0)
    if model.n is not None:
        x = model.n
        within_sd = float(np.mean(model.sigma * np.sqrt(model.n)))  # s_pooled, same for all j
        grid = np.linspace(x.min(), x.max(), 200)
        sd = within_sd / np.sqrt(grid)
        ax.set_xlabel("group size $n_j$")
    else:
        x = model.sigma
        grid = np.linspace(0.0, x.max() * 1.05, 200)
        sd = grid
        ax.set_xlabel("standard error $\\sigma_j$")
    ax.scatter(x, dev, color=_PARTIAL, zorder=3, label="groups")
    ax.plot(grid, z * sd, color=_NO_POOL, ls="--", label="tau = 0")
    ax.plot(grid, z * np.sqrt(sd**2 + tau_med**2), color=_POOLED, ls=":", label="tau = median")
    ax.set_ylim(bottom=0.0)
    ax.set_ylabel("$|y_j - \\mathrm{median}(\\mu)|$")
    ax.set_title(f"Funnel plot ({100 * prob:g}% bands)")
    ax.legend(loc="best", fontsize="small")
    save(ax, path)
    return ax


def write_plots(
    posterior: NormalHierarchyPosterior, directory: str | Path, prefix: str = ""
) -> dict[str, Path]:
    """Save the four plots as ``<directory>/<prefix><name>.png``; returns ``{name: path}``
    for ``name`` in ``forest``, ``shrinkage``, ``tau_posterior``, ``funnel``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    makers = {"forest": forest_plot, "shrinkage": shrinkage_plot,
              "tau_posterior": tau_posterior_plot, "funnel": funnel_plot}
    paths = {}
    for name, make in makers.items():
        paths[name] = directory / f"{prefix}{name}.png"
        make(posterior, path=paths[name])
    return paths


def _interval(prob: float) -> tuple[float, float, float]:
    """``z = Phi^-1((1 + prob) / 2)`` and the tail probabilities of a central interval."""
    if not 0.0 < prob < 1.0:
        raise InvalidArgumentError(f"prob must lie in (0, 1); got {prob!r}.")
    tail = 0.5 * (1.0 - prob)
    return float(ndtri(1.0 - tail)), tail, 1.0 - tail

