"""Why HMC: effective samples per log-density gradient (or evaluation) against dimension.

Target: ``x ~ N(0, Sigma)`` in ``d`` dimensions, ``Sigma`` the AR(1) correlation matrix
``Sigma_ij = rho^|i-j|`` with ``rho = 0.5``. Its eigenvalues stay in
``[(1-rho)/(1+rho), (1+rho)/(1-rho)] = [1/3, 3]`` for every ``d``, so the condition number
does not grow with ``d`` and the curves show the effect of dimension alone; the precision
matrix is tridiagonal, so a log-density costs ``O(d)``.

Samplers, given the same information (unit marginal variances, not the correlations):

- random-walk Metropolis (RWM) with proposal ``N(x, (l^2 / d) I)``; ``l`` is tuned during
  warm-up (Robbins-Monro on ``log l``) to the acceptance rate 0.234, which is the
  asymptotically optimal scaling for any target of this kind (Roberts, Gelman & Gilks 1997,
  doi:10.1214/aoap/1034625254; Roberts & Rosenthal 2001, doi:10.1214/ss/1015346320). For an
  isotropic target ``l = 2.38``; with ``Sigma`` as proposal covariance it would be
  ``2.38^2 / d * Sigma``, but that needs the correlations, which NUTS is not given either.
  Cost: one log-density evaluation per iteration. Theory: ESS per evaluation ``~ d^-1``.
- NUTS (pyro, multinomial, diagonal mass matrix and step size adapted in warm-up).
  Cost: one gradient per leapfrog step (post-warm-up ``n_steps`` summed). Theory: the
  step size must shrink like ``d^-1/4`` to keep the acceptance rate (Beskos, Pillai,
  Roberts, Sanz-Serna & Stuart 2013, doi:10.3150/12-BEJ414), so ESS per gradient
  ``~ d^-1/4``.

ESS is ArviZ's bulk ESS, the median over the first ``min(d, 16)`` coordinates (all of them
are alike here). Slopes are least-squares fits of ``log ESS/cost`` on ``log d`` over
``d >= 8`` (the asymptotic regime). Output: a table, the slopes beside the theory, and
``experiments/results/hmc_vs_mh.png`` (log-log).

Run: ``.venv/bin/python experiments/hmc_vs_mh.py`` (about 10 minutes on 2 cores) or with
``--quick`` (d up to 256, shorter runs, about 2 minutes).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import arviz as az
import numpy as np
import pandas as pd
import pyro
import torch
from matplotlib.figure import Figure
from pyro.infer import MCMC

from hbo.mcmc import RecordingNUTS

RESULTS = Path(__file__).parent / "results"
RHO = 0.5
TRACKED = 16
TARGET_ACCEPT_RWM = 0.234


def log_density(x):  # noqa: ANN001, ANN201 - numpy array or torch tensor, points in rows
    """``-x^T Q x / 2`` for the tridiagonal AR(1) precision ``Q``, in ``O(d)``.

    ``x^T Q x = (sum x_i^2 + rho^2 sum_{i=2}^{d-1} x_i^2 - 2 rho sum x_i x_{i+1})
    / (1 - rho^2)``.
    """
    inner = (x[..., 1:-1] ** 2).sum(-1)
    quad = (x**2).sum(-1) + RHO**2 * inner - 2 * RHO * (x[..., 1:] * x[..., :-1]).sum(-1)
    return -0.5 * quad / (1 - RHO**2)


def rwm(d: int, n_iter: int, n_warmup: int, rng: np.random.Generator) -> dict[str, float]:
    """Random-walk Metropolis: median bulk ESS of the tracked coordinates, evaluations,
    acceptance rate after warm-up and the tuned ``l``."""
    x = rng.standard_normal(d)  # a draw from N(0, I): near the typical set
    lp = log_density(x)
    log_l = np.log(2.38)
    kept = np.empty((n_iter, min(d, TRACKED)))
    accepted = 0
    for t in range(n_warmup + n_iter):
        prop = x + np.exp(log_l) / np.sqrt(d) * rng.standard_normal(d)
        lp_prop = log_density(prop)
        accept = np.log(rng.random()) < lp_prop - lp
        if accept:
            x, lp = prop, lp_prop
        if t < n_warmup:
            log_l += (float(accept) - TARGET_ACCEPT_RWM) / (t + 1) ** 0.6
        else:
            kept[t - n_warmup] = x[:TRACKED]
            accepted += accept
    return {"ess": _median_ess(kept), "cost": float(n_iter), "accept": accepted / n_iter,
            "l": float(np.exp(log_l))}


def nuts(d: int, draws: int, warmup: int, seed: int) -> dict[str, float]:
    """pyro NUTS on the same target: median bulk ESS, post-warm-up gradients, mean
    acceptance statistic and step size. hbo's recording NUTS counts the leapfrog steps."""

    def potential(params: dict[str, torch.Tensor]) -> torch.Tensor:
        return -log_density(params["x"])

    pyro.set_rng_seed(seed)
    kernel = RecordingNUTS(potential_fn=potential, target_accept_prob=0.8)
    init = {"x": torch.randn(d, dtype=torch.float64)}
    mcmc = MCMC(kernel, num_samples=draws, warmup_steps=warmup, initial_params=init,
                disable_progbar=True)
    mcmc.run()
    x = mcmc.get_samples()["x"][:, :TRACKED].numpy()
    return {"ess": _median_ess(x), "cost": float(sum(kernel.stats["n_steps"])),
            "steps": float(np.mean(kernel.stats["n_steps"])),
            "step_size": kernel.stats["step_size"][-1]}


