"""Regret of hierarchical training against the exact joint model, paired by seed (issue #27).

Two comparisons, each run a loop of ``--budget`` target evaluations from the history
(``transfer_benchmark``'s families: the target and sources are shifted windows of one
base function with random scales; the unrelated family's sources are other functions):

* ``large``: ``S = 20`` sources x 40 points (800 > ``MAX_SHARED_POINTS``), where
  ``training="auto"`` is hierarchical training *with* the shared function and today's
  model (``training="joint"``) is the joint fit without it: what the default changes.
* ``small``: the benchmark's 5 x 30 history, where both fit: forced hierarchical training
  against the exact joint model with ``g`` chosen by leave-one-out, the cost of the
  approximation itself.

    python experiments/hierarchical_regret.py --setting large --seeds 6
    python experiments/hierarchical_regret.py --setting small --seeds 6

Runs go to ``results/hierarchical_regret_<setting>_runs.jsonl`` (resumable); the paired
table (geometric-mean regret ratio, 90% bootstrap interval, Wilcoxon p) to
``results/hierarchical_regret_<setting>.md``.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from paired_comparison import paired_table  # noqa: E402
from transfer_benchmark import (  # noqa: E402
    RESULTS,
    Task,
    _base_functions,
    _space,
    make_family,
    simple_regret,
)

SETTINGS = {"large": (20, 40, ("joint", "auto")), "small": (5, 30, ("joint", "hierarchical"))}
FAMILIES = ("branin", "hartmann3", "hartmann6", "unrelated")


def family(name: str, seed: int, n_sources: int) -> tuple[Task, list[Task]]:
    """The benchmark's family with ``n_sources`` sources (its bases repeated in turn)."""
    if n_sources == 5:
        return make_family(name, seed)
    rng = np.random.default_rng(seed)
    target_base, bases = _base_functions(name)
    d = target_base.dim

    def task(base) -> Task:
        return Task(base, rng.uniform(0.0, 0.1, d), rng.uniform(0.5, 2.0), rng.uniform(-1, 1))

    return task(target_base), [task(bases[k % len(bases)]) for k in range(n_sources)]


def run(args: tuple) -> tuple:
    import hbo

    setting, name, arm, seed, budget = args
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    n_sources, n_points, _ = SETTINGS[setting]
    target, sources = family(name, seed, n_sources)
    d = len(target.shift)
    study = hbo.Study(_space(d), task="target", seed=seed, training=arm)
    rng = np.random.default_rng(seed + 1)
    for k, source in enumerate(sources):
        X = rng.random((n_points, d))
        study.add_history(f"source{k}", [{f"x{i}": float(v) for i, v in enumerate(r)} for r in X],
                          source(X).tolist())
    values, times = [], []
    for _ in range(budget):
        start = time.perf_counter()
        trial = study.ask()
        times.append(time.perf_counter() - start)
        values.append(float(target(np.array([[trial.params[f"x{i}"] for i in range(d)]]))[0]))
        study.tell(trial, values[-1])
    f_min = target.minimum(np.random.default_rng(seed))
    return name, arm, seed, values, times, f_min


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--setting", choices=tuple(SETTINGS), default="large")
    parser.add_argument("--seeds", type=int, default=6)
    parser.add_argument("--budget", type=int, default=15)
    parser.add_argument("--families", nargs="+", default=list(FAMILIES), choices=FAMILIES)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)
    arms = SETTINGS[args.setting][2]
    runs_path = RESULTS / f"hierarchical_regret_{args.setting}_runs.jsonl"
    done = set()
    if runs_path.exists():
        done = {tuple(json.loads(line)[:3]) for line in runs_path.read_text().splitlines()}
    jobs = [(args.setting, f, a, s, args.budget) for s in range(args.seeds)
            for f in args.families for a in arms if (f, a, s) not in done]
    with mp.get_context("spawn").Pool(args.workers) as pool:
        for result in pool.imap_unordered(run, jobs):
            print(json.dumps(result[:3]), f"{sum(result[4]):.0f} s", flush=True)
            with open(runs_path, "a") as handle:
                handle.write(json.dumps(result) + "\n")
    results = [json.loads(line) for line in runs_path.read_text().splitlines()]
    regret = {(f, a, s): simple_regret(v, m) for f, a, s, v, _, m in results}
    asks = {a: np.median([t for _, arm, _, _, ts, _ in results if arm == a for t in ts[1:]])
            for a in arms}
    n_sources, n_points, _ = SETTINGS[args.setting]
    text = (f"# Hierarchical training against the joint model: {args.setting} history "
            f"({n_sources} sources x {n_points} points)\n\n"
            + paired_table(regret, args.families, arms[0], arms[1],
                           checkpoints=(5, 10, args.budget))
            + "\n\nMedian later ask (s): "
            + ", ".join(f"{a} {t:.2f}" for a, t in asks.items()) + "\n")
    (RESULTS / f"hierarchical_regret_{args.setting}.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
