"""Real tuning problems: transfer from past datasets on YAHPO Gym, against the transfer
methods a person with history would pick instead.

Each *target* is one dataset of a YAHPO scenario (:mod:`yahpo_problems`: ``lcbench``'s MLP,
``rbv2_rpart``'s decision tree); its *sources* are other datasets of the same scenario, each
with uniformly random evaluations as history (``5x50``: 5 sources x 50; ``20x100``; ``20x15``,
a diagnostic). Every arm gets the same targets, sources, history and seeds, and
``--budget`` (30) evaluations:

* ``hbo``: ``hbo.Study`` with the history (defaults); ``hbo_no_history``: the target alone;
  ``hbo_permuted``: the history with its values shuffled within each source (same inputs, the
  relation destroyed: negative transfer must cost little); ``hbo_joint``: ``training="joint"``,
  the exact joint model (above ``MAX_SHARED_POINTS`` without the shared function), where the
  default trains hierarchically (``20x100``); ``hbo_own``: hierarchical training without the
  shared function (the target's own GP under the hyperprior pooled at stage A; its first
  point is a Sobol point, as without ``g`` there is no history start); ``hbo_g_start``: the
  default's first point (the maximum of ``g``'s posterior mean), then ``shared_function=False``
  (the exact joint model without ``g``, at ``20x100`` too, where it is ``hbo_joint`` run for
  run): against ``hbo``, what ``g`` brings after the start; ``hbo_own_g_start``: the same
  start, then hierarchical training without ``g`` (``hbo_own`` after the default's first
  point): against ``hbo_joint`` at ``20x100``, what hierarchical training costs without
  ``g``; ``hbo_hierarchical``: ``training="hierarchical"`` where the default would fit the
  exact joint model (``5x50``): against ``hbo`` there, what hierarchical training costs;
* ``single_task_gp``: BoTorch's ``SingleTaskGP`` on the target alone;
* ``multi_task_gp``: BoTorch's ``MultiTaskGP`` (ICM, per-task ``StratifiedStandardize``) on
  history + target, warm-started between asks, ``MTGP_MAXITER`` L-BFGS iterations per fit;
  history capped at ``MTGP_HISTORY`` points, an equal share per source (the ``20x100``
  setting);
* ``rgpe``: the ranking-weighted GP ensemble (:mod:`rgpe`);
  (all GP arms: LogEI with hbo's acquisition optimizer, :mod:`hbo.acquisition`, on the same
  encoding of the space)
* ``ws_cmaes``: Optuna's ``CmaEsSampler(source_trials=...)``, warm-starting CMA-ES (Nomura et al.
  2021, AAAI, arXiv:2012.06932) from the sources' trials, values standardized within each
  source so that every source contributes its best; ``tpe``: Optuna's ``TPESampler``;
* ``random``: uniform random configurations.

Score: normalized regret ``(y* - best so far) / (y* - median of random)``, ``y*`` the best of
20,000 random configurations and of every run on that target. Tables: median [IQR] at 5, 10,
20 and 30 evaluations; hbo against each arm paired by target and seed (geometric-mean regret
ratio, 90% bootstrap interval resampling targets, wins / ties / losses); the median seconds per
ask of each arm, measured in the same run.

    python experiments/yahpo_benchmark.py --quick        # under 10 minutes on 2 cores
    python experiments/yahpo_benchmark.py                 # 16 targets x 3 seeds, both settings
    python experiments/yahpo_benchmark.py --data /path/to/yahpo_data --workers 2

Runs are appended to ``experiments/results/yahpo_benchmark[_quick]_runs.jsonl`` as they finish;
the same command resumes (``--report-only`` reports the runs on file without running more).
Writes ``yahpo_benchmark[_quick].md`` and ``.png``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
import zlib
from functools import cache
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, os.fspath(Path(__file__).resolve().parent))

from paired_comparison import arm_table, at  # noqa: E402
from resumable import read_records, run_jobs  # noqa: E402
from yahpo_problems import SCENARIOS, YahpoProblem, check_data_dir  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
ARMS = ("hbo", "rgpe", "multi_task_gp", "ws_cmaes", "single_task_gp", "tpe", "random",
        "hbo_no_history", "hbo_permuted", "hbo_joint", "hbo_own", "hbo_warped",
        "hbo_hierarchical", "hbo_g_start", "hbo_own_g_start")
SETTINGS = {"5x50": (5, 50), "20x100": (20, 100), "20x15": (20, 15)}
#: What ``--settings`` runs unless told: ``20x15`` is a diagnostic (20 sources, where the
#: exact joint model with ``g`` still fits and stage A's subsample holds every point).
DEFAULT_SETTINGS = ("5x50", "20x100")
CHECKPOINTS = (5, 10, 20, 30)
BUDGET = 30
N_REFERENCE = 20_000
#: History points MultiTaskGP sees, the same share of each source (each source's first
#: ``MTGP_HISTORY // sources``, a uniform random subset): its exact fit is cubic in them. On
#: lcbench 20x100 a first ask took 53 s with 50 per source (1,030 points) and 13 s with 25
#: (530), against 3.5 s per ask at 5x50 (250, all of it).
MTGP_HISTORY = 250
#: Arms that read no history: their run on a target and seed is one run for every setting.
HISTORY_FREE = ("single_task_gp", "tpe", "random", "hbo_no_history")
#: L-BFGS iterations of each MultiTaskGP fit, as hbo's own MAP fit (``HierarchicalGP.fit``):
#: uncapped, a cold fit on lcbench took 3,854 evaluations (13 s) on 55 points and 20 s on 255
#: (15 s per ask, warm-started); warm-started, a capped fit goes on where the last one stopped.
MTGP_MAXITER = 200
#: Seconds per ask are the median over asks from this index on: by then every arm asks its
#: model (hbo without history and the GP arms start with max(5, d + 1) Sobol points, TPE
#: with 10 random ones).
TIMED_FROM = 10
#: Normalized regrets are floored here before taking ratios (a run can find ``y*`` itself).
RATIO_FLOOR = 1e-3


# ---------------------------------------------------------------------- problems and history
@cache
def problem(scenario: str, data_dir: str) -> YahpoProblem:
    return YahpoProblem(scenario, data_dir)


def targets(scenario: str, data_dir: str, n: int) -> list[str]:
    """``n`` target datasets of ``scenario``, drawn once with a fixed seed."""
    instances = problem(scenario, data_dir).instances
    rng = np.random.default_rng(zlib.crc32(scenario.encode()))
    return [instances[i] for i in rng.permutation(len(instances))[:n]]


def _rng(*key) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(json.dumps(key).encode()))


@cache
def history(scenario: str, data_dir: str, setting: str, target: str, seed: int) -> dict:
    """Source dataset -> (configurations, values): the same for every arm of a run."""
    p = problem(scenario, data_dir)
    n_sources, n_points = SETTINGS[setting]
    rng = _rng(scenario, setting, target, seed)
    others = [i for i in p.instances if i != target]
    chosen = [others[i] for i in rng.choice(len(others), n_sources, replace=False)]
    out = {}
    for source in chosen:
        params = p.random_params(n_points, rng)
        out[source] = (params, p.evaluate(source, params).tolist())
    return out


# ---------------------------------------------------------------------- arms
def run_hbo(p: YahpoProblem, target: str, hist: dict, seed: int, budget: int,
            training: str = "auto", shared_function: bool | None = None,
            output_warping: bool = False, g_start_only: bool = False):
    import hbo

    study = hbo.Study(p.space, task=target, direction="maximize", seed=seed, training=training,
                      shared_function=shared_function, output_warping=output_warping)
    for source, (params, values) in hist.items():
        study.add_history(source, params, values)
    values, seconds = [], []
    for _ in range(budget):
        start = time.perf_counter()
        trial = study.ask()
        seconds.append(time.perf_counter() - start)
        values.append(float(p.evaluate(target, [trial.params])[0]))
        study.tell(trial, values[-1])
        if g_start_only:
            study.proposer.shared_function = False
    return values, seconds


def permuted(hist: dict, seed: int) -> dict:
    """The history with each source's values shuffled among its configurations."""
    rng = np.random.default_rng(seed)
    return {s: (params, rng.permutation(values).tolist()) for s, (params, values) in
            hist.items()}


