"""Figures of a study: best value so far per task, how much the surrogate pooled, and
the Pareto front of a study of several objectives.

All draw on :class:`matplotlib.figure.Figure` directly (no pyplot state; headless).
"""

from __future__ import annotations

import itertools
import os

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from hbo.errors import InvalidArgumentError
from hbo.study.study import Study
from hbo.surrogate.pooling import PoolingReport
from hbo.trial import TrialState


def best_so_far(study: Study) -> dict[str, pd.Series]:
    """Per task: the best completed feasible value after each completed evaluation (id
    order; NaN until the first feasible one, see :meth:`hbo.Study.is_feasible`).

    Index ``1..n_t`` (the task's completed evaluations); best = min or max by direction.
    """
    pick = np.fmin if study.direction == "minimize" else np.fmax  # f*: NaN is no value
    curves = {}
    for task in study.tasks:
        values = [t.value if study.is_feasible(t) else np.nan
                  for t in study.storage.get_trials(task, [TrialState.COMPLETE])]
        if values and not np.isnan(values).all():
            best = pick.accumulate(np.asarray(values, dtype=float))
            curves[task] = pd.Series(best, index=np.arange(1, len(best) + 1), name=task)
    return curves


def study_figure(study: Study, pooling: PoolingReport | None = None) -> Figure:
    """Best-so-far curves per task (left) and, with ``pooling``, per-task shrinkage (right)."""
    fig = Figure(figsize=(11 if pooling is not None else 6.5, 4.5), layout="constrained")
    axes = fig.subplots(1, 2 if pooling is not None else 1, squeeze=False)[0]
    ax = axes[0]
    for task, curve in best_so_far(study).items():
        target = task == study.task
        ax.step(curve.index, curve.values, where="post", lw=2.4 if target else 1.3,
                label=f"{task} (target)" if target else task)
    ax.set_xlabel("completed evaluations of the task")
    ax.set_ylabel(f"best value so far ({study.direction})")
    ax.set_title(f"study {study.name or ''}: best value so far per task")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    if pooling is not None:
        _shrinkage_axes(axes[1], pooling)
    return fig


def _shrinkage_axes(ax, report: PoolingReport) -> None:
    """Grouped bars: shrinkage of each hyperparameter (groups) for each task (bars)."""
    shrink = report.tasks["shrinkage"].unstack("task")
    tasks = list(dict.fromkeys(report.tasks.index.get_level_values("task")))
    shrink = shrink[tasks]
    width = 0.8 / len(tasks)
    y = np.arange(len(shrink))
    for i, task in enumerate(tasks):
        ax.barh(y + i * width - 0.4 + width / 2, shrink[task].values, height=width, label=task)
    ax.set_yticks(y, shrink.index)
    ax.set_xlim(0, 1)
    ax.set_xlabel("shrinkage toward the shared value (0 = own data, 1 = fully pooled)")
    ax.set_title("pooling of the surrogate's hyperparameters")
    ax.invert_yaxis()
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize="small", loc="lower right")


def pareto_figure(study: Study) -> Figure:
    """The target's completed trials in objective space, one panel per pair of objectives.

    Feasible trials are dots, those that violate a constraint crosses, and the Pareto
    front (:meth:`hbo.Study.pareto_front`, over every objective) is ringed; with two
    objectives it is also drawn as the step line that bounds the region it dominates.
    """
    names = list(study.objectives)
    if len(names) < 2:
        raise InvalidArgumentError(
            f"pareto_figure needs several objectives; this study has {study.objectives} "
            "(see study_figure)"
        )
    done = [t for t in study.storage.get_trials(study.task, [TrialState.COMPLETE])
            if set(names) <= set(t.values)]  # a history trial may lack an objective
    front = {t.id for t in study.pareto_front()}
    feasible = {t.id for t in done if study.is_feasible(t)}
    pairs = list(itertools.combinations(range(len(names)), 2))
    fig = Figure(figsize=(5.5 * len(pairs), 4.8), layout="constrained")
    for ax, (i, j) in zip(fig.subplots(1, len(pairs), squeeze=False)[0], pairs, strict=True):
        def points(ids: set[int], inside: bool = True, i: int = i, j: int = j) -> np.ndarray:
            rows = [[t.values[names[i]], t.values[names[j]]]
                    for t in done if (t.id in ids) == inside]
            return np.asarray(rows, dtype=float).reshape(-1, 2)

        ok, bad, best = points(feasible), points(feasible, inside=False), points(front)
        ax.scatter(ok[:, 0], ok[:, 1], s=22, color="C0", label="feasible")
        ax.scatter(bad[:, 0], bad[:, 1], s=26, marker="x", color="C3", label="infeasible")
        ax.scatter(best[:, 0], best[:, 1], s=90, facecolors="none", edgecolors="k",
                   label="Pareto front")
        if len(names) == 2 and len(best):
            _front_line(ax, best, study.objectives[names[0]])
        ax.set_xlabel(f"{names[i]} ({study.objectives[names[i]]})")
        ax.set_ylabel(f"{names[j]} ({study.objectives[names[j]]})")
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    fig.suptitle(f"study {study.name or ''}: task {study.task!r}, {len(done)} completed "
                 f"trials, {len(front)} on the Pareto front")
    return fig


def _front_line(ax, front: np.ndarray, x_direction: str) -> None:
    """The staircase that bounds the region a two-objective front dominates.

    Between two front points (in increasing x) the dominated region's edge is at the level
    of the point whose x is better: the left one when x is minimized (``"post"``), the
    right one when it is maximized (``"pre"``), whatever y's direction.
    """
    order = np.argsort(front[:, 0])
    where = "post" if x_direction == "minimize" else "pre"
    ax.step(front[order, 0], front[order, 1], where=where, color="k", lw=1.2)


def save_pareto_figure(study: Study, path: str | os.PathLike) -> Figure:
    """Draw :func:`pareto_figure` and save it at ``path`` (``.png``, ``.pdf``, ...)."""
    fig = pareto_figure(study)
    fig.savefig(path, dpi=120)
    return fig


def save_study_figure(
    study: Study, path: str | os.PathLike, pooling: PoolingReport | None = None
) -> Figure:
    """Draw :func:`study_figure` and save it at ``path``, in the format its suffix names
    (``.png``, ``.pdf``, ``.svg``, ...)."""
    fig = study_figure(study, pooling)
    fig.savefig(path, dpi=120)
    return fig
