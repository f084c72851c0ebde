"""MrP against raw state means on a simulated national poll of 2000 that over-samples graduates.

Fits :class:`hbo.hierarchy.models.MrP` (non-centered, 4 chains) to
:func:`hbo.hierarchy.models.simulate_poll`'s poll of 50 states, poststratifies to its
population table, and prints each state's MrP estimate (posterior mean, 90% interval) beside
the raw poll proportion (90% normal interval) and the truth, the mean squared error of both
over the states, the interval coverage and the convergence report.

    python experiments/mrp.py [--warmup 1000 --draws 1000 --chains 4]

At the default target acceptance 0.8 and 4 x 500 draws the run had 11 divergent transitions
and R-hat up to 1.017 (the SDs of the four-level age and education effects are the hard
part); 0.95 and 1000 draws are the defaults here.

Writes ``experiments/results/mrp.txt`` and ``experiments/results/mrp_states.png``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure

from hbo.hierarchy.models import MrP, simulate_poll

RESULTS = Path(__file__).resolve().parent / "results"
PARAMS = ["alpha", "beta_female", "beta_state", "sigma_age", "sigma_education",
          "sigma_region", "sigma_state"]


def plot(table, path: Path) -> None:
    """Estimate against truth per state: raw poll means (grey) and MrP (blue), 90% intervals;
    the x axis is each state's number of respondents."""
    fig = Figure(figsize=(12, 4.6))
    left, right = fig.subplots(1, 2)
    for col, colour, label in (("raw", "0.55", "raw poll mean"), ("mrp", "C0", "MrP")):
        m, lo, hi = (table[f"{col}_{s}"] for s in ("mean", "lower", "upper"))
        left.errorbar(table["truth"], m, yerr=[m - lo, hi - m], fmt="o", ms=3, color=colour,
                      alpha=0.8, label=label)
        right.scatter(table["n"], m - table["truth"], s=12, color=colour, label=label)
    edge = [table["truth"].min() - 0.05, table["truth"].max() + 0.05]
    left.plot(edge, edge, color="k", lw=0.7)
    left.set_ylim(-0.05, 1.05)
    left.set_xlabel("true state proportion")
    left.set_ylabel("estimate, 90% interval")
    left.set_title("State estimates against the truth")
    left.legend(fontsize=8)
    right.axhline(0.0, color="k", lw=0.7)
    right.set_xscale("log")
    right.set_xlabel("respondents in the state")
    right.set_ylabel("estimate - truth")
    right.set_title("Error against poll size per state")
    right.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--warmup", type=int, default=1000)
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--target-accept", type=float, default=0.95)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)  # small tensors: one thread avoids oversubscribing the cores
    RESULTS.mkdir(exist_ok=True)
    poll, population, states, truth = simulate_poll()
    model = MrP(poll, population, states)
    res = model.fit(chains=args.chains, warmup=args.warmup, draws=args.draws, seed=args.seed,
                    target_accept=args.target_accept, progress=False)
    table = model.state_estimates(res, level=0.9)
    table["truth"] = truth.state_p
    seen = table["n"] > 0
    mse = {c: np.mean((table.loc[seen, f"{c}_mean"] - table.loc[seen, "truth"]) ** 2)
           for c in ("mrp", "raw")}
    cover = {c: np.mean((table.loc[seen, f"{c}_lower"] <= table.loc[seen, "truth"])
                        & (table.loc[seen, "truth"] <= table.loc[seen, f"{c}_upper"]))
             for c in ("mrp", "raw")}
    grads = poll["education"].eq(3).mean()
    pop_grads = population.loc[population.education.eq(3), "count"].sum() / population[
        "count"].sum()
    conv = res.convergence()
    lines = [
        f"poll of {len(poll)} in {poll.state.nunique()} of {len(states)} states; graduates "
        f"{grads:.1%} of the poll, {pop_grads:.1%} of the population",
        f"NUTS {args.chains} chains x {args.draws} draws after {args.warmup} warm-up, target "
        f"acceptance {args.target_accept}", "",
        res.summary(var_names=PARAMS).round(3).to_string(), "",
        f"MSE over the {seen.sum()} polled states: MrP {mse['mrp']:.5f}, raw {mse['raw']:.5f} "
        f"(ratio {mse['mrp'] / mse['raw']:.2f})",
        f"coverage of the truth by 90% intervals: MrP {cover['mrp']:.2f}, raw "
        f"{cover['raw']:.2f}", "",
        table.round(3).to_string(), "",
        f"max R-hat over all {len(conv.table)} scalars: {conv.table.r_hat.max():.4f}; "
        f"min bulk ESS {conv.table.ess_bulk.min():.0f}; min tail ESS "
        f"{conv.table.ess_tail.min():.0f}",
        str(conv).split("\n")[0], "ok" if conv.ok else "NOT ok: " + "; ".join(conv.problems()),
        "", conv.table.loc[PARAMS].round(3).to_string(),
    ]
    report = "\n".join(lines)
    print(report)
    (RESULTS / "mrp.txt").write_text(report + "\n")
    plot(table, RESULTS / "mrp_states.png")


if __name__ == "__main__":
    main()
