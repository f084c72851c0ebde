"""hbo inside Optuna: :class:`HBOSampler`, an Optuna sampler driven by hbo's hierarchical GP.

::

    sampler = HBOSampler(sources=[last_year_study], seed=0)
    study = optuna.create_study(sampler=sampler, storage="sqlite:///tuning.db")
    study.optimize(objective, n_trials=30)

Each trial's parameters of the *relative* search space (Optuna's intersection search space
of the completed trials, as GPSampler uses, or the ``search_space`` given) are one
:meth:`hbo.Study.ask`: the sampler replays the study into an in-memory :class:`hbo.Study`
(the sources as history, then the study's trials as the asked trials of the target task)
and asks it. So the point is the one ``hbo.Study`` proposes from the same data and seed:
the task's Sobol sequence for ``n_startup_trials`` results, then log EI on the
hierarchical GP fitted to the target's results and to those of the source tasks the
source screen keeps. Parameters outside the relative space (the first trial's, when no
``search_space`` is given; conditional ones; those hbo cannot model, such as a float with
``step``, with one warning each) come from the independent sampler (Optuna's
``RandomSampler`` by default, as GPSampler's, here seeded per trial).

Trials in the replay (those numbered below the trial being sampled, in order; a trial's
point follows from the trials before it, as in ``hbo.Study``, whose later asks propose
around the earlier ones):

* complete: observations (an infinite value counts as failed, as ``hbo.Study.tell`` does);
* failed and pruned: failed trials (the model leaves them out; they stay pending points
  and count in the Sobol sequence, so a failing point is not proposed again; GPSampler
  also fits complete trials only);
* running (other threads, ``n_jobs``; other processes on one RDB storage): pending
  points, so no two workers get the same point. The point proposed for a trial is
  written to its system attributes at once (Optuna stores a parameter only when it is
  suggested); a lower trial whose point is not known yet (its worker is still
  proposing it) is asked for in the replay, as its worker asks for it, and proposed
  around (with its enqueued ``fixed_params``, which win over proposals in Optuna). When
  its worker chose another point after all (its data changed meanwhile), the proposal is
  made again around the real one, as :meth:`hbo.proposer.Proposer.ask` settles
  concurrent asks.

A trial whose every parameter of the space was enqueued (``study.enqueue_trial``) is an
enqueued hbo trial (:meth:`hbo.Study.enqueue`): not counted in the Sobol sequence. Waiting
trials (enqueued, not started) and trials numbered above the one being sampled are left
out (the latter propose around it).

Only single-objective, unconstrained studies: a multi-objective study, or one whose trials
set constraints, raises :class:`UnsupportedStudyError` at the first sample.
"""

from __future__ import annotations

try:  # the extra first, so that its absence is said plainly
    import optuna  # noqa: F401
except ImportError as exc:
    from hbo.integrations import missing_extra

    raise missing_extra("optuna", "optuna", __name__) from exc

import math
import secrets
import threading
import zlib
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
from optuna.distributions import BaseDistribution
from optuna.samplers import BaseSampler, RandomSampler
from optuna.search_space import intersection_search_space
from optuna.study import Study as OptunaStudy
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial
from optuna.trial import TrialState as OptunaState

from hbo._warnings import HBOWarning, HistoryImportWarning, warn
from hbo.errors import ArgumentTypeError, HBOError, InvalidArgumentError, InvalidDataError
from hbo.integrations._optuna_trials import (
    Row,
    UnsupportedDistributionError,
    has_constraints,
    publish,
    rows_before,
    to_parameter,
)
from hbo.proposer import SETTLE_ROUNDS, HierarchicalProposer
from hbo.space import Float, SearchSpace
from hbo.study import Study
from hbo.study.arguments import check_name
from hbo.study.history import HistoryTable, read_history
from hbo.trial import Origin, Trial

__all__ = ["HBOSampler", "UnsupportedDistributionError", "UnsupportedStudyError", "to_parameter"]


class UnsupportedStudyError(InvalidArgumentError):
    """An Optuna study HBOSampler cannot optimize (several objectives, constraints)."""


