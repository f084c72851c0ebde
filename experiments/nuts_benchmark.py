"""NUTS speed: hbo (pyro) against NumPyro on the same model, data, warm-up and draws.

For each model: wall time (compilation included) and bulk ESS per second, where the ESS
is the *minimum* over the latent scalar parameters of ArviZ's bulk ESS (the slowest
direction decides how long a run must be). Both samplers: multinomial NUTS with diagonal
mass matrix, target acceptance 0.8, maximum tree depth 10, chains run one after another
(no parallel chains on either side), float64.

NumPyro is timed twice on one ``MCMC`` object: cold (XLA compilation included, what a user
waits for once) and warm (the compiled sampler rerun: the steady-state speed).
hbo is run twice, with ``jit=False`` and with ``jit=True`` (pyro's ``jit_compile``: the
potential energy traced by the PyTorch JIT), which is what pyro offers before anything
else; the ratio ``NumPyro ESS/s / hbo ESS/s`` is reported for the faster one. NumPyro
compiles the whole NUTS transition with XLA, while pyro runs the tree building in Python
and pays roughly 0.3 to 1 ms of interpreter overhead per leapfrog step whatever the model
size, so small models show the largest gap.

Models: Eight Schools (non-centered, mu ~ N(0, 5), tau ~ Half-Normal(5)); stochastic
volatility (non-centered, T = 500 simulated returns) and IRT (``hbo.hierarchy.models``'
``StochasticVolatility`` / ``IRT2PL``), each imported lazily and skipped with a message if
absent. NumPyro twins exist for Eight Schools and SV; the IRT twin is not written (its
sum-to-zero constraints must be mirrored exactly), so IRT reports hbo's numbers only.

NumPyro is optional, for this benchmark only: ``pip install numpyro jax``.
Run: ``.venv/bin/python experiments/nuts_benchmark.py [--quick]``; writes
``experiments/results/nuts_benchmark.csv``.
"""

from __future__ import annotations

import argparse
import importlib
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import arviz as az
import numpy as np
import pandas as pd

from hbo._warnings import ConvergenceWarning
from hbo.hierarchy.models import EightSchools
from hbo.hierarchy.models.eight_schools import SIGMA, Y

RESULTS = Path(__file__).parent / "results"


def min_bulk_ess(idata: az.InferenceData, var_names: list[str]) -> float:
    return float(az.summary(idata, var_names=var_names, kind="diagnostics")["ess_bulk"].min())


def run_hbo(model, latent: list[str], chains: int, warmup: int, draws: int, jit: bool) -> dict:
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # reported below instead
        fit = model.fit(chains=chains, warmup=warmup, draws=draws, seed=0, jit=jit,
                        progress=False)
    wall = time.perf_counter() - start
    ess = min_bulk_ess(fit.idata, latent)
    return {"wall_s": wall, "min_ess_bulk": ess, "ess_per_s": ess / wall,
            "divergences": fit.convergence().divergences}


def run_numpyro(model: Callable, data: dict, latent: list[str], chains: int, warmup: int,
                draws: int) -> dict[str, dict]:
    """NumPyro twice on one ``MCMC`` object: ``numpyro_cold`` includes XLA compilation,
    ``numpyro_warm`` reruns the same chains with the compiled sampler (steady state)."""
    import jax
    from numpyro.infer import MCMC, NUTS

    mcmc = MCMC(NUTS(model, target_accept_prob=0.8, max_tree_depth=10), num_warmup=warmup,
                num_samples=draws, num_chains=chains, chain_method="sequential",
                progress_bar=False)
    out = {}
    for name in ("numpyro_cold", "numpyro_warm"):
        start = time.perf_counter()
        mcmc.run(jax.random.PRNGKey(0), **data, extra_fields=("diverging",))
        samples = mcmc.get_samples(group_by_chain=True)
        jax.block_until_ready(samples)
        wall = time.perf_counter() - start
        idata = az.from_dict(posterior={k: np.asarray(v) for k, v in samples.items()})
        ess = min_bulk_ess(idata, latent)
        div = int(np.asarray(mcmc.get_extra_fields()["diverging"]).sum())
        out[name] = {"wall_s": wall, "min_ess_bulk": ess, "ess_per_s": ess / wall,
                     "divergences": div}
    return out


def numpyro_eight_schools(y, sigma):  # noqa: ANN001, ANN201
    import numpyro
    import numpyro.distributions as nd

    mu = numpyro.sample("mu", nd.Normal(0.0, 5.0))
    tau = numpyro.sample("tau", nd.HalfNormal(5.0))
    with numpyro.plate("school", len(sigma)):
        z = numpyro.sample("z", nd.Normal(0.0, 1.0))
        numpyro.sample("y", nd.Normal(mu + tau * z, sigma), obs=y)


