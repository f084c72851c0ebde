"""When may leave-one-out drop the shared function? Both models' proposals, one step at a time.

``hbo.Study`` fits the surrogate with and without the shared function ``g`` and drops
``g`` when the target's leave-one-out log density is higher without it by more than
``LOO_MARGIN`` nats (:mod:`hbo.surrogate.shared_choice`), once the target has
``MIN_TARGET_POINTS`` observations. This measures what that choice would do on fewer: for
each family, seed and ``n``, the benchmark's 5 x 30 source history and the first ``n``
scrambled-Sobol target points, both models are fitted (MAP) and each proposes one point
(``ask()`` with ``shared_function=True`` and ``False``). Reported per family and ``n``:
how often leave-one-out favours the model without ``g`` by more than the margin, and, in
those states, the regret of its proposal against the proposal with ``g`` (paired, as the
benchmark's tables: count, geometric-mean ratio with a 90% bootstrap interval, Wilcoxon p).

    python experiments/shared_choice_one_step.py                 # ~25 min on 2 cores
    python experiments/shared_choice_one_step.py --families branin --seeds 20 --target-points 4

Runs are appended to ``results/shared_choice_one_step_runs.jsonl`` (a stopped run
resumes); the table goes to ``results/shared_choice_one_step.md``.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path

import numpy as np
import torch
from paired_comparison import log10_ratio, paired_row
from resumable import read_records, run_jobs

RESULTS = Path(__file__).resolve().parent / "results"


def propose(job: tuple[str, int, int]) -> dict:
    """``job = (family, seed, n)``: each model's target leave-one-out density and the
    regret of its proposal, on the same data."""
    import transfer_benchmark as tb

    family, seed, n = job
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    target, sources = tb.make_family(family, seed)
    f_min = target.minimum(np.random.default_rng(seed))
    record: dict = {"family": family, "seed": seed, "target_points": n}
    for shared in (True, False):
        study = tb.study_with_history(target, sources, seed, target_points=n,
                                      shared_function=shared)
        trial = study.ask()
        model = study.proposer.fit(study, "target")  # the surrogate ask() just fitted (cached)
        x = np.array([trial.params[name] for name in study.space.names])
        record[f"g={shared}"] = {"loo": float(model.loo_log_density(0)),  # target: task 0
                                 "regret": float(target(x)[0]) - f_min, "x": x.tolist()}
    return record


def table(records: list[dict], margin: float) -> str:
    """Per family and ``n``: states, those where leave-one-out drops ``g``, and there the
    paired regret of the proposal without ``g`` against the one with it."""
    rng = np.random.default_rng(0)
    lines = ["| family | target points | states | LOO drops g | without g <= with g | "
             "mean log10 ratio [90%] | geometric-mean ratio [90%] | Wilcoxon p |",
             "|---|---|---|---|---|---|---|---|"]

    def row(label: str, chosen: list[dict]) -> str:
        dropped = [r for r in chosen
                   if r["g=False"]["loo"] - r["g=True"]["loo"] > margin]
        d = [log10_ratio(r["g=False"]["regret"], r["g=True"]["regret"]) for r in dropped]
        return paired_row(f"{label} | {len(chosen)}", d, rng)

    for family in sorted({r["family"] for r in records}):
        mine = [r for r in records if r["family"] == family]
        for n in sorted({r["target_points"] for r in mine}):
            lines.append(row(f"{family} | {n}", [r for r in mine if r["target_points"] == n]))
        lines.append(row(f"{family} | all", mine))
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    import transfer_benchmark as tb

    from hbo.surrogate.shared_choice import LOO_MARGIN

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--families", nargs="+", default=["branin", "unrelated"],
                        choices=tb.FAMILIES)
    parser.add_argument("--seeds", type=int, default=60)
    parser.add_argument("--first-seed", type=int, default=100,
                        help="seeds first-seed.. (100: apart from the benchmark's 0..49)")
    parser.add_argument("--target-points", nargs="+", type=int, default=[3, 4, 5, 6, 7, 9])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--runs", type=Path,
                        default=RESULTS / "shared_choice_one_step_runs.jsonl")
    args = parser.parse_args(argv)
    if min(args.target_points) < 2:
        parser.error("--target-points must be >= 2 (leave-one-out needs two points)")
    records = read_records(args.runs)
    done = {(r["family"], r["seed"], r["target_points"]) for r in records}
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    jobs = [(f, s, n) for s in seeds for f in args.families for n in args.target_points
            if (f, s, n) not in done]
    print(f"{len(done)} states read from {args.runs}; {len(jobs)} to run", flush=True)
    records += run_jobs(propose, jobs, args.runs, args.workers,
                        lambda r: f"{r['family']} seed {r['seed']} n {r['target_points']}",
                        every=20)
    text = ("# When may leave-one-out drop the shared function? One proposal per state\n\n"
            f"Source history 5 x {tb.N_SOURCE_POINTS} points; the first n scrambled-Sobol "
            "target points; per state both models' MAP fits and proposals. 'LOO drops g': "
            f"the target's leave-one-out log density is higher without g by more than "
            f"{LOO_MARGIN:g} nats; the paired columns compare, in those states, the regret "
            "of the proposal without g against the one with g (every state in "
            f"{args.runs.name}). Last command: `python experiments/shared_choice_one_step.py "
            f"--families {' '.join(args.families)} --seeds {args.seeds} --first-seed "
            f"{args.first_seed} --target-points {' '.join(map(str, args.target_points))}`\n\n"
            + table(records, LOO_MARGIN))
    (RESULTS / "shared_choice_one_step.md").write_text(text)
    print(text)


if __name__ == "__main__":
    sys.path.insert(0, os.fspath(Path(__file__).resolve().parents[1]))
    main()
