"""NUTS speed: hbo against NumPyro on the same model, data, warm-up and draws.

For each model: wall time (compilation included) and bulk ESS per second, where the ESS
is the *minimum* over all latent scalar parameters of ArviZ's bulk ESS (the slowest
direction decides how long a run must be). Both samplers: multinomial NUTS with diagonal
mass matrix, target acceptance 0.9 (hbo's default for hierarchical models), maximum tree
depth 10, chains run one after another (no parallel chains on either side), float64.

NumPyro is timed twice on one ``MCMC`` object: cold (XLA compilation included, what a user
waits for once) and warm (the compiled sampler rerun: the steady-state speed). hbo likewise:
cold (the first fit of the model in the process, TorchInductor's disk cache in a fresh
directory) and warm (the same fit again: the graph traced anew, its compiled code from the
caches). Each NumPyro run is compared with hbo's best run of the same phase.
hbo is run with ``--jit torchscript`` (``fit(jit=True)``: potential and gradient traced into
one frozen TorchScript graph over one flat parameter vector,
:mod:`hbo.mcmc.potential`), ``inductor`` (``jit="inductor"``: the same graph
compiled to C++ by TorchInductor) and/or ``eager`` (``jit=False``), with hbo's trajectory
builder (``--sampler hbo``, the default: :class:`hbo.mcmc.FlatNUTS`)
and/or pyro's NUTS kernel (``--sampler pyro``). The ratio ``NumPyro ESS/s / hbo ESS/s`` is
reported for the fastest hbo run. NumPyro compiles the whole NUTS transition with XLA;
hbo builds the tree in Python (about 30 us per leapfrog step; pyro's kernel about 500 us)
around one compiled gradient, so small models show the largest gap.

Models (each the same model on both sides; latent names match):
- ``eight_schools_noncentered``: mu ~ N(0, 5), tau ~ Half-Normal(5), theta = mu + tau z;
- ``eight_schools_marginalized``: the same posterior with theta integrated out
  (``EightSchools(marginalize=True)``; NumPyro samples the same two-parameter model), a
  different model from the one above: compare its ratio only with its own NumPyro row;
- ``stochastic_volatility_T<T>``: non-centered SV on simulated returns;
- ``irt_2pl``: ``IRT2PL`` with its default parameterization (countries and items centered,
  students non-centered, sum-to-zero levels through the same scaled Helmert basis).

``--vectorize`` adds the chains run together: hbo's ``fit(vectorize=True)`` (the chains as
copies of the model in one NUTS trajectory, one batched gradient) and NumPyro's
``chain_method="vectorized"`` (its chains vmapped, each with its own tree), each against
the other.

NumPyro is optional, for this benchmark only: ``pip install numpyro jax``.
Run: ``.venv/bin/python experiments/nuts_benchmark.py [--quick] [--models ...]``; writes
``experiments/results/nuts_benchmark.csv`` (``--tag`` adds a suffix to the file name).
"""

from __future__ import annotations

import argparse
import functools
import importlib
import itertools
import os
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import arviz as az
import numpy as np
import pandas as pd
import torch

from hbo._warnings import ConvergenceWarning
from hbo.hierarchy.models import (
    IRT2PL,
    EightSchools,
    StochasticVolatility,
    simulate_irt,
    simulate_returns,
)
from hbo.hierarchy.models.eight_schools import SIGMA, Y

RESULTS = Path(__file__).parent / "results"
TARGET_ACCEPT = 0.9
PRIORS = dict(mu_prior=(0.0, 5.0), tau_prior="half_normal", tau_scale=5.0)


def min_bulk_ess(idata: az.InferenceData, var_names: list[str]) -> float:
    return float(az.summary(idata, var_names=var_names, kind="diagnostics")["ess_bulk"].min())


def run_hbo(model, latent: list[str], chains: int, warmup: int, draws: int,
            jit: bool | str, vectorize: bool = False, sampler: str = "hbo", seed: int = 0) -> dict:
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # reported below instead
        fit = model.fit(chains=chains, warmup=warmup, draws=draws, seed=seed, jit=jit,
                        target_accept=TARGET_ACCEPT, progress=False, vectorize=vectorize,
                        sampler=sampler, parallel=False,  # in sequence, as NumPyro's chains
                        predictive=False)  # sampling only, as NumPyro's timing
    wall = time.perf_counter() - start
    ess = min_bulk_ess(fit.idata, latent)
    return {"wall_s": wall, "min_ess_bulk": ess, "ess_per_s": ess / wall,
            "divergences": fit.convergence().divergences}


