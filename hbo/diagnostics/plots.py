"""Trace, rank and forest plots of an MCMC run, drawn by ArviZ on figures hbo creates.

ArviZ draws; hbo only makes a ``matplotlib.figure.Figure`` of the right grid (no pyplot
global state, so it works headless and in threads), hands its axes to ArviZ and saves PNG.

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

import arviz as az
import numpy as np
from arviz.sel_utils import xarray_sel_iter
from matplotlib.figure import Figure

from hbo.diagnostics._input import check_var_names, posterior_of
from hbo.diagnostics.convergence import R_HAT_MAX

#: Label of the R-hat markers of :func:`forest_plot`.
R_HAT_LABEL = "rank-normalized split R-hat"


def trace_plot(
    idata: az.InferenceData,
    var_names: list[str] | None = None,
    *,
    path: str | os.PathLike | None = None,
) -> Figure:
    """``az.plot_trace`` of ``var_names`` (default: all posterior variables); PNG if ``path``."""
    names = _names(idata, var_names)
    fig = Figure(figsize=(10.0, 2.0 * len(names)), layout="constrained")
    axes = np.array(fig.subplots(len(names), 2, squeeze=False))
    az.plot_trace(idata, var_names=names, axes=axes, compact=True)
    return _save(fig, path)


def rank_plot(
    idata: az.InferenceData,
    var_names: list[str] | None = None,
    *,
    path: str | os.PathLike | None = None,
) -> Figure:
    """``az.plot_rank`` (rank histograms per chain), one panel per scalar; PNG if ``path``."""
    names = _names(idata, var_names)
    post = idata.posterior
    n_panels = sum(int(np.prod(post[n].shape[2:], dtype=int)) for n in names)
    cols = min(4, n_panels)
    rows = -(-n_panels // cols)
    fig = Figure(figsize=(3.0 * cols, 2.4 * rows), layout="constrained")
    axes = np.array(fig.subplots(rows, cols, squeeze=False)).ravel()
    for extra in axes[n_panels:]:
        extra.set_visible(False)
    az.plot_rank(idata, var_names=names, ax=axes[:n_panels])
    return _save(fig, path)


def forest_plot(
    idata: az.InferenceData,
    var_names: list[str] | None = None,
    *,
    hdi_prob: float = 0.94,
    path: str | os.PathLike | None = None,
) -> Figure:
    """``az.plot_forest``: ``hdi_prob`` HDI per scalar and, beside it, its rank-normalized
    split R-hat (``az.rhat``); PNG if ``path``."""
    names = _names(idata, var_names)
    post = idata.posterior
    n_rows = sum(int(np.prod(post[n].shape[2:], dtype=int)) for n in names)
    fig = Figure(figsize=(8.0, 1.0 + 0.4 * n_rows), layout="constrained")
    forest, rhat_ax = np.array(fig.subplots(1, 2, sharey=True, width_ratios=[3, 1]))
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
    return _save(fig, path)


def _names(idata: az.InferenceData, var_names: list[str] | None) -> list[str]:
    post = posterior_of(idata)
    check_var_names(post, var_names)
    return list(post.data_vars) if var_names is None else list(var_names)


def _save(fig: Figure, path: str | os.PathLike | None) -> Figure:
    if path is not None:
        fig.savefig(path, format="png", dpi=110)
    return fig
