"""Refits from the last fit's curvature against L-BFGS-B, one fit at a time, from the same
start (:mod:`hbo.surrogate.fit`, :class:`~hbo.surrogate.fit.Curvature`).

At every MAP fit of hbo's loop that has a curvature to start from (a refit of a model of the
same tasks and parameters), the fit is run twice from the same warm start: by L-BFGS-B, as
without the curvature, and as hbo fits (BFGS from the carried inverse Hessian, L-BFGS-B if
that does not converge); the loop goes on with hbo's fit. States: the transfer families'
asks and the Ray Tune sweep's, replayed by :mod:`replayed_asks`.

Per family: the refits, how many BFGS runs were kept (:func:`~hbo.surrogate.fit.converged`),
the objective's evaluations and seconds of each, and the fitted log joint of hbo's fit minus
L-BFGS-B's in nats (positive: hbo's is higher). Writes
``experiments/results/refit_curvature.md``.

Run: ``python experiments/refit_curvature.py`` (about 10 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import replayed_asks
import torch
from markdown_table import markdown

import hbo.surrogate.fit as fit

RESULTS = Path(__file__).resolve().parent / "results"


class Counting:
    """An ``NdarrayOptimizationClosure`` that counts its evaluations."""

    def __init__(self, closure) -> None:
        self.closure, self.evaluations = closure, 0

    def __call__(self, x=None):
        self.evaluations += 1
        return self.closure(x)

    @property
    def state(self):
        return self.closure.state

    @state.setter
    def state(self, x) -> None:
        self.closure.state = x


class BothOptimizers:
    """Stands in for ``fit._minimize``: with a curvature, minimizes from the same start
    without it (L-BFGS-B) and with it, records both, and returns hbo's result."""

    def __init__(self) -> None:
        self.rows, self.label, self.n = [], ("", 0), 0
        self.minimize, self.fit_map = fit._minimize, fit.fit_map

    def fit_map_recording_n(self, model, **kwargs):
        self.n = model._tasks.numel()
        return self.fit_map(model, **kwargs)

    def __call__(self, closure, bounds, curvature, maxiter):
        if curvature is None:
            return self.minimize(closure, bounds, curvature, maxiter)
        start = closure.state
        runs = {}
        for name, given in (("l-bfgs-b", None), ("hbo", curvature)):
            counting, began = Counting(closure), time.perf_counter()
            closure.state = start
            x, inverse_hessian = self.minimize(counting, bounds, given, maxiter)
            seconds = time.perf_counter() - began
            runs[name] = (x, inverse_hessian, float(closure(x)[0]), counting.evaluations, seconds)
        kept = fit.converged.calls[-1] if fit.converged.calls else False
        fit.converged.calls.clear()
        self.rows.append({
            "family": self.label[0], "seed": self.label[1], "kept": kept,
            "evaluations_lbfgsb": runs["l-bfgs-b"][3], "evaluations": runs["hbo"][3],
            "seconds_lbfgsb": runs["l-bfgs-b"][4], "seconds": runs["hbo"][4],
            "gain_nats": (runs["l-bfgs-b"][2] - runs["hbo"][2]) * self.n,
        })
        return runs["hbo"][:2]


def recording_converged():
    """``fit.converged``, recording each verdict in ``.calls``."""
    converged = fit.converged

    def recorded(result):
        verdict = converged(result)
        recorded.calls.append(verdict)
        return verdict

    recorded.calls = []
    return recorded


def summary(rows: list[dict]) -> pd.DataFrame:
    df = pd.DataFrame(rows)
    table = df.groupby("family", sort=False).agg(
        refits=("kept", "size"), bfgs_kept=("kept", "sum"),
        evaluations_lbfgsb=("evaluations_lbfgsb", "sum"), evaluations=("evaluations", "sum"),
        seconds_lbfgsb=("seconds_lbfgsb", "sum"), seconds=("seconds", "sum"),
        median_gain_nats=("gain_nats", "median"),
        largest_loss_nats=("gain_nats", lambda gain: max(0.0, -gain.min())),
        largest_gain_nats=("gain_nats", lambda gain: max(0.0, gain.max())))
    table["time ratio"] = table.seconds / table.seconds_lbfgsb
    return table.round({"seconds_lbfgsb": 2, "seconds": 2, "median_gain_nats": 5,
                        "largest_loss_nats": 4, "largest_gain_nats": 4, "time ratio": 2})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    replayed_asks.add_arguments(parser)
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)
    both = BothOptimizers()
    fit._minimize, fit.fit_map = both, both.fit_map_recording_n
    fit.converged = recording_converged()
    replayed_asks.replay(both, args)
    table = summary(both.rows)
    gains = np.array([r["gain_nats"] for r in both.rows])
    text = (
        "# Refits from the last fit's curvature (BFGS) against L-BFGS-B, from the same start\n\n"
        "`python experiments/refit_curvature.py`. Per family, every refit that had a curvature "
        "to start from: `bfgs_kept`, those where BFGS converged by its own estimate (else "
        "L-BFGS-B ran after it); evaluations of the objective and seconds of each (hbo's "
        "include a dropped BFGS run); `gain_nats`: hbo's fitted log joint minus L-BFGS-B's.\n\n"
        + markdown(table.reset_index().to_dict("records"))
        + f"\n\nAll {len(gains)} refits: |gain| at most {np.abs(gains).max():.2g} nats, "
        f"95% within {np.quantile(np.abs(gains), 0.95):.2g}.\n"
    )
    print(text)
    (RESULTS / "refit_curvature.md").write_text(text)


if __name__ == "__main__":
    main()
