"""hbo inside an Ax experiment: tuning a Branin with the history of two related Branins.

The family (botorch.test_functions.Branin, global minimum 0.397887):

    target:   f(x1, x2)       = Branin(x1, x2)
    source a: f_a(x1, x2)     = Branin(x1 + 0.6, x2)                  (shifted optimum)
    source b: f_b(x1, x2)     = 3 Branin(x1 - 0.4, x2 - 0.5) + 40     (shifted, other units)

Each source brings 20 uniformly drawn evaluations. Three Ax Clients run the same
budget (``TRIALS`` trials, the first ``SOBOL`` by Sobol, batches of one) on the target:

1. hbo with the sources attached as tasks (``add_source_tasks``);
2. hbo on the target alone (the model is then a single-task GP with hbo's priors);
3. Ax's own default generation strategy (Sobol, then its modular BoTorch generator).

Prints Ax's summary of run 1, Ax's best observed parameterization, and the best value
found after each trial in each run; the table is also written to
``experiments/results/ax_transfer.md``. One seed: this shows the integration at work,
it is not a benchmark (``experiments/transfer_benchmark.py`` is).

Run: ``python experiments/ax_transfer.py`` (8 minutes on 2 busy cores).
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from ax.api.client import Client
from ax.api.configs import RangeParameterConfig
from botorch.test_functions import Branin

from hbo.integrations.ax import add_source_tasks, hbo_generation_strategy

RESULTS = Path(__file__).resolve().parent / "results"
TRIALS, SOBOL, SEED = 15, 4, 0
BRANIN = Branin()


def branin(x1: float, x2: float, shift1: float = 0.0, shift2: float = 0.0) -> float:
    return float(BRANIN(torch.tensor([[x1 + shift1, x2 + shift2]], dtype=torch.double)))


SOURCES = {
    "source_a": lambda x1, x2: branin(x1, x2, 0.6),
    "source_b": lambda x1, x2: 3.0 * branin(x1, x2, -0.4, -0.5) + 40.0,
}


def source_history(fn, n: int = 20, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"x1": rng.uniform(-5, 10, n), "x2": rng.uniform(0, 15, n)})
    frame["branin"] = [fn(a, b) for a, b in zip(frame.x1, frame.x2, strict=True)]
    return frame


def new_client() -> Client:
    client = Client(random_seed=SEED)
    client.configure_experiment(
        parameters=[
            RangeParameterConfig(name="x1", parameter_type="float", bounds=(-5.0, 10.0)),
            RangeParameterConfig(name="x2", parameter_type="float", bounds=(0.0, 15.0)),
        ],
        name="branin_target",
    )
    client.configure_optimization(objective="-branin")
    return client


def run(client: Client) -> list[float]:
    """``TRIALS`` trials on the target; returns the best value after each."""
    best, trace = np.inf, []
    for _ in range(TRIALS):
        for index, params in client.get_next_trials(max_trials=1).items():
            value = branin(params["x1"], params["x2"])
            client.complete_trial(index, raw_data={"branin": value})
            best = min(best, value)
            trace.append(best)
    return trace


def main() -> None:
    logging.getLogger("ax").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    traces = {}

    pooled = new_client()
    add_source_tasks(
        pooled,
        {name: source_history(fn, seed=i + 1) for i, (name, fn) in enumerate(SOURCES.items())},
        target_task="target",
    )
    pooled.set_generation_strategy(hbo_generation_strategy(SOBOL, seed=SEED))
    traces["hbo + 2 source tasks"] = run(pooled)

    alone = new_client()
    alone.set_generation_strategy(hbo_generation_strategy(SOBOL, seed=SEED))
    traces["hbo, target only"] = run(alone)

    default = new_client()
    default.configure_generation_strategy(
        initialization_budget=SOBOL, initialization_random_seed=SEED
    )
    traces["Ax default"] = run(default)

    with pd.option_context("display.width", 200, "display.max_columns", None):
        print("=== Ax's summary of the hbo run with source tasks")
        print(pooled.summarize())
        print("\n=== Ax's best parameterization (hbo run with source tasks, observed values)")
        params, observed, index, arm = pooled.get_best_parameterization(use_model_predictions=False)
        print(f"trial {index} ({arm}): {params}; observed branin: {observed}")
        table = pd.DataFrame(traces, index=pd.RangeIndex(1, TRIALS + 1, name="trial"))
        print(
            f"\n=== best branin so far on the target (global minimum 0.3979; first {SOBOL} "
            "trials Sobol)"
        )
        print(table.round(3).to_string())
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "ax_transfer.md").write_text(
        "# hbo inside Ax: best Branin value so far on the target task\n\n"
        f"One seed ({SEED}); {SOBOL} Sobol trials, then the model; global minimum 0.3979.\n\n"
        + "```\n"
        + table.round(3).to_string()
        + "\n```\n"
    )


if __name__ == "__main__":
    main()
