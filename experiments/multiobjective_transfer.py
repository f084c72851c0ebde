"""Transfer with several outcomes: two objectives, or one objective under a constraint.

Three families of related tasks (each seed draws a target and ``N_SOURCES`` sources). A task
evaluates a BoTorch test problem ``F`` on a shifted window of its domain and rescales each
outcome, as :class:`transfer_benchmark.Task` does for one objective:
``outcome_j(x) = scale_j F_j(lo + (shift + 0.9 x)(hi - lo)) + offset_j`` for ``x`` in the
unit cube (the problems' bounds), ``shift ~ U[0, 0.1]^d``, ``scale_j ~ U[0.5, 2]``,
``offset_j ~ U[-1, 1]``; all outcomes are minimized.

* ``branin_currin`` (d = 2): BoTorch's ``BraninCurrin`` (Belakaria et al. 2019), ``f0, f1``;
* ``zdt1`` (d = 4): ``ZDT1`` (Zitzler et al. 2000), ``f0, f1``;
* ``hartmann6_constrained`` (d = 6): ``f`` = Hartmann-6 and ``c0 = s (||z||_2 - r) <= 0``
  on the window ``z``, BoTorch's ``ConstrainedHartmann`` (Letham et al. 2019, radius 1) with
  a task's radius ``r ~ U[0.85, 0.92]``: Hartmann-6's minimizer (``||z|| = 0.946``) is
  infeasible on every task.

Arms (seeds paired: the same target, sources and history in every arm of a seed):

* ``hbo_history``: ``hbo.Study(objectives=..., constraints=...)`` with the sources' history
  (``N_SOURCES x N_SOURCE_POINTS`` uniform points, every outcome); ``hbo_alone``: the same
  study without history;
* ``ax_default``: ``ax.Client`` with Ax's default generation strategy (Sobol, then its modular
  BoTorch generator: qLogNEHVI for two objectives), ``objective="-f0, -f1"`` or ``"-f"`` with
  ``outcome_constraints=["c0 <= 0.0"]``; no history (Ax has no transfer for these);
* ``random``: uniform points.

Scores (``reference``; cached in ``results/multiobjective_reference.json``):

* two objectives: *hypervolume regret* ``(HV* - HV_k) / HV*``, ``HV_k`` the hypervolume of
  the first ``k`` evaluations (those that dominate the reference point), the reference
  point BoTorch's for the problem (BraninCurrin ``(18, 6)``, ZDT ``(11, 11)``) mapped through
  the task's ``scale`` and ``offset``; ``HV*`` that of the non-dominated set of
  ``N_REFERENCE`` uniform points, of ``N_EPSILON`` epsilon-constraint minimizations
  (``min f1`` s.t. ``f0 <= eps``, SLSQP from the best uniform point) and of every run's
  points on the task. 1: nothing dominates the reference point; 0: the best known front.
* constrained: *feasible best regret* ``(best feasible so far - y*) / (median - y*)``, ``y*``
  the best feasible value of the uniform points, of SLSQP from the 10 best feasible and the
  10 best of all of them, and of every run, ``median`` the median feasible uniform value;
  before the first feasible point the regret is that of the worst feasible value seen
  (uniform points and runs): finding a feasible point never raises it.

Paired ratios compare regrets of the same seed (same task), so they do not depend on the
normalization; regrets are floored at ``RATIO_FLOOR`` (0.1%) first, as the best run on a
task can reach 0. Goal (the issue): hbo_history's regret after 10 evaluations at most 0.5x that
of hbo_alone and of ax_default (geometric-mean ratio over seeds, 90% bootstrap interval).

    python experiments/multiobjective_transfer.py --quick      # 2 seeds, budget 10
    python experiments/multiobjective_transfer.py              # 10 seeds, budget 25
    python experiments/multiobjective_transfer.py --families zdt1 --arms random ax_default

Runs are appended to ``results/multiobjective_transfer[_quick]_runs.jsonl``; the same command
resumes (``--out`` names other files; ``--note`` adds a line to the report). Writes
``multiobjective_transfer[_quick].md`` and ``.png``. The hbo arms need
``hbo.Study(objectives=...)``; without it they are left out, saying so.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import sys
import time
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from scipy.optimize import minimize

sys.path.insert(0, os.fspath(Path(__file__).resolve().parent))

from paired_comparison import arm_table, bootstrap_interval, paired_log_ratios  # noqa: E402
from resumable import read_records, run_jobs  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
FAMILIES = ("branin_currin", "zdt1", "hartmann6_constrained")
ARMS = ("hbo_history", "hbo_alone", "ax_default", "random")
HBO_ARMS = ("hbo_history", "hbo_alone")
N_SOURCES, N_SOURCE_POINTS, BUDGET, SEEDS = 3, 30, 25, 10
CHECKPOINTS = (5, 10, 25)
GOAL_AT, GOAL_RATIO = 10, 0.5
N_REFERENCE, N_EPSILON = 20_000, 32
POLISH_MARGIN = 1e-6
#: Part of the reference cache's keys: raise it when ``compute_reference`` changes.
REFERENCE_VERSION = 2
#: Regrets are floored here before paired ratios: the best run on a task can reach 0, and
#: below 0.1% of the scale (HV*, or median - y*) differences are not worth a ratio.
RATIO_FLOOR = 1e-3
#: Seconds per ask: the median over asks from this index on (Ax's Sobol start is over).
TIMED_FROM = 5


# ---------------------------------------------------------------------- task families
@dataclass
class Problem:
    """One task: ``outcomes`` of ``base`` on the window ``shift + 0.9 x`` (module docstring).

    ``radius``: the constrained family's ``c0 = scale[-1] (||z||_2 - radius)``, ``z`` the
    window point; ``scale`` and ``offset`` hold one entry per outcome (``offset`` 0 for
    ``c0``: a constraint's bound keeps its meaning).
    """

    base: object
    outcomes: tuple[str, ...]
    shift: np.ndarray
    scale: np.ndarray
    offset: np.ndarray
    radius: float | None = None

    @property
    def dim(self) -> int:
        return len(self.shift)

    @property
    def constrained(self) -> bool:
        return self.radius is not None

    def values(self, X: np.ndarray) -> np.ndarray:
        """``n x m`` outcomes at the ``n x d`` points ``X`` of the unit cube."""
        bounds = self.base.bounds.numpy()
        z = bounds[0] + (self.shift + 0.9 * np.atleast_2d(X)) * (bounds[1] - bounds[0])
        with torch.no_grad():
            y = self.base.evaluate_true(torch.as_tensor(z, dtype=torch.double)).numpy()
        y = y.reshape(len(z), -1)
        if self.constrained:
            y = np.hstack([y, np.linalg.norm(z, axis=1, keepdims=True) - self.radius])
        return self.scale * y + self.offset

    @property
    def objectives(self) -> tuple[str, ...]:
        return self.outcomes[:-1] if self.constrained else self.outcomes

    def __call__(self, X: np.ndarray) -> list[dict[str, float]]:
        return [dict(zip(self.outcomes, map(float, row), strict=True)) for row in self.values(X)]

    def ref_point(self) -> np.ndarray:
        """BoTorch's reference point of ``base`` in this task's units (two objectives)."""
        return self.scale * self.base.ref_point.numpy() + self.offset


def make_family(name: str, seed: int) -> tuple[Problem, list[Problem]]:
    """The target and ``N_SOURCES`` sources of family ``name`` for ``seed``."""
    from botorch.test_functions import Hartmann
    from botorch.test_functions.multi_objective import ZDT1, BraninCurrin

    rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
    if name == "branin_currin":
        base, outcomes = BraninCurrin(), ("f0", "f1")
    elif name == "zdt1":
        base, outcomes = ZDT1(dim=4), ("f0", "f1")
    elif name == "hartmann6_constrained":
        base, outcomes = Hartmann(dim=6), ("f", "c0")
    else:
        raise ValueError(f"unknown family {name!r}; families: {FAMILIES}")
    m = len(outcomes)

    def task() -> Problem:
        shift, scale = rng.uniform(0.0, 0.1, base.dim), rng.uniform(0.5, 2.0, m)
        offset = rng.uniform(-1.0, 1.0, m)
        radius = None
        if name == "hartmann6_constrained":
            radius, offset[-1] = float(rng.uniform(0.85, 0.92)), 0.0  # c0 <= 0 keeps its meaning
        return Problem(base, outcomes, shift, scale, offset, radius)

    return task(), [task() for _ in range(N_SOURCES)]


def history(sources: list[Problem], seed: int) -> dict[str, tuple[list[dict], list[dict]]]:
    """Source name -> (params, outcomes): ``N_SOURCE_POINTS`` uniform points each."""
    rng = np.random.default_rng([seed, 1])
    out = {}
    for k, source in enumerate(sources):
        X = rng.random((N_SOURCE_POINTS, source.dim))
        out[f"source{k}"] = (as_params(X), source(X))
    return out


def as_params(X: np.ndarray) -> list[dict[str, float]]:
    return [{f"x{i}": float(v) for i, v in enumerate(row)} for row in np.atleast_2d(X)]


# ---------------------------------------------------------------------- arms
def hbo_has_objectives() -> bool:
    """Whether ``hbo.Study`` takes ``objectives`` (several outcomes): the hbo arms need it."""
    import hbo

    return "objectives" in inspect.signature(hbo.Study).parameters


def constraints_of(task: Problem) -> list[str]:
    return ["c0 <= 0.0"] if task.constrained else []


def run_hbo(task: Problem, hist: dict, seed: int, budget: int) -> tuple[list[dict], list[float]]:
    """``hbo.Study`` with the task's objectives and constraint, ``hist`` (source -> params,
    outcomes) as history, ``budget`` asks: the outcomes and seconds of each ask."""
    import hbo

    space = hbo.SearchSpace([hbo.Float(f"x{i}", 0.0, 1.0) for i in range(task.dim)])
    options = {"constraints": constraints_of(task)} if task.constrained else {}
    study = hbo.Study(space, task="target", objectives=dict.fromkeys(task.objectives, "minimize"),
                      seed=seed, **options)
    for source, (params, values) in hist.items():
        study.add_history(source, params, values)
    outcomes, seconds = [], []
    for _ in range(budget):
        start = time.perf_counter()
        trial = study.ask()
        seconds.append(time.perf_counter() - start)
        x = np.array([trial.params[f"x{i}"] for i in range(task.dim)])
        outcomes.append(task(x)[0])
        study.tell(trial, outcomes[-1])
    return outcomes, seconds


def run_ax(task: Problem, seed: int, budget: int) -> tuple[list[dict], list[float]]:
    """Ax's default generation strategy, seeded, one trial at a time."""
    import logging

    from ax.api.client import Client
    from ax.api.configs import RangeParameterConfig
    from ax.utils.common.logger import set_ax_logger_levels

    set_ax_logger_levels(logging.WARNING)
    client = Client(random_seed=seed)
    client.configure_experiment(
        parameters=[RangeParameterConfig(name=f"x{i}", parameter_type="float", bounds=(0.0, 1.0))
                    for i in range(task.dim)], name="target")
    client.configure_optimization(objective=", ".join(f"-{o}" for o in task.objectives),
                                  outcome_constraints=constraints_of(task) or None)
    client.configure_generation_strategy(initialization_random_seed=seed)
    outcomes, seconds = [], []
    for _ in range(budget):
        start = time.perf_counter()
        (index, params), = client.get_next_trials(max_trials=1).items()
        seconds.append(time.perf_counter() - start)
        outcomes.append(task(np.array([params[f"x{i}"] for i in range(task.dim)]))[0])
        client.complete_trial(index, raw_data=outcomes[-1])
    return outcomes, seconds


