"""Coverage of the fully Bayesian hierarchical GP's posterior intervals of m and tau.

Simulation-based calibration (Cook, Gelman & Rubin 2006, doi:10.1198/106186006X136976;
Talts et al. 2018, arXiv:1804.06788): task families are drawn from the model's own prior
(:mod:`hbo.surrogate.simulation`; every group, outputs on the model's scale), the model is
fitted by NUTS (:mod:`hbo.surrogate.nuts`), and the rank of each drawn ``m`` and ``log tau``
(lengthscale, outputscale, noise) among the posterior draws is recorded: the fraction of
draws below the truth. The central ``l`` interval covers the truth when that rank lies in
``[(1 - l) / 2, (1 + l) / 2]``; when the sampler is right it does so at the rate ``l``.

The six intervals of one family are not independent (a family whose data mislead misses
several at once), so the table gives, beside the binomial standard error, one from
resampling whole families (bootstrap); the second is the one to read.

Each family's ranks are appended to ``results/nuts_gp_coverage_runs.jsonl`` as it is done
(a rerun skips what is there), and the table, made from every record of the given seeds
and settings, is written to ``results/<--out>.md`` (default ``nuts_gp_coverage.md``):

    python experiments/nuts_gp_coverage.py      # 360 families at the default NUTS
        # settings: about 50 CPU-min, half that with the default 2 workers

The larger version of tests/surrogate/test_nuts_recovery.py.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from resumable import read_records, run_jobs

if TYPE_CHECKING:
    from hbo.surrogate.simulation import SimulatedFamily

RESULTS = Path(__file__).resolve().parent / "results"
RUNS = RESULTS / "nuts_gp_coverage_runs.jsonl"
GROUPS = ("lengthscale", "outputscale", "noise")
PARAMETERS = [f"{name}_{group}" for group in GROUPS for name in ("m", "tau")]
LEVELS = (0.5, 0.9)
#: the hyperprior of the lengthscale the families are drawn from and the model is given
#: (log lengthscales around 0.25 on the unit interval); the other groups take hbo's defaults
LENGTHSCALE_PRIOR = {"loc": math.log(0.25), "scale": 0.5, "tau_scale": 0.5}


def lengthscale_prior() -> dict:
    from hbo.surrogate import Hyperprior

    return {"lengthscale": Hyperprior(**LENGTHSCALE_PRIOR)}


def draw_families(settings: dict, seed: int, count: int) -> list[SimulatedFamily]:
    """The first ``count`` families of generator ``default_rng(seed)``, in order."""
    from hbo.surrogate.simulation import simulate_family

    rng = np.random.default_rng(seed)
    return [simulate_family(rng, lengthscale_prior(), settings["tasks"], settings["points"])
            for _ in range(count)]


def fit_family(job: tuple[dict, int, int, SimulatedFamily]) -> dict:
    """Fit ``family`` (number ``rep`` of generator ``seed``) by NUTS and return the rank of
    each true ``m`` and ``log tau`` among the draws; ``job = (settings, seed, rep, family)``."""
    settings, seed, rep, family = job
    import torch

    from hbo.surrogate import HierarchicalGP
    from hbo.surrogate.nuts import NUTSOptions, run_nuts

    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    model = HierarchicalGP(family.train_X, family.train_Y, shared_function=False,
                           hyperpriors=lengthscale_prior(), standardize=False).fit()
    options = NUTSOptions(warmup=settings["warmup"], draws=settings["draws"],
                          chains=settings["chains"], thinning=1, progress=False,
                          parallel=False)  # the workers already share out the cores
    start = time.perf_counter()
    result = run_nuts(model, options, seed=rep)
    ranks = {}
    for key, truth in family.truths().items():
        name, group = key.removeprefix("log_").split(".")
        ranks[f"{name}_{group}"] = float(np.mean(result.samples[key].reshape(-1).numpy() < truth))
    return {**settings, "seed": seed, "rep": rep, "ranks": ranks,
            "divergences": int(result.idata.sample_stats.diverging.sum()),
            "seconds": time.perf_counter() - start}


def coverage_table(records: list[dict], resamples: int = 4000) -> str:
    """Markdown tables: coverage of the central 50% and 90% intervals per parameter and
    pooled, with the binomial and the family-bootstrap standard error; and the ranks'
    histogram (10 bins) per parameter with Pearson's chi-square test of uniformity."""
    from scipy import stats

    ranks = np.array([[r["ranks"][p] for p in PARAMETERS] for r in records])  # F x P
    pick = np.random.default_rng(0).integers(0, len(ranks), (resamples, len(ranks)))
    lines = ["| parameter | nominal | coverage | binomial se | family-bootstrap se |",
             "|---|---|---|---|---|"]
    for level in LEVELS:
        lo, hi = (1 - level) / 2, (1 + level) / 2
        hits = (ranks >= lo) & (ranks <= hi)
        columns = [(p, hits[:, [j]]) for j, p in enumerate(PARAMETERS)] + [("pooled", hits)]
        for name, h in columns:
            binomial = math.sqrt(level * (1 - level) / h.size)
            bootstrap = h[pick].mean(axis=(1, 2)).std()
            lines.append(f"| {name} | {level:.2f} | {h.mean():.3f} | {binomial:.3f} | "
                         f"{bootstrap:.3f} |")
    lines += ["", "| parameter | rank histogram, 10 bins | chi-square p |", "|---|---|---|"]
    for j, name in enumerate(PARAMETERS):
        counts = np.histogram(ranks[:, j], bins=10, range=(0.0, 1.0))[0]
        lines.append(f"| {name} | {' '.join(map(str, counts))} | "
                     f"{stats.chisquare(counts).pvalue:.2f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[2024, 7, 11, 12, 13, 14],
                        help="generators of the families, default_rng(seed)")
    parser.add_argument("--reps", type=int, default=60, help="families per seed")
    parser.add_argument("--tasks", type=int, default=4)
    parser.add_argument("--points", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=128)
    parser.add_argument("--draws", type=int, default=128)
    parser.add_argument("--chains", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--runs", type=Path, default=RUNS)
    parser.add_argument("--out", default="nuts_gp_coverage",
                        help="name of the table in results/ (other settings: another name)")
    args = parser.parse_args(argv)
    settings = {k: getattr(args, k) for k in ("tasks", "points", "warmup", "draws", "chains")}
    records = [r for r in read_records(args.runs)
               if all(r[k] == v for k, v in settings.items()) and r["seed"] in args.seeds]
    done = {(r["seed"], r["rep"]) for r in records}
    todo = [(s, i) for s in args.seeds for i in range(args.reps) if (s, i) not in done]
    print(f"{len(records)} families on record, {len(todo)} to fit", flush=True)
    families = {s: draw_families(settings, s, args.reps) for s in {s for s, _ in todo}}
    records += run_jobs(
        fit_family, [(settings, s, i, families[s][i]) for s, i in todo], args.runs,
        args.workers,
        lambda r: f"seed {r['seed']} family {r['rep']}: {r['divergences']} divergences",
    )
    records = [r for r in records if r["rep"] < args.reps]
    cpu = sum(r["seconds"] for r in records)
    text = (
        "# Coverage of posterior intervals (hierarchical GP, NUTS), "
        "`experiments/nuts_gp_coverage.py`\n\n"
        f"{len(records)} families ({args.reps} from each of default_rng{tuple(args.seeds)}) of "
        f"{args.tasks} tasks x {args.points} points (1-D), drawn from the model's prior (log "
        "lengthscale m ~ N(log 0.25, 0.5^2), tau ~ HalfNormal(0.5); the other groups hbo's "
        f"default hyperpriors); NUTS {args.chains} x ({args.warmup} warm-up + {args.draws} "
        f"draws).\n\n{coverage_table(records)}\n\n{cpu / 60:.0f} CPU-min of NUTS; "
        f"divergences in {sum(r['divergences'] > 0 for r in records)} of {len(records)} "
        "families.\n"
    )
    (RESULTS / f"{args.out}.md").write_text(text)
    print("\n" + text)


if __name__ == "__main__":
    sys.path.insert(0, os.fspath(Path(__file__).resolve().parents[1]))
    main()