def run_gp_loop(p: YahpoProblem, target: str, seed: int, budget: int, n_init: int, propose):
    """Sobol start (hbo's ``space.sobol``), then ``propose(X, y) -> 1 x d`` per ask."""
    space = p.space
    X = space.sobol(n_init, seed)
    values = p.evaluate(target, space.decode(X)).tolist()
    seconds = [0.0] * n_init
    while len(values) < budget:
        start = time.perf_counter()
        x = propose(X, torch.tensor(values, dtype=torch.double))
        seconds.append(time.perf_counter() - start)
        X = torch.cat([X, x])
        values.append(float(p.evaluate(target, space.decode(x))[0]))
    return values, seconds


def log_ei_step(model, X: torch.Tensor, space, seed: int, task: float | None = None):
    """Maximize LogEI as hbo does (:mod:`hbo.acquisition`: incumbent = the largest posterior
    mean at the target's ``n x d`` points ``X``, the same mixed optimizer); for a multi-task
    model, with the task column fixed at ``task``. Returns ``1 x d``."""
    from botorch.acquisition import FixedFeatureAcquisitionFunction, LogExpectedImprovement

    from hbo.acquisition import optimize

    d = X.shape[-1]
    full = X if task is None else torch.cat([X, torch.full((len(X), 1), task)], -1)
    with torch.no_grad():
        best_f = model.posterior(full).mean.max()
    acquisition = LogExpectedImprovement(model, best_f=best_f)
    if task is not None:
        acquisition = FixedFeatureAcquisitionFunction(acquisition, d + 1, [d], [task])
    acquisition.register_buffer("X_baseline", X)  # where the mixed optimizer starts some
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return optimize(acquisition, space, 1)


