"""The acquisition optimizer's stopping tolerance, one ask at a time: BoTorch's default
against hbo's ``LBFGS_FACTR`` (:mod:`hbo.acquisition`), from the same state.

At every ask of hbo's loop the acquisition is optimized twice from the same random state,
once with BoTorch's default L-BFGS-B tolerance (``factr`` 1e7) and once with ``--factr``
(default: hbo's ``LBFGS_FACTR``); the loop goes on with hbo's own proposal. States: the
transfer families' asks and the Ray Tune sweep's (qLogNEI with one pending trial), replayed
by :mod:`replayed_asks`.

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
import replayed_asks
import torch
from markdown_table import markdown

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
    replayed_asks.add_arguments(parser)
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)
    two = acquisition.optimize_acqf = TwoTolerances(args.factr)
    replayed_asks.replay(two, args)
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
