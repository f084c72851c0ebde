"""Random-effects meta-analysis of the BCG vaccine trials and of a simulated multicentre trial.

1. BCG (Colditz et al. 1994; metafor's ``dat.bcg``): log risk ratios; REML, DL, PM, ML, EB,
   HE, SJ, HS and FE side by side (the REML line reproduces metafor's printed
   ``rma(yi, vi, data=dat)``), Knapp-Hartung, leave-one-out, Egger's test, and the Bayesian
   counterpart of the same model (``NormalHierarchy`` with a half-Cauchy(0, 0.5) prior on tau).
   Then the meta-regression on absolute latitude and year (``rma(yi, vi, mods = ~ ablat +
   year)``) with its influence diagnostics and bubble plot, trim and fill, the rank
   correlation test, and Mantel-Haenszel / Peto pooling of the 2x2 tables.
2. A simulated 20-centre trial (seed 20261126): per centre a baseline risk, a true log odds
   ratio ``theta_j ~ N(-0.4, 0.3^2)`` and binomial events in two arms of 30-150 patients;
   log odds ratios with metafor's default continuity correction, then the same analyses.

    python experiments/meta_analysis.py

Prints the summaries and writes ``experiments/results/meta_{bcg,multicentre}_{forest,funnel}.png``
and ``experiments/results/meta_bcg_bubble.png`` (forest plot in risk ratios beside the
bubble plot of latitude).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from hbo.hierarchy import NormalHierarchy
from hbo.meta import (
    METHODS,
    bubble_plot,
    datasets,
    effect_sizes,
    egger_test,
    forest_plot,
    funnel_plot,
    mantel_haenszel,
    peto,
    random_effects,
    ranktest,
    trimfill,
)

RESULTS = Path(__file__).resolve().parent / "results"
SEED = 20261126


def method_table(yi: np.ndarray, vi: np.ndarray) -> pd.DataFrame:
    """One row per tau^2 estimator: mu, se, CI, tau^2 (se, Q-profile CI), I^2, H^2, Q."""
    rows = {}
    for method in METHODS:
        r = random_effects(yi, vi, method=method)
        rows[method] = {
            "mu": r.mu, "se": r.se, "ci.lb": r.ci[0], "ci.ub": r.ci[1], "tau2": r.tau2,
            "tau2.se": np.nan if r.tau2_se is None else r.tau2_se, "I2": r.i2, "H2": r.h2,
            "Q": r.q, "pi.lb": r.pi[0], "pi.ub": r.pi[1],
        }
    return pd.DataFrame(rows).T


def analyse(name: str, yi: np.ndarray, vi: np.ndarray, labels: list[str], xlabel: str) -> None:
    print(f"\n{'=' * 30} {name} (k = {len(yi)}) {'=' * 30}\n")
    res = random_effects(yi, vi, method="REML", labels=labels)
    print(res.summary(), "\n")
    print(random_effects(yi, vi, method="REML", test="knha").summary(), "\n")
    with pd.option_context("display.width", 200, "display.max_columns", None,
                           "display.precision", 4):
        print("All tau^2 estimators:\n", method_table(yi, vi), "\n")
        print("Leave-one-out (REML):\n", res.leave_one_out(), "\n")
    print(egger_test(res), "\n")
    print(egger_test(res, model="lm"), "\n")
    bayes = NormalHierarchy(yi, np.sqrt(vi), tau_prior="half_cauchy", tau_scale=0.5).fit()
    with pd.option_context("display.width", 200, "display.max_columns", None,
                           "display.precision", 4):
        print("Bayesian counterpart, NormalHierarchy(yi, sqrt(vi), half-Cauchy(0, 0.5) on tau):")
        print(bayes.summary().loc[["mu", "tau"]], "\n")
    stem = name.lower().split()[0]
    forest_plot(res, RESULTS / f"meta_{stem}_forest.png", xlabel=xlabel)
    funnel_plot(res, RESULTS / f"meta_{stem}_funnel.png", xlabel=xlabel)
    print(f"wrote {RESULTS / f'meta_{stem}_forest.png'} and ..._funnel.png")


def moderators(bcg: pd.DataFrame, yi: np.ndarray, vi: np.ndarray, labels: list[str]) -> None:
    """BCG: meta-regression, influence, trim and fill, rank test, MH and Peto pooling."""
    print(f"\n{'=' * 30} BCG: moderators and small-study effects {'=' * 30}\n")
    reg = random_effects(yi, vi, mods="~ ablat + year", data=bcg, labels=labels)
    print(reg.summary(), "\n")
    with pd.option_context("display.width", 200, "display.precision", 4):
        print("Predicted risk ratios at 10 and 60 degrees (1950, 1980):")
        print(reg.predict([[10, 1950], [60, 1950], [10, 1980], [60, 1980]], transf=np.exp), "\n")
        print("Influence diagnostics (mods = ~ ablat + year):\n", reg.influence(), "\n")
    res = random_effects(yi, vi, labels=labels)
    print(trimfill(res), "\n")
    print(ranktest(res), "\n")
    for measure in ("OR", "RR"):
        print(mantel_haenszel(bcg.tpos, bcg.tneg, bcg.cpos, bcg.cneg, measure=measure), "\n")
    print(peto(bcg.tpos, bcg.tneg, bcg.cpos, bcg.cneg), "\n")
    fig = Figure(figsize=(14, 6.5))
    left, right = fig.subplots(1, 2)
    forest_plot(res, ax=left, xlabel="risk ratio (log scale)", atransf=np.exp)
    bubble_plot(random_effects(yi, vi, mods="~ ablat", data=bcg), ax=right,
                ylabel="risk ratio", transf=np.exp)
    fig.tight_layout()
    fig.savefig(RESULTS / "meta_bcg_bubble.png", dpi=110)
    print(f"wrote {RESULTS / 'meta_bcg_bubble.png'}")


def multicentre_trial(rng: np.random.Generator, centres: int = 20) -> pd.DataFrame:
    """Events and sizes of a simulated two-arm trial in ``centres`` centres."""
    n_treat = rng.integers(30, 151, size=centres)
    n_ctrl = rng.integers(30, 151, size=centres)
    base_logit = rng.normal(np.log(0.25 / 0.75), 0.5, size=centres)
    theta = rng.normal(-0.4, 0.3, size=centres)
    events_t = rng.binomial(n_treat, 1 / (1 + np.exp(-(base_logit + theta))))
    events_c = rng.binomial(n_ctrl, 1 / (1 + np.exp(-base_logit)))
    return pd.DataFrame({"centre": [f"C{j + 1:02d}" for j in range(centres)],
                         "ai": events_t, "bi": n_treat - events_t,
                         "ci": events_c, "di": n_ctrl - events_c, "theta": theta})


def main() -> None:
    bcg = datasets.bcg()
    es = effect_sizes.log_risk_ratio(bcg.tpos, bcg.tneg, bcg.cpos, bcg.cneg)
    labels = [f"{a} {y}" for a, y in zip(bcg.author, bcg.year, strict=True)]
    analyse("BCG vaccine trials", es.yi, es.vi, labels, "log risk ratio")
    moderators(bcg, es.yi, es.vi, labels)

    trial = multicentre_trial(np.random.default_rng(SEED))
    es = effect_sizes.log_odds_ratio(trial.ai, trial.bi, trial.ci, trial.di)
    print(f"\nSimulated centres: true mean log OR -0.4, true tau 0.3 "
          f"(realized mean of theta_j {trial.theta.mean():.3f}, sd {trial.theta.std(ddof=1):.3f})")
    analyse("Multicentre trial (simulated)", es.yi, es.vi, list(trial.centre), "log odds ratio")


if __name__ == "__main__":
    main()
