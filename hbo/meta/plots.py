"""Forest and funnel plots of a random-effects meta-analysis, written to PNG.

Figures are built with :class:`matplotlib.figure.Figure` directly (no pyplot state), so
they work headless and leave the caller's matplotlib configuration alone.

- Forest plot: each study's ``y_i`` with its ``level`` confidence interval
  ``y_i +- z sqrt(v_i)``, squares sized by the random-effects weight ``1 / (v_i + tau^2)``,
  the summary ``mu`` as a diamond spanning its CI, and the prediction interval as a line.
  A fixed-effect fit (``method="FE"``) is labelled "FE model" and its title has no tau^2.
- Funnel plot (as metafor's ``funnel``): ``y_i`` against its standard error (axis inverted,
  precise studies on top), a vertical line at ``mu`` and the pseudo-confidence region
  ``mu +- z sei``; asymmetry suggests small-study effects (:func:`hbo.meta.egger_test`).
"""

from __future__ import annotations

from os import PathLike
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Polygon
from scipy import stats

from hbo.meta.random_effects import RandomEffectsResult


def forest_plot(
    res: RandomEffectsResult, path: str | PathLike, *, xlabel: str = "effect size",
    title: str | None = None,
) -> Path:
    """Write the forest plot of ``res`` to ``path`` (PNG) and return the path."""
    z = stats.norm.ppf(0.5 + res.level / 2)
    se = np.sqrt(res.vi)
    k = res.k
    rows = np.arange(k, 0, -1) + 1.0  # studies top-down, summary at row 0
    weights = 1 / (res.vi + res.tau2)
    fig = Figure(figsize=(7.5, 0.32 * k + 2.2))
    ax = fig.add_subplot()
    ax.hlines(rows, res.yi - z * se, res.yi + z * se, color="0.2", lw=1)
    ax.scatter(res.yi, rows, marker="s", s=30 + 170 * weights / weights.max(), color="0.2",
               zorder=3)
    lo, hi = res.ci
    ax.add_patch(Polygon([[lo, 0], [res.mu, 0.3], [hi, 0], [res.mu, -0.3]], closed=True,
                         color="tab:blue", zorder=3))
    ax.hlines(-0.6, *res.pi, color="tab:blue", lw=1.5, linestyles="dotted")
    ax.axvline(res.mu, color="tab:blue", lw=0.8, ls="--")
    ax.axvline(0, color="0.6", lw=0.8)
    names = [str(lab) for lab in res.labels]
    fixed = res.method == "FE"
    model = "FE model" if fixed else f"RE model ({res.method})"
    ax.set_yticks(list(rows) + [0, -0.6], names + [model, f"{100 * res.level:g}% PI"])
    ax.set_ylim(-1.2, k + 1.8)
    ax.set_xlabel(xlabel)
    tau2 = "" if fixed else f"tau^2 = {res.tau2:.3f}, "
    ax.set_title(title or f"Forest plot: mu = {res.mu:.3f} [{lo:.3f}, {hi:.3f}], "
                          f"{tau2}I^2 = {res.i2:.1f}%", fontsize=9)
    for spine in ("top", "right"):
        ax.spines[spine].set_visible(False)
    return _save(fig, path)


def funnel_plot(
    res: RandomEffectsResult, path: str | PathLike, *, xlabel: str = "effect size",
    title: str | None = None,
) -> Path:
    """Write the funnel plot of ``res`` to ``path`` (PNG) and return the path."""
    z = stats.norm.ppf(0.5 + res.level / 2)
    se = np.sqrt(res.vi)
    top = 1.05 * se.max()
    fig = Figure(figsize=(6, 5.4))
    ax = fig.add_subplot()
    grid = np.array([0.0, top])
    ax.fill_betweenx(grid, res.mu - z * grid, res.mu + z * grid, color="0.92", zorder=0,
                     label=f"pseudo {100 * res.level:g}% region")
    ax.plot(res.mu - z * grid, grid, color="0.5", lw=0.8, ls="--")
    ax.plot(res.mu + z * grid, grid, color="0.5", lw=0.8, ls="--")
    ax.axvline(res.mu, color="tab:blue", lw=1, label=f"mu ({res.method}) = {res.mu:.3f}")
    ax.scatter(res.yi, se, color="0.15", s=25, zorder=3, label="studies")
    ax.set_ylim(top, 0)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("standard error")
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=3,
              frameon=False)  # below the axes: no study is hidden
    ax.set_title(title or f"Funnel plot (k = {res.k})", fontsize=9)
    return _save(fig, path)


def _save(fig: Figure, path: str | PathLike) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=120)
    return path