def numpyro_sv(y, mu_prior, sigma_scale, phi_beta):  # noqa: ANN001, ANN201
    """hbo's StochasticVolatility (non-centered) in NumPyro: the same priors and recursion."""
    import jax
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as nd

    mu = numpyro.sample("mu", nd.Normal(*mu_prior))
    u = numpyro.sample("u", nd.Beta(*phi_beta))
    phi = numpyro.deterministic("phi", 2.0 * u - 1.0)
    sigma = numpyro.sample("sigma_eta", nd.HalfNormal(sigma_scale))
    with numpyro.plate("time", len(y)):
        eta = numpyro.sample("eta", nd.Normal(0.0, 1.0))

    def step(prev, e):  # noqa: ANN001, ANN202
        x = phi * prev + e
        return x, x

    first = eta[0] / jnp.sqrt(1.0 - phi**2)
    _, rest = jax.lax.scan(step, first, eta[1:])
    h = mu + sigma * jnp.concatenate([first[None], rest])
    with numpyro.plate("time", len(y)):
        numpyro.sample("y", nd.Normal(0.0, jnp.exp(0.5 * h)), obs=y)


def cases(quick: bool) -> list[dict]:
    """(name, hbo model, latent names for hbo and NumPyro, NumPyro twin and data)."""
    out = [{
        "name": "eight_schools_noncentered",
        "hbo": EightSchools(Y, SIGMA, centered=False, mu_prior=(0.0, 5.0),
                            tau_prior="half_normal", tau_scale=5.0),
        "latent": ["mu", "tau", "z"], "np_latent": ["mu", "tau", "z"],
        "numpyro": numpyro_eight_schools,
        "data": {"y": np.array(Y), "sigma": np.array(SIGMA)},
    }]
    models = importlib.import_module("hbo.hierarchy.models")
    if hasattr(models, "StochasticVolatility") and hasattr(models, "simulate_returns"):
        y, _ = models.simulate_returns(T=250 if quick else 500)
        sv = models.StochasticVolatility(y, centered=False)
        out.append({
            "name": f"stochastic_volatility_T{len(y)}", "hbo": sv,
            "latent": ["mu", "phi", "sigma_eta", "eta"],
            "np_latent": ["mu", "phi", "sigma_eta", "eta"], "numpyro": numpyro_sv,
            "data": {"y": np.asarray(y), "mu_prior": sv.mu_prior,
                     "sigma_scale": float(sv.sigma_scale), "phi_beta": sv.phi_beta},
        })
    else:
        print("StochasticVolatility not available in hbo.hierarchy.models: skipped")
    if hasattr(models, "IRT2PL") and hasattr(models, "simulate_irt"):
        frame, _ = models.simulate_irt(n_countries=10 if quick else 20, n_students=50,
                                       n_items=20 if quick else 30)
        cols = ("correct", "student", "item", "country")
        irt = models.IRT2PL(*(frame[c].to_numpy() for c in cols))
        out.append({"name": "irt_2pl", "hbo": irt,
                    "latent": ["tau", "mu_b", "sigma_b", "sigma_a"],
                    "numpyro": None})
    else:
        print("IRT2PL not available in hbo.hierarchy.models: skipped")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 chains x 300 + 300")
    parser.add_argument("--models", nargs="*", help="substrings of the model names to run")
    parser.add_argument("--jit-only", action="store_true",
                        help="run hbo with jit=True only (skip the slower jit=False run)")
    args = parser.parse_args()
    chains, warmup, draws = (2, 300, 300) if args.quick else (4, 1000, 1000)
    try:
        import jax

        jax.config.update("jax_enable_x64", True)
        have_numpyro = importlib.util.find_spec("numpyro") is not None
    except ImportError:
        have_numpyro = False
    if not have_numpyro:
        print("NumPyro not installed (pip install numpyro jax): hbo's numbers only")
    rows = []
    for case in cases(args.quick):
        if args.models and not any(m in case["name"] for m in args.models):
            continue
        print(f"\n=== {case['name']}: {chains} chains x {warmup} warm-up + {draws} draws ===",
              flush=True)
        runs = {}
        for jit in (True,) if args.jit_only else (False, True):
            runs[f"hbo_jit={jit}"] = run_hbo(case["hbo"], case["latent"], chains, warmup,
                                             draws, jit)
            print(f"hbo (pyro, jit={jit}): {runs[f'hbo_jit={jit}']}", flush=True)
        if have_numpyro and case["numpyro"] is not None:
            runs.update(run_numpyro(case["numpyro"], case["data"], case["np_latent"],
                                    chains, warmup, draws))
            for k in ("numpyro_cold", "numpyro_warm"):
                print(f"{k}: {runs[k]}", flush=True)
        best = max((k for k in runs if k.startswith("hbo")), key=lambda k: runs[k]["ess_per_s"])
        for sampler, r in runs.items():
            rows.append({"model": case["name"], "sampler": sampler, **r})
        for k in ("numpyro_cold", "numpyro_warm"):
            if k in runs:
                ratio = runs[k]["ess_per_s"] / runs[best]["ess_per_s"]
                print(f"{k} / hbo ({best}) ESS per second: {ratio:.1f} x")
    table = pd.DataFrame(rows)
    print("\n" + table.round(2).to_string(index=False))
    RESULTS.mkdir(exist_ok=True)
    table.to_csv(RESULTS / "nuts_benchmark.csv", index=False)
    print(f"wrote {RESULTS / 'nuts_benchmark.csv'}")


if __name__ == "__main__":
    main()
