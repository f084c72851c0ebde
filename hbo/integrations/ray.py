"""hbo inside Ray Tune: :class:`HBOSearch`, a Tune ``Searcher`` that wraps an :class:`hbo.Study`.

::

    searcher = HBOSearch(metric="loss", mode="min", history={"last_year": frame})
    tuner = tune.Tuner(
        trainable,
        param_space={"lr": tune.loguniform(1e-4, 1e-1), "layers": tune.randint(1, 5)},
        tune_config=tune.TuneConfig(search_alg=searcher, num_samples=20,
                                    max_concurrent_trials=2),
    )

Each ``suggest`` is a ``Study.ask`` on the target task: Sobol first, then the
hierarchical GP fitted to the target's trials *and* the history of related tasks,
with log noisy EI. Trials still running on other workers are the study's running
trials, so they are pending points of the acquisition (no two workers get the
same point); a trial that errors, or ends without the metric, is told as failed
and stays a pending point (it is not proposed again).

Several metrics, as ``OptunaSearch``: ``metric=["loss", "latency"], mode=["min", "min"]``
makes a study of two objectives (hbo's qLogNEHVI, :mod:`hbo.acquisition`), and
``constraints=["memory_gb <= 3"]`` adds outcome constraints on other reported metrics;
each trial's result must then report every one of them (else it is told as failed).

Warm starts, as ``OptunaSearch``: ``points_to_evaluate`` are run first (queued with
:meth:`hbo.Study.enqueue`, handed out by the first ``suggest`` calls); with
``evaluated_rewards`` they are not run again but stored as the target task's results.
:meth:`HBOSearch.add_evaluated_point` (and so Tune's ``add_evaluated_trials``) adds a
result evaluated elsewhere at any time.

Search spaces: ``tune.uniform`` / ``tune.loguniform`` (hbo ``Float``), ``tune.randint`` /
``tune.lograndint`` (hbo ``Int``; Tune's upper bound is exclusive, hbo's inclusive),
``tune.choice`` (hbo ``Categorical``), constants, nested dicts (flattened to
``"a/b"`` names). Anything else (``grid_search``, ``sample_from``, quantized or
normal samplers) raises :class:`UnsupportedSearchSpaceError` naming the parameter.
"""

from __future__ import annotations

try:  # the extra first, so that its absence is said plainly
    import ray.tune  # noqa: F401
except ImportError as exc:
    from hbo.integrations import missing_extra

    raise missing_extra("ray", "ray", __name__) from exc

import math
import pickle
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
from ray.tune.search import Searcher
from ray.tune.search.sample import Categorical as TuneCategorical
from ray.tune.search.sample import Float as TuneFloat
from ray.tune.search.sample import Integer as TuneInteger
from ray.tune.search.sample import LogUniform, Uniform
from ray.tune.search.variant_generator import parse_spec_vars
from ray.tune.utils.util import flatten_dict, unflatten_dict

from hbo._numbers import is_real
from hbo.errors import ArgumentTypeError, InvalidArgumentError, InvalidSpaceError, NotReadyError
from hbo.proposer import Proposer
from hbo.space import Categorical, Float, Int, SearchSpace
from hbo.study import Study
from hbo.trial import Origin, Trial, TrialState

SUPPORTED = (
    "tune.uniform, tune.loguniform, tune.randint, tune.lograndint, tune.choice, "
    "constants and nested dicts of these"
)
_DIRECTIONS = {"min": "minimize", "max": "maximize"}


class UnsupportedSearchSpaceError(InvalidSpaceError):
    """A Tune search space entry hbo cannot model (grid search, sample_from, ...)."""


def to_search_space(param_space: Mapping[str, Any]) -> SearchSpace:
    """Convert a Tune ``param_space`` to an hbo :class:`~hbo.space.SearchSpace`.

    Nested dicts become ``"outer/inner"`` names; constants are left to Tune.

    Raises:
        UnsupportedSearchSpaceError: naming the first entry hbo cannot model.
    """
    if not isinstance(param_space, Mapping):
        raise ArgumentTypeError(f"param_space must be a dict, got {type(param_space).__name__}")
    _, domains, grids = parse_spec_vars(dict(param_space))
    if grids:
        path = "/".join(map(str, grids[0][0]))
        raise UnsupportedSearchSpaceError(
            f"parameter {path!r} is a tune.grid_search; hbo proposes points itself and "
            f"supports {SUPPORTED}"
        )
    if not domains:
        raise UnsupportedSearchSpaceError(
            f"param_space has nothing to search; hbo supports {SUPPORTED}"
        )
    return SearchSpace([_parameter("/".join(map(str, path)), d) for path, d in domains])