def single_task_gp_proposer(space, seed):
    from botorch.fit import fit_gpytorch_mll
    from botorch.models import SingleTaskGP
    from botorch.models.transforms import Normalize
    from gpytorch.mlls import ExactMarginalLogLikelihood

    def propose(X, y):
        model = SingleTaskGP(X, y.unsqueeze(-1),
                             input_transform=Normalize(space.dim, bounds=space.bounds()))
        fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model))
        return log_ei_step(model, X, space, seed + len(y))

    return propose


def mtgp_cap(n_sources: int) -> int:
    """History points per source that MultiTaskGP sees (``MTGP_HISTORY`` shared equally)."""
    return max(1, MTGP_HISTORY // n_sources)


def multi_task_gp_proposer(space, hist: dict, seed: int):
    """MultiTaskGP on the (capped) history + target, warm-started from its last fit."""
    import transfer_benchmark as tb
    from botorch.fit import fit_gpytorch_mll
    from gpytorch.mlls import ExactMarginalLogLikelihood

    hX, hY = [], []
    cap = mtgp_cap(len(hist))
    for t, (params, values) in enumerate(hist.values()):
        X = space.encode(params[:cap])
        hX.append(torch.cat([X, torch.full((len(X), 1), float(t))], -1))
        hY.append(torch.tensor(values[:cap], dtype=torch.double))
    history_tensors = (torch.cat(hX), torch.cat(hY).unsqueeze(-1))
    state = {}

    def propose(X, y):
        model = tb._multi_task_gp(X, y.unsqueeze(-1), history_tensors)
        if state:
            model.load_state_dict(state, strict=False)
        fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model),
                         optimizer_kwargs={"options": {"maxiter": MTGP_MAXITER}})
        state.clear()
        state.update({k: v for k, v in model.state_dict().items() if "outcome_transform" not in k})
        return log_ei_step(model, X, space, seed + len(y), task=float(len(hist)))

    return propose


def rgpe_proposer(space, hist: dict, seed: int):
    """RGPE: the sources' GPs fitted once, the target's GP and the weights at every ask."""
    from rgpe import RGPE, fit_gp, ranking_weights

    bounds = space.bounds()
    sources = [fit_gp(space.encode(params), torch.tensor(values, dtype=torch.double), bounds)
               for params, values in hist.values()]
    generator = torch.Generator().manual_seed(seed)

    def propose(X, y):
        target = fit_gp(X, y, bounds)
        weights = ranking_weights(sources, target, X, generator)
        return log_ei_step(RGPE([*sources, target], weights), X, space, seed + len(y))

    return propose


def optuna_distributions(space) -> dict:
    import optuna.distributions as od

    import hbo

    out = {}
    for q in space.params:
        if isinstance(q, hbo.Categorical):
            out[q.name] = od.CategoricalDistribution(q.choices)
        elif isinstance(q, hbo.Int):
            out[q.name] = od.IntDistribution(q.low, q.high, log=q.log)
        else:
            out[q.name] = od.FloatDistribution(q.low, q.high, log=q.log)
    return out


