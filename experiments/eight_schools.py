"""Eight Schools (Rubin 1981; BDA3 §5.5) in exact full Bayes under two priors.

Prints, for each prior, the posterior summary of ``mu``, ``tau`` and ``theta_j``, the
shrinkage table and the complete / no / partial pooling table, and writes the forest,
shrinkage, ``p(tau | y)`` and funnel plots to ``experiments/results/``:

- ``bda3``: BDA3's choice, ``p(mu, tau) ∝ 1`` (flat ``mu``, uniform ``tau``);
- ``posteriordb``: ``mu ~ N(0, 5)``, ``tau ~ Half-Cauchy(0, 5)``, the prior of posteriordb's
  ``eight_schools_noncentered`` reference posterior.

Run: ``python experiments/eight_schools.py`` (about a second; no MCMC, no Monte Carlo error).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from hbo.hierarchy import NormalHierarchy
from hbo.hierarchy.models.eight_schools import SIGMA, Y
from hbo.hierarchy.plots import write_plots

RESULTS = Path(__file__).resolve().parent / "results"
PRIORS = {
    "bda3": dict(tau_prior="uniform", mu_prior=None),
    "posteriordb": dict(tau_prior="half_cauchy", tau_scale=5.0, mu_prior=(0.0, 5.0)),
}


def main() -> None:
    labels = list("ABCDEFGH")
    with pd.option_context("display.width", 200, "display.max_columns", None,
                           "display.precision", 2):
        for name, prior in PRIORS.items():
            fit = NormalHierarchy(Y, SIGMA, labels=labels, **prior).fit()
            print(f"\n=== Eight Schools, prior {name}: {prior}")
            print("\n-- posterior summary")
            print(fit.summary())
            print(f"\n-- shrinkage (posterior mode of tau: {fit.tau_mode:.3g})")
            print(fit.shrinkage())
            print("\n-- pooling")
            print(fit.pooling_table())
            paths = write_plots(fit, RESULTS, prefix=f"eight_schools_{name}_")
            shown = ", ".join(str(p.relative_to(RESULTS.parent)) for p in paths.values())
            print(f"\nplots: {shown}")


if __name__ == "__main__":
    main()
