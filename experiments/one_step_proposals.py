"""One proposal on the same data: full Bayes (NUTS) against the MAP fit, without the path.

The transfer benchmark compares regret after ``k`` evaluations, run for run. From the
second evaluation on, the two arms condition on different points, and a small difference
in one proposal changes every later one: the paired difference at 5 evaluations mixes
the quality of the surrogates with the chaos of the path. Here both arms get the *same*
data, the benchmark family's 5 x 30 source history and the first ``n`` scrambled-Sobol
target points (``n`` = 2 and 4: the target's data count at the 3rd and 5th evaluation; 9:
at the 10th), and each proposes one point with its defaults (``hbo.Study.ask()``,
``inference="map"`` and ``"nuts"``). Reported per family and ``n``: the regret of the
proposed point (its value minus the family's minimum), paired by seed, as the benchmark's
paired table (NUTS against MAP: count, geometric-mean ratio with a 90% bootstrap interval
over pairs, Wilcoxon p), and the median distance between the two proposals. The target's
points here are space-filling, where a run's are its own earlier proposals: this isolates
the surrogate's decision, not the whole loop.

    python experiments/one_step_proposals.py --families hartmann6 --target-points 2 3 4
    python experiments/one_step_proposals.py --families branin hartmann3 hartmann6
        # seeds 0-11, n = 2, 4, 9: ~45 min on 2 cores

Runs are appended to ``results/one_step_proposals_runs.jsonl`` (a stopped run resumes);
the table goes to ``results/one_step_proposals.md``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from paired_comparison import log10_ratio, paired_row
from resumable import read_records, run_jobs

RESULTS = Path(__file__).resolve().parent / "results"
INFERENCES = ("map", "nuts")


def propose(job: tuple[str, int, int, dict]) -> dict:
    """``job = (family, seed, n, hyperpriors)``: both arms' proposal on the same data, and
    its regret. ``hyperpriors``: group -> ``(loc, scale, tau_scale)`` replacing the default."""
    import transfer_benchmark as tb

    from hbo.surrogate import Hyperprior

    family, seed, n, priors = job
    hyperpriors = {g: Hyperprior(*v) for g, v in priors.items()} or None
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    target, sources = tb.make_family(family, seed)
    f_min = target.minimum(np.random.default_rng(seed))
    record: dict = {"family": family, "seed": seed, "target_points": n}
    for inference in INFERENCES:
        study = tb.study_with_history(target, sources, seed, inference, target_points=n,
                                      hyperpriors=hyperpriors)
        start = time.perf_counter()
        trial = study.ask()
        x = np.array([trial.params[name] for name in study.space.names])
        record[inference] = {"x": x.tolist(), "regret": float(target(x)[0]) - f_min,
                             "seconds": time.perf_counter() - start}
    return record


def table(records: list[dict], families: list[str]) -> str:
    """Paired NUTS-against-MAP rows per family and ``n`` (those run), per family over all
    ``n`` and pooled over the families."""
    rng = np.random.default_rng(0)
    lines = ["| family | target points | pairs | NUTS <= MAP | mean log10 ratio [90%] | "
             "geometric-mean ratio [90%] | Wilcoxon p | median distance |",
             "|---|---|---|---|---|---|---|---|"]

    def row(label: str, chosen: list[dict]) -> str:
        d = [log10_ratio(r["nuts"]["regret"], r["map"]["regret"]) for r in chosen]
        dist = [np.linalg.norm(np.subtract(r["nuts"]["x"], r["map"]["x"])) for r in chosen]
        median = f"{np.median(dist):.3f}" if dist else "-"
        return paired_row(label, d, rng) + f" {median} |"

    everything = []
    for family in families:
        mine = [r for r in records if r["family"] == family]
        for n in sorted({r["target_points"] for r in mine}):
            lines.append(row(f"{family} | {n}", [r for r in mine if r["target_points"] == n]))
        lines.append(row(f"{family} | all", mine))
        everything += mine
    lines.append(row("pooled | all", everything))
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    import transfer_benchmark as tb

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--families", nargs="+", default=["hartmann6"],
                        choices=[f for f in tb.FAMILIES if f != "unrelated"])
    parser.add_argument("--seeds", type=int, default=12)
    parser.add_argument("--target-points", nargs="+", type=int, default=[2, 4, 9])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--hyperprior", nargs=4, action="append", default=[],
                        metavar=("GROUP", "LOC", "SCALE", "TAU_SCALE"),
                        help="replace a group's default hyperprior in both arms (repeatable; "
                        "use its own --runs and --out)")
    parser.add_argument("--runs", type=Path, default=RESULTS / "one_step_proposals_runs.jsonl")
    parser.add_argument("--out", default="one_step_proposals", help="table name in results/")
    args = parser.parse_args(argv)
    if min(args.target_points) < 1:
        parser.error("--target-points must be >= 1")
    priors = {g: tuple(map(float, v)) for g, *v in args.hyperprior}
    records = read_records(args.runs)
    done = {(r["family"], r["seed"], r["target_points"]) for r in records}
    jobs = [(f, s, n, priors) for s in range(args.seeds) for f in args.families
            for n in args.target_points if (f, s, n) not in done]
    print(f"{len(done)} proposals read from {args.runs}; {len(jobs)} to run", flush=True)
    records += run_jobs(
        propose, jobs, args.runs, args.workers,
        lambda r: (f"{r['family']} seed {r['seed']} n {r['target_points']}: regret MAP "
                   f"{r['map']['regret']:.4g}, NUTS {r['nuts']['regret']:.4g}"),
    )
    text = ("# One proposal on the same data: NUTS against MAP\n\n"
            f"Source history 5 x {tb.N_SOURCE_POINTS} points; the first n scrambled-Sobol "
            "target points; regret of the proposed point, paired by seed (every run in "
            f"{args.runs.name}). Last command: `python experiments/one_step_proposals.py "
            f"--families {' '.join(args.families)} --seeds {args.seeds} --target-points "
            f"{' '.join(map(str, args.target_points))}"
            + "".join(f" --hyperprior {g} {' '.join(v)}" for g, *v in args.hyperprior)
            + "`\n\n"
            + table(records, [f for f in tb.FAMILIES if any(r["family"] == f for r in records)]))
    (RESULTS / f"{args.out}.md").write_text(text)
    print(text)


if __name__ == "__main__":
    sys.path.insert(0, os.fspath(Path(__file__).resolve().parents[1]))
    main()