def ws_cmaes_sampler(space, hist: dict, seed: int):
    """CmaEsSampler warm-started from the sources' numeric parameters (it samples a
    Categorical independently), values standardized per source."""
    import optuna
    from optuna.distributions import CategoricalDistribution

    dists = {k: d for k, d in optuna_distributions(space).items()
             if not isinstance(d, CategoricalDistribution)}
    trials = []
    for params, values in hist.values():
        z = (np.asarray(values) - np.mean(values)) / (np.std(values) or 1.0)
        trials += [optuna.trial.create_trial(params={k: q[k] for k in dists},
                                             distributions=dists, value=float(v))
                   for q, v in zip(params, z, strict=True)]
    return optuna.samplers.CmaEsSampler(seed=seed, source_trials=trials,
                                        warn_independent_sampling=False)


def run_optuna(p: YahpoProblem, target: str, sampler, budget: int):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    dists = optuna_distributions(p.space)
    values, seconds = [], []
    for _ in range(budget):
        start = time.perf_counter()
        trial = study.ask(dists)
        seconds.append(time.perf_counter() - start)
        values.append(float(p.evaluate(target, [trial.params])[0]))
        study.tell(trial, values[-1])
    return values, seconds


def run_arm(job: tuple) -> dict:
    """One run: ``job = (scenario, setting, arm, target, seed, budget, data_dir)``."""
    scenario, setting, arm, target, seed, budget, data_dir = job
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    p = problem(scenario, data_dir)
    hist = history(scenario, data_dir, setting, target, seed)
    n_init = max(5, p.space.dim + 1)  # hbo's Sobol start without history
    if arm == "hbo":
        values, seconds = run_hbo(p, target, hist, seed, budget)
    elif arm == "hbo_no_history":
        values, seconds = run_hbo(p, target, {}, seed, budget)
    elif arm == "hbo_joint":
        values, seconds = run_hbo(p, target, hist, seed, budget, training="joint")
    elif arm == "hbo_hierarchical":
        values, seconds = run_hbo(p, target, hist, seed, budget, training="hierarchical")
    elif arm == "hbo_own":
        values, seconds = run_hbo(p, target, hist, seed, budget, training="hierarchical",
                                  shared_function=False)
    elif arm == "hbo_g_start":
        values, seconds = run_hbo(p, target, hist, seed, budget, g_start_only=True)
    elif arm == "hbo_own_g_start":
        values, seconds = run_hbo(p, target, hist, seed, budget, training="hierarchical",
                                  g_start_only=True)
    elif arm == "hbo_warped":
        values, seconds = run_hbo(p, target, hist, seed, budget, output_warping=True)
    elif arm == "hbo_permuted":
        values, seconds = run_hbo(p, target, permuted(hist, seed), seed, budget)
    elif arm == "single_task_gp":
        values, seconds = run_gp_loop(p, target, seed, budget, n_init,
                                      single_task_gp_proposer(p.space, seed))
    elif arm == "multi_task_gp":
        values, seconds = run_gp_loop(p, target, seed, budget, 1,
                                      multi_task_gp_proposer(p.space, hist, seed))
    elif arm == "rgpe":
        values, seconds = run_gp_loop(p, target, seed, budget, 1,
                                      rgpe_proposer(p.space, hist, seed))
    elif arm == "ws_cmaes":
        values, seconds = run_optuna(p, target, ws_cmaes_sampler(p.space, hist, seed), budget)
    elif arm == "tpe":
        import optuna

        values, seconds = run_optuna(p, target, optuna.samplers.TPESampler(seed=seed), budget)
    elif arm == "random":
        values = p.evaluate(target, p.random_params(budget, _rng("random", target, seed))).tolist()
        seconds = [0.0] * budget
    else:
        raise ValueError(f"unknown arm {arm!r}; arms: {ARMS}")
    return {"scenario": scenario, "setting": setting, "arm": arm, "target": target,
            "seed": seed, "values": values, "ask_seconds": seconds}


def run_key(record: dict) -> tuple:
    return tuple(record[k] for k in ("scenario", "setting", "arm", "target", "seed"))


