"""Trace, rank and forest plots of an MCMC run, drawn by ArviZ on figures hbo creates.

ArviZ draws; hbo only makes a ``matplotlib.figure.Figure`` of the right grid (no pyplot
global state, so it works headless and in threads), or takes the caller's axes (``ax=``, one
per panel, :mod:`hbo.diagnostics.figures`), hands them to ArviZ and saves PNG. Each plot
has several panels, so each returns the Figure.

- :func:`trace_plot`: ``az.plot_trace``, one row per variable: the marginal density per
  chain (left) and the draws against iteration (right).
- :func:`rank_plot`: ``az.plot_rank``, one panel per scalar: histograms of the ranks of
  each chain's draws among all draws. With mixing chains every histogram is uniform
  (Vehtari et al. 2021, doi:10.1214/20-BA1221, §4.1); a chain stuck in one region shows
  as a sloped or humped histogram.
- :func:`forest_plot`: ``az.plot_forest``, the HDI of every scalar (chains combined), with
  the R-hat of each in a second column: the rank-normalized split R-hat of ``az.rhat``, as
  :func:`hbo.diagnostics.convergence` reports it (ArviZ's own ``r_hat=True`` column is the
  original Gelman-Rubin R-hat, which misses chains that differ in scale or tails), and the
  threshold :data:`~hbo.diagnostics.convergence.R_HAT_MAX` as a dotted line.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import arviz as az
import numpy as np
from arviz.sel_utils import xarray_sel_iter
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from hbo.diagnostics._input import check_var_names, posterior_of
from hbo.diagnostics.convergence import R_HAT_MAX
from hbo.diagnostics.figures import panel_axes, save

#: Axes, one per panel, as the multi-panel plots take them (``ax=``).
Panels = Sequence[Axes] | np.ndarray

#: Label of the R-hat markers of :func:`forest_plot`.
R_HAT_LABEL = "rank-normalized split R-hat"


def trace_plot(
    idata: az.InferenceData,
    var_names: list[str] | None = None,
    *,
    ax: Panels | None = None,
    path: str | os.PathLike | None = None,
) -> Figure:
    """``az.plot_trace`` of ``var_names`` (default: all posterior variables); PNG if ``path``.

    Panels: two per variable, row by row (density, then draws against iteration), so
    ``ax`` holds ``2 V`` Axes for ``V`` variables (an array ``V x 2`` will do)."""
    names = _names(idata, var_names)
    fig, axes, _ = panel_axes(ax, 2 * len(names), cols=2, width=5.0, height=2.0)
    az.plot_trace(idata, var_names=names, axes=axes.reshape(len(names), 2), compact=True)
    save(fig, path)
    return fig


def rank_plot(
    idata: az.InferenceData,
    var_names: list[str] | None = None,
    *,
    ax: Panels | None = None,
    path: str | os.PathLike | None = None,
) -> Figure:
    """``az.plot_rank`` (rank histograms per chain), one panel per scalar; PNG if ``path``.

    Panels: one per scalar, in ArviZ's order (variables as given, then their entries), so
    ``ax`` holds as many Axes as the variables have scalars."""
    names = _names(idata, var_names)
    post = idata.posterior
    n_panels = sum(int(np.prod(post[n].shape[2:], dtype=int)) for n in names)
    fig, axes, _ = panel_axes(ax, n_panels, cols=4, width=3.0, height=2.4)
    az.plot_rank(idata, var_names=names, ax=axes)
    save(fig, path)
    return fig


def forest_plot(
    idata: az.InferenceData,
    var_names: list[str] | None = None,
    *,
    hdi_prob: float = 0.94,
    ax: Panels | None = None,
    path: str | os.PathLike | None = None,
) -> Figure:
    """``az.plot_forest``: ``hdi_prob`` HDI per scalar and, beside it, its rank-normalized
    split R-hat (``az.rhat``); PNG if ``path``.

    Panels: the forest, then the R-hat column (``ax``: two Axes; the R-hat column is given
    the forest's y range, as a made figure shares the y axis)."""
    names = _names(idata, var_names)
    post = idata.posterior
    n_rows = sum(int(np.prod(post[n].shape[2:], dtype=int)) for n in names)
    if ax is None:
        fig = Figure(figsize=(8.0, 1.0 + 0.4 * n_rows), layout="constrained")
        forest, rhat_ax = np.array(fig.subplots(1, 2, sharey=True, width_ratios=[3, 1]))
    else:
        fig, (forest, rhat_ax), _ = panel_axes(ax, 2)
    az.plot_forest(idata, var_names=names, hdi_prob=hdi_prob, combined=True, ax=forest)
    # ArviZ draws one row per scalar, top-down in xarray_sel_iter's order
    rows = sorted(forest.get_yticks(), reverse=True)
    rhat = az.rhat(idata, var_names=names)
    values = [float(rhat[name].sel(sel)) for name, sel, _ in xarray_sel_iter(post[names],
                                                                            combined=True)]
    rhat_ax.plot(values, rows, "o", markeredgecolor="k", label=R_HAT_LABEL)
    rhat_ax.axvline(R_HAT_MAX, color="0.5", ls=":", lw=1)
    rhat_ax.margins(x=0.2)
    rhat_ax.set_title("R-hat", fontsize=forest.title.get_fontsize())
    rhat_ax.tick_params(axis="y", left=False)
    rhat_ax.tick_params(axis="x", labelsize=forest.xaxis.get_ticklabels()[0].get_fontsize())
    rhat_ax.set_ylim(forest.get_ylim())
    save(fig, path)
    return fig


def _names(idata: az.InferenceData, var_names: list[str] | None) -> list[str]:
    post = posterior_of(idata)
    check_var_names(post, var_names)
    return list(post.data_vars) if var_names is None else list(var_names)

