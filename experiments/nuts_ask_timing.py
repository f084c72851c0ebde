"""One ask of the fully Bayesian arms on the same data: hbo (NUTS) against BoTorch's SAAS.

The transfer benchmark's branin family, seed 0: the 5 x 30 source history and the same
5 scrambled-Sobol target points the SAAS arm starts from. Times one ``Study.ask()`` with
``inference="nuts"`` (MAP fits for the shared-function choice + NUTS + LogEI over the
ensemble), its chains in forked processes (the default) and one after another, against
two SAAS asks (NumPyro's NUTS, as BoTorch runs it, with its defaults +
LogEI; needs the ``bench`` extra): the single-task model on the target's points, and the
multi-task model on the same observations as hbo's (the sources' points come from the same
generator), in CPU seconds of this process and its forked chains (the machine is shared;
wall time depends on the load) and wall seconds.

    python experiments/nuts_ask_timing.py      # writes results/nuts_ask_timing.txt

With ``--mixing N``, hbo's ask alone on the branin families of seeds ``0..N-1`` (one
family per seed, as the benchmark draws them): max R-hat, min bulk ESS, divergences and
CPU seconds of each NUTS run, the sampler's mixing over families rather than one
(writes results/nuts_gp_mixing.md).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

RESULTS = Path(__file__).resolve().parent / "results"


def _cpu_seconds() -> float:
    """CPU seconds of this process and of the children it has waited for (forked chains)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def _timed(fn):
    cpu, wall = _cpu_seconds(), time.perf_counter()
    out = fn()
    return out, _cpu_seconds() - cpu, time.perf_counter() - wall


def _study(family: str, seed: int):
    """A full-Bayes Study with the benchmark family's source history and the 5 Sobol
    target points SAAS starts from; also the sources, those points and their values."""
    import transfer_benchmark as tb

    target, sources = tb.make_family(family, seed)
    d = len(target.shift)
    study = tb.study_with_history(target, sources, seed, "nuts", target_points=5)
    X = tb.target_sobol(d, seed, 5)
    return study, sources, torch.from_numpy(X), target(X)


def mixing(families: int) -> str:
    """Max R-hat, min bulk ESS, divergences and CPU s of one ask per branin family."""
    lines = ["| seed | max R-hat | (parameter) | min bulk ESS | divergences | CPU s |",
             "|---|---|---|---|---|---|"]
    worst = []
    for seed in range(families):
        study, *_ = _study("branin", seed)
        _, cpu, _ = _timed(study.ask)
        report = study.diagnostics()
        table = report.table
        worst.append(float(table["r_hat"].max()))
        lines.append(f"| {seed} | {worst[-1]:.3f} | {table['r_hat'].idxmax()} | "
                     f"{table['ess_bulk'].min():.0f} | {report.divergences} | {cpu:.1f} |")
        print(lines[-1], flush=True)
    lines.append(f"\nMedian max R-hat {np.median(worst):.3f}; above 1.1 in "
                 f"{sum(r > 1.1 for r in worst)} of {families}.")
    return "\n".join(lines) + "\n"


def main() -> None:
    import transfer_benchmark as tb

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mixing", type=int, metavar="N",
                        help="hbo's NUTS mixing over the branin families of seeds 0..N-1")
    args = parser.parse_args()
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    RESULTS.mkdir(exist_ok=True)
    if args.mixing:
        text = ("# NUTS mixing of the fully Bayesian GP over branin families (one ask "
                "each, defaults)\n\n" + mixing(args.mixing))
        (RESULTS / "nuts_gp_mixing.md").write_text(text)
        print(text)
        return
    family, seed = "branin", 0
    study, sources, X, values = _study(family, seed)
    d = X.shape[-1]
    trial, hbo_cpu, hbo_wall = _timed(study.ask)
    report = study.diagnostics()
    stats = study.proposer.model.result.idata.sample_stats
    surrogate = study.proposer.model.model
    in_sequence, *_ = _study(family, seed)
    in_sequence.proposer.nuts = dataclasses.replace(in_sequence.proposer.nuts, parallel=False)
    trial_seq, seq_cpu, seq_wall = _timed(in_sequence.ask)
    same = "the same proposal" if trial.params == trial_seq.params else "a DIFFERENT proposal"
    Y = -torch.tensor(values).unsqueeze(-1)
    _, saas_cpu, saas_wall = _timed(lambda: tb._botorch_ask(tb._saas, X, Y))
    history = tb._history_tensors(sources, seed, d)  # the sources' points hbo got
    _, mt_cpu, mt_wall = _timed(lambda: tb._botorch_ask(tb._saas_multi_task, X, Y, history))
    text = "\n".join([
        f"# One ask on the same data ({family}, seed {seed}: 5 x 30 source points, 5 target "
        "points)",
        "",
        "| arm | CPU s | wall s | notes |",
        "|---|---|---|---|",
        f"| hbo_nuts | {hbo_cpu:.1f} | {hbo_wall:.1f} | {surrogate._tasks.numel()} "
        f"observations, shared function {'on' if surrogate.shared_function else 'off'}"
        f"; mean leapfrog steps {float(stats['n_steps'].mean()):.1f}, tree-depth saturation "
        f"{report.tree_depth_saturation:.0%}, max R-hat {report.table['r_hat'].max():.3f}, "
        f"divergences {report.divergences}; its 2 chains in forked processes |",
        f"| hbo_nuts, chains in sequence | {seq_cpu:.1f} | {seq_wall:.1f} | the same ask with "
        f"`nuts={{'parallel': False}}`: {same} |",
        f"| saas | {saas_cpu:.1f} | {saas_wall:.1f} | 5 observations (target only), BoTorch "
        "defaults (512 warm-up, 256 draws, thinning 16) |",
        f"| saas_multi_task | {mt_cpu:.1f} | {mt_wall:.1f} | the same "
        f"{surrogate._tasks.numel()} observations as hbo_nuts, BoTorch's "
        "SaasFullyBayesianMultiTaskGP with the same defaults |",
        "",
        f"hbo / saas CPU time: {hbo_cpu / saas_cpu:.1f}x (target only), "
        f"{hbo_cpu / mt_cpu:.2f}x (the same data); wall time: {hbo_wall / saas_wall:.1f}x "
        f"and {hbo_wall / mt_wall:.2f}x. One thread per process (CPU s include the forked "
        "chains'); shared 2-core machine.",
    ]) + "\n"
    (RESULTS / "nuts_ask_timing.txt").write_text(text)
    print(text)


if __name__ == "__main__":
    sys.path.insert(0, os.fspath(Path(__file__).resolve().parent))
    sys.path.insert(0, os.fspath(Path(__file__).resolve().parents[1]))
    main()
