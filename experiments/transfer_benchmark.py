"""Transfer benchmark: does history from related tasks help, and does unrelated history hurt?

Task families (each task: the base function with its own input shift and output scale
and offset, evaluated on the unit cube; the target is one more member):

* ``branin`` (d = 2), ``hartmann3`` (d = 3), ``hartmann6`` (d = 6): related sources;
* ``unrelated`` (d = 3): target Hartmann-3, sources Ackley, Levy, Rosenbrock,
  Styblinski-Tang and Griewank (the negative-transfer check).

Arms (all minimize, same acquisition optimizer settings): hbo with the 5 x 30 source
history, hbo without it, BoTorch ``SingleTaskGP`` + LogEI on the target alone,
BoTorch ``MultiTaskGP`` (with per-task ``StratifiedStandardize``, its strongest
setting) + LogEI with the same history, and random search. ``hbo_shared`` is hbo with
the shared function ``g`` always on (no leave-one-out choice: the value of that choice);
``hbo_warped`` with ``output_warping=True`` (:mod:`hbo.surrogate.output_warping`).
Fully Bayesian arms (slow,
run them apart with ``--arms hbo_nuts saas --runs <own file>``): ``hbo_nuts`` is hbo
with history and ``inference="nuts"`` (default NUTS settings), ``saas`` is BoTorch's
``SaasFullyBayesianSingleTaskGP`` fitted by ``fit_fully_bayesian_model_nuts`` (BoTorch's
defaults: 512 warm-up, 256 draws, thinning 16) + LogEI on the target alone, and
``saas_multi_task`` is BoTorch's ``SaasFullyBayesianMultiTaskGP`` (same defaults) + LogEI
on the same history as hbo's: the fully Bayesian peer that sees the same data. BoTorch 0.18
fits both with NumPyro's NUTS (JAX-compiled, dense mass matrix): install the ``bench`` extra
(``pip install -e .[bench]``) to run them.

    python experiments/transfer_benchmark.py --quick     # a few minutes
    python experiments/transfer_benchmark.py             # the full table (~1 h on 2 cores)
    python experiments/transfer_benchmark.py --scaling   # fit + ask time against T tasks
    python experiments/transfer_benchmark.py --arms hbo_nuts saas --workers 1 \
        --runs results/transfer_benchmark_nuts_runs.jsonl results/transfer_benchmark_runs.jsonl \
        --out transfer_benchmark_nuts
        # runs the two arms into the first file; the table merges every file given
    python experiments/transfer_benchmark.py ... --paired hbo hbo_nuts
        # adds hbo_nuts against hbo run for run, paired by seed (per family and pooled),
        # and whether hbo_nuts is at least as good as hbo (non-inferiority, margin set by
        # what hbo gains over --control, default single_task_gp: paired_comparison.py)

Writes ``experiments/results/transfer_benchmark.md`` (or ``transfer_scaling.md``) and PNGs.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import os
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from paired_comparison import non_inferiority, paired_table
from scipy.optimize import minimize

RESULTS = Path(__file__).resolve().parent / "results"
N_SOURCES, N_SOURCE_POINTS, BUDGET = 5, 30, 25
CHECKPOINTS = (5, 10, 25)
ARMS = ("hbo", "hbo_no_history", "hbo_nuts", "hbo_shared", "hbo_warped", "single_task_gp",
        "multi_task_gp", "saas", "saas_multi_task", "random")
FAMILIES = ("branin", "hartmann3", "hartmann6", "unrelated")


# ---------------------------------------------------------------------- task families
def _base_functions(name: str):
    from botorch.test_functions import (
        Ackley,
        Branin,
        Griewank,
        Hartmann,
        Levy,
        Rosenbrock,
        StyblinskiTang,
    )

    if name == "branin":
        return Branin(), [Branin()] * N_SOURCES
    if name == "hartmann3":
        return Hartmann(dim=3), [Hartmann(dim=3)] * N_SOURCES
    if name == "hartmann6":
        return Hartmann(dim=6), [Hartmann(dim=6)] * N_SOURCES
    if name == "unrelated":
        return Hartmann(dim=3), [
            Ackley(dim=3),
            Levy(dim=3),
            Rosenbrock(dim=3),
            StyblinskiTang(dim=3),
            Griewank(dim=3),
        ]
    raise ValueError(f"unknown family {name!r}")


@dataclass
class Task:
    """``f(x) = scale * F(domain(shift + 0.9 x)) + offset`` for ``x`` in the unit cube.

    Each task sees a shifted window (``shift`` in ``[0, 0.1]^d``) of the base function's
    domain, so tasks are related but their optima differ.
    """

    base: object
    shift: np.ndarray
    scale: float
    offset: float

    def __call__(self, x: np.ndarray) -> np.ndarray:
        bounds = self.base.bounds.numpy()
        z = bounds[0] + (self.shift + 0.9 * np.atleast_2d(x)) * (bounds[1] - bounds[0])
        with torch.no_grad():
            y = self.base.evaluate_true(torch.as_tensor(z, dtype=torch.double)).numpy()
        return self.scale * y + self.offset

    def minimum(self, rng: np.random.Generator) -> float:
        """Minimum over the unit cube: best of 20000 random points, polished by L-BFGS-B."""
        d = len(self.shift)
        X = rng.random((20000, d))
        start = X[np.argsort(self(X))[:10]]
        values = [
            minimize(lambda v: float(self(v)[0]), s, bounds=[(0, 1)] * d, method="L-BFGS-B").fun
            for s in start
        ]
        return float(min(values))


def make_family(name: str, seed: int) -> tuple[Task, list[Task]]:
    rng = np.random.default_rng(seed)
    target_base, source_bases = _base_functions(name)
    d = target_base.dim

    def task(base) -> Task:
        return Task(base, rng.uniform(0.0, 0.1, d), rng.uniform(0.5, 2.0), rng.uniform(-1, 1))

    return task(target_base), [task(b) for b in source_bases]


# ---------------------------------------------------------------------- arms
def _space(d: int):
    import hbo

    return hbo.SearchSpace([hbo.Float(f"x{i}", 0.0, 1.0) for i in range(d)])


def study_with_history(
    target: Task, sources: list[Task], seed: int, inference: str = "map",
    with_history: bool = True, target_points: int = 0, hyperpriors: dict | None = None,
    shared_function: bool | None = None, output_warping: bool = False,
):
    """An ``hbo.Study`` on the target with the sources' history (5 x 30 uniform points from
    ``seed + 1``) and, if ``target_points``, that many scrambled-Sobol target points
    (``seed``, the points the SAAS arm starts from) told as history. ``hyperpriors`` and
    ``shared_function``, ``output_warping``: as ``hbo.Study``'s (default: the model's, ``g``
    chosen by leave-one-out, values not warped)."""
    import hbo

    d = len(target.shift)
    nuts = {"progress": False} if inference == "nuts" else None
    study = hbo.Study(_space(d), task="target", seed=seed, inference=inference, nuts=nuts,
                      hyperpriors=hyperpriors, shared_function=shared_function,
                      output_warping=output_warping)

    def add(task: str, f: Task, X: np.ndarray) -> None:
        params = [{f"x{i}": float(v) for i, v in enumerate(row)} for row in X]
        study.add_history(task, params, f(X).tolist())

    if with_history:
        rng = np.random.default_rng(seed + 1)
        for k, source in enumerate(sources):
            add(f"source{k}", source, rng.random((N_SOURCE_POINTS, d)))
    if target_points:
        add("target", target, target_sobol(d, seed, target_points))
    return study


def target_sobol(d: int, seed: int, n: int) -> np.ndarray:
    """The first ``n`` scrambled-Sobol points of seed ``seed``: where the SAAS arm starts."""
    return torch.quasirandom.SobolEngine(d, scramble=True, seed=seed).draw(
        n, dtype=torch.double).numpy()


def run_hbo(
    target: Task, sources: list[Task], seed: int, with_history: bool, inference: str = "map",
    budget: int = BUDGET, shared_function: bool | None = None, output_warping: bool = False,
):
    d = len(target.shift)
    study = study_with_history(target, sources, seed, inference, with_history,
                               shared_function=shared_function, output_warping=output_warping)
    values, times = [], []
    for _ in range(budget):
        start = time.perf_counter()
        trial = study.ask()
        times.append(time.perf_counter() - start)
        x = np.array([trial.params[f"x{i}"] for i in range(d)])
        values.append(float(target(x)[0]))
        study.tell(trial, values[-1])
    return values, times


def _botorch_ask(make_model, X, Y, history=None, warm_state=None):
    """Fit a BoTorch peer on ``X, Y`` (and ``history``) and maximize LogEI: one ask.

    ``warm_state`` (the previous ask's ``state_dict``) starts the fit from the last fit's
    hyperparameters, as Ax does between trials; returns the point and the new state.
    A fully Bayesian model (SAAS) is fitted by NUTS with BoTorch's defaults instead.
    """
    from botorch.acquisition import FixedFeatureAcquisitionFunction, LogExpectedImprovement
    from botorch.fit import fit_fully_bayesian_model_nuts, fit_gpytorch_mll
    from botorch.optim import optimize_acqf
    from gpytorch.mlls import ExactMarginalLogLikelihood

    from hbo.acquisition import LBFGS_FACTR, NUM_RESTARTS, RAW_SAMPLES

    d = X.shape[-1]
    bounds = torch.tensor([[0.0] * d, [1.0] * d], dtype=torch.double)
    model = make_model(X, Y, history)
    if getattr(model, "_is_fully_bayesian", False):
        fit_fully_bayesian_model_nuts(model, disable_progbar=True)
    else:
        if warm_state is not None:
            model.load_state_dict(warm_state, strict=False)
        fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model))
    acqf = LogExpectedImprovement(model, best_f=Y.max())
    if history is not None:  # MultiTaskGP: evaluate on the target's task column
        acqf = FixedFeatureAcquisitionFunction(acqf, d + 1, [d], [model.target_label])
    x, _ = optimize_acqf(acqf, bounds, q=1, num_restarts=NUM_RESTARTS, raw_samples=RAW_SAMPLES,
                         options={"factr": LBFGS_FACTR})
    state = {k: v for k, v in model.state_dict().items() if "outcome_transform" not in k}
    return x.detach(), state


def _botorch_loop(
    target: Task, seed: int, n_init: int, make_model, history=None, budget: int = BUDGET
):
    """LogEI loop of a BoTorch peer (maximizing -f), Sobol start as hbo's.

    MultiTaskGP (``history`` given) is warm-started from its previous fit: its cold fits on
    ~175 points of 6 tasks take minutes each, which would make the benchmark take days.
    """
    from botorch.utils.sampling import manual_seed

    d = len(target.shift)
    X = torch.from_numpy(target_sobol(d, seed, n_init))
    values = [float(v) for v in target(X.numpy())]
    times = [0.0] * n_init
    state = None
    while len(values) < budget:
        start = time.perf_counter()
        with manual_seed(seed + len(values)):
            Y = -torch.tensor(values, dtype=torch.double).unsqueeze(-1)
            x, new_state = _botorch_ask(make_model, X, Y, history, state)
        state = new_state if history is not None else None
        times.append(time.perf_counter() - start)
        X = torch.cat([X, x])
        values.append(float(target(x.numpy())[0]))
    return values, times


def _single_task_gp(X, Y, _history):
    from botorch.models import SingleTaskGP

    return SingleTaskGP(X, Y)


def _saas(X, Y, _history):
    from botorch.models.fully_bayesian import SaasFullyBayesianSingleTaskGP
    from botorch.models.transforms.outcome import Standardize

    return SaasFullyBayesianSingleTaskGP(X, Y, outcome_transform=Standardize(m=1))


def _saas_multi_task(X, Y, history):
    """BoTorch's fully Bayesian multi-task GP (SAAS priors, a sampled task covariance) on
    the same source history and target points as hbo's arms."""
    from botorch.models.fully_bayesian_multitask import SaasFullyBayesianMultiTaskGP
    from botorch.models.transforms.outcome import StratifiedStandardize

    tX, tY, T = _with_target(X, Y, history)
    model = SaasFullyBayesianMultiTaskGP(
        tX, tY, task_feature=tX.shape[-1] - 1, output_tasks=[T],
        outcome_transform=StratifiedStandardize(
            stratification_idx=tX.shape[-1] - 1,
            all_task_values=torch.arange(T + 1, dtype=torch.long)),
    )
    model.target_label = float(T)
    return model


def _with_target(X, Y, history):
    """Source history plus the target's points as task ``T``: ``tX``, ``tY`` and ``T``."""
    hX, hY = history
    T = int(hX[:, -1].max()) + 1
    tX = torch.cat([hX, torch.cat([X, torch.full((len(X), 1), float(T))], -1)])
    return tX, torch.cat([hY, Y]), T


def _multi_task_gp(X, Y, history):
    from botorch.models import MultiTaskGP
    from botorch.models.transforms.outcome import StratifiedStandardize

    tX, tY, T = _with_target(X, Y, history)
    all_tasks = torch.arange(T + 1, dtype=torch.long)
    model = MultiTaskGP(
        tX,
        tY,
        task_feature=tX.shape[-1] - 1,
        output_tasks=[T],
        outcome_transform=StratifiedStandardize(
            stratification_idx=tX.shape[-1] - 1, all_task_values=all_tasks
        ),
    )
    model.target_label = float(T)
    return model


def _history_tensors(sources: list[Task], seed: int, d: int):
    rng = np.random.default_rng(seed + 1)  # the same points hbo's arm gets
    X = np.stack([rng.random((N_SOURCE_POINTS, d)) for _ in sources])
    return _history_tensors_from(X, np.stack([s(x) for s, x in zip(sources, X, strict=True)]))


def _history_tensors_from(X: np.ndarray, Y: np.ndarray):
    """``T x n x d`` inputs and ``T x n`` values -> MultiTaskGP tensors (maximizing -Y)."""
    T, n, _ = X.shape
    labels = np.repeat(np.arange(T), n)[:, None]
    tX = torch.tensor(np.hstack([X.reshape(T * n, -1), labels]))
    return tX, -torch.tensor(Y.reshape(-1, 1))


def run_arm(args: tuple) -> tuple[str, str, int, list[float], list[float], float]:
    """One run: ``args = (family, arm, seed)`` or ``(family, arm, seed, budget)``."""
    family, arm, seed = args[:3]
    budget = args[3] if len(args) > 3 else BUDGET
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    target, sources = make_family(family, seed)
    d = len(target.shift)
    n_init = max(5, d + 1)
    if arm == "hbo":
        values, times = run_hbo(target, sources, seed, with_history=True)
    elif arm == "hbo_no_history":
        values, times = run_hbo(target, sources, seed, with_history=False)
    elif arm == "hbo_nuts":
        values, times = run_hbo(target, sources, seed, True, inference="nuts", budget=budget)
    elif arm == "hbo_warped":  # output warping (hbo.surrogate.output_warping)
        values, times = run_hbo(target, sources, seed, True, output_warping=True)
    elif arm == "hbo_shared":  # g always on: no leave-one-out choice
        values, times = run_hbo(target, sources, seed, True, shared_function=True)
    elif arm == "saas":
        values, times = _botorch_loop(target, seed, n_init, _saas, budget=budget)
    elif arm == "saas_multi_task":
        history = _history_tensors(sources, seed, d)
        values, times = _botorch_loop(target, seed, n_init, _saas_multi_task, history,
                                      budget=budget)
    elif arm == "single_task_gp":
        values, times = _botorch_loop(target, seed, n_init, _single_task_gp)
    elif arm == "multi_task_gp":
        history = _history_tensors(sources, seed, d)
        values, times = _botorch_loop(target, seed, 1, _multi_task_gp, history)
    elif arm == "random":
        X = np.random.default_rng(seed + 7).random((BUDGET, d))
        values, times = target(X).tolist(), [0.0] * BUDGET
    else:
        raise ValueError(arm)
    f_min = target.minimum(np.random.default_rng(seed))
    return family, arm, seed, values, times, f_min


# ---------------------------------------------------------------------- reporting
def simple_regret(values: list[float], f_min: float) -> np.ndarray:
    """Best value so far minus the minimum, after each evaluation (floored at 0)."""
    return np.maximum(np.minimum.accumulate(np.asarray(values)) - f_min, 0.0)


def regret_curves(results) -> dict[tuple[str, str], np.ndarray]:
    """``seeds x BUDGET`` simple regret per (family, arm); NaN beyond a shorter run's end."""
    curves: dict[tuple[str, str], list[np.ndarray]] = {}
    for family, arm, _seed, values, _times, f_min in results:
        regret = np.full(BUDGET, np.nan)
        regret[: len(values)] = simple_regret(values, f_min)
        curves.setdefault((family, arm), []).append(regret)
    return {k: np.vstack(v) for k, v in curves.items()}


def table(results, families, seeds_note: str) -> str:
    curves = regret_curves(results)
    ask_times: dict[tuple[str, str], list[float]] = {}
    for family, arm, _s, _v, times, _f in results:
        model_times = [t for t in times if t > 0] or [0.0]
        ask_times.setdefault((family, arm), []).extend(model_times)
    head = (
        "| family | arm | seeds | "
        + " | ".join(f"regret@{c} median [IQR]" for c in CHECKPOINTS)
        + " | ratio@10 vs single_task_gp | ask time (s, median) |"
    )
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for family in families:
        reference = curves.get((family, "single_task_gp"))
        base = np.median(reference[:, 9]) if reference is not None else math.nan
        for arm in ARMS:
            if (family, arm) not in curves:
                continue
            c = curves[(family, arm)]
            cells = []
            for k in CHECKPOINTS:
                if np.isnan(c[:, k - 1]).any():  # some runs were shorter (--budget)
                    cells.append("not run")
                    continue
                q25, q50, q75 = np.percentile(c[:, k - 1], [25, 50, 75])
                cells.append(f"{q50:.3g} [{q25:.3g}, {q75:.3g}]")
            ratio = np.median(c[:, 9]) / base if base > 0 else math.nan
            t = np.median(ask_times[(family, arm)])
            lines.append(
                f"| {family} | {arm} | {len(c)} | "
                + " | ".join(cells)
                + f" | {ratio:.2f} | {t:.3f} |"
            )
    return "\n".join(lines) + f"\n\n{seeds_note}\n"


def plot(results, families, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = regret_curves(results)
    fig, axes = plt.subplots(1, len(families), figsize=(4.5 * len(families), 3.8))
    for ax, family in zip(np.atleast_1d(axes), families, strict=True):
        for arm in ARMS:
            if (family, arm) not in curves:
                continue
            c = curves[(family, arm)]
            x = np.arange(1, c.shape[1] + 1)
            med = np.median(c, 0)
            ax.plot(x, med, label=arm)
            ax.fill_between(x, *np.percentile(c, [25, 75], 0), alpha=0.15)
        ax.set_yscale("symlog", linthresh=1e-3)
        ax.set_title(family)
        ax.set_xlabel("evaluations on the target")
    np.atleast_1d(axes)[0].set_ylabel("simple regret (median, IQR)")
    np.atleast_1d(axes)[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


# ---------------------------------------------------------------------- scaling
SCALING_TASKS = (2, 5, 10, 20, 50)


def scaling(task_counts=SCALING_TASKS, n_per_task=20, mtgp_max_tasks=50, out=None) -> str:
    """Time one fit + ask of each model arm on T tasks x ``n_per_task`` points (d = 4).

    The data of each T are drawn in sequence from one generator, so a row is the same
    whether or not the other rows are timed. Rows are appended to ``out`` as they finish.
    MultiTaskGP is skipped above ``mtgp_max_tasks`` tasks (its cold fit takes hours there).
    """
    from botorch.test_functions import Hartmann

    import hbo

    d, rng = 4, np.random.default_rng(0)
    rows = [
        "| T | N | hbo (default) | hbo (g on) | hbo (g off) | SingleTaskGP (target) | "
        "MultiTaskGP | hbo default / MTGP | hbo g-off / MTGP |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for T in SCALING_TASKS:
        tasks = [Task(Hartmann(dim=d), rng.uniform(0.0, 0.1, d), 1.0, 0.0) for _ in range(T)]
        X = rng.random((T, n_per_task, d))
        if T not in task_counts:
            continue
        Y = np.stack([task(x) for task, x in zip(tasks, X, strict=True)])
        timing = {}
        for shared in (None, True, False):  # None: both fitted, g chosen by leave-one-out
            study = hbo.Study(_space(d), task="t0", seed=0, shared_function=shared)
            for t in range(T):
                params = [dict(zip(study.space.names, r, strict=True)) for r in X[t].tolist()]
                study.add_history(f"t{t}", params, Y[t].tolist())
            start = time.perf_counter()
            study.ask()
            timing[shared] = time.perf_counter() - start
        target = torch.tensor(X[0])
        target_Y = -torch.tensor(Y[0]).unsqueeze(-1)
        t_st = _time_botorch_ask(_single_task_gp, target, target_Y, None)
        if mtgp_max_tasks >= T:
            history = _history_tensors_from(X[1:], Y[1:])
            t_mt = _time_botorch_ask(_multi_task_gp, target, target_Y, history)
            mt = f"{t_mt:.2f} | {timing[None] / t_mt:.3f} | {timing[False] / t_mt:.3f}"
        else:
            mt = "not run | - | -"
        rows.append(
            f"| {T} | {T * n_per_task} | {timing[None]:.2f} | {timing[True]:.2f} | "
            f"{timing[False]:.2f} | "
            f"{t_st:.2f} | {mt} |"
        )
        print(rows[-1], flush=True)
        if out is not None:
            with open(out, "a") as handle:
                handle.write(rows[-1] + "\n")
    return "\n".join(rows) + "\n\nSeconds for one fit + one ask, one process, one thread.\n"


def _time_botorch_ask(make_model, X, Y, history) -> float:
    start = time.perf_counter()
    _botorch_ask(make_model, X, Y, history)  # a cold fit, as hbo's in the same table
    return time.perf_counter() - start


def load_runs(paths: Path | list[Path]) -> list[tuple]:
    """Finished runs ``(family, arm, seed, values, ask_times, f_min)`` from JSON-lines files.

    A run found in several files is taken once (from the first file that has it).
    """
    runs, seen = [], set()
    for path in [paths] if isinstance(paths, Path) else paths:
        if not path.exists():
            continue
        for line in path.read_text().splitlines():
            run = tuple(json.loads(line)) if line.strip() else None
            if run is not None and tuple(run[:3]) not in seen:
                seen.add(tuple(run[:3]))
                runs.append(run)
    return runs


def seeds_per_arm(results, families) -> str:
    """``arm: n seeds`` (or per family when they differ), for the table's note."""
    counts: dict[str, dict[str, int]] = {}
    for family, arm, *_ in results:
        if family in families:
            counts.setdefault(arm, {}).setdefault(family, 0)
            counts[arm][family] += 1
    parts = []
    for arm in (a for a in ARMS if a in counts):
        per = counts[arm]
        if len(set(per.values())) == 1 and len(per) == len(families):
            parts.append(f"{arm} {next(iter(per.values()))}")
        else:
            parts.append(f"{arm} " + "/".join(f"{per.get(f, 0)} ({f})" for f in families))
        parts[-1] += " seeds"
    return "; ".join(parts)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 seeds, 2 families")
    parser.add_argument("--scaling", action="store_true", help="fit + ask time against T")
    parser.add_argument("--tasks", nargs="+", type=int, default=list(SCALING_TASKS),
                        choices=SCALING_TASKS, help="--scaling: which task counts to time")
    parser.add_argument("--mtgp-max-tasks", type=int, default=50,
                        help="--scaling: skip MultiTaskGP above this many tasks")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--budget", type=int, default=BUDGET,
                        help=f"target evaluations per run (default {BUDGET}); shorter runs "
                        "fill only the checkpoints they reach (for the slow arms)")
    parser.add_argument("--mtgp-seeds", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--families", nargs="+", choices=FAMILIES, help="subset of families")
    parser.add_argument("--arms", nargs="+", choices=ARMS, help="subset of arms")
    parser.add_argument(
        "--runs",
        type=Path,
        nargs="+",
        help="JSON-lines files of finished runs: all are read (to skip those runs and to "
        "merge them into the table); new runs are appended to the first (a long benchmark "
        "can stop and resume; default results/<name>_runs.jsonl)",
    )
    parser.add_argument("--paired", nargs=2, metavar=("A", "B"),
                        help="add B against A run for run, paired by seed (e.g. hbo hbo_nuts), "
                        "and the non-inferiority test of B against A (paired_comparison.py)")
    parser.add_argument("--control", default="single_task_gp", choices=ARMS,
                        help="--paired: the arm whose gap to A sets the non-inferiority margin")
    parser.add_argument("--out", help="name of the table and plot in results/ (default "
                        "transfer_benchmark, or transfer_benchmark_quick with --quick)")
    args = parser.parse_args(argv)
    RESULTS.mkdir(exist_ok=True)
    if args.scaling:
        torch.set_num_threads(1)
        warnings.filterwarnings("ignore")
        text = scaling(tuple(args.tasks), mtgp_max_tasks=args.mtgp_max_tasks,
                       out=RESULTS / "transfer_scaling_rows.md")
        (RESULTS / "transfer_scaling.md").write_text("# Fit + ask time against tasks\n\n" + text)
        print(text)
        return
    families = args.families or (["branin", "unrelated"] if args.quick else list(FAMILIES))
    arms = args.arms or ARMS
    seeds = 3 if args.quick else args.seeds
    mtgp_seeds = min(seeds, 2 if args.quick else args.mtgp_seeds)
    name = args.out or ("transfer_benchmark_quick" if args.quick else "transfer_benchmark")
    run_files = args.runs or [RESULTS / f"{name}_runs.jsonl"]
    runs = run_files[0]
    # the arms the acceptance compares come first, so a partial run is already informative
    order = {arm: i for i, arm in enumerate(("hbo", "single_task_gp", "random", "multi_task_gp",
                                              "hbo_no_history", "hbo_shared", "hbo_warped",
                                              "hbo_nuts", "saas", "saas_multi_task"))}
    jobs = sorted(
        (
            (f, a, s) if args.budget == BUDGET else (f, a, s, args.budget)
            for f in families
            for a in arms
            for s in range(seeds)
            if a != "multi_task_gp" or s < mtgp_seeds
        ),
        key=lambda job: (order[job[1]], job[2], job[0]),
    )
    previous = load_runs(run_files)
    done = {tuple(r[:3]) for r in previous}
    todo = [job for job in jobs if tuple(job[:3]) not in done]
    # the table shows every run read (other arms' files too), not only this call's jobs
    results = [r for r in previous if r[0] in families]
    print(f"{len(jobs) - len(todo)} of {len(jobs)} runs read from "
          f"{', '.join(map(str, run_files))}; {len(todo)} to run", flush=True)
    start = time.perf_counter()
    # BoTorch's SAAS arms get a fresh process per run: JAX keeps every NUTS program it
    # compiled (one per ask), and a worker that had fitted a few dozen died ("LLVM
    # compilation error: Cannot allocate memory"), taking its run with it
    per_run = 1 if any(arm.startswith("saas") for arm in arms) else None
    with ProcessPoolExecutor(args.workers, mp_context=mp.get_context("spawn"),
                             max_tasks_per_child=per_run) as pool:
        futures = [pool.submit(run_arm, job) for job in todo]
        try:
            for i, future in enumerate(as_completed(futures), 1):
                res = future.result()
                results.append(res)
                with runs.open("a") as handle:
                    handle.write(json.dumps(res) + "\n")
                print(
                    f"[{i}/{len(todo)}] {res[0]:>10} {res[1]:>15} seed {res[2]}: "
                    f"regret@{len(res[3])} {simple_regret(res[3], res[5])[-1]:.4g}  "
                    f"({time.perf_counter() - start:.0f}s)",
                    flush=True,
                )
        except BrokenProcessPool:
            sys.exit(f"a worker process died (out of memory?); the finished runs are in "
                     f"{runs}: run the same command again to resume from them")
    note = (
        f"Seeds per arm: {seeds_per_arm(results, families)} (MultiTaskGP's fits and the "
        f"fully Bayesian arms' NUTS runs dominate the run time). Sources: {N_SOURCES} x "
        f"{N_SOURCE_POINTS} points; target budget {BUDGET}. Ask time: fit + acquisition, "
        "model-based asks only."
    )
    text = table(results, families, note)
    if args.paired:
        regret = {(f, a, s): simple_regret(v, f_min) for f, a, s, v, _t, f_min in results}
        text += "\n" + paired_table(regret, families, *args.paired)
        text += "\n" + non_inferiority(regret, families, *args.paired, control=args.control)
    (RESULTS / f"{name}.md").write_text("# Transfer benchmark\n\n" + text)
    plot(results, families, RESULTS / f"{name}.png")
    print(text)


if __name__ == "__main__":
    sys.path.insert(0, os.fspath(Path(__file__).resolve().parents[1]))
    main()