class HBOSampler(BaseSampler):
    """Optuna sampler: hbo's hierarchical GP, warm-started with related tasks.

    Args:
        sources: Related tasks whose completed trials the surrogate pools with the
            target's: a list of sources (past Optuna studies, as objects or
            ``(study_name, storage)``; ``hbo.Study`` objects; Ax experiments), or a dict
            ``{task name: source}`` (needed for Optuna ``trials_dataframe()`` tables), read
            by :func:`hbo.study.history.read_history`. Each is checked here and read on
            the target's space when that is known; a source's parameters the target lacks
            are dropped, its trials without a value for one of the target's are skipped
            (one :class:`~hbo.HistoryImportWarning` says which), and a source left with
            no trial is left out (with a warning).
        search_space: Optuna distributions ``{name: distribution}`` to propose jointly from
            the first trial on. Default: Optuna's intersection search space of the
            completed trials (the first trial is then sampled independently).
        task: Name of the target task in the surrogate (it seeds the task's Sobol
            sequence; an ``hbo.Study(task=...)`` of the same name, seed and data proposes
            the same points).
        seed: Makes the run reproducible: the hbo proposals and the independent sampler.
            None: drawn at random once.
        n_startup_trials: Sobol points before the model (hbo's ``n_initial``). Default:
            1 when the sources hold ``max(5, d + 1)`` results (that point where the shared
            function they give is best, :mod:`hbo.proposer.history_start`), else
            ``max(5, d + 1)``.
        independent_sampler: Samples the parameters outside the relative search space.
            Default: Optuna's ``RandomSampler``, seeded by ``seed``, the trial's number and
            the parameter's name (so processes sharing a seed draw distinct values).
    """

    def __init__(
        self,
        *,
        sources: Sequence[Any] | Mapping[str, Any] | None = None,
        search_space: Mapping[str, BaseDistribution] | None = None,
        task: str = "target",
        seed: int | None = None,
        n_startup_trials: int | None = None,
        independent_sampler: BaseSampler | None = None,
    ) -> None:
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)
                                 or not 0 <= seed < 2**32):
            raise InvalidArgumentError(
                f"seed must be None or an int in [0, 2**32) (Optuna's samplers take that), "
                f"got {seed!r}"
            )
        if n_startup_trials is not None and (
            not isinstance(n_startup_trials, int) or isinstance(n_startup_trials, bool)
            or n_startup_trials < 1
        ):
            raise InvalidArgumentError(
                f"n_startup_trials must be None or a positive int, got {n_startup_trials!r}"
            )
        task = check_name(task, "task")
        if independent_sampler is not None and not isinstance(independent_sampler, BaseSampler):
            raise ArgumentTypeError(
                "independent_sampler must be an optuna.samplers.BaseSampler (e.g. "
                f"RandomSampler(seed=0)), got {type(independent_sampler).__name__}"
            )
        self._search_space = _check_search_space(search_space)
        self._sources = _check_sources(sources)
        self._task = task
        self._seed = secrets.randbits(31) if seed is None else seed
        self._n_startup_trials = n_startup_trials
        self._independent_sampler = independent_sampler
        self._proposers: dict[tuple[str, str, str], HierarchicalProposer] = {}
        self._histories: dict[tuple[str, str], list[HistoryTable]] = {}
        self._warned: set[str] = set()
        self._lock = threading.Lock()  # one proposal at a time (n_jobs threads)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        del state["_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    @property
    def seed(self) -> int:
        """The seed of the hbo proposals (the one given, or the one drawn)."""
        return self._seed

    def reseed_rng(self) -> None:
        """Reseed a given independent sampler. The seed is kept: it defines the target's
        Sobol sequence, which workers share (Optuna calls this in each ``n_jobs`` thread),
        workers get distinct hbo points from the pending trials, and the default
        independent draws are seeded per trial."""
        if self._independent_sampler is not None:
            self._independent_sampler.reseed_rng()

    # ------------------------------------------------------------------ Optuna's interface
    def infer_relative_search_space(
        self, study: OptunaStudy, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        """The ``search_space`` given, else the intersection search space of the
        completed trials; without single-valued distributions and those hbo cannot model."""
        _check_objectives(study)
        if self._search_space is not None:
            space = self._search_space
        else:
            done = study.get_trials(deepcopy=False, states=(OptunaState.COMPLETE,))
            space = intersection_search_space(done)
        return {name: d for name, d in space.items() if not d.single() and self._models(name, d)}

    def sample_relative(
        self, study: OptunaStudy, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        """The next point of the in-memory hbo study replaying ``study`` (see the module)."""
        _check_objectives(study)
        if not search_space:
            return {}
        modelled = {n: d for n, d in search_space.items() if not d.single() and self._models(n, d)}
        params = {  # only when called with a space this sampler did not infer
            name: self._independent(trial, name).sample_independent(study, trial, name, d)
            for name, d in search_space.items()
            if name not in modelled
        }
        if modelled:
            space = SearchSpace([to_parameter(n, d) for n, d in modelled.items()])
            with self._lock:
                params.update(self._settled_proposal(study, trial, space))
        return params

    def sample_independent(
        self,
        study: OptunaStudy,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        """A parameter outside the relative search space, from the independent sampler."""
        _check_objectives(study)
        return self._independent(trial, param_name).sample_independent(
            study, trial, param_name, param_distribution
        )

    def before_trial(self, study: OptunaStudy, trial: FrozenTrial) -> None:
        if self._independent_sampler is not None:
            self._independent_sampler.before_trial(study, trial)

    def after_trial(
        self,
        study: OptunaStudy,
        trial: FrozenTrial,
        state: OptunaState,
        values: Sequence[float] | None,
    ) -> None:
        if self._independent_sampler is not None:
            self._independent_sampler.after_trial(study, trial, state, values)

    # ------------------------------------------------------------------ proposals
    def _independent(self, trial: FrozenTrial | None, name: str) -> BaseSampler:
        """The given independent sampler, else a RandomSampler seeded by the seed, the
        trial's number and the parameter's name: workers that share a seed (processes on
        one storage) draw distinct values, and a trial's draw is the same whichever worker
        runs it."""
        if self._independent_sampler is not None:
            return self._independent_sampler
        number = -1 if trial is None else trial.number
        return RandomSampler(seed=zlib.crc32(f"{self._seed}/{number}/{name}".encode()))

    def _models(self, name: str, distribution: BaseDistribution) -> bool:
        """Whether hbo models this distribution (else: warn once, and leave it to the
        independent sampler)."""
        try:
            to_parameter(name, distribution)
        except UnsupportedDistributionError as exc:
            self._warn_once(
                f"HBOSampler: {exc}; the independent sampler "
                f"({type(self._independent(None, name)).__name__}) samples it"
            )
            return False
        return True

    def _settled_proposal(
        self, study: OptunaStudy, trial: FrozenTrial, space: SearchSpace
    ) -> dict[str, Any]:
        """Propose from the trials numbered below ``trial``, write the point to the trial,
        and read back. Propose again while a lower trial's point turns out other than the
        one used (one still being proposed elsewhere was predicted, and its worker chose
        otherwise: its data had changed), or a later trial holds the same point (it read
        before this one's point was written): then around that one too."""
        trials = study.get_trials(deepcopy=False)
        if has_constraints(t for t in trials if t.state is OptunaState.COMPLETE):
            raise UnsupportedStudyError(
                "HBOSampler optimizes an unconstrained objective; this study's trials set "
                "constraints (trial.set_constraint or a constraints_func). Use Optuna's "
                "GPSampler or TPESampler for constrained optimization"
            )
        used: dict[int, dict[str, Any]] | None = None
        params: dict[str, Any] = {}
        clashes: list[Row] = []
        for _ in range(SETTLE_ROUNDS + 1):
            rows, incomplete = rows_before(trials, space, trial.number)
            if used is not None:
                moved = any(used.get(r.number) != r.params for r in rows if r.params is not None)
                clashing = [r for r in rows_before(trials, space, math.inf)[0]
                            if r.number > trial.number and r.params == params]
                if not moved and not clashing:
                    break
                clashes += clashing
            if incomplete:
                self._warn_once(
                    f"HBOSampler: {incomplete} completed trial(s) lack a parameter of the "
                    f"search space {space.names} or hold a value outside it; the model leaves "
                    "them out"
                )
            params, used = self._propose(study, space, rows + clashes)
            publish(study, trial, params)
            trials = study.get_trials(deepcopy=False)
        return params

    def _propose(
        self, study: OptunaStudy, space: SearchSpace, rows: list[Row]
    ) -> tuple[dict[str, Any], dict[int, dict[str, Any]]]:
        """``hbo.Study.ask`` after the sources (history) and ``rows`` (asked trials, in
        order; a row without a point is asked for, as its own worker will).

        Returns:
            The point, and the point used for each row (by trial number).
        """
        direction = _direction(study)
        key = (study.study_name, repr(space), direction)
        if key not in self._proposers:  # one per space: its fits warm-start the next
            self._proposers[key] = HierarchicalProposer(n_initial=self._n_startup_trials)
        replay = Study(space, task=self._task, direction=direction, seed=self._seed,
                       proposer=self._proposers[key])
        for table in self._history(space, direction):
            replay.add_history(table.task, table.params, table.values)
        used = {}
        for row in rows:  # as hbo.Study's ask and tell store them
            if row.params is None:  # enqueued parameters will win, as in Optuna
                asked = replay.ask()
                point = {**asked.params, **row.fixed}
                replay.storage.set_params(asked.id, point)
                used[row.number] = point
                continue
            if row.enqueued:  # as hbo.Study.enqueue stores it (then ask and tell)
                replay.storage.add_trials([Trial(-1, self._task, row.params, row.state,
                                                 row.value, Origin.ENQUEUED)])
            else:
                (created,) = replay.storage.create_trials(self._task, [row.params])
                if row.state.finished:
                    replay.storage.finish_trial(created.id, row.state, row.value)
            used[row.number] = row.params
        return dict(replay.ask().params), used

    def _history(self, space: SearchSpace, direction: str) -> list[HistoryTable]:
        """The sources read on ``space`` (cached: sources do not change during a run)."""
        key = (repr(space), direction)
        if key not in self._histories:
            self._histories[key] = self._read_sources(space, direction)
        return self._histories[key]

    def _read_sources(self, space: SearchSpace, direction: str) -> list[HistoryTable]:
        """Each source's tables on ``space``; a source with no usable trial there is left
        out with a warning (a run goes on when the target's space outgrows a source)."""
        tables = []
        for name, source in self._sources:
            try:
                read = read_history(source, space, direction, task=name)
            except InvalidDataError as exc:
                self._warn_once(f"HBOSampler: a source is left out: {exc}", HistoryImportWarning)
                continue
            for table in read:
                if table.task == self._task:
                    raise InvalidArgumentError(
                        f"sources: a source task is named {table.task!r}, as the target task "
                        "is; name the target otherwise (HBOSampler(task=...)) or the source "
                        "(sources={name: source})"
                    )
                if table.dropped or table.skipped:
                    self._warn_once(f"HBOSampler: history import left out: {table}",
                                    HistoryImportWarning)
                if table.params:
                    tables.append(table)
        return tables

    def _warn_once(self, message: str, category: type[Warning] = HBOWarning) -> None:
        if message not in self._warned:
            self._warned.add(message)
            warn(message, category)


# ---------------------------------------------------------------------- argument checks
def _direction(study: OptunaStudy) -> str:
    return "maximize" if study.direction is StudyDirection.MAXIMIZE else "minimize"


def _check_objectives(study: OptunaStudy) -> None:
    if len(study.directions) > 1:
        raise UnsupportedStudyError(
            f"HBOSampler optimizes one objective; this study has {len(study.directions)} "
            f"({[d.name.lower() for d in study.directions]}). Use a single-objective study, "
            "or Optuna's GPSampler or TPESampler for several objectives"
        )


def _check_search_space(
    search_space: Mapping[str, BaseDistribution] | None,
) -> dict[str, BaseDistribution] | None:
    if search_space is None:
        return None
    if not isinstance(search_space, Mapping) or not search_space:
        raise ArgumentTypeError(
            "search_space must be None or a non-empty dict {name: Optuna distribution}, got "
            f"{search_space!r}"
        )
    bad = {n: d for n, d in search_space.items()
           if not isinstance(n, str) or not isinstance(d, BaseDistribution)}
    if bad:
        raise ArgumentTypeError(
            "search_space maps parameter names (str) to Optuna distributions "
            f"(FloatDistribution, IntDistribution, CategoricalDistribution); got {bad!r}"
        )
    return dict(search_space)


def _check_sources(
    sources: Sequence[Any] | Mapping[str, Any] | None,
) -> list[tuple[str | None, Any]]:
    """``sources`` as ``(task name or None, source)`` pairs, checked for shape (what a
    source may be is checked when it is read)."""
    if sources is None:
        return []
    if isinstance(sources, Mapping):
        pairs = list(sources.items())
        bad = [name for name, _ in pairs if not isinstance(name, str) or not name]
        if bad:
            raise ArgumentTypeError(
                f"sources: a dict maps task names (non-empty strings) to sources; got keys {bad!r}"
            )
        _probe(pairs, [f"sources[{name!r}]" for name, _ in pairs])
        return pairs
    if isinstance(sources, str | bytes) or not isinstance(sources, Sequence) or (
        isinstance(sources, tuple) and len(sources) == 2 and isinstance(sources[0], str)
    ):
        raise ArgumentTypeError(
            "sources must be a list of sources (Optuna studies, (study_name, storage) pairs, "
            "hbo Studies) or a dict {task name: source} (also DataFrames); got "
            f"{type(sources).__name__} {sources!r:.80}. For one source, give a list: "
            "sources=[source]"
        )
    for i, source in enumerate(sources):
        if isinstance(source, pd.DataFrame):
            raise ArgumentTypeError(
                f"sources[{i}] is a DataFrame, which holds no task name: give the sources "
                "as a dict, sources={'task name': frame, ...}"
            )
    pairs = [(None, source) for source in sources]
    _probe(pairs, [f"sources[{i}]" for i in range(len(pairs))])
    return pairs


#: A space no source shares: reading a source on it checks what the source is (its type,
#: a stored study's name, its objectives) before any trial runs; its rows are read on the
#: target's space once that is known.
_PROBE = SearchSpace([Float("hbo probe: a name no source has", 0.0, 1.0)])


def _probe(pairs: list[tuple[str | None, Any]], where: list[str]) -> None:
    """Read each source on :data:`_PROBE`; an error names the source (``where``)."""
    for (name, source), label in zip(pairs, where, strict=True):
        try:
            read_history(source, _PROBE, "minimize", task=name)
        except InvalidDataError:  # readable, no rows on the probe: what is wanted
            continue
        except HBOError as exc:
            raise type(exc)(f"{label}: {exc.args[0] if exc.args else exc}") from exc
