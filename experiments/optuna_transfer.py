"""hbo inside Optuna: ``HBOSampler`` with past studies as sources, against Optuna's samplers,
on the YAHPO Gym protocol of :mod:`yahpo_benchmark`.

Every arm runs through ``optuna.create_study(sampler=...)`` and ``study.ask`` / ``tell`` on the
same targets, history and seeds as ``yahpo_benchmark.py`` (its ``history``: sources are other
datasets of the scenario with uniformly random evaluations, ``5x50`` by default). The history
is handed to the samplers as a person would have it, as past Optuna studies:

* ``hbo_sampler``: :class:`hbo.integrations.optuna.HBOSampler` with the past studies as
  ``sources``, the space as ``search_space`` (so that hbo proposes from the first trial,
  before Optuna's intersection space is known) and the target dataset as ``task`` (the name
  ``yahpo_benchmark``'s ``hbo.Study`` gives it); hbo's defaults otherwise;
* ``ws_cmaes``: ``CmaEsSampler(source_trials=...)`` from the same trials (as
  ``yahpo_benchmark.ws_cmaes_sampler``: values standardized within each source);
* ``gp``: Optuna's ``GPSampler`` (the target alone; Optuna has no transfer GP);
* ``tpe``: ``TPESampler`` (the target alone; Optuna's default);
* ``hbo_study``: ``hbo.Study`` itself with the same history (``yahpo_benchmark.run_hbo``),
  not through Optuna: the reference of the identity check.

Score: normalized regret as in ``yahpo_benchmark`` (same reference cache). Tables: median
[IQR] at 5, 10 and ``--budget`` evaluations, each arm against ``hbo_sampler`` paired by target
and seed (geometric-mean ratio, 90% bootstrap interval over targets), seconds per ask. The
issue's goals: HBOSampler's median regret after 10 trials at most 0.5x TPE's and below
CMA-ES-with-sources'. *Identity*: HBOSampler should ask what ``hbo.Study`` asks given the same
data and seed; the report counts the runs whose values equal, evaluation by evaluation, those
of the ``hbo_study`` arm of the same run (same target, seed and history).

    python experiments/optuna_transfer.py --quick            # 2 targets x 1 seed, budget 10
    python experiments/optuna_transfer.py                     # lcbench, 16 targets x 2 seeds
    python experiments/optuna_transfer.py --data /path/to/yahpo_data --workers 2

Runs are appended to ``experiments/results/optuna_transfer[_quick]_runs.jsonl`` as they finish;
the same command resumes. Writes ``optuna_transfer[_quick].md`` and ``.png``.
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

sys.path.insert(0, os.fspath(Path(__file__).resolve().parent))

from paired_comparison import arm_table  # noqa: E402
from yahpo_benchmark import (  # noqa: E402
    RATIO_FLOOR,
    RESULTS,
    SETTINGS,
    history,
    normalized_regrets,
    optuna_distributions,
    paired,
    plot,
    problem,
    resume_runs,
    run_hbo,
    run_key,
    targets,
    ws_cmaes_sampler,
)
from yahpo_problems import SCENARIOS, check_data_dir  # noqa: E402

ARMS = ("hbo_sampler", "ws_cmaes", "gp", "tpe", "hbo_study")
BUDGET = 20
#: Seconds per ask: the median over asks from this index on (every sampler asks its model).
TIMED_FROM = 10


def source_studies(space, hist: dict) -> list:
    """The history as past Optuna studies, one per source dataset, named after it."""
    import optuna

    dists = optuna_distributions(space)
    studies = []
    for source, (params, values) in hist.items():
        study = optuna.create_study(study_name=source, direction="maximize")
        study.add_trials([optuna.trial.create_trial(params=p, distributions=dists, value=v)
                          for p, v in zip(params, values, strict=True)])
        studies.append(study)
    return studies


def sampler(arm: str, space, hist: dict, seed: int, target: str):
    """The arm's Optuna sampler, seeded."""
    import optuna

    if arm == "hbo_sampler":
        from hbo.integrations.optuna import HBOSampler

        return HBOSampler(sources=source_studies(space, hist), seed=seed, task=target,
                          search_space=optuna_distributions(space))
    if arm == "ws_cmaes":
        return ws_cmaes_sampler(space, hist, seed)
    if arm == "gp":
        return optuna.samplers.GPSampler(seed=seed)
    if arm == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    raise ValueError(f"unknown arm {arm!r}; arms: {ARMS}")


def run_arm(job: tuple) -> dict:
    """One run: ``job = (scenario, setting, arm, target, seed, budget, data_dir)``; the
    target study is named after the target dataset, as ``yahpo_benchmark``'s hbo study."""
    import optuna

    scenario, setting, arm, target, seed, budget, data_dir = job
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    p = problem(scenario, data_dir)
    hist = history(scenario, data_dir, setting, target, seed)
    if arm == "hbo_study":
        values, seconds = run_hbo(p, target, hist, seed, budget)
        return {"scenario": scenario, "setting": setting, "arm": arm, "target": target,
                "seed": seed, "values": values, "ask_seconds": seconds}
    study = optuna.create_study(study_name=target, direction="maximize",
                                sampler=sampler(arm, p.space, hist, seed, target))
    dists = optuna_distributions(p.space)
    values, seconds = [], []
    for _ in range(budget):
        start = time.perf_counter()
        trial = study.ask(dists)
        seconds.append(time.perf_counter() - start)
        values.append(float(p.evaluate(target, [trial.params])[0]))
        study.tell(trial, values[-1])
    return {"scenario": scenario, "setting": setting, "arm": arm, "target": target,
            "seed": seed, "values": values, "ask_seconds": seconds}


