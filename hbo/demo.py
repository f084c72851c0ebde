"""``hbo demo``: transfer tuning of an SVM on a scikit-learn dataset, with and without history.

The target task tunes an RBF support vector classifier (``C`` and ``gamma``, both on a
log scale; ``gamma`` relative to scikit-learn's ``"scale"`` default ``1 / (d Var(X))`` so
that one value means the same on every dataset) on the bundled *digits* data, minimizing
the 3-fold cross-validated error. The history is the same tuning problem on three other
bundled datasets (breast cancer, wine, iris), evaluated at Sobol points. Two studies get
the same budget on the target: one with the history, one without. Everything the demo
needs ships with scikit-learn; nothing is downloaded.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from hbo.space import Float, SearchSpace
from hbo.study import Study

TARGET = "digits"
SOURCES = ("breast_cancer", "wine", "iris")
SPACE = SearchSpace([Float("C", 1e-2, 1e3, log=True), Float("gamma", 1e-3, 1e2, log=True)])


@dataclass(frozen=True)
class DemoResult:
    """Best-so-far cross-validated error per target evaluation, for both studies."""

    curves: pd.DataFrame  # index: evaluation 1..budget; columns: with / without history
    study: Study  # the study that had the history (for its pooling report)
    seconds: float


def svm_objective(dataset: str) -> Callable[[dict], float]:
    """3-fold cross-validated error of a standardized RBF SVC on a bundled dataset."""
    from sklearn import datasets
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    X, y = getattr(datasets, f"load_{dataset}")(return_X_y=True)
    folds = StratifiedKFold(n_splits=3, shuffle=True, random_state=0)

    def error(params: dict) -> float:
        # after standardization Var(X) = 1, so "scale" is 1 / d
        svm = SVC(C=params["C"], gamma=params["gamma"] / X.shape[1])
        svc = make_pipeline(StandardScaler(), svm)
        return 1.0 - float(cross_val_score(svc, X, y, cv=folds).mean())

    return error


def run_demo(
    budget: int = 15,
    n_history: int = 24,
    seed: int = 0,
    log: Callable[[str], None] = print,
) -> DemoResult:
    """Tune the target with and without history; ``log`` receives one line per evaluation."""
    start = time.perf_counter()
    objective = svm_objective(TARGET)
    with_history = Study(SPACE, task=TARGET, seed=seed)
    for k, source in enumerate(SOURCES):
        params = SPACE.decode(SPACE.sobol(n_history, seed=seed + 101 + k))
        values = [svm_objective(source)(p) for p in params]
        with_history.add_history(source, params, values)
        log(f"history: {source:<13} {n_history} evaluations, best error {min(values):.4f}")
    without_history = Study(SPACE, task=TARGET, seed=seed)
    curves = {}
    for label, study in (("with history", with_history), ("without history", without_history)):
        best = []
        for i in range(1, budget + 1):
            trial = study.ask()
            value = objective(trial.params)
            study.tell(trial, value)
            best.append(study.best.value)
            log(
                f"{label:<16} {i:>2}/{budget}  C={trial.params['C']:9.3g}  "
                f"gamma={trial.params['gamma']:8.3g}  error={value:.4f}  best={best[-1]:.4f}"
            )
        curves[label] = best
    frame = pd.DataFrame(curves, index=pd.RangeIndex(1, budget + 1, name="evaluation"))
    return DemoResult(frame, with_history, time.perf_counter() - start)


def plot_curves(curves: pd.DataFrame, path: str | Path) -> Path:
    """Best-so-far error against target evaluations, one line per study, as a PNG."""
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    for label, column in curves.items():
        ax.plot(curves.index, column, marker="o", label=label)
    ax.set_xlabel(f"evaluations on the target ({TARGET})")
    ax.set_ylabel("best 3-fold CV error so far")
    ax.set_title("SVM tuning on digits: history of 3 related datasets")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=120)
    return path


def format_table(curves: pd.DataFrame) -> str:
    """The two curves side by side, with the ratio of best errors."""
    table = curves.copy()
    table["ratio"] = table["with history"] / table["without history"]
    return table.to_string(float_format=lambda v: f"{v:.4f}")


def main(budget: int, n_history: int, seed: int, output: str) -> None:
    """What ``hbo demo`` prints and draws."""
    print(
        f"Tuning an RBF SVM (C, gamma) on '{TARGET}' with {budget} evaluations, with and "
        f"without history on {', '.join(SOURCES)}.",
        flush=True,
    )
    result = run_demo(budget, n_history, seed, log=lambda line: print(line, flush=True))
    print("\nBest 3-fold CV error after each target evaluation")
    print(format_table(result.curves))
    print()
    print(result.study.pooling())
    path = plot_curves(result.curves, output)
    print(f"\nSaved {path} ({result.seconds:.0f} s in all)")
    first = int(np.argmax(result.curves["with history"].to_numpy() <= result.curves.iloc[-1, 1]))
    print(
        f"With history the study reached the no-history study's final error after "
        f"{first + 1} of {budget} evaluations."
    )
