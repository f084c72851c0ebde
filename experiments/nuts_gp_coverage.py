"""Coverage of the fully Bayesian hierarchical GP's posterior intervals of m and tau.

Simulation-based calibration in its simplest form (Cook, Gelman & Rubin 2006,
doi:10.1198/106186006X136976): task families are drawn from the model's own prior
(:mod:`hbo.models.simulation`; every group, outputs on the model's scale), the model is
fitted by NUTS (:mod:`hbo.models.nuts`), and the central 50% and 90% posterior intervals of
``m`` and ``tau`` of the lengthscale, outputscale and noise are checked against the drawn
values. When the sampler is right each covers at its nominal rate; the table gives the
rate with its binomial standard error. The larger version of tests/models/test_nuts_recovery.py.

    python experiments/nuts_gp_coverage.py --reps 40     # appends to results/nuts_gp_coverage.txt
    python experiments/nuts_gp_coverage.py --tasks 4 --points 10 --warmup 128 --draws 128
        # the test's families at the default NUTS settings
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

RESULTS = Path(__file__).resolve().parent / "results"


def main(argv: list[str] | None = None) -> None:
    from hbo.models import HierarchicalGP, Hyperprior
    from hbo.models.nuts import NUTSOptions, run_nuts
    from hbo.models.simulation import simulate_family

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=40)
    parser.add_argument("--tasks", type=int, default=5)
    parser.add_argument("--points", type=int, default=12)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--draws", type=int, default=200)
    parser.add_argument("--chains", type=int, default=2)
    parser.add_argument("--seed", type=int, default=2024, help="generator of the families")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    prior = Hyperprior(loc=math.log(0.25), scale=0.5, tau_scale=0.5)
    options = NUTSOptions(warmup=args.warmup, draws=args.draws, chains=args.chains,
                          thinning=1, progress=False)
    rng = np.random.default_rng(args.seed)
    levels = (0.5, 0.9)
    groups = ("lengthscale", "outputscale", "noise")
    hits = {(name, group, level): [] for group in groups for name in ("m", "tau")
            for level in levels}
    start = time.perf_counter()
    for rep in range(args.reps):
        family = simulate_family(rng, {"lengthscale": prior}, args.tasks, args.points)
        model = HierarchicalGP(family.train_X, family.train_Y, shared_function=False,
                               hyperpriors={"lengthscale": prior}, standardize=False).fit()
        result = run_nuts(model, options, seed=rep)
        for group in groups:
            for name, key, truth in (("m", f"m.{group}", family.m[group]),
                                     ("tau", f"log_tau.{group}", math.log(family.tau[group]))):
                draws = result.samples[key].reshape(-1).numpy()
                for level in levels:
                    lo, hi = np.quantile(draws, [(1 - level) / 2, (1 + level) / 2])
                    hits[(name, group, level)].append(lo <= truth <= hi)
        print(f"[{rep + 1}/{args.reps}] {time.perf_counter() - start:.0f}s", flush=True)
    lines = [
        f"# Coverage of posterior intervals (hierarchical GP, NUTS): {args.reps} families of "
        f"{args.tasks} tasks x {args.points} points (1-D) drawn from the model's prior "
        "(log lengthscale m ~ N(log 0.25, 0.5^2), tau ~ HalfNormal(0.5); other groups hbo's "
        f"default hyperpriors; outputs not standardized); NUTS {args.chains} x "
        f"({args.warmup} warm-up + {args.draws} draws); families from default_rng({args.seed})",
        "",
        "| parameter | nominal | coverage | binomial se |",
        "|---|---|---|---|",
    ]
    for (name, group, level), h in hits.items():
        rate = float(np.mean(h))
        se = math.sqrt(level * (1 - level) / len(h))
        lines.append(f"| {name}_{group} | {level:.2f} | {rate:.3f} | {se:.3f} |")
    lines.append(f"\n{time.perf_counter() - start:.0f} s on one thread.")
    text = "\n".join(lines) + "\n"
    RESULTS.mkdir(exist_ok=True)
    with (RESULTS / "nuts_gp_coverage.txt").open("a") as handle:  # a log of runs
        handle.write("\n" + text)
    print(text)


if __name__ == "__main__":
    sys.path.insert(0, os.fspath(Path(__file__).resolve().parents[1]))
    main()
