"""Eight Schools with pyro's NUTS, centered and non-centered, against the exact posterior.

Fits both parameterizations with the same priors (mu ~ N(0, 5), tau ~ Half-Normal(5)),
prints each summary and convergence report, compares the non-centered posterior with the
exact one of :class:`hbo.hierarchy.NormalHierarchy`, prints the Gelman & Pardoe pooling
factor, and draws the two funnels side by side (divergent draws in red):

    experiments/results/eight_schools_funnels.png

plus trace / rank / forest plots of the centered run (the one with problems).

Run: ``.venv/bin/python experiments/eight_schools_nuts.py [--quick]``.
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from hbo._warnings import ConvergenceWarning
from hbo.diagnostics import funnel, pooling_factor
from hbo.diagnostics.plots import forest_plot, rank_plot, trace_plot
from hbo.hierarchy import NormalHierarchy
from hbo.hierarchy.models import EightSchools
from hbo.hierarchy.models.eight_schools import SIGMA, Y

RESULTS = Path(__file__).parent / "results"
PRIORS = dict(mu_prior=(0.0, 5.0), tau_prior="half_normal", tau_scale=5.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="500 warm-up + 500 draws per chain")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    n = 500 if args.quick else 1000
    RESULTS.mkdir(exist_ok=True)
    pd.set_option("display.width", 140)

    fits = {}
    for centered in (True, False):
        name = "centered" if centered else "non-centered"
        start = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            fits[name] = EightSchools(Y, SIGMA, centered=centered, **PRIORS).fit(
                chains=4, warmup=n, draws=n, seed=args.seed, progress=False
            )
        print(f"\n=== {name}: 4 chains x {n} warm-up + {n} draws, "
              f"{time.perf_counter() - start:.1f} s ===")
        for w in caught:
            print(f"ConvergenceWarning: {w.message}")
        print(fits[name].summary(var_names=["mu", "tau", "theta"]).round(2).to_string())
        print(fits[name].convergence())

    exact = NormalHierarchy(Y, SIGMA, **PRIORS).fit().summary()
    names = ["mu", "tau"] + [f"theta[{j}]" for j in range(1, 9)]
    nuts = fits["non-centered"].summary(var_names=["mu", "tau", "theta"]).loc[names]
    cent = fits["centered"].summary(var_names=["mu", "tau", "theta"]).loc[names]
    table = pd.DataFrame({
        "exact_mean": exact.loc[names, "mean"], "noncentered_mean": nuts["mean"],
        "noncentered_mcse": nuts["mcse_mean"], "centered_mean": cent["mean"],
        "z_noncentered": (nuts["mean"] - exact.loc[names, "mean"]) / nuts["mcse_mean"],
        "z_centered": (cent["mean"] - exact.loc[names, "mean"]) / cent["mcse_mean"],
    })
    print("\n=== posterior means against NormalHierarchy's exact posterior "
          "(z = error / MCSE) ===")
    print(table.round(3).to_string())

    for name, fit in fits.items():
        pf = pooling_factor(fit.idata, "theta", "mu", scale_param="tau", sigma=SIGMA)
        print(f"\npooling factor ({name}): lambda = {pf.pooling_factor:.3f}")
        print(pf.table.round(3).T.to_string())

    fig = Figure(figsize=(10.0, 4.2), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    funnel(fits["centered"].idata, "theta", "tau", ax=axes[0])
    funnel(fits["non-centered"].idata, "z", "tau", ax=axes[1])
    axes[0].set_title("centered: theta_1 against log tau")
    axes[1].set_title("non-centered: z_1 against log tau")
    path = RESULTS / "eight_schools_funnels.png"
    fig.savefig(path, dpi=120)
    print(f"\nwrote {path}")
    for plot in (trace_plot, rank_plot, forest_plot):
        out = RESULTS / f"eight_schools_centered_{plot.__name__}.png"
        plot(fits["centered"].idata, ["mu", "tau", "theta"], path=out)
        print(f"wrote {out}")
    y_range = np.log(fits["centered"].draws("tau")).min()
    print(f"smallest log tau reached: centered {y_range:.2f}, non-centered "
          f"{np.log(fits['non-centered'].draws('tau')).min():.2f}")


if __name__ == "__main__":
    main()
