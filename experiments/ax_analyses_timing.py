"""Time of Ax's ``client.compute_analyses()`` with hbo's generation strategy and with Ax's own.

Issue #29 measured 649 s for hbo's strategy against 3.2 s for Ax's default after 40
trials: Ax's diagnostics cross-validate the model, and hbo's strategy refitted every
fold from the prior. Folds now load the full fit's hyperparameters (``refit_on_cv=False``,
as Ax's own models), and the model's posterior gives means and variances without a
``q x q`` covariance (Ax's sensitivity analysis predicts 4096 points at a time).

The problem (both runs in one process, one after the other, same seed):

    target:   Branin(x1, x2) + 5 [kind = "b"]                     (what is tuned)
    sources:  Branin(x1 + 0.6, x2), 3 Branin(x1 - 0.4, x2 - 0.5) + 40   (20 rows each)

1. hbo: ``add_source_tasks`` with the two sources, ``hbo_generation_strategy``;
2. Ax's default strategy on the target alone (what Ax runs without hbo).

Each runs ``--trials`` trials on the target (the first ``--sobol`` by Sobol), then
``compute_analyses`` is timed; the table counts the analysis cards and those that are
errors (a fast analysis that failed is not a fast analysis). Written to
``experiments/results/ax_analyses_timing.md``.

Before these changes (commit e22aabb) hbo's ``compute_analyses`` on this problem had not
finished after 68 minutes (``experiments/results/ax_analyses_timing.md``).

Run: ``python experiments/ax_analyses_timing.py`` (``--trials 40 --sobol 5 --seed 0``).
"""

from __future__ import annotations

import argparse
import logging
import platform
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from ax.api.client import Client
from ax.api.configs import ChoiceParameterConfig, RangeParameterConfig
from ax.core.analysis_card import ErrorAnalysisCard
from botorch.test_functions import Branin
from markdown_table import markdown

from hbo.integrations.ax import add_source_tasks, hbo_generation_strategy

RESULTS = Path(__file__).resolve().parent / "results"
BRANIN = Branin()
LEVELS = {"a": 0.0, "b": 5.0}


def branin(params: dict, shift1: float = 0.0, shift2: float = 0.0) -> float:
    x = torch.tensor([[params["x1"] + shift1, params["x2"] + shift2]], dtype=torch.double)
    return float(BRANIN(x)) + LEVELS[params["kind"]]


SOURCES: dict[str, Callable[[dict], float]] = {
    "source_a": lambda p: branin(p, 0.6),
    "source_b": lambda p: 3.0 * branin(p, -0.4, -0.5) + 40.0,
}


def source_history(fn: Callable[[dict], float], seed: int, n: int = 20) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "x1": rng.uniform(-5, 10, n),
            "x2": rng.uniform(0, 15, n),
            "kind": rng.choice(list(LEVELS), n),
        }
    )
    frame["loss"] = [fn(r) for r in frame.to_dict("records")]
    return frame


def new_client(seed: int) -> Client:
    client = Client(random_seed=seed)
    client.configure_experiment(
        parameters=[
            RangeParameterConfig(name="x1", parameter_type="float", bounds=(-5.0, 10.0)),
            RangeParameterConfig(name="x2", parameter_type="float", bounds=(0.0, 15.0)),
            ChoiceParameterConfig(
                name="kind", values=list(LEVELS), parameter_type="str", is_ordered=False
            ),
        ],
        name="branin_target",
    )
    client.configure_optimization(objective="-loss")
    return client


def run(client: Client, trials: int) -> float:
    """``trials`` trials on the target, one at a time; returns the seconds taken."""
    start = time.perf_counter()
    for _ in range(trials):
        for index, params in client.get_next_trials(max_trials=1).items():
            client.complete_trial(index, raw_data={"loss": branin(params)})
    return time.perf_counter() - start


def time_analyses(client: Client) -> tuple[float, int, int]:
    """Seconds of ``compute_analyses``, the number of cards, and of error cards."""
    start = time.perf_counter()
    cards = client.compute_analyses(display=False)
    seconds = time.perf_counter() - start
    flat = [leaf for card in cards for leaf in card.flatten()]
    return seconds, len(flat), sum(isinstance(c, ErrorAnalysisCard) for c in flat)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--sobol", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    logging.getLogger("ax").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore")

    hbo = new_client(args.seed)
    sources = {
        name: source_history(fn, seed=i + 1) for i, (name, fn) in enumerate(SOURCES.items())
    }
    add_source_tasks(hbo, sources, target_task="target")
    hbo.set_generation_strategy(hbo_generation_strategy(args.sobol, seed=args.seed))
    default = new_client(args.seed)
    default.configure_generation_strategy(
        initialization_budget=args.sobol, initialization_random_seed=args.seed
    )

    rows = []
    for name, client in (("hbo (2 source tasks)", hbo), ("Ax default", default)):
        loop = run(client, args.trials)
        seconds, cards, errors = time_analyses(client)
        rows.append(
            {
                "strategy": name,
                "trials run": args.trials,
                "loop s": round(loop, 1),
                "compute_analyses s": round(seconds, 2),
                "cards": cards,
                "error cards": errors,
            }
        )
    ratio = rows[0]["compute_analyses s"] / rows[1]["compute_analyses s"]
    text = markdown(rows)
    print(text)
    print(f"\nratio hbo / Ax default: {ratio:.1f}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "ax_analyses_timing.md").write_text(
        "# Ax's compute_analyses: hbo's generation strategy against Ax's default\n\n"
        f"`python experiments/ax_analyses_timing.py --trials {args.trials} --sobol "
        f"{args.sobol} --seed {args.seed}` ({time.strftime('%Y-%m-%d')}, "
        f"{platform.machine()}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads; both runs in the same process).\n\n"
        f"{text}\n\nRatio of the compute_analyses times, hbo / Ax default: {ratio:.1f}. "
        "Issue #29 measured 649 s against 3.2 s before folds reused the fitted "
        "hyperparameters.\n"
    )


if __name__ == "__main__":
    main()
