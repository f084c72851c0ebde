"""One hbo run of the YAHPO benchmark, ask by ask: what the surrogate believed and what came.

For each ask after the first: the value observed, the surrogate's prediction at the proposal
(mean +- sd) against the observation and the best so far (all in the model's standardized
units of the target), whether the shared function ``g`` was used and the leave-one-out
densities with and without it (:mod:`hbo.surrogate.shared_choice`), and with ``g`` the
target's function-level share ``a^2 / (a^2 + s^2)`` and the prior ``(m, tau)`` of its
loading ``log a^2``. A run that stalls with predictions that match the observations and an
sd near zero at the proposals is a model sure it has found the optimum; a stall with
observations far from the predictions is a model that has not learnt the target.

    python experiments/yahpo_trace.py --target 167190 [--scenario lcbench]
        [--setting 20x100] [--seed 0] [--budget 20] [--data PATH]

Writes ``results/yahpo_trace_<scenario>_<setting>_<target>_<seed>.md``; the history, the
seed and so the run are those of ``yahpo_benchmark.py``'s arm ``hbo``.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path

import torch

sys.path.insert(0, os.fspath(Path(__file__).resolve().parent))

import yahpo_benchmark as yb  # noqa: E402
from yahpo_problems import SCENARIOS, check_data_dir  # noqa: E402

import hbo  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def surrogate_row(study: hbo.Study, params: dict, observed: float, best: float) -> str:
    """The cells of one ask: ``g``, leave-one-out, share and loading prior, prediction."""
    proposer = study.proposer
    model, choice = proposer.model, proposer.shared_choice
    _, _, (centre, scale) = next(iter(proposer._models.values()))
    with torch.no_grad():
        posterior = model.posterior(study.space.encode([params]))
        mean, sd = float(posterior.mean), float(posterior.variance.sqrt())
    share = loading = "-"
    if model.shared_function and hasattr(model, "log_hyperparameters"):
        with torch.no_grad():
            theta = {g: v.exp() for g, v in model.log_hyperparameters().items()}
        if hasattr(model, "sources"):  # hierarchical training: the target alone, stage A's prior
            at, prior = 0, model.sources.model
        else:  # the joint model: every task, the target at its label's position
            at, prior = model.task_labels.index(study.tasks.index(study.task)), model
        a2, s2 = (theta[g].reshape(-1)[at] for g in ("shared_scale", "outputscale"))
        share = f"{float(a2 / (a2 + s2)):.2f}"
        m, tau = prior.m["shared_scale"], prior.tau("shared_scale")
        loading = f"{float(m):.2f}, {float(tau):.2f}"
    loo = ("-" if choice is None or choice.loo_with is None
           else f"{choice.loo_with:.1f} / {choice.loo_without:.1f}")
    used = "-" if choice is None else ("on" if choice.used else "off")
    return (f"{used} | {loo} | {share} | {loading} | {mean:.2f} +- {sd:.2f} | "
            f"{(observed - centre) / scale:.2f} | {(best - centre) / scale:.2f}")


def trace(scenario: str, setting: str, target: str, seed: int, budget: int,
          data_dir: str) -> str:
    p = yb.problem(scenario, data_dir)
    study = hbo.Study(p.space, task=target, direction="maximize", seed=seed)
    for source, (params, values) in yb.history(scenario, data_dir, setting, target,
                                                 seed).items():
        study.add_history(source, params, values)
    lines = [f"# hbo on {scenario} {target}, history {setting}, seed {seed}", "",
             f"`python experiments/{Path(__file__).name} --scenario {scenario} --setting "
             f"{setting} --target {target} --seed {seed} --budget {budget}`; units: the "
             "model's standardized units of the target; `g`: shared function; loo: "
             "leave-one-out log density with / without `g`; share: `a^2 / (a^2 + s^2)`; "
             "loading prior: `(m, tau)` of `log a^2`.", "",
             "| ask | value | best so far | g | loo | share | loading prior | predicted | "
             "observed | best before |", "|---|---|---|---|---|---|---|---|---|---|"]
    best = -float("inf")
    for ask in range(budget):
        trial = study.ask()
        value = float(p.evaluate(target, [trial.params])[0])
        row = (surrogate_row(study, trial.params, value, best) if study.proposer.model
               else " | ".join(["Sobol"] + ["-"] * 6))
        best = max(best, value)
        lines.append(f"| {ask + 1} | {value:.4f} | {best:.4f} | {row} |")
        print(lines[-1], flush=True)
        study.tell(trial, value)
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--target", required=True)
    parser.add_argument("--scenario", choices=list(SCENARIOS), default="lcbench")
    parser.add_argument("--setting", choices=list(yb.SETTINGS), default="20x100")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--budget", type=int, default=20)
    parser.add_argument("--data", help="YAHPO data folder (default ../shared/yahpo_data)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    text = trace(args.scenario, args.setting, args.target, args.seed, args.budget,
                 os.fspath(check_data_dir(args.data)))
    name = f"yahpo_trace_{args.scenario}_{args.setting}_{args.target}_{args.seed}.md"
    (RESULTS / name).write_text(text)


if __name__ == "__main__":
    main()