def run_arm(job: tuple) -> dict:
    """One run: ``job = (family, arm, seed, budget)``."""
    family, arm, seed, budget = job
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    target, sources = make_family(family, seed)
    if arm == "hbo_history":
        outcomes, seconds = run_hbo(target, history(sources, seed), seed, budget)
    elif arm == "hbo_alone":
        outcomes, seconds = run_hbo(target, {}, seed, budget)
    elif arm == "ax_default":
        outcomes, seconds = run_ax(target, seed, budget)
    elif arm == "random":
        outcomes = target(np.random.default_rng([seed, 7]).random((budget, target.dim)))
        seconds = [0.0] * budget
    else:
        raise ValueError(f"unknown arm {arm!r}; arms: {ARMS}")
    return {"family": family, "arm": arm, "seed": seed, "outcomes": outcomes,
            "ask_seconds": seconds}


def run_key(record: dict) -> tuple:
    return record["family"], record["arm"], record["seed"]


# ---------------------------------------------------------------------- scores
def pareto_front(Y: np.ndarray) -> np.ndarray:
    """The non-dominated rows of ``n x m`` minimized outcomes ``Y``."""
    from botorch.utils.multi_objective.pareto import is_non_dominated

    Y = np.asarray(Y, dtype=float).reshape(-1, 2)
    if not len(Y):
        return Y
    return Y[is_non_dominated(-torch.as_tensor(Y), deduplicate=True).numpy()]


