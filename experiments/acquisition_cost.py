"""What one acquisition evaluation costs: tensor operations and milliseconds.

The state is one of the Ray Tune sweep's (``experiments/ray_tune_transfer.py``): Branin as
the target with 14 uniformly drawn evaluations, the sweep's two sources (20 points each),
one trial pending, so that the acquisition is ``qLogNoisyExpectedImprovement`` with
``X_pending`` on the exact joint model with the shared function, as in every model ask of
a sweep with two trials at a time. Printed: tensor operations of one forward and one
backward pass over 8 candidate points (the optimizer's restarts; counted with a
``TorchDispatchMode``), of the model's joint posterior alone, milliseconds per forward +
backward (median of 5 rounds of 50, one thread) and seconds per ``hbo.acquisition.optimize``
(median of 5). To compare versions, run it from a git worktree of each:
``PYTHONPATH=<worktree> python experiments/acquisition_cost.py``.
"""

from __future__ import annotations

import statistics
import time
import warnings
from collections import Counter

import numpy as np
import torch
from ray_tune_transfer import SOURCES, branin, source_history
from torch.utils._python_dispatch import TorchDispatchMode

import hbo
from hbo import acquisition
from hbo.trial import TrialState

RESTARTS, CALLS, ROUNDS = 8, 50, 5


class CountOperations(TorchDispatchMode):
    """Counts the ATen operations dispatched inside the ``with`` block."""

    def __init__(self) -> None:
        super().__init__()
        self.count = Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.count[str(func)] += 1
        return func(*args, **(kwargs or {}))

    @property
    def total(self) -> int:
        return sum(self.count.values())


def sweep_state() -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor, hbo.SearchSpace]:
    """The model, the target's observed points and the pending one (module doc)."""
    space = hbo.SearchSpace([hbo.Float("x1", -5.0, 10.0), hbo.Float("x2", 0.0, 15.0)])
    study = hbo.Study(space, task="target", seed=0)
    for i, (name, fn) in enumerate(SOURCES.items()):
        frame = source_history(fn, seed=i + 1)
        study.add_history(name, frame[["x1", "x2"]].to_dict("records"), frame["loss"].tolist())
    rng = np.random.default_rng(0)
    points = [{"x1": a, "x2": b} for a, b in zip(rng.uniform(-5, 10, 14), rng.uniform(0, 15, 14),
                                                  strict=True)]
    study.add_history("target", points, [branin(p["x1"], p["x2"]) for p in points])
    pending = study.ask()
    done = study.storage.get_trials("target", [TrialState.COMPLETE])
    return (study.proposer.model, space.encode([t.params for t in done]),
            space.encode([pending.params]), space)


def main() -> None:
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    model, observed, pending, space = sweep_state()
    torch.manual_seed(0)  # qLogNEI's pruning of the baseline samples from the global generator
    acqf = acquisition.build_acquisition(model, observed, pending, 1, seed=0)
    X = torch.rand(RESTARTS, 1, 2, dtype=torch.double, generator=torch.Generator().manual_seed(5))
    X.requires_grad_(True)
    acqf(X).sum().backward()  # warm
    with CountOperations() as forward:
        value = acqf(X).sum()
    with CountOperations() as backward:
        value.backward()
    with CountOperations() as posterior:
        _ = model.posterior(X.detach()).distribution
    per_call = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        for _ in range(CALLS):
            acqf(X).sum().backward()
        per_call.append((time.perf_counter() - start) / CALLS * 1e3)
    optimize = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        acquisition.optimize(acqf, space, 1)
        optimize.append(time.perf_counter() - start)
    print(f"qLogNEI on {RESTARTS} points: forward {forward.total} + backward {backward.total} "
          f"operations (joint posterior {posterior.total}); forward + backward "
          f"{statistics.median(per_call):.2f} ms; optimize {statistics.median(optimize):.3f} s; "
          f"value {value.item():.12f}")


if __name__ == "__main__":
    main()