def _parameter(name: str, domain: Any) -> Float | Int | Categorical:
    sampler = domain.get_sampler()
    if isinstance(domain, TuneCategorical):  # grid searches were caught before
        return Categorical(name, domain.categories)
    if isinstance(domain, TuneFloat | TuneInteger) and isinstance(sampler, Uniform | LogUniform):
        log = isinstance(sampler, LogUniform)
        if isinstance(domain, TuneFloat):
            return Float(name, float(domain.lower), float(domain.upper), log=log)
        return Int(name, int(domain.lower), int(domain.upper) - 1, log=log)  # upper exclusive
    if type(domain).__name__ == "Function":
        kind = "tune.sample_from (conditional or custom sampling)"
    elif type(sampler).__name__ == "Quantized":
        kind = "quantized (tune.quniform, tune.qrandint, ...)"
    elif "Normal" in type(sampler).__name__:
        kind = "normal, unbounded (tune.randn, tune.qrandn)"
    else:
        kind = f"a {type(domain).__name__} with a {type(sampler).__name__} sampler"
    raise UnsupportedSearchSpaceError(f"parameter {name!r} is {kind}; hbo supports {SUPPORTED}")


class HBOSearch(Searcher):
    """Ray Tune searcher driven by hbo's hierarchical GP, warm-started with related tasks.

    Args:
        space: A Tune ``param_space`` or an hbo ``SearchSpace``; default: Tune's
            ``param_space``, passed in by the ``Tuner``.
        metric: Name of the reported metric to optimize (default: the ``TuneConfig``'s),
            or a list of names: several objectives.
        mode: ``"min"`` or ``"max"`` (default: the ``TuneConfig``'s), or a list, one per
            metric.
        constraints: Outcome constraints on other reported metrics, ``"name <= bound"``
            or ``"name >= bound"`` (:class:`hbo.OutcomeConstraint`).
        task: Name of the task this sweep tunes.
        history: Related task name -> DataFrame with one column per parameter (nested
            names as ``"a/b"``) and a column per metric (and per constrained metric; an
            empty cell is a missing outcome).
        study: Wrap this :class:`hbo.Study` instead of creating one (its space, task,
            objectives and constraints are used; ``space``, ``task``, ``seed``,
            ``n_initial``, ``shared_function``, ``proposer`` and ``constraints`` must then
            be left out).
        seed, n_initial, shared_function, proposer: Passed to :class:`hbo.Study`
            (``proposer``: what chooses the points, :mod:`hbo.proposer`; default the
            hierarchical GP's Expected Improvement).
        points_to_evaluate: Configurations (dicts, nested as Tune's ``config``; constants
            of ``param_space`` may be included) to run first, in order, before any
            proposal.
        evaluated_rewards: The metric already measured at each of ``points_to_evaluate``
            (same length; with several metrics or constraints, a dict of every one): the
            points are then not run again but stored as results of the target task (in
            the metric's own units and direction).
    """

    def __init__(
        self,
        space: Mapping[str, Any] | SearchSpace | None = None,
        metric: str | Sequence[str] | None = None,
        mode: str | Sequence[str] | None = None,
        *,
        constraints: Sequence[str] | None = None,
        task: str = "target",
        history: Mapping[str, pd.DataFrame] | None = None,
        study: Study | None = None,
        seed: int | None = None,
        n_initial: int | None = None,
        shared_function: bool | None = None,
        proposer: Proposer | None = None,
        points_to_evaluate: Sequence[Mapping[str, Any]] | None = None,
        evaluated_rewards: Sequence[float | Mapping[str, float]] | None = None,
    ) -> None:
        metric, mode = _metric_and_mode(metric, mode)
        super().__init__(metric=metric, mode=mode)
        self._constraints = list(constraints or [])
        if study is not None:
            if not isinstance(study, Study):
                raise ArgumentTypeError(f"study must be an hbo.Study, got {type(study).__name__}")
            given = {
                "space": space,
                "seed": seed,
                "n_initial": n_initial,
                "shared_function": shared_function,
                "proposer": proposer,
                "constraints": constraints,
            }
            clash = [k for k, v in given.items() if v is not None]
            if clash:
                raise InvalidArgumentError(
                    f"with study=..., leave out {clash} (the study has them)"
                )
            self._take_goal(study)
            space, task = study.space, study.task
        self._options = {"seed": seed, "n_initial": n_initial, "shared_function": shared_function,
                         "proposer": proposer}
        self._task = task
        self._history = dict(history or {})
        self._constants: set[str] = set()  # flattened names of param_space's constants
        self._space = self._convert(space)
        self._warm_start = _warm_start(points_to_evaluate, evaluated_rewards)
        self._study = study
        self._live: dict[str, int] = {}  # Tune trial id -> hbo trial id
        if study is not None:
            self._start_warm()

    def _take_goal(self, study: Study) -> None:
        """Metric(s) and mode(s) of a wrapped study's objectives; a mode given must agree."""
        names, ways = list(study.objectives), list(study.objectives.values())
        modes = [{v: k for k, v in _DIRECTIONS.items()}[w] for w in ways]
        wanted = modes[0] if len(modes) == 1 else modes
        if self._mode is not None and self._mode != wanted:
            raise InvalidArgumentError(
                f"mode={self._mode!r} contradicts the study's objectives {study.objectives}"
            )
        self._mode = wanted
        if len(names) > 1 or study.constraints:  # a study of one outcome keeps Tune's metric
            if self._metric is not None and self._metric not in (names, names[0]):
                raise InvalidArgumentError(
                    f"metric={self._metric!r} is not the study's objectives {names}"
                )
            self._metric = names[0] if len(names) == 1 else names
        self._constraints = list(study.constraints)

    def _convert(self, space: Mapping[str, Any] | SearchSpace | None) -> SearchSpace | None:
        if space is None or isinstance(space, SearchSpace):
            return space
        resolved, _, _ = parse_spec_vars(dict(space))
        self._constants = {"/".join(map(str, path)) for path, _ in resolved}
        return to_search_space(space)

    @property
    def study(self) -> Study:
        """The wrapped :class:`hbo.Study` (created once space, metric and mode are known)."""
        if self._study is None:
            missing = [
                name
                for name, value in (
                    ("space", self._space),
                    ("metric", self._metric),
                    ("mode", self._mode),
                )
                if value is None
            ]
            if missing:
                raise NotReadyError(
                    f"HBOSearch has no {missing} yet: give them to HBOSearch(...) or to "
                    "tune.Tuner(param_space=..., tune_config=TuneConfig(metric=..., mode=...))"
                )
            self._study = Study(self._space, task=self._task, **self._goal(), **self._options)
            for name, frame in self._history.items():
                self._study.add_history(name, self._history_rows(name, frame))
            self._start_warm()
        return self._study

    def _start_warm(self) -> None:
        """Queue ``points_to_evaluate``, or store them with ``evaluated_rewards`` (once:
        checked all first, so that a bad point stores none)."""
        points, rewards = self._warm_start
        study = self._study
        checked = [self._point(p, f"points_to_evaluate[{i}]") for i, p in enumerate(points)]
        if rewards is None:
            for point in checked:
                study.enqueue(point)
        elif checked:
            study.add_history(study.task, checked, list(rewards))
        self._warm_start = ([], None)

    def _point(self, config: Mapping[str, Any], argument: str) -> dict[str, Any]:
        """A Tune ``config`` (nested, maybe with constants) as the study's parameters."""
        if not isinstance(config, Mapping):
            raise ArgumentTypeError(f"{argument} must be a dict, got {type(config).__name__}")
        flat = {k: v for k, v in flatten_dict(dict(config)).items() if k not in self._constants}
        return self.study.space.validate(flat, argument)

    def _goal(self) -> dict[str, Any]:
        """The study's ``direction`` (one metric) or ``objectives`` and ``constraints``."""
        if isinstance(self._metric, str) and not self._constraints:
            return {"direction": _DIRECTIONS[self._mode]}
        metrics = [self._metric] if isinstance(self._metric, str) else self._metric
        modes = [self._mode] if isinstance(self._mode, str) else self._mode
        return {"objectives": {m: _DIRECTIONS[w] for m, w in zip(metrics, modes, strict=True)},
                "constraints": self._constraints}

    def _history_rows(self, name: str, frame: pd.DataFrame) -> pd.DataFrame:
        if not isinstance(frame, pd.DataFrame):
            raise ArgumentTypeError(
                f"history[{name!r}] must be a DataFrame, got {type(frame).__name__}"
            )
        if len(self._study.outcomes) > 1:  # one column per outcome, checked by add_history
            return frame
        if self._metric not in frame.columns:
            raise InvalidArgumentError(
                f"history[{name!r}] needs a column {self._metric!r} (the metric); "
                f"it has {list(frame.columns)}"
            )
        return frame.rename(columns={self._metric: "value"})

    # ------------------------------------------------------------------ Tune's interface
    def set_search_properties(
        self, metric: str | None, mode: str | None, config: dict, **spec: Any
    ) -> bool:
        """Take metric, mode and ``param_space`` from the ``Tuner``; False if already set."""
        if self._study is not None:
            return False
        _, domains, grids = parse_spec_vars(config) if config else ([], [], [])
        if self._space is not None and (domains or grids):
            return False
        if self._space is None and config:
            self._space = self._convert(config)
        self._metric = self._metric or metric
        self._mode = self._mode or mode
        return True

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        """Ask the study for the next point on the target task (nested dicts restored)."""
        trial = self.study.ask()
        self._live[trial_id] = trial.id
        return unflatten_dict(dict(trial.params))

    def on_trial_complete(
        self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False
    ) -> None:
        """Tell the study the trial's metric (every outcome of a study of several), or that
        it failed (error, or an outcome not reported)."""
        hbo_id = self._live.pop(trial_id, None)
        if hbo_id is None:
            return  # not suggested by this searcher (e.g. a point given to Tune directly)
        flat = flatten_dict(result) if result else {}
        outcomes = self.study.outcomes
        names = [self._metric] if len(outcomes) == 1 else outcomes
        if error or any(name not in flat for name in names):
            self.study.tell(hbo_id, failed=True)
        elif len(outcomes) == 1:
            self.study.tell(hbo_id, flat[self._metric])
        else:
            self.study.tell(hbo_id, {name: flat[name] for name in outcomes})

    def add_evaluated_point(
        self,
        parameters: Mapping[str, Any],
        value: float | None,
        error: bool = False,
        pruned: bool = False,
        intermediate_values: Sequence[float] | None = None,
    ) -> None:
        """Store a result evaluated outside this sweep as a result of the target task
        (Tune's ``add_evaluated_trials`` calls it for each trial it is given).

        An errored or pruned evaluation is stored as failed: its point is proposed
        around, not again. ``intermediate_values`` are not used (hbo does not prune).
        """
        point = self._point(parameters, "parameters")
        if error or pruned:
            failed = Trial(-1, self.study.task, point, TrialState.FAILED, origin=Origin.HISTORY)
            self.study.storage.add_trials([failed])
        else:
            self.study.add_history(self.study.task, [point], [value])

    # ------------------------------------------------------------------ checkpoints
    def get_state(self) -> dict[str, Any]:
        """Everything needed to continue the sweep: settings, every trial, live trial ids."""
        study = self.study
        return {
            "metric": self._metric,
            "mode": self._mode,
            "space": study.space,
            "task": study.task,
            "options": {**self._options, "seed": study.seed},
            "constraints": [str(c) for c in self._constraints],
            "trials": study.storage.get_trials(),  # hbo.Trial objects, pickled as they are
            "live": dict(self._live),
            "constants": sorted(self._constants),
        }

    def set_state(self, state: dict[str, Any]) -> None:
        """Rebuild the study from :meth:`get_state` (trial ids are kept)."""
        self._metric, self._mode = state["metric"], state["mode"]
        self._space, self._task = state["space"], state["task"]
        self._options, self._history = dict(state["options"]), {}
        self._warm_start, self._constants = ([], None), set(state.get("constants", ()))
        self._constraints = list(state.get("constraints", ()))
        self._study = None
        trials = [  # checkpoints of hbo before user attributes and times held tuples
            t if isinstance(t, Trial) else Trial(t[0], t[1], t[2], TrialState(t[3]), t[4],
                                                 Origin(t[5]))
            for t in state["trials"]
        ]
        if [t.id for t in trials] != list(range(len(trials))):
            raise InvalidArgumentError(
                f"checkpoint trial ids are not 0, 1, 2, ... (got {[t.id for t in trials][:8]}); "
                "the checkpoint is corrupt"
            )
        self.study.storage.add_trials(trials)  # ids, states, values, times kept
        self._live = dict(state["live"])

    def save(self, checkpoint_path: str) -> None:
        """Pickle :meth:`get_state` to ``checkpoint_path`` (Tune calls it to checkpoint)."""
        with open(checkpoint_path, "wb") as file:
            pickle.dump(self.get_state(), file)

    def restore(self, checkpoint_path: str) -> None:
        """Load a :meth:`save` checkpoint (Tune calls it on ``Tuner.restore``)."""
        with open(checkpoint_path, "rb") as file:
            self.set_state(pickle.load(file))