# ---------------------------------------------------------------------- report
def arm_rows(regret: dict, records: list[dict], panel: tuple, checkpoints: tuple) -> list[str]:
    """One row per arm of a (scenario, setting) panel (:func:`paired_comparison.arm_table`)."""
    runs = {arm: [r for r in records if (r["scenario"], r["setting"], r["arm"]) == (*panel, arm)]
            for arm in ARMS}
    return arm_table(runs, lambda r: regret[run_key(r)], checkpoints, TIMED_FROM)


def paired_lines(regret: dict, panel: tuple, checkpoints: tuple) -> list[str]:
    rng = np.random.default_rng(0)
    lines = ["| HBOSampler against | " + " | ".join(
        f"ratio@{k} [90%] (HBOSampler W/T/L)" for k in checkpoints) + " |",
        "|---|" + "---|" * len(checkpoints)]
    for arm in ARMS[1:]:
        cells = []
        for k in checkpoints:
            res = paired(regret, (*panel, arm), (*panel, "hbo_sampler"), k, rng)
            cells.append("-" if res is None else
                         f"{res['ratio']:.2f} [{res['lo']:.2f}, {res['hi']:.2f}] ({res['wtl']})")
        lines.append(f"| {arm} | " + " | ".join(cells) + " |")
    return lines


def identity_line(records: list[dict]) -> str:
    """How many ``hbo_sampler`` runs ask what the ``hbo_study`` run with the same key asks."""
    study_runs = {run_key(r)[:2] + run_key(r)[3:]: r["values"] for r in records
                  if r["arm"] == "hbo_study"}
    same = compared = 0
    first_differences = []
    for r in records:
        theirs = study_runs.get(run_key(r)[:2] + run_key(r)[3:])
        if r["arm"] != "hbo_sampler" or theirs is None:
            continue
        n = min(len(theirs), len(r["values"]))
        equal = np.isclose(theirs[:n], r["values"][:n], rtol=0, atol=1e-9)
        compared += 1
        same += bool(equal.all())
        if not equal.all():
            first_differences.append(int(np.argmin(equal)) + 1)
    if not compared:
        return "No pair of `hbo_sampler` and `hbo_study` runs with the same key."
    tail = (f"; the others first differ at evaluations {sorted(first_differences)}"
            if first_differences else "")
    return (f"HBOSampler against `hbo.Study` (the `hbo_study` arm: same target, seed and "
            f"history): {same} of {compared} runs ask the same configurations at every "
            f"evaluation (values equal to 1e-9){tail}.")


def report(records: list[dict], data_dir: str, cache_file: Path, title: str) -> str:
    regret = normalized_regrets(records, data_dir, cache_file)
    budget = max(len(r["values"]) for r in records)
    checkpoints = tuple(k for k in (5, 10, budget) if k <= budget)
    checkpoints = tuple(dict.fromkeys(checkpoints))
    parts = [f"# {title}", "",
             f"`python experiments/{Path(__file__).name}`: every arm through "
             "`optuna.create_study(sampler=...)`; targets are YAHPO datasets, sources other "
             "datasets with uniformly random evaluations, handed over as past Optuna studies; "
             f"seeds {sorted({r['seed'] for r in records})}, {budget} evaluations per run.", ""]
    for panel in sorted({(r["scenario"], r["setting"]) for r in records}):
        n_targets = len({r["target"] for r in records if (r["scenario"], r["setting"]) == panel})
        parts += [f"## {panel[0]}, history {panel[1]} ({n_targets} targets)", "",
                  "Normalized regret (0 = best known, 1 = median random configuration):", "",
                  *arm_rows(regret, records, panel, checkpoints), "",
                  f"Paired by target and seed, HBOSampler's regret / the arm's (floored at "
                  f"{RATIO_FLOOR}; below 1: HBOSampler better):", "",
                  *paired_lines(regret, panel, checkpoints), ""]
    parts += ["## Identity with hbo.Study", "", identity_line(records), "",
              f"s / ask: median over asks {TIMED_FROM + 1} on (the sampler's `ask`), one "
              "thread per run, runs two at a time.", ""]
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", help="YAHPO data folder (default ../shared/yahpo_data)")
    parser.add_argument("--quick", action="store_true", help="2 targets x 1 seed, budget 10")
    parser.add_argument("--scenarios", nargs="+", choices=list(SCENARIOS), default=["lcbench"])
    parser.add_argument("--settings", nargs="+", choices=list(SETTINGS), default=["5x50"])
    parser.add_argument("--arms", nargs="+", choices=ARMS, default=list(ARMS))
    parser.add_argument("--targets", type=int, default=16, help="targets per scenario")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--budget", type=int, default=BUDGET)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    data_dir = os.fspath(check_data_dir(args.data))
    if args.quick:
        args.targets, args.seeds, args.budget = 2, 1, 10
    name = "optuna_transfer_quick" if args.quick else "optuna_transfer"
    runs_file, cache_file = RESULTS / f"{name}_runs.jsonl", RESULTS / "yahpo_reference.json"
    jobs = [(scenario, setting, arm, target, seed, args.budget, data_dir)
            for seed in range(args.seeds) for setting in args.settings
            for scenario in args.scenarios
            for target in targets(scenario, data_dir, args.targets) for arm in args.arms]
    records = resume_runs(run_arm, jobs, runs_file, args.workers)
    text = report(records, data_dir, cache_file, "HBOSampler inside Optuna, YAHPO Gym"
                  + (" (--quick)" if args.quick else ""))
    (RESULTS / f"{name}.md").write_text(text)
    plot(records, data_dir, cache_file, RESULTS / f"{name}.png", ARMS, "hbo_sampler",
         " (through Optuna)")
    print(text)


if __name__ == "__main__":
    main()
