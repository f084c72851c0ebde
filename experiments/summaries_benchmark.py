"""Speed of the exact hierarchical summaries against NUTS, all in one run.

For K = 8 (the Eight Schools of Rubin 1981), 20, 1,000 and 100,000 groups:

- ``NormalHierarchy(...).fit().summary()``: the exact posterior of (mu, tau, theta) of the
  normal hierarchical model (quadrature over tau, no Monte Carlo error), with
  ``mu ~ N(0, 5^2)`` and ``tau ~ Half-Normal(0, 5)``;
- ``hbo.meta.random_effects(y, sigma^2, method="REML")``: the full frequentist fit (REML by
  Fisher scoring, Q-profile CI, Knapp-Hartung-free Wald inference), and REML's tau^2 alone;
- for K = 8 and 20 only, the same Bayesian model by NUTS in pyro,
  ``EightSchools(y, sigma, mu_prior=(0, 5), tau_prior="half_normal", tau_scale=5)
  .fit(chains=4, warmup=500, draws=500, progress=False)`` (non-centered), and NumPyro's NUTS
  if it is importable (it is an optional peer: ``pip install numpyro``).

The exact and REML timings are the median of 5 repeats after a warm-up call (one cold call
for K = 100,000); NUTS runs once. Groups beyond the eight schools are simulated with seed 2026:
``sigma_j ~ U(5, 20)``, ``theta_j ~ N(5, 8^2)``, ``y_j ~ N(theta_j, sigma_j^2)``.

    python experiments/summaries_benchmark.py

Prints the table and writes ``experiments/results/summaries_benchmark.md``.
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

from hbo.hierarchy import NormalHierarchy
from hbo.hierarchy.models.eight_schools import SIGMA, EightSchools, Y
from hbo.meta import random_effects
from hbo.meta.tau2 import estimate_tau2

RESULTS = Path(__file__).resolve().parent / "results"
SIZES = (8, 20, 1_000, 100_000)
NUTS_SIZES = (8, 20)
MU_PRIOR, TAU_PRIOR, TAU_SCALE = (0.0, 5.0), "half_normal", 5.0


def groups(k: int) -> tuple[np.ndarray, np.ndarray]:
    """The eight schools for k = 8, else k simulated groups (seed 2026)."""
    if k == 8:
        return np.array(Y), np.array(SIGMA)
    rng = np.random.default_rng(2026)
    sigma = rng.uniform(5, 20, size=k)
    return rng.normal(rng.normal(5, 8, size=k), sigma), sigma


def median_time(fn: Callable[[], object], repeats: int) -> tuple[float, object]:
    """Median wall time in seconds of ``repeats`` calls (after a warm-up call when
    ``repeats > 1``) and the last result."""
    out = fn() if repeats > 1 else None
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def exact(y: np.ndarray, sigma: np.ndarray):
    model = NormalHierarchy(y, sigma, tau_prior=TAU_PRIOR, tau_scale=TAU_SCALE, mu_prior=MU_PRIOR)
    return model.fit().summary()


def pyro_nuts(y: np.ndarray, sigma: np.ndarray) -> tuple[float, dict]:
    model = EightSchools(y, sigma, mu_prior=MU_PRIOR, tau_prior=TAU_PRIOR, tau_scale=TAU_SCALE)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence warnings are reported in the table
        fit = model.fit(chains=4, warmup=500, draws=500, progress=False,
                        predictive=False)  # the posterior only, as the other methods
    seconds = time.perf_counter() - start
    summ = fit.summary(var_names=["mu", "tau"])
    return seconds, {"mu": summ.loc["mu", "mean"], "tau": summ.loc["tau", "mean"],
                     "rhat": float(summ["r_hat"].max()), "ess": float(summ["ess_bulk"].min())}


def numpyro_nuts(y: np.ndarray, sigma: np.ndarray) -> tuple[float, dict] | None:
    try:
        import jax
        import numpyro
        import numpyro.distributions as nd
        from numpyro.infer import MCMC, NUTS
    except ImportError:
        return None

    def model(sigma, y=None):
        mu = numpyro.sample("mu", nd.Normal(*MU_PRIOR))
        tau = numpyro.sample("tau", nd.HalfNormal(TAU_SCALE))
        with numpyro.plate("j", len(sigma)):
            z = numpyro.sample("z", nd.Normal(0, 1))
            numpyro.sample("y", nd.Normal(mu + tau * z, sigma), obs=y)

    start = time.perf_counter()
    mcmc = MCMC(NUTS(model), num_warmup=500, num_samples=500, num_chains=4,
                chain_method="sequential", progress_bar=False)
    mcmc.run(jax.random.PRNGKey(0), sigma, y=y)
    seconds = time.perf_counter() - start
    s = mcmc.get_samples()
    return seconds, {"mu": float(s["mu"].mean()), "tau": float(s["tau"].mean())}


def main() -> None:
    load = os.getloadavg()[0]
    rows = []
    for k in SIZES:
        y, sigma = groups(k)
        repeats = 1 if k >= 100_000 else 5
        t_exact, summary = median_time(lambda y=y, s=sigma: exact(y, s), repeats)
        t_reml, res = median_time(lambda y=y, s=sigma: random_effects(y, s**2), repeats)
        X = np.ones((k, 1))
        t_tau2, _ = median_time(lambda y=y, s=sigma, X=X: estimate_tau2(y, s**2, X, "REML"),
                                repeats)
        row = {"K": k, "exact_s": t_exact, "reml_s": t_reml, "reml_tau2_s": t_tau2,
               "exact_mu": summary.loc["mu", "mean"], "exact_tau": summary.loc["tau", "mean"],
               "reml_mu": res.mu, "reml_tau": res.tau}
        if k in NUTS_SIZES:
            row["pyro_s"], row["pyro"] = pyro_nuts(y, sigma)
            row["numpyro"] = numpyro_nuts(y, sigma)
        rows.append(row)
        print(f"K = {k}: done", flush=True)
    report = render(rows, load)
    print(report)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "summaries_benchmark.md").write_text(report, encoding="utf-8")
    print(f"wrote {RESULTS / 'summaries_benchmark.md'}")


def render(rows: list[dict], load: float) -> str:
    lines = [
        "# Exact hierarchical summaries vs NUTS",
        "",
        f"Machine: {platform.processor() or platform.machine()}, Python "
        f"{sys.version.split()[0]}, shared 2-core CPU; times are wall-clock seconds "
        "(median of 5 repeats for exact/REML, one cold call at K = 100,000; one run for NUTS: "
        "4 chains x (500 warm-up + 500 draws), run one after another). Load average of the "
        f"machine at the start: {load:.1f}. Model: y_j ~ N(theta_j, sigma_j^2), "
        "theta_j ~ N(mu, tau^2), mu ~ N(0, 5^2), tau ~ Half-Normal(0, 5); K = 8 is Eight "
        "Schools. REML = `hbo.meta.random_effects(y, sigma**2)` (full fit incl. Q-profile CI); "
        "REML tau^2 = the estimator alone.",
        "",
        "| K | exact posterior (fit + summary) | REML fit | REML tau^2 only | pyro NUTS | "
        "NUTS / exact | NumPyro NUTS | E[mu], E[tau] exact | E[mu], E[tau] NUTS (max R-hat, "
        "min bulk ESS) | REML mu, tau |",
        "|---:|---:|---:|---:|---:|---:|---:|---|---|---|",
    ]
    for r in rows:
        nuts = ratio = numpyro = nuts_est = "-"
        if "pyro_s" in r:
            p = r["pyro"]
            nuts, ratio = f"{r['pyro_s']:.1f} s", f"{r['pyro_s'] / r['exact_s']:,.0f} x"
            nuts_est = (f"{p['mu']:.2f}, {p['tau']:.2f} (R-hat {p['rhat']:.3f}, "
                        f"ESS {p['ess']:.0f})")
            numpyro = ("not installed" if r["numpyro"] is None
                       else f"{r['numpyro'][0]:.1f} s")
        lines.append(
            f"| {r['K']:,} | {1e3 * r['exact_s']:.1f} ms | {1e3 * r['reml_s']:.1f} ms | "
            f"{1e3 * r['reml_tau2_s']:.1f} ms | {nuts} | {ratio} | {numpyro} | "
            f"{r['exact_mu']:.2f}, {r['exact_tau']:.2f} | {nuts_est} | "
            f"{r['reml_mu']:.2f}, {r['reml_tau']:.2f} |"
        )
    lines += [
        "",
        "The exact posterior has no Monte Carlo error (quadrature tolerance 1e-10 relative); "
        "the NUTS means differ from it by their Monte Carlo error.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