def _metric_and_mode(
    metric: str | Sequence[str] | None, mode: str | Sequence[str] | None
) -> tuple[str | list[str] | None, str | list[str] | None]:
    """Tune's ``metric`` and ``mode`` checked: a name and ``"min"``/``"max"``, or lists of
    the same length (several objectives), as ``OptunaSearch`` takes them."""
    if isinstance(metric, str | None) and isinstance(mode, str | None):  # one objective
        if metric == "":
            raise ArgumentTypeError("metric must be a non-empty string, got ''")
        if mode is not None and mode not in _DIRECTIONS:
            raise InvalidArgumentError(f"mode must be 'min' or 'max', got {mode!r}")
        return metric, mode
    lists = all(isinstance(x, Sequence) and not isinstance(x, str) for x in (metric, mode))
    if not lists or len(metric) != len(mode):
        raise InvalidArgumentError(
            f"metric {metric!r} and mode {mode!r}: for several objectives give both as lists "
            "of the same length (as OptunaSearch)"
        )
    names, modes = list(metric), list(mode)
    if not names or len(set(names)) < len(names) or not all(
        isinstance(n, str) and n for n in names
    ):
        raise ArgumentTypeError(f"metric must list distinct non-empty names, got {metric!r}")
    if any(m not in _DIRECTIONS for m in modes):
        raise InvalidArgumentError(f"mode must list 'min' or 'max' per metric, got {mode!r}")
    return names, modes


