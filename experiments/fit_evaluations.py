"""What one MAP fit of the hierarchical GP costs: objective evaluations, seconds, optimum.

The data of a Ray Tune sweep (``experiments/ray_tune_transfer.py``: two shifted Branins x
20 points as history) and a target Branin observed at 4, 5, ..., 18 uniformly drawn
points; at each size the model is fitted warm-started from the fit one point before, as
the proposer does between asks, with the shared function and then without it (30 fits
per design). Prints, per design seed, the objective evaluations, the seconds and the sum
of the fits' final log joints (higher: better optima), on one torch thread.

To compare two versions, run the script under each (an earlier one from a git worktree:
``PYTHONPATH=<worktree> python experiments/fit_evaluations.py``); the fits see the same
data, so the rows pair by seed.

Run: ``python experiments/fit_evaluations.py [--seeds 3]`` (about 20 s).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from ray_tune_transfer import SOURCES, branin, source_history

from hbo.surrogate import HierarchicalGP

SIZES = range(4, 19)


def design(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Sources' rows, then the target's 18 points in drawing order: ``n x 3`` inputs in the
    unit square with the task label last, ``n x 1`` values to maximize (``-branin``)."""
    rows = []
    for label, fn in enumerate(SOURCES.values()):
        frame = source_history(fn, seed=label + 1)
        rows += [(a, b, label, y) for a, b, y in zip(frame.x1, frame.x2, frame.loss, strict=True)]
    rng = np.random.default_rng(seed)
    rows += [(a, b, len(SOURCES), branin(a, b))
             for a, b in zip(rng.uniform(-5, 10, max(SIZES)), rng.uniform(0, 15, max(SIZES)),
                             strict=True)]
    data = torch.tensor(rows, dtype=torch.double)
    X = torch.stack([(data[:, 0] + 5) / 15, data[:, 1] / 15, data[:, 2]], -1)
    return X, -data[:, 3:]


def fit_sequence(seed: int) -> tuple[int, float, float]:
    """Evaluations, seconds and summed final log joint of the design's 30 warm-started fits."""
    X, Y = design(seed)
    n_sources = int((X[:, 2] < len(SOURCES)).sum())
    calls = [0]
    log_joint = HierarchicalGP.log_joint

    def counted(model: HierarchicalGP) -> torch.Tensor:
        calls[0] += 1
        return log_joint(model)

    HierarchicalGP.log_joint = counted
    seconds, optimum = 0.0, 0.0
    try:
        for shared in (True, False):
            previous = None
            for k in SIZES:
                model = HierarchicalGP(X[: n_sources + k], Y[: n_sources + k],
                                       output_tasks=[len(SOURCES)], shared_function=shared)
                if previous is not None:
                    model.initialize_from(previous)
                start = time.perf_counter()
                model.fit()
                seconds += time.perf_counter() - start
                with torch.no_grad():
                    optimum += float(log_joint(model))
                previous = model
    finally:
        HierarchicalGP.log_joint = log_joint
    return calls[0], seconds, optimum


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print("seed  evaluations  seconds  sum of final log joints")
    for seed in range(args.seeds):
        evaluations, seconds, optimum = fit_sequence(seed)
        print(f"{seed:4d}  {evaluations:11d}  {seconds:7.2f}  {optimum:.4f}")


if __name__ == "__main__":
    main()