def hypervolume(Y: np.ndarray, ref_point: np.ndarray) -> float:
    """Hypervolume of minimized outcomes ``Y`` (``n x m``) below ``ref_point``; rows that
    do not dominate it add nothing."""
    from botorch.utils.multi_objective.hypervolume import Hypervolume

    Y = np.asarray(Y, dtype=float).reshape(-1, len(ref_point))
    Y = Y[np.all(ref_point > Y, axis=1)]  # dominates the point
    if not len(Y):
        return 0.0
    hv = Hypervolume(-torch.as_tensor(ref_point, dtype=torch.double))
    return float(hv.compute(-torch.as_tensor(pareto_front(Y))))


def _polish(task: Problem, objective: int, constraint, start: np.ndarray) -> np.ndarray:
    """SLSQP in the unit cube from ``start``: minimize outcome ``objective`` subject to
    ``constraint(outcomes) <= 0``, asked with a margin of ``POLISH_MARGIN`` (SLSQP stops on
    the boundary, a hair outside). Returns the outcomes where it stopped."""
    res = minimize(lambda x: task.values(x)[0, objective], start, method="SLSQP",
                   bounds=[(0.0, 1.0)] * task.dim,
                   constraints=[{"type": "ineq",
                                 "fun": lambda x: -constraint(task.values(x)[0]) - POLISH_MARGIN}])
    return task.values(np.clip(res.x, 0.0, 1.0))[0]