def resume_runs(fn, jobs: list[tuple], runs_file: Path, workers: int) -> list[dict]:
    """The records of ``jobs`` (``(scenario, setting, arm, target, seed, ...)``): those in
    ``runs_file`` read back, the others run by ``fn`` in ``workers`` processes and appended.
    A run of an arm in ``HISTORY_FREE`` is the same run in every setting (same target, seed
    and budget, no history read): one in the file serves the others, marked
    ``"run_in": <its setting>``."""
    records = records_on_file(jobs, runs_file)
    done = {run_key(r) for r in records}
    todo = [job for job in jobs if job[:5] not in done]
    print(f"{len(jobs) - len(todo)} of {len(jobs)} runs read from {runs_file}; "
          f"{len(todo)} to run", flush=True)
    if todo:
        records += run_jobs(fn, todo, runs_file, workers, lambda r: (
            f"{r['scenario']} {r['setting']} {r['arm']:>14} {r['target']:>6} seed {r['seed']}: "
            f"best {max(r['values']):.4f}"))
    wanted = {job[:5] for job in jobs}
    return [r for r in records if run_key(r) in wanted]


def records_on_file(jobs: list[tuple], runs_file: Path) -> list[dict]:
    """The records in ``runs_file``, with copies of history-free runs for ``jobs``' settings."""
    records = read_records(runs_file)
    return records + _history_free_copies(records, jobs)


def _history_free_copies(records: list[dict], jobs: list[tuple]) -> list[dict]:
    have = {run_key(r) for r in records}
    runs = {(r["scenario"], r["arm"], r["target"], r["seed"]): r for r in records
            if r["arm"] in HISTORY_FREE}
    copies = []
    for scenario, setting, arm, target, seed, budget, _ in jobs:
        run = runs.get((scenario, arm, target, seed))
        if (run is not None and (scenario, setting, arm, target, seed) not in have
                and len(run["values"]) >= budget):
            copies.append({**run, "setting": setting, "run_in": run["setting"]})
    return copies


# ---------------------------------------------------------------------- scores
def reference(scenario: str, data_dir: str, target: str, cache_file: Path) -> dict:
    """Best and median of ``N_REFERENCE`` random configurations on ``target`` (cached)."""
    cached = json.loads(cache_file.read_text()) if cache_file.exists() else {}
    key = f"{scenario}/{target}"
    if key not in cached:
        p = problem(scenario, data_dir)
        y = p.evaluate(target, p.random_params(N_REFERENCE, _rng("reference", scenario, target)))
        cached[key] = {"best": float(y.max()), "median": float(np.median(y))}
        cache_file.write_text(json.dumps(cached, indent=1, sort_keys=True) + "\n")
    return cached[key]


def normalized_regrets(records: list[dict], data_dir: str, cache_file: Path) -> dict:
    """Run key -> normalized regret after each evaluation, ``(y* - best) / (y* - median)``,
    ``y*`` the best of the random reference and of every run on the target."""
    best_seen: dict[tuple, float] = {}
    for r in records:
        key = (r["scenario"], r["target"])
        best_seen[key] = max(best_seen.get(key, -np.inf), max(r["values"]))
    out = {}
    for r in records:
        ref = reference(r["scenario"], data_dir, r["target"], cache_file)
        y_star = max(ref["best"], best_seen[(r["scenario"], r["target"])])
        best = np.maximum.accumulate(np.asarray(r["values"]))
        out[run_key(r)] = (y_star - best) / (y_star - ref["median"])
    return out


def arm_rows(regret: dict, records: list[dict], scenario: str, setting: str) -> list[str]:
    """One row per arm: runs, median [IQR] at each checkpoint, median seconds per ask."""
    n_sources, n_points = SETTINGS[setting]
    capped = n_points > mtgp_cap(n_sources)
    runs = {
        arm + (f" (history capped at {mtgp_cap(n_sources)} per source)"
               if arm == "multi_task_gp" and capped else ""):
        [r for r in records if (r["scenario"], r["setting"], r["arm"]) == (scenario, setting, arm)]
        for arm in ARMS
    }
    return arm_table(runs, lambda r: regret[run_key(r)], CHECKPOINTS, TIMED_FROM)