def run_numpyro(model: Callable, data: dict, latent: list[str], chains: int, warmup: int,
                draws: int, chain_method: str = "sequential", seed: int = 0) -> dict[str, dict]:
    """NumPyro twice on one ``MCMC`` object: ``numpyro_cold`` includes XLA compilation,
    ``numpyro_warm`` reruns the same chains with the compiled sampler (steady state)."""
    import jax
    from numpyro.infer import MCMC, NUTS

    mcmc = MCMC(NUTS(model, target_accept_prob=TARGET_ACCEPT, max_tree_depth=10),
                num_warmup=warmup,
                num_samples=draws, num_chains=chains, chain_method=chain_method,
                progress_bar=False)
    out = {}
    suffix = "" if chain_method == "sequential" else f"_{chain_method}"
    for name in (f"numpyro_cold{suffix}", f"numpyro_warm{suffix}"):
        start = time.perf_counter()
        mcmc.run(jax.random.PRNGKey(seed), **data, extra_fields=("diverging",))
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


def numpyro_eight_schools_marginal(y, sigma):  # noqa: ANN001, ANN201
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as nd

    mu = numpyro.sample("mu", nd.Normal(0.0, 5.0))
    tau = numpyro.sample("tau", nd.HalfNormal(5.0))
    with numpyro.plate("school", len(sigma)):
        numpyro.sample("y", nd.Normal(mu, jnp.sqrt(tau**2 + sigma**2)), obs=y)