def _median_ess(x: np.ndarray) -> float:
    """Median over columns of ArviZ's bulk ESS of one chain (``draws x k``)."""
    return float(np.median([az.ess(x[None, :, k], method="bulk") for k in range(x.shape[1])]))


def slope(d: np.ndarray, y: np.ndarray) -> float:
    keep = d >= 8
    return float(np.polyfit(np.log(d[keep]), np.log(y[keep]), 1)[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    dims = [2, 4, 8, 16, 32, 64, 128, 256] + ([] if args.quick else [512, 1024])
    # RWM: ESS ~ 0.3 n / d, so n = per_d * d iterations give ESS ~ 0.3 per_d per coordinate
    per_d = 150 if args.quick else 300
    nuts_draws, nuts_warmup = (300, 200) if args.quick else (600, 300)
    rng = np.random.default_rng(args.seed)
    rows = []
    for d in dims:
        t0 = time.perf_counter()
        r = rwm(d, max(10_000, per_d * d), 2000 + 20 * d, rng)
        t1 = time.perf_counter()
        n = nuts(d, nuts_draws, nuts_warmup, args.seed + d)
        t2 = time.perf_counter()
        rows.append(dict(d=d, rwm_ess=r["ess"], rwm_evals=r["cost"], rwm_accept=r["accept"],
                         rwm_l=r["l"], rwm_ess_per_eval=r["ess"] / r["cost"],
                         nuts_ess=n["ess"], nuts_grads=n["cost"], nuts_steps=n["steps"],
                         nuts_step_size=n["step_size"], nuts_ess_per_grad=n["ess"] / n["cost"],
                         rwm_s=t1 - t0, nuts_s=t2 - t1))
        print(f"d={d:5d}  RWM ESS/eval {r['ess'] / r['cost']:.2e} (accept {r['accept']:.2f}, "
              f"l {r['l']:.2f}, {t1 - t0:.1f} s)   NUTS ESS/grad {n['ess'] / n['cost']:.2e} "
              f"({n['steps']:.1f} steps/draw, {t2 - t1:.1f} s)", flush=True)
    table = pd.DataFrame(rows)
    d = table["d"].to_numpy(float)
    s_rwm, s_nuts = slope(d, table["rwm_ess_per_eval"]), slope(d, table["nuts_ess_per_grad"])
    print(table.round(5).to_string(index=False))
    print(f"\nslope of log(ESS per cost) on log d, d >= 8:\n"
          f"  random-walk Metropolis: {s_rwm:+.2f}   (theory -1)\n"
          f"  NUTS:                   {s_nuts:+.2f}   (theory -1/4)")
    RESULTS.mkdir(exist_ok=True)
    fig = Figure(figsize=(6.0, 4.5), layout="constrained")
    ax = fig.add_subplot()
    ax.loglog(d, table["rwm_ess_per_eval"], "o-",
              label=f"RWM, ESS/evaluation (slope {s_rwm:.2f})")
    ax.loglog(d, table["nuts_ess_per_grad"], "s-",
              label=f"NUTS, ESS/gradient (slope {s_nuts:.2f})")
    for ref, p, style in ((table["rwm_ess_per_eval"].iloc[2], -1.0, ":"),
                          (table["nuts_ess_per_grad"].iloc[2], -0.25, "--")):
        ax.loglog(d, ref * (d / d[2]) ** p, style, color="0.5", lw=1,
                  label=f"theory d^{p:g}")
    ax.set_xlabel("dimension d")
    ax.set_ylabel("bulk ESS per unit of cost")
    ax.set_title(f"N(0, AR(1) rho={RHO}): random walk vs NUTS")
    ax.legend(fontsize="small")
    path = RESULTS / "hmc_vs_mh.png"
    fig.savefig(path, dpi=120)
    table.to_csv(RESULTS / "hmc_vs_mh.csv", index=False)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
