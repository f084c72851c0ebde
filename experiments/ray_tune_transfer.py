"""hbo inside a Ray Tune sweep: tuning a Branin with the history of two related Branins.

Same family as ``experiments/ax_transfer.py`` (botorch.test_functions.Branin, global
minimum 0.397887): the target is Branin itself; ``source_a`` is Branin shifted in
``x1``, ``source_b`` is shifted in both inputs and in other units (3 f + 40). Each
source brings 20 uniformly drawn evaluations.

Sweeps of ``SAMPLES`` trials, ``CONCURRENT`` at a time, on one local Ray instance, after
an untimed warm-up sweep (Ray starts its worker processes on the first one), repeated
``--repeats`` times with the order of the searchers rotated each round:

1. ``HBOSearch`` warm-started with the sources (``history=...``), ``SOBOL`` Sobol trials
   first; running trials are pending points of the acquisition;
2. what a Tune user would otherwise run on the target alone: Optuna's ``GPSampler`` and
   its default TPE through Tune's ``OptunaSearch``, and Tune's default search (random
   sampling of the same ``param_space``, seeded);
3. a ``Searcher`` that draws uniform points and keeps no model (:class:`UniformSearcher`):
   what Tune's searcher protocol costs by itself. Tune asks a ``Searcher`` for one trial at
   a time, as a slot frees, where its random search queues every trial at once.

Prints hbo's trials in the order they were asked, the best values so far of every sweep
(first round; every round is seeded alike) and each searcher's median wall time over the
rounds, as a ratio to random search's (the driver, where the searchers fit, on one torch
thread); the summary is written to
``experiments/results/ray_tune_transfer.md``. One seed: the regret columns show the
integration at work, they are not a benchmark; the wall times are the cost of each
searcher around a function that costs nothing.

Run: ``python experiments/ray_tune_transfer.py`` (about a minute on 2 idle cores).
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from collections import defaultdict
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import ray
import torch
from ray import tune
from ray.tune.search import Searcher
from ray.tune.search.basic_variant import BasicVariantGenerator
from ray.tune.search.optuna import OptunaSearch

from hbo.integrations.ray import HBOSearch

RESULTS = Path(__file__).resolve().parent / "results"
SAMPLES, CONCURRENT, SOBOL, SEED = 20, 2, 4, 0
SPACE = {"x1": tune.uniform(-5.0, 10.0), "x2": tune.uniform(0.0, 15.0)}


def branin(x1: float, x2: float) -> float:
    """Branin (Dixon & Szego 1978) with BoTorch's constants, in plain Python for the workers."""
    b, c, t = 5.1 / (4 * np.pi**2), 5 / np.pi, 1 / (8 * np.pi)
    return float((x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * np.cos(x1) + 10)


SOURCES = {
    "source_a": lambda x1, x2: branin(x1 + 0.6, x2),
    "source_b": lambda x1, x2: 3.0 * branin(x1 - 0.4, x2 - 0.5) + 40.0,
}


def source_history(fn, n: int = 20, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"x1": rng.uniform(-5, 10, n), "x2": rng.uniform(0, 15, n)})
    frame["loss"] = [fn(a, b) for a, b in zip(frame.x1, frame.x2, strict=True)]
    return frame


def trainable(config: dict) -> None:
    tune.report({"loss": branin(config["x1"], config["x2"])})


def sweep(search_alg, storage: str, name: str) -> tune.ResultGrid:
    tuner = tune.Tuner(
        trainable,
        param_space=SPACE,
        tune_config=tune.TuneConfig(
            search_alg=search_alg,
            metric="loss",
            mode="min",
            num_samples=SAMPLES,
            max_concurrent_trials=CONCURRENT,
            reuse_actors=True,
        ),
        run_config=tune.RunConfig(storage_path=storage, name=name, verbose=0),
    )
    return tuner.fit()


class UniformSearcher(Searcher):
    """Uniform points of ``SPACE``, no model: a ``Searcher`` that costs nothing to ask."""

    def __init__(self, seed: int) -> None:
        super().__init__(metric="loss", mode="min")
        self.rng = np.random.default_rng(seed)

    def set_search_properties(self, metric, mode, config, **spec) -> bool:
        return True  # draws from SPACE itself

    def suggest(self, trial_id: str) -> dict:
        return {name: float(self.rng.uniform(d.lower, d.upper)) for name, d in SPACE.items()}

    def on_trial_complete(self, trial_id: str, result=None, error: bool = False) -> None:
        pass


