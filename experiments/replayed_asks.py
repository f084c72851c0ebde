"""hbo's asks replayed in one process, for comparisons made one ask (or one fit) at a time
from the same state (``acquisition_tolerance.py``, ``refit_curvature.py``):

* the transfer families of ``experiments/transfer_benchmark.py`` (5 x 30 history, analytic
  LogEI: nothing pending), ``--asks`` asks on ``--seeds`` seeds each;
* the Ray Tune sweep of ``experiments/ray_tune_transfer.py`` (Branin with two source tasks,
  20 trials two at a time, so qLogNEI with one pending trial), its searcher's calls in the
  order Tune makes them, without Ray, ``--ray-seeds`` seeds.

A recorder (any object with ``label`` and ``rows``) stands in for the piece compared and
appends its rows; :func:`replay` sets its ``label`` to ``(family, seed)`` before each run.
"""

from __future__ import annotations

import argparse

from transfer_benchmark import FAMILIES, make_family, run_hbo

RAY_SWEEP = "ray sweep (qLogNEI, 1 pending)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--families``, ``--seeds``, ``--asks`` and ``--ray-seeds``."""
    parser.add_argument("--families", nargs="+", default=list(FAMILIES))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--asks", type=int, default=20)
    parser.add_argument("--ray-seeds", type=int, default=4)


def replay(recorder, args: argparse.Namespace) -> None:
    """Run every family's seeds and the Ray sweep's seeds of ``args``, labelling
    ``recorder``, with a progress line after each run."""
    runs = [(family, seed) for family in args.families for seed in range(args.seeds)]
    runs += [(RAY_SWEEP, seed) for seed in range(args.ray_seeds)]
    for family, seed in runs:
        recorder.label = (family, seed)
        if family == RAY_SWEEP:
            ray_sweep_asks(seed)
        else:
            target, sources = make_family(family, seed)
            run_hbo(target, sources, seed, with_history=True, budget=args.asks)
        print(f"{family} seed {seed}: {len(recorder.rows)} rows so far", flush=True)


def ray_sweep_asks(seed: int) -> None:
    """``HBOSearch``'s calls in a 20-trial, 2-concurrent Tune sweep of the Ray experiment."""
    from ray_tune_transfer import CONCURRENT, SAMPLES, SOBOL, SOURCES, SPACE, branin, source_history

    from hbo.integrations.ray import HBOSearch

    history = {name: source_history(fn, seed=i + 1) for i, (name, fn) in enumerate(SOURCES.items())}
    searcher = HBOSearch(task="target", history=history, seed=seed, n_initial=SOBOL)
    searcher.set_search_properties("loss", "min", SPACE)
    running = []
    for i in range(SAMPLES):
        running.append((str(i), searcher.suggest(str(i))))
        if len(running) == CONCURRENT or i == SAMPLES - 1:
            trial_id, config = running.pop(0)
            searcher.on_trial_complete(trial_id, {"loss": branin(config["x1"], config["x2"])})