def _warm_start(
    points: Sequence[Mapping[str, Any]] | None,
    rewards: Sequence[float | Mapping[str, float]] | None,
) -> tuple[list[Mapping[str, Any]], list[float | Mapping[str, float]] | None]:
    """``points_to_evaluate`` and ``evaluated_rewards`` checked for shape and numbers (the
    points, and rewards given as dicts of outcomes, are checked by the study)."""
    if isinstance(points, Mapping | str) or not isinstance(points, Sequence | None):
        raise ArgumentTypeError(
            f"points_to_evaluate must be a list of config dicts, got {type(points).__name__}"
        )
    points = list(points or [])
    if rewards is None:
        return points, None
    if isinstance(rewards, str) or not isinstance(rewards, Sequence):
        raise ArgumentTypeError(
            f"evaluated_rewards must be a list of numbers, got {type(rewards).__name__}"
        )
    if len(rewards) != len(points):
        raise InvalidArgumentError(
            f"evaluated_rewards has {len(rewards)} values for {len(points)} "
            "points_to_evaluate; give one reward per point"
        )
    bad = [i for i, r in enumerate(rewards)
           if not (isinstance(r, Mapping) or (is_real(r) and math.isfinite(r)))]
    if bad:
        raise InvalidArgumentError(
            f"evaluated_rewards[{bad[0]}] is {rewards[bad[0]]!r}; each reward must be a finite "
            "number, or a dict of outcomes (leave out points whose evaluation failed)"
        )
    return points, list(rewards)