def paired(regret: dict, a: tuple, b: tuple, k: int, rng: np.random.Generator) -> dict | None:
    """``b`` against ``a`` after ``k`` evaluations, paired by (target, seed): ``a`` and ``b``
    are ``(scenario, setting, arm)``. The geometric-mean ratio ``r_b / r_a`` (regrets
    floored at ``RATIO_FLOOR``) with a 90% bootstrap interval that resamples targets (a
    target's seeds are not independent), and ``b``'s wins / ties / losses."""
    d: dict[str, list[float]] = {}
    wins = ties = losses = 0
    for key, curve_a in regret.items():
        if key[:3] != a:
            continue
        curve_b = regret.get((*b, *key[3:]))
        if curve_b is None or min(len(curve_a), len(curve_b)) < k:
            continue
        ra, rb = max(at(curve_a, k), RATIO_FLOOR), max(at(curve_b, k), RATIO_FLOOR)
        d.setdefault(key[3], []).append(np.log10(rb / ra))
        wins, ties, losses = wins + (rb < ra), ties + (rb == ra), losses + (rb > ra)
    if len(d) < 2:
        return None
    groups = list(d.values())
    mean = np.mean(np.concatenate(groups))
    draws = rng.integers(len(groups), size=(5000, len(groups)))
    boot = [np.mean(np.concatenate([groups[i] for i in row])) for row in draws]
    lo, hi = np.quantile(boot, [0.05, 0.95])
    return {"pairs": sum(map(len, groups)), "ratio": 10**mean, "lo": 10**lo, "hi": 10**hi,
            "wtl": f"{wins}/{ties}/{losses}"}


def paired_lines(regret: dict, scenario: str, setting: str, last: int = BUDGET) -> list[str]:
    """hbo against each arm after 10 evaluations and after ``last``."""
    rng = np.random.default_rng(0)
    ks = (10, last)
    lines = ["| hbo against | " + " | ".join(f"ratio@{k} [90%] (hbo W/T/L)" for k in ks)
             + " |", "|---|---|---|"]
    for arm in ARMS[1:]:
        cells = []
        for k in ks:
            res = paired(regret, (scenario, setting, arm), (scenario, setting, "hbo"), k, rng)
            cells.append("-" if res is None else
                         f"{res['ratio']:.2f} [{res['lo']:.2f}, {res['hi']:.2f}] ({res['wtl']})")
        lines.append(f"| {arm} | " + " | ".join(cells) + " |")
    return lines


def checks(regret: dict, scenarios: list[str]) -> list[str]:
    """The issue's two side goals: negative transfer and more history."""
    rng = np.random.default_rng(1)
    lines = ["| scenario | comparison | ratio@30 [90%] (W/T/L of the first) |", "|---|---|---|"]
    for scenario in scenarios:
        for label, a, b in (
            *((f"hbo_permuted / hbo_no_history ({setting})",
               (scenario, setting, "hbo_no_history"), (scenario, setting, "hbo_permuted"))
              for setting in SETTINGS),
            ("hbo 20x100 / hbo 5x50", (scenario, "5x50", "hbo"), (scenario, "20x100", "hbo")),
        ):
            res = paired(regret, a, b, 30, rng)
            if res is not None:
                lines.append(f"| {scenario} | {label} | {res['ratio']:.2f} [{res['lo']:.2f}, "
                             f"{res['hi']:.2f}] ({res['wtl']}) |")
    return lines


def report(records: list[dict], data_dir: str, cache_file: Path, title: str) -> str:
    regret = normalized_regrets(records, data_dir, cache_file)
    seeds = sorted({r["seed"] for r in records})
    budget = max(len(r["values"]) for r in records)
    parts = [f"# {title}", "",
             f"`python experiments/{Path(__file__).name}`: targets are datasets of each "
             f"scenario, sources other datasets with uniformly random evaluations as history; "
             f"seeds {seeds}, {budget} evaluations per run. Targets, seeds and runs per arm "
             "are in each table; an arm with fewer runs than hbo is compared on the pairs "
             "it has.", ""]
    for scenario in SCENARIOS:
        for setting in SETTINGS:
            if not any((r["scenario"], r["setting"]) == (scenario, setting) for r in records):
                continue
            n_targets = len({r["target"] for r in records if r["scenario"] == scenario
                             and r["setting"] == setting})
            parts += [f"## {scenario}, history {setting} ({n_targets} targets)", "",
                      "Normalized regret (0 = best known, 1 = median random configuration):",
                      "", *arm_rows(regret, records, scenario, setting), "",
                      f"Paired by target and seed, hbo's regret / the arm's (floored at "
                      f"{RATIO_FLOOR}; below 1: hbo better):", "",
                      *paired_lines(regret, scenario, setting, min(budget, BUDGET)), ""]
    parts += ["## Negative transfer and more history", "", *checks(regret, list(SCENARIOS)), "",
              f"multi_task_gp: {MTGP_MAXITER} L-BFGS iterations per fit, warm-started. "
              f"s / ask: median over asks {TIMED_FROM + 1} on (fit and acquisition; Optuna: "
              "the sampler's ask), one thread per run, runs two at a time.", ""]
    return "\n".join(parts)


