"""Figures of a study: best value so far per task, and how much the surrogate pooled.

Both draw on :class:`matplotlib.figure.Figure` directly (no pyplot state; headless).
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from hbo.study.study import Study
from hbo.surrogate.pooling import PoolingReport
from hbo.trial import TrialState


def best_so_far(study: Study) -> dict[str, pd.Series]:
    """Per task: the best completed value after each completed evaluation (id order).

    Index ``1..n_t`` (the task's completed evaluations); best = min or max by direction.
    """
    pick = np.minimum if study.direction == "minimize" else np.maximum
    curves = {}
    for task in study.tasks:
        values = [t.value for t in study.storage.get_trials(task, [TrialState.COMPLETE])]
        if values:
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


def save_study_figure(
    study: Study, path: str | os.PathLike, pooling: PoolingReport | None = None
) -> Figure:
    """Draw :func:`study_figure` and save it at ``path``, in the format its suffix names
    (``.png``, ``.pdf``, ``.svg``, ...)."""
    fig = study_figure(study, pooling)
    fig.savefig(path, dpi=120)
    return fig
