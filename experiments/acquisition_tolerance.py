"""The acquisition optimizer's stopping tolerance, one ask at a time: BoTorch's default
against hbo's ``LBFGS_FACTR`` (:mod:`hbo.acquisition`), from the same state.

At every ask of hbo's loop the acquisition is optimized twice from the same random state,
once with BoTorch's default L-BFGS-B tolerance (``factr`` 1e7) and once with ``--factr``
(default: hbo's ``LBFGS_FACTR``); the loop goes on with hbo's own proposal. States:

* the transfer families of ``experiments/transfer_benchmark.py`` (5 x 30 history, analytic
  LogEI: nothing pending), ``--asks`` asks on ``--seeds`` seeds each;
* the Ray Tune sweep of ``experiments/ray_tune_transfer.py`` (Branin with two source tasks,
  20 trials two at a time, so qLogNEI with one pending trial), its searcher's calls in the
  order Tune makes them, without Ray, ``--ray-seeds`` seeds.

Per family: the states, those where both proposals agree to 1e-3 in every coordinate, where
they differ the count with a lower / higher acquisition value under the looser tolerance
(beyond 1e-6), and the optimizer's time with the looser tolerance as a ratio to the
default's. Writes ``experiments/results/acquisition_tolerance.md``.

Run: ``python experiments/acquisition_tolerance.py`` (about 10 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import pandas as pd
import torch
from markdown_table import markdown
from transfer_benchmark import FAMILIES, make_family, run_hbo

import hbo.acquisition as acquisition

RESULTS = Path(__file__).resolve().parent / "results"
SAME = 1e-3  # proposals within this distance (every coordinate, unit cube) are the same


class TwoTolerances:
    """Stands in for ``optimize_acqf`` in :mod:`hbo.acquisition`: optimizes with BoTorch's
    default tolerance and with ``factr`` from the same random state, records both, and
    returns the ``factr`` result (hbo's loop goes on as it runs)."""

    def __init__(self, factr: float) -> None:
        self.factr, self.rows, self.label = factr, [], ("", 0)
        self.optimize_acqf = acquisition.optimize_acqf

    def __call__(self, acqf, **kwargs):
        kwargs.pop("options", None)
        state = torch.get_rng_state()
        start = time.perf_counter()
        X_default, _ = self.optimize_acqf(acqf, **kwargs)
        seconds_default = time.perf_counter() - start
        torch.set_rng_state(state)
        start = time.perf_counter()
        X, value = self.optimize_acqf(acqf, options={"factr": self.factr}, **kwargs)
        seconds = time.perf_counter() - start
        with torch.no_grad():
            gain = float(acqf(X.unsqueeze(0)) - acqf(X_default.unsqueeze(0)))
        self.rows.append({"family": self.label[0], "seed": self.label[1],
                          "distance": float((X - X_default).abs().max()), "gain": gain,
                          "seconds_default": seconds_default, "seconds": seconds})
        return X, value


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


def summary(rows: list[dict]) -> pd.DataFrame:
    df = pd.DataFrame(rows)
    differ = df.distance > SAME
    table = df.assign(same=~differ, lower=differ & (df.gain < -1e-6),
                      higher=differ & (df.gain > 1e-6)).groupby("family", sort=False).agg(
        states=("same", "size"), same=("same", "sum"), lower=("lower", "sum"),
        higher=("higher", "sum"), largest_loss=("gain", lambda gain: max(0.0, -gain.min())),
        seconds_default=("seconds_default", "sum"), seconds=("seconds", "sum"))
    table["time ratio"] = table.seconds / table.seconds_default
    return table.round({"largest_loss": 3, "seconds_default": 1, "seconds": 1, "time ratio": 2})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--factr", type=float, default=acquisition.LBFGS_FACTR)
    parser.add_argument("--families", nargs="+", default=list(FAMILIES))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--asks", type=int, default=20)
    parser.add_argument("--ray-seeds", type=int, default=4)
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)
    two = acquisition.optimize_acqf = TwoTolerances(args.factr)
    for family in args.families:
        for seed in range(args.seeds):
            two.label = (family, seed)
            target, sources = make_family(family, seed)
            run_hbo(target, sources, seed, with_history=True, budget=args.asks)
            print(f"{family} seed {seed}: {len(two.rows)} states so far", flush=True)
    for seed in range(args.ray_seeds):
        two.label = ("ray sweep (qLogNEI, 1 pending)", seed)
        ray_sweep_asks(seed)
        print(f"ray sweep seed {seed}: {len(two.rows)} states so far", flush=True)
    table = summary(two.rows)
    text = (
        f"# Acquisition optimizer: factr {args.factr:g} against BoTorch's default (1e7)\n\n"
        "One ask at a time, the same state and random numbers "
        "(`python experiments/acquisition_tolerance.py`). `same`: proposals within "
        f"{SAME:g} in every coordinate; `lower` / `higher`: the proposals differ and the looser "
        "tolerance's has a lower / higher acquisition value (log units); `largest_loss`: "
        "the most acquisition value it gave up; `time ratio`: its optimizer time over the "
        "default's.\n\n" + markdown(table.reset_index().to_dict("records")) + "\n"
    )
    print(text)
    (RESULTS / "acquisition_tolerance.md").write_text(text)


if __name__ == "__main__":
    main()