def compute_reference(family: str, seed: int) -> dict:
    """The dense reference of the target task (module docstring): two objectives: the
    reference point and the front; constrained: best, median and worst feasible values."""
    target, _ = make_family(family, seed)
    X = np.random.default_rng([seed, 99]).random((N_REFERENCE, target.dim))
    Y = target.values(X)
    if target.constrained:
        feasible = Y[:, 1] <= 0
        # from the 10 best feasible points and the 10 best of all (near the unconstrained
        # minimizer: the constrained one lies on the boundary beside it)
        starts = X[np.r_[np.argsort(np.where(feasible, Y[:, 0], np.inf))[:10],
                         np.argsort(Y[:, 0])[:10]]]
        polished = [_polish(target, 0, lambda y: y[1], x) for x in starts]
        best = min([Y[feasible, 0].min()] + [y[0] for y in polished if y[1] <= 0])
        return {"best": float(best), "median": float(np.median(Y[feasible, 0])),
                "worst": float(Y[feasible, 0].max()), "feasible_share": float(feasible.mean())}
    front = pareto_front(Y)
    extra = []
    for eps in np.linspace(front[:, 0].min(), front[:, 0].max(), N_EPSILON):
        allowed = np.where(Y[:, 0] <= eps, Y[:, 1], np.inf)
        extra.append(_polish(target, 1, lambda y, e=eps: y[0] - e, X[np.argmin(allowed)]))
    return {"ref_point": target.ref_point().tolist(),
            "front": pareto_front(np.vstack([front, extra])).tolist()}


def reference(family: str, seed: int, cache_file: Path) -> dict:
    """:func:`compute_reference`, read from ``cache_file`` when there, written there when not."""
    cached = json.loads(cache_file.read_text()) if cache_file.exists() else {}
    key = f"v{REFERENCE_VERSION}/{family}/{seed}"
    if key not in cached:
        cached[key] = compute_reference(family, seed)
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        cache_file.write_text(json.dumps(cached, indent=1, sort_keys=True) + "\n")
    return cached[key]


def hypervolume_regret(Y: np.ndarray, ref_point: np.ndarray, hv_star: float) -> np.ndarray:
    """``(HV* - HV_k) / HV*`` after each of the ``n`` rows of ``Y``."""
    return np.array([(hv_star - hypervolume(Y[:k], ref_point)) / hv_star
                     for k in range(1, len(Y) + 1)])


def feasible_regret(y: np.ndarray, c: np.ndarray, best: float, median: float,
                    worst: float) -> np.ndarray:
    """``(best feasible so far - best) / (median - best)``; before the first feasible point
    (``c <= 0``), the regret of ``worst``."""
    values = np.where(c <= 0, y, np.inf)
    so_far = np.minimum(np.minimum.accumulate(values), worst)
    return (so_far - best) / (median - best)


