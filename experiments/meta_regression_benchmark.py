"""Speed of REML meta-regression with K = 100,000 studies and 5 moderators, on one core.

Times, in one run and on the same simulated data:

- ``hbo.meta.random_effects(yi, vi, mods=X, method="REML")``: the whole fit (REML tau^2 by
  Fisher scoring, coefficients and their tests, QM, QE, the Q-profile CI of tau^2, I^2/H^2,
  and the intercept-only REML fit behind pseudo-R^2);
- its REML tau^2 alone (``hbo.meta.tau2.estimate_tau2``);
- statsmodels' weighted least squares at that tau^2 (``WLS(y, X, weights=1/(v + tau^2))
  .fit()`` with ``params`` and ``bse``): one weighted regression, the floor any
  meta-regression has to pay for, and the reference the ratio is taken against.

Goal: the whole fit under 1 s. Every step is ``O(k p^2)``: the tau^2 iteration, the
Q-profile and I^2 use the ``p x p`` normal equations and traces (``hbo.meta._projection``),
never the ``k x k`` projection matrix (which would take 80 GB here).

Data (seed 20261205): ``x_j ~ N(0, 1)`` (5 moderators), ``v_i ~ U(0.01, 0.5)``,
``y_i = 0.2 + x_i' (0.3, -0.2, 0.1, 0, 0.05) + N(0, 0.1 + v_i)`` (true tau^2 = 0.1).
BLAS and OpenMP are held to one thread (environment variables set before numpy is imported,
and ``threadpoolctl`` where installed). Timings: median of 5 calls after a warm-up call.

    python experiments/meta_regression_benchmark.py

Prints the table and writes ``experiments/results/meta_regression_benchmark.md``.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
             "BLIS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"  # before numpy is imported: one core

import contextlib  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from hbo.meta import random_effects  # noqa: E402
from hbo.meta.tau2 import estimate_tau2  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
K, P, SEED, REPEATS = 100_000, 5, 20261205, 5
SLOPES = np.array([0.3, -0.2, 0.1, 0.0, 0.05])


def simulate(k: int = K) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(SEED)
    mods = rng.normal(size=(k, P))
    v = rng.uniform(0.01, 0.5, size=k)
    y = 0.2 + mods @ SLOPES + rng.normal(0, np.sqrt(0.1 + v))
    return y, v, mods


def median_time(fn: Callable[[], object]) -> tuple[float, object]:
    out = fn()  # warm-up
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def main() -> None:
    try:
        from threadpoolctl import threadpool_limits
        limits = threadpool_limits(limits=1)
    except ImportError:  # the environment variables above still hold
        limits = contextlib.nullcontext()
    import statsmodels.api as sm

    y, v, mods = simulate()
    X = np.column_stack([np.ones(K), mods])
    with limits:
        t_fit, res = median_time(lambda: random_effects(y, v, mods=mods, method="REML"))
        t_tau2, tau2 = median_time(lambda: estimate_tau2(y, v, X, "REML"))

        def wls():
            fit = sm.WLS(y, X, weights=1 / (v + res.tau2)).fit()
            return fit.params, fit.bse

        t_wls, (params, _) = median_time(wls)
    agree = float(np.max(np.abs(res.beta - params)))
    rows = [
        ("hbo random_effects(mods=5 moderators, REML), whole fit", t_fit),
        ("hbo REML tau^2 alone (estimate_tau2)", t_tau2),
        ("statsmodels WLS at that tau^2 (params + bse)", t_wls),
    ]
    lines = [
        f"# REML meta-regression benchmark: K = {K:,} studies, {P} moderators, one core",
        "",
        f"Python {sys.version.split()[0]}, numpy {np.__version__}, statsmodels "
        f"{sm.__version__ if hasattr(sm, '__version__') else 'n/a'}, {platform.machine()}, "
        f"`{platform.processor() or platform.platform()}`; BLAS/OpenMP held to 1 thread. "
        f"Median of {REPEATS} calls after a warm-up. Seed {SEED}.",
        "",
        "| what | seconds | x statsmodels WLS |",
        "|---|---:|---:|",
    ]
    for name, t in rows:
        lines.append(f"| {name} | {t:.3f} | {t / t_wls:.1f} |")
    lines += [
        "",
        f"REML tau^2 = {res.tau2:.5f} (true 0.1; {res.iterations} Fisher-scoring steps), "
        f"R^2 = {res.r2:.2f}%, QM({res.qm_df[0]}) = {res.qm:.1f}, "
        f"QE({res.qe_df}) = {res.qe:.1f}; tau^2 by estimate_tau2 = {tau2.tau2:.5f}.",
        f"Largest |beta_hbo - beta_WLS| = {agree:.2e} (same weights).",
        "",
        f"Goal: whole fit under 1 s: {'met' if t_fit < 1 else 'NOT met'} ({t_fit:.3f} s).",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "meta_regression_benchmark.md").write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
