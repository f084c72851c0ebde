"""Figures of a :class:`~hbo.surrogate.posterior_pooling.PosteriorPoolingReport`.

* :func:`tau_figure`: the posterior of each group's ``tau`` (histogram of the draws) over
  its Half-Normal prior: where the data moved tau away from the prior.
* :func:`shrinkage_figure`: the GP analogue of the Eight Schools shrinkage plot, one panel
  per hyperparameter: each task's posterior median and 90% interval, the shared value
  ``exp(m)`` (line and band), and the task's posterior shrinkage ``B`` written beside it.
* :func:`funnel_figure`: ``log tau`` against the target's ``z`` per group
  (:func:`hbo.diagnostics.funnel`), divergent draws in red; in the non-centered
  coordinates the cloud has no neck.

Each has one panel per group or hyperparameter, so each returns the Figure; ``ax=`` takes
the caller's Axes, one per panel in the order of ``report``'s groups (hyperparameters for
:func:`shrinkage_figure`), and then leaves the figure's title and shared legend to the
caller; without it the plot makes a pyplot-free Figure (headless) with both; ``path=`` saves
PNG (:mod:`hbo.diagnostics.figures`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import arviz as az
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

from hbo.diagnostics.figures import panel_axes, save
from hbo.diagnostics.funnel import funnel

Panels = Sequence[Axes] | np.ndarray


def tau_figure(
    report, *, ax: Panels | None = None, path: str | os.PathLike | None = None
) -> Figure:
    """Histogram of the tau draws of every group with the Half-Normal prior density; one
    panel per group of ``report.tau_draws``."""
    groups = list(report.tau_draws)
    fig, axes, made = panel_axes(ax, len(groups))
    for ax, g in zip(axes, groups, strict=False):
        draws = report.tau_draws[g]
        scale = report.tau_scales[g]
        top = max(float(np.quantile(draws, 0.995)), 2.0 * scale)
        ax.hist(draws, bins=30, range=(0, top), density=True, color="tab:blue", alpha=0.6,
                label="posterior")
        grid = np.linspace(0, top, 200)
        prior = np.sqrt(2 / np.pi) / scale * np.exp(-0.5 * (grid / scale) ** 2)
        ax.plot(grid, prior, color="0.3", ls="--", label=f"prior HalfNormal({scale:g})")
        row = report.groups.loc[g]
        ax.axvline(row["tau"], color="tab:blue", lw=1.5)
        ax.set_title(f"tau of {g}: {row['tau']:.2g} [{row['tau_5%']:.2g}, {row['tau_95%']:.2g}]",
                     fontsize="medium")
        ax.set_xlabel("tau (spread of log values between tasks)")
        ax.legend(fontsize="x-small")
    if made:
        fig.suptitle("How different are the tasks? Posterior of each tau (90% interval in title)")
    save(fig, path)
    return fig


def shrinkage_figure(
    report, *, ax: Panels | None = None, path: str | os.PathLike | None = None
) -> Figure:
    """Per-task posterior value with 90% interval against the shared value; one panel per
    hyperparameter, in the order of ``report.tasks``."""
    hypers = list(dict.fromkeys(report.tasks.index.get_level_values("hyperparameter")))
    tasks = list(dict.fromkeys(report.tasks.index.get_level_values("task")))
    fig, axes, made = panel_axes(ax, len(hypers), width=4.0, height=0.5 * len(tasks) + 1.6)
    y = np.arange(len(tasks))
    for ax, name in zip(axes, hypers, strict=False):
        rows = report.tasks.xs(name, level="hyperparameter").loc[tasks]
        shared = report.groups.loc[rows["group"].iloc[0]]
        ax.axvspan(shared["shared_value_5%"], shared["shared_value_95%"], color="0.85",
                   label="shared value exp(m), 90%")
        ax.axvline(shared["shared_value"], color="0.4", lw=1)
        colors = ["tab:red" if t == report.target else "tab:blue" for t in tasks]
        ax.hlines(y, rows["value_5%"], rows["value_95%"], colors=colors, lw=2)
        ax.scatter(rows["value"], y, color=colors, zorder=3, s=18)
        for yi, (_, r) in zip(y, rows.iterrows(), strict=True):
            ax.annotate(f"B={r['shrinkage']:.2f}", (r["value_95%"], yi), xytext=(4, 0),
                        textcoords="offset points", va="center", fontsize="x-small")
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())  # minor labels overlap on short ranges
        ax.margins(x=0.2)  # room for the B labels
        ax.set_yticks(y, tasks)
        ax.set_ylim(len(tasks) - 0.5, -0.5)
        ax.set_title(name, fontsize="medium")
    if made:
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="outside lower center", fontsize="small")
        fig.suptitle("Per-task hyperparameters (median, 90% interval) and posterior shrinkage "
                     "B toward the shared value (0 = own data, 1 = fully pooled; target in red)")
    save(fig, path)
    return fig


def funnel_figure(
    report, *, ax: Panels | None = None, path: str | os.PathLike | None = None
) -> Figure:
    """``log tau`` against the target's ``z``; one panel per group whose tau was sampled
    (in the order of ``report.log_tau_z``; one empty panel if none was)."""
    groups = [g for g, (log_tau, _, _) in report.log_tau_z.items() if np.ptp(log_tau) > 0]
    fig, axes, made = panel_axes(ax, max(len(groups), 1))
    for ax, g in zip(axes, groups, strict=False):
        log_tau, z, divergent = report.log_tau_z[g]
        idata = az.from_dict(
            posterior={"z": z.reshape(1, -1, 1), "tau": np.exp(log_tau).reshape(1, -1)},
            sample_stats={"diverging": divergent.reshape(1, -1)},
            coords={"task": [report.target]}, dims={"z": ["task"]},
        )
        funnel(idata, "z", "tau", ax=ax)
        ax.set_xlabel(f"z of the target ({g}{'[0]' if g == 'lengthscale' else ''})")
        ax.set_ylabel(f"log tau of {g}")
    if made:
        fig.suptitle("Funnel check: log tau against the target's z (non-centered: no neck "
                     "expected)")
    save(fig, path)
    return fig