def plot(records: list[dict], data_dir: str, cache_file: Path, path: Path,
         arms: tuple[str, ...] = ARMS, highlight: str = "hbo", note: str = "") -> None:
    """Median normalized regret of each of ``arms`` against evaluations, a panel per
    scenario and setting, ``highlight`` drawn thicker, ``note`` after each title."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    regret = normalized_regrets(records, data_dir, cache_file)
    panels = sorted({(r["scenario"], r["setting"]) for r in records})
    fig, axes = plt.subplots(1, len(panels), figsize=(4.8 * len(panels), 4), squeeze=False)
    for ax, (scenario, setting) in zip(axes[0], panels, strict=True):
        for arm in arms:
            curves = [c for k, c in regret.items() if k[:3] == (scenario, setting, arm)]
            if not curves:
                continue
            n = min(map(len, curves))
            median = np.median(np.vstack([c[:n] for c in curves]), axis=0)
            ax.plot(np.arange(1, n + 1), np.maximum(median, RATIO_FLOOR), label=arm,
                    lw=2.5 if arm == highlight else 1.2)
        ax.set_yscale("log")
        ax.set_title(f"{scenario}, history {setting}{note}")
        ax.set_xlabel("evaluations on the target")
    axes[0][0].set_ylabel("median normalized regret")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


# ---------------------------------------------------------------------- command line
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", help="YAHPO data folder (default ../shared/yahpo_data)")
    parser.add_argument("--quick", action="store_true",
                        help="2 targets x 1 seed per scenario, 5x50, budget 12")
    parser.add_argument("--scenarios", nargs="+", choices=list(SCENARIOS),
                        default=list(SCENARIOS))
    parser.add_argument("--settings", nargs="+", choices=list(SETTINGS),
                        default=list(DEFAULT_SETTINGS))
    parser.add_argument("--arms", nargs="+", choices=ARMS, default=list(ARMS))
    parser.add_argument("--targets", type=int, default=16, help="targets per scenario")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--budget", type=int, default=BUDGET)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", help="name in results/ (default yahpo_benchmark[_quick])")
    parser.add_argument("--report-only", action="store_true",
                        help="write the report and figure from every run on file of the "
                        "scenarios, settings and arms asked (any target, seed); run nothing")
    args = parser.parse_args(argv)
    data_dir = os.fspath(check_data_dir(args.data))
    if args.quick:
        args.targets, args.seeds, args.budget, args.settings = 2, 1, 12, ["5x50"]
    name = args.out or ("yahpo_benchmark_quick" if args.quick else "yahpo_benchmark")
    runs_file, cache_file = RESULTS / f"{name}_runs.jsonl", RESULTS / "yahpo_reference.json"
    # seed-major order: a stopped run has whole (target, seed) pairs for every arm
    jobs = [(scenario, setting, arm, target, seed, args.budget, data_dir)
            for seed in range(args.seeds) for setting in args.settings
            for scenario in args.scenarios
            for target in targets(scenario, data_dir, args.targets) for arm in args.arms]
    if args.report_only:  # every run on file of the scenarios, settings and arms asked
        wanted = {job[:3] for job in jobs}
        records = [r for r in records_on_file(jobs, runs_file) if run_key(r)[:3] in wanted]
    else:
        records = resume_runs(run_arm, jobs, runs_file, args.workers)
    text = report(records, data_dir, cache_file, "YAHPO Gym transfer benchmark"
                  + (" (--quick)" if args.quick else ""))
    (RESULTS / f"{name}.md").write_text(text)
    plot(records, data_dir, cache_file, RESULTS / f"{name}.png")
    print(text)


if __name__ == "__main__":
    main()
