"""hbo inside a Ray Tune sweep: tuning a Branin with the history of two related Branins.

Same family as ``experiments/ax_transfer.py`` (botorch.test_functions.Branin, global
minimum 0.397887): the target is Branin itself; ``source_a`` is Branin shifted in
``x1``, ``source_b`` is shifted in both inputs and in other units (3 f + 40). Each
source brings 20 uniformly drawn evaluations.

Two sweeps of ``SAMPLES`` trials, ``CONCURRENT`` at a time, on a local Ray instance:

1. ``HBOSearch`` warm-started with the sources (``history=...``), ``SOBOL`` Sobol trials
   first; running trials are pending points of the acquisition;
2. Tune's default search (random sampling of the same ``param_space``, seeded).

Prints each sweep's trials in the order they were asked, the best values and each
sweep's wall time (the driver, where ``HBOSearch`` fits, on one torch thread); the
summary is written to ``experiments/results/ray_tune_transfer.md``. One seed: this
shows the integration at work, it is not a benchmark.

Run: ``python experiments/ray_tune_transfer.py`` (3 to 4 minutes on 2 busy cores).
"""

from __future__ import annotations

import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import ray
import torch
from ray import tune
from ray.tune.search.basic_variant import BasicVariantGenerator

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


def main() -> None:
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    torch.set_num_threads(1)  # the driver fits; a second thread on 2 busy cores slows it
    history = {name: source_history(fn, seed=i + 1) for i, (name, fn) in enumerate(SOURCES.items())}
    searcher = HBOSearch(task="target", history=history, seed=SEED, n_initial=SOBOL)
    ray.init(num_cpus=CONCURRENT, include_dashboard=False, log_to_driver=False)
    try:
        with tempfile.TemporaryDirectory() as storage:
            start = time.perf_counter()
            sweep(searcher, storage, "hbo")
            hbo_seconds = time.perf_counter() - start
            random = sweep(BasicVariantGenerator(random_state=SEED), storage, "random")
            random_seconds = time.perf_counter() - start - hbo_seconds
    finally:
        ray.shutdown()

    asked = searcher.study.trials_dataframe().query("origin == 'asked'").sort_values("trial_id")
    hbo_values = asked.value.to_numpy()
    random_values = np.array([r.metrics["loss"] for r in random])
    table = pd.DataFrame(
        {
            "hbo (with 2 source tasks)": np.minimum.accumulate(hbo_values),
            "Tune random search": np.minimum.accumulate(random_values),
        },
        index=pd.RangeIndex(1, SAMPLES + 1, name="trial (in ask order)"),
    )
    with pd.option_context("display.width", 200, "display.max_columns", None):
        print("=== HBOSearch trials (target task, in the order they were asked)")
        print(asked[["trial_id", "state", "value", "x1", "x2"]].round(3).to_string(index=False))
        print(f"\n=== best loss so far (global minimum 0.3979; hbo: first {SOBOL} asks Sobol)")
        print(table.round(3).to_string())
    timing = (f"Wall time of the sweeps: hbo {hbo_seconds:.0f} s, random search "
              f"{random_seconds:.0f} s (ratio {hbo_seconds / random_seconds:.2f}).")
    print(timing)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "ray_tune_transfer.md").write_text(
        "# hbo inside Ray Tune: best Branin value so far on the target task\n\n"
        f"One seed ({SEED}); {SAMPLES} trials, {CONCURRENT} at a time; global minimum 0.3979. "
        "Both columns in the order the trials were created.\n\n```\n"
        + table.round(3).to_string()
        + "\n```\n\n" + timing + "\n"
    )


if __name__ == "__main__":
    main()