def searchers(history: dict[str, pd.DataFrame]) -> dict[str, Searcher]:
    """Each sweep's search algorithm by its column name, hbo first."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return {
        "hbo (with 2 source tasks)": HBOSearch(
            task="target", history=history, seed=SEED, n_initial=SOBOL
        ),
        "Optuna GPSampler": OptunaSearch(sampler=optuna.samplers.GPSampler(seed=SEED)),
        "Optuna TPE": OptunaSearch(sampler=optuna.samplers.TPESampler(seed=SEED)),
        "Tune random search": BasicVariantGenerator(random_state=SEED),
        "Searcher of uniform points (no model)": UniformSearcher(SEED),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="rounds of the sweeps")
    repeats = parser.parse_args(argv).repeats
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    torch.set_num_threads(1)  # the driver fits; a second thread on 2 busy cores slows it
    history = {name: source_history(fn, seed=i + 1) for i, (name, fn) in enumerate(SOURCES.items())}
    values, seconds, first = {}, defaultdict(list), {}
    ray.init(num_cpus=CONCURRENT, include_dashboard=False, log_to_driver=False)
    try:
        with tempfile.TemporaryDirectory() as storage:
            sweep(BasicVariantGenerator(random_state=SEED + 1), storage, "warm-up")
            for round_ in range(repeats):
                algorithms = searchers(history)
                first = first or algorithms
                names = list(algorithms)
                for name in names[round_ % len(names):] + names[:round_ % len(names)]:
                    start = time.perf_counter()
                    results = sweep(algorithms[name], storage, f"{round_}-{names.index(name)}")
                    seconds[name].append(time.perf_counter() - start)
                    values.setdefault(name, [r.metrics["loss"] for r in results])
                print(f"round {round_ + 1}/{repeats}: "
                      + ", ".join(f"{n} {s[-1]:.1f} s" for n, s in seconds.items()), flush=True)
    finally:
        ray.shutdown()

    hbo_name = next(iter(first))
    study = first[hbo_name].study
    asked = study.trials_dataframe().query("origin == 'asked'").sort_values("trial_id")
    values[hbo_name] = asked.value.to_list()  # in ask order (Tune's results are not)
    table = pd.DataFrame(
        {name: np.minimum.accumulate(v) for name, v in values.items()},
        index=pd.RangeIndex(1, SAMPLES + 1, name="trial"),
    )
    median = {name: float(np.median(s)) for name, s in seconds.items()}
    timing = pd.DataFrame(
        {f"median wall time of {repeats} (s)": median,
         "range (s)": {n: f"{min(s):.1f}-{max(s):.1f}" for n, s in seconds.items()},
         "ratio to random search": {n: s / median["Tune random search"]
                                    for n, s in median.items()}}
    )
    with pd.option_context("display.width", 200, "display.max_columns", None):
        print("=== HBOSearch trials (target task, in the order they were asked)")
        print(asked[["trial_id", "state", "value", "x1", "x2"]].round(3).to_string(index=False))
        print(f"\n=== best loss so far (global minimum 0.3979; hbo: first {SOBOL} asks Sobol)")
        print(table.round(3).to_string())
        print("\n=== wall time of each searcher's sweeps")
        print(timing.round(2).to_string())
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "ray_tune_transfer.md").write_text(
        "# hbo inside Ray Tune: best Branin value so far on the target task\n\n"
        f"One seed ({SEED}); {SAMPLES} trials, {CONCURRENT} at a time; global minimum 0.3979. "
        "hbo's column in the order it asked, the others in Tune's order of results. "
        "Command: `python experiments/ray_tune_transfer.py`.\n\n```\n"
        + table.round(3).to_string()
        + f"\n```\n\nWall time of each searcher's sweep ({repeats} rounds on the same machine, "
        "the order rotated, after a warm-up sweep):\n\n```\n"
        + timing.round(2).to_string() + "\n```\n"
    )


if __name__ == "__main__":
    main()