def numpyro_irt(correct, country_of_student, basis_country, basis_item,  # noqa: ANN001, ANN201
                scales):
    """hbo's IRT2PL (countries and items centered, students non-centered) in NumPyro."""
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as nd

    tau = numpyro.sample("tau", nd.HalfNormal(scales["tau_scale"]))
    mu_b = numpyro.sample("mu_b", nd.Normal(0.0, 2.0))
    sigma_b = numpyro.sample("sigma_b", nd.HalfNormal(scales["sigma_b_scale"]))
    sigma_a = numpyro.sample("sigma_a", nd.HalfNormal(scales["sigma_a_scale"]))
    n_countries, n_items = basis_country.shape[0], basis_item.shape[0]
    with numpyro.plate("country_free", n_countries - 1):
        w = numpyro.sample("mu_country_free", nd.Normal(0.0, tau))
    with numpyro.plate("item_free", n_items - 1):
        v = numpyro.sample("log_a_free", nd.Normal(0.0, sigma_a))
    mu_c = basis_country @ w
    a = jnp.exp(basis_item @ v)
    with numpyro.plate("country", n_countries):
        sigma_c = numpyro.sample("sigma_country", nd.HalfNormal(scales["sigma_scale"]))
    with numpyro.plate("item", n_items):
        b = numpyro.sample("b", nd.Normal(mu_b, sigma_b))
    with numpyro.plate("student", len(country_of_student)):
        z = numpyro.sample("z_theta", nd.Normal(0.0, 1.0))
    theta = mu_c[country_of_student] + sigma_c[country_of_student] * z
    logits = (a[None, :] * (theta[:, None] - b[None, :])).reshape(-1)
    with numpyro.plate("response", logits.shape[0]):
        numpyro.sample("correct", nd.Bernoulli(logits=logits), obs=correct)


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
    """(name, hbo model, latent names (the same on both sides), NumPyro twin and data)."""
    data = {"y": np.array(Y), "sigma": np.array(SIGMA)}
    out = [
        {"name": "eight_schools_noncentered", "hbo": EightSchools(Y, SIGMA, **PRIORS),
         "latent": ["mu", "tau", "z"], "numpyro": numpyro_eight_schools, "data": data},
        {"name": "eight_schools_marginalized",
         "hbo": EightSchools(Y, SIGMA, marginalize=True, **PRIORS),
         "latent": ["mu", "tau"], "numpyro": numpyro_eight_schools_marginal, "data": data},
    ]
    y, _ = simulate_returns(T=250 if quick else 500)
    sv = StochasticVolatility(y, centered=False)
    out.append({
        "name": f"stochastic_volatility_T{len(y)}", "hbo": sv,
        "latent": ["mu", "phi", "sigma_eta", "eta"], "numpyro": numpyro_sv,
        "data": {"y": np.asarray(y), "mu_prior": sv.mu_prior,
                 "sigma_scale": float(sv.sigma_scale), "phi_beta": sv.phi_beta},
    })
    frame, _ = simulate_irt(n_countries=10 if quick else 20, n_students=50,
                            n_items=20 if quick else 30)
    irt = IRT2PL(*(frame[c].to_numpy() for c in ("correct", "student", "item", "country")))
    out.append({
        "name": f"irt_2pl_{len(frame)}", "hbo": irt,
        "latent": ["tau", "mu_b", "sigma_b", "sigma_a", "mu_country_free", "log_a_free",
                   "sigma_country", "b", "z_theta"],
        # the prior scales (floats) bound, not passed: NumPyro's vectorized chains fail on
        # a dict of floats among the model's arguments
        "numpyro": functools.partial(numpyro_irt, scales=irt.scales),
        "data": {"correct": irt.observed["correct"].numpy(),
                 "country_of_student": irt.country_of_student.numpy(),
                 "basis_country": irt._basis["mu_country"].numpy(),
                 "basis_item": irt._basis["log_a"].numpy()},
    })
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 chains x 300 + 300")
    parser.add_argument("--models", nargs="*", help="substrings of the model names to run")
    parser.add_argument("--jit", nargs="+", default=["inductor"],
                        choices=["torchscript", "inductor", "eager"],
                        help="hbo's runs: jit=True, jit='inductor', jit=False")
    parser.add_argument("--sampler", nargs="+", default=["hbo"], choices=["hbo", "pyro"],
                        help="hbo's runs: fit(sampler=...), hbo's trajectory builder or "
                             "pyro's NUTS kernel")
    parser.add_argument("--vectorize", action="store_true",
                        help="also run the chains vectorized: hbo fit(vectorize=True) "
                             "(copies in one trajectory), NumPyro chain_method='vectorized'")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of hbo's fits and NumPyro's PRNG key (default 0)")
    parser.add_argument("--tag", default="", help="suffix of the output file name")
    args = parser.parse_args()
    # Inductor's on-disk cache in a fresh directory, so that hbo's first ("cold") run of a
    # model compiles as on a new machine, and its rerun ("warm") finds it hot
    os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", tempfile.mkdtemp(prefix="inductor_"))
    # one core each: XLA_FLAGS="--xla_cpu_multi_thread_eigen=false
    # intra_op_parallelism_threads=1" does the same for NumPyro
    torch.set_num_threads(1)
    chains, warmup, draws = (2, 300, 300) if args.quick else (4, 1000, 1000)
    try:
        import jax

        jax.config.update("jax_enable_x64", True)
        have_numpyro = importlib.util.find_spec("numpyro") is not None
    except ImportError:
        have_numpyro = False
    if not have_numpyro:
        print("NumPyro not installed (pip install numpyro jax): hbo's numbers only")
    modes = [{"torchscript": True, "inductor": "inductor", "eager": False}[m] for m in args.jit]
    rows = []
    for case in cases(args.quick):
        if args.models and not any(m in case["name"] for m in args.models):
            continue
        print(f"\n=== {case['name']}: {chains} chains x {warmup} warm-up + {draws} draws ===",
              flush=True)
        runs = {}
        for sampler, jit, vectorize in itertools.product(
            args.sampler, modes, (False, True) if args.vectorize else (False,)
        ):
            name = (f"hbo_jit={jit}" + ("_vectorized" if vectorize else "")
                    + ("_pyro_kernel" if sampler == "pyro" else ""))
            for phase in ("cold", "warm"):  # warm: the same fit again, compilers' caches hot
                runs[f"{name}_{phase}"] = run_hbo(case["hbo"], case["latent"], chains, warmup,
                                                  draws, jit, vectorize, sampler, args.seed)
                print(f"{name}_{phase}: {runs[f'{name}_{phase}']}", flush=True)
        if have_numpyro:
            for method in ("sequential", "vectorized") if args.vectorize else ("sequential",):
                new = run_numpyro(case["numpyro"], case["data"], case["latent"], chains,
                                  warmup, draws, method, args.seed)
                runs.update(new)
                for k, r in new.items():
                    print(f"{k}: {r}", flush=True)
        for sampler, r in runs.items():
            ratio = None
            if "numpyro" in sampler:  # against hbo's best run of the same phase
                phase = "cold" if "cold" in sampler else "warm"
                best = max((k for k in runs if k.startswith("hbo") and k.endswith(phase)),
                           key=lambda k: runs[k]["ess_per_s"])
                ratio = r["ess_per_s"] / runs[best]["ess_per_s"]
                print(f"{sampler} / hbo ({best}) ESS per second: {ratio:.2f} x")
            rows.append({"model": case["name"], "sampler": sampler, **r,
                         "numpyro_over_best_hbo": ratio})
    table = pd.DataFrame(rows)
    print(f"\nload average (1, 5, 15 min) at the end: {os.getloadavg()}")
    print("\n" + table.round(2).to_string(index=False))
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"nuts_benchmark{args.tag}.csv"
    table.to_csv(out, index=False)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