def regrets(records: list[dict], cache_file: Path) -> dict[tuple, np.ndarray]:
    """Run key -> regret after each evaluation, the best known value or front including
    every run on the same task."""
    tasks: dict[tuple, list[np.ndarray]] = {}
    arrays = {}
    for r in records:
        target, _ = make_family(r["family"], r["seed"])
        Y = np.array([[o[name] for name in target.outcomes] for o in r["outcomes"]])
        arrays[run_key(r)] = Y
        tasks.setdefault((r["family"], r["seed"]), []).append(Y)
    out = {}
    for (family, arm, seed), Y in arrays.items():
        ref = reference(family, seed, cache_file)
        runs = np.vstack(tasks[(family, seed)])
        if "front" in ref:
            point = np.asarray(ref["ref_point"])
            hv_star = hypervolume(np.vstack([ref["front"], runs]), point)
            out[(family, arm, seed)] = hypervolume_regret(Y, point, hv_star)
        else:
            feasible = runs[runs[:, 1] <= 0, 0]
            best = min([ref["best"], *feasible])
            worst = max([ref["worst"], *feasible])
            out[(family, arm, seed)] = feasible_regret(Y[:, 0], Y[:, 1], best, ref["median"],
                                                       worst)
    return out


# ---------------------------------------------------------------------- report
def arm_rows(regret: dict, records: list[dict], family: str, checkpoints: tuple) -> list[str]:
    """One row per arm of ``family`` (:func:`paired_comparison.arm_table`; random search has
    no model, so no seconds per ask)."""
    runs = {arm: [r for r in records if (r["family"], r["arm"]) == (family, arm)]
            for arm in ARMS}
    timed = {arm: [{**r, "ask_seconds": []} for r in rs] if arm == "random" else rs
             for arm, rs in runs.items()}
    return arm_table(timed, lambda r: regret[run_key(r)], checkpoints, TIMED_FROM)


def goal_lines(regret: dict, families: list[str], k: int = GOAL_AT) -> list[str]:
    """hbo_history against hbo_alone and ax_default after ``k`` evaluations, paired by seed:
    wins / ties / losses, geometric-mean ratio with its 90% bootstrap interval, the goal."""
    rng = np.random.default_rng(0)
    regret = {key: np.maximum(curve, RATIO_FLOOR) for key, curve in regret.items()}
    lines = [f"| family | hbo_history against | pairs | W/T/L | ratio@{k} [90%] | "
             f"goal <= {GOAL_RATIO} |", "|---|---|---|---|---|---|"]
    for family in families:
        for other in ("hbo_alone", "ax_default"):
            d = np.asarray(paired_log_ratios(regret, family, other, "hbo_history", k))
            if len(d) < 2:
                lines.append(f"| {family} | {other} | {len(d)} | - | - | not run |")
                continue
            lo, hi = bootstrap_interval(d, rng)
            ratio = 10 ** d.mean()
            verdict = ("met (interval below)" if 10 ** hi <= GOAL_RATIO else
                       "met (estimate; interval reaches above)" if ratio <= GOAL_RATIO else
                       "not met")
            wtl = f"{(d < 0).sum()}/{(d == 0).sum()}/{(d > 0).sum()}"
            lines.append(f"| {family} | {other} | {len(d)} | {wtl} | {ratio:.3g} "
                         f"[{10 ** lo:.3g}, {10 ** hi:.3g}] | {verdict} |")
    return lines


def report(records: list[dict], cache_file: Path, title: str, notes: list[str]) -> str:
    regret = regrets(records, cache_file)
    families = [f for f in FAMILIES if any(r["family"] == f for r in records)]
    budget = max(len(r["outcomes"]) for r in records)
    checkpoints = tuple(dict.fromkeys(k for k in (*CHECKPOINTS, budget) if k <= budget))
    parts = [f"# {title}", "",
             f"`python experiments/{Path(__file__).name}`: seeds "
             f"{sorted({r['seed'] for r in records})}, {budget} target evaluations per run; "
             f"history {N_SOURCES} sources x {N_SOURCE_POINTS} uniform points (hbo_history "
             "only). Definitions of the tasks, the reference point, HV* and y*: the "
             "script's docstring.", "", *notes]
    for family in families:
        kind = ("feasible best regret (0: best known feasible value, 1: median feasible "
                "uniform point)" if family == "hartmann6_constrained" else
                "hypervolume regret (HV* - HV) / HV* (0: best known front, 1: nothing "
                "dominates the reference point)")
        parts += [f"## {family}", "", f"{kind}:", "",
                  *arm_rows(regret, records, family, checkpoints), ""]
    parts += [f"## Goal: hbo_history's regret after {GOAL_AT} evaluations at most {GOAL_RATIO}x",
              "", "Paired by seed, geometric mean of hbo_history's regret / the other arm's "
              f"(regrets floored at {RATIO_FLOOR}; below 1: hbo_history better), 90% bootstrap "
              "interval over seeds; W/T/L: hbo_history's wins, ties, losses:", "",
              *goal_lines(regret, families), "",
              f"s / ask: median over asks {TIMED_FROM + 1} on (hbo: `study.ask()`; Ax: "
              "`get_next_trials`), one thread per run, measured in this run.", ""]
    return "\n".join(parts)


def plot(records: list[dict], cache_file: Path, path: Path) -> None:
    """Median regret against evaluations (IQR shaded), a panel per family."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    regret = regrets(records, cache_file)
    families = [f for f in FAMILIES if any(r["family"] == f for r in records)]
    fig, axes = plt.subplots(1, len(families), figsize=(4.8 * len(families), 4), squeeze=False)
    for ax, family in zip(axes[0], families, strict=True):
        for arm in ARMS:
            curves = [c for key, c in regret.items() if key[:2] == (family, arm)]
            if not curves:
                continue
            n = min(map(len, curves))
            c = np.maximum(np.vstack([c[:n] for c in curves]), 1e-4)
            x = np.arange(1, n + 1)
            ax.plot(x, np.median(c, axis=0), label=arm, lw=2.5 if arm == "hbo_history" else 1.2)
            ax.fill_between(x, *np.percentile(c, [25, 75], axis=0), alpha=0.12)
        ax.set_yscale("log")
        ax.set_title(family)
        ax.set_xlabel("evaluations on the target")
    axes[0][0].set_ylabel("median regret (IQR)")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# ---------------------------------------------------------------------- command line
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 seeds, budget 10")
    parser.add_argument("--families", nargs="+", choices=FAMILIES, default=list(FAMILIES))
    parser.add_argument("--arms", nargs="+", choices=ARMS, default=list(ARMS))
    parser.add_argument("--seeds", type=int, default=SEEDS)
    parser.add_argument("--budget", type=int, default=BUDGET)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", help="name in results/ (default multiobjective_transfer"
                        "[_quick])")
    parser.add_argument("--note", help="a line for the report (e.g. which hbo ran)")
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds, args.budget = 2, 10
    name = args.out or ("multiobjective_transfer_quick" if args.quick
                        else "multiobjective_transfer")
    notes = [args.note, ""] if args.note else []
    if any(arm in HBO_ARMS for arm in args.arms) and not hbo_has_objectives():
        args.arms = [arm for arm in args.arms if arm not in HBO_ARMS]
        notes += ["**The hbo arms were not run**: this hbo's `Study` has no `objectives` "
                  "parameter (several outcomes); run again with an hbo that has it.", ""]
        print(notes[-2], flush=True)
    runs_file = RESULTS / f"{name}_runs.jsonl"
    cache_file = RESULTS / "multiobjective_reference.json"
    # seed-major, so that a stopped run has whole seeds for every arm
    jobs = [(family, arm, seed, args.budget) for seed in range(args.seeds)
            for family in args.families for arm in args.arms]
    records = read_records(runs_file)
    done = {run_key(r) for r in records}
    todo = [job for job in jobs if job[:3] not in done]
    print(f"{len(jobs) - len(todo)} of {len(jobs)} runs read from {runs_file}; {len(todo)} to "
          "run", flush=True)
    if todo:
        records += run_jobs(run_arm, todo, runs_file, args.workers, lambda r: (
            f"{r['family']:>21} {r['arm']:>11} seed {r['seed']}: "
            f"{np.median(r['ask_seconds'][TIMED_FROM:] or [0]):.2f} s / ask"))
    wanted = {job[:3] for job in jobs}
    records = [r for r in records if run_key(r) in wanted]
    title = "Multi-objective and constrained transfer" + (" (--quick)" if args.quick else "")
    text = report(records, cache_file, title, notes)
    (RESULTS / f"{name}.md").write_text(text)
    plot(records, cache_file, RESULTS / f"{name}.png")
    print(text)


if __name__ == "__main__":
    main()
