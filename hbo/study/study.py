"""Study: the ask/tell loop users touch.

A thin façade over a :class:`~hbo.storage.Storage` (which holds every trial) and a
:class:`~hbo.proposer.Proposer` (which chooses the next points: by default
:class:`~hbo.proposer.HierarchicalProposer`, Expected Improvement on the
:class:`~hbo.surrogate.HierarchicalGP` surrogate). Data flow one way: space -> study ->
proposer -> study. What it has found (best trial, Pareto front, table, pooling) is read by
the methods of :mod:`hbo.study.results`.

A study measures one objective (``direction=``) or several outcomes: objectives and
outcome constraints (``objectives=``, ``constraints=``; :mod:`hbo.study.outcomes`), each
trial told a dict of them; ``pareto_front`` and ``hypervolume`` report on several
objectives.

Each call validates all of its input before it stores anything, so a rejected call
leaves the study as it was. With ``storage="sqlite:///tuning.db"`` (or a PostgreSQL URL)
and a ``name``, the study lives in a database (:mod:`hbo.storage.sql`): any number of
worker processes may open it, and :meth:`Study.load` resumes it after a crash.
"""

from __future__ import annotations

import inspect
import math
import secrets
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import pandas as pd

from hbo._numbers import is_real
from hbo._warnings import FailedTrialWarning, warn
from hbo.errors import ArgumentTypeError, InvalidArgumentError, UnknownTaskError
from hbo.proposer import HierarchicalProposer, Proposer
from hbo.space import SearchSpace, space_differences, space_from_dict, space_to_dict
from hbo.storage import Storage, StudyMismatchError, UnknownStudyError, open_storage
from hbo.study.arguments import (
    as_real,
    check_name,
    check_user_attrs,
    history_rows,
    trial_id,
    user_attr,
)
from hbo.study.history import read_history, store_history
from hbo.study.optimize import Callback, Objective, optimize
from hbo.study.outcomes import OutcomeConstraint, define_outcomes, outcomes_from_config
from hbo.study.results import StudyResults
from hbo.surrogate import Hyperprior
from hbo.surrogate.kernels import Kernel
from hbo.surrogate.nuts_options import NUTSOptions
from hbo.trial import Origin, Trial, TrialState, check_transition


class Study(StudyResults):
    """Tune a target task with the help of related tasks.

    Args:
        space: The search space.
        task: Name of the target task (the one ``ask()`` proposes for by default).
        direction: ``"minimize"`` or ``"maximize"``: the study has one objective,
            ``"value"`` (shorthand for ``objectives={"value": direction}``).
        objectives: Several outcomes to optimize at once (or one, named): outcome name ->
            ``"minimize"`` or ``"maximize"``, e.g. ``{"loss": "minimize", "latency_ms":
            "minimize"}``; not with a ``direction`` other than the default. With several,
            there is no best trial, but a Pareto front (:meth:`pareto_front`,
            :meth:`hypervolume`), and ``ask`` maximizes the expected hypervolume
            improvement (:mod:`hbo.acquisition`).
        constraints: Outcome constraints, ``"name <= bound"`` or ``"name >= bound"`` (or
            :class:`~hbo.study.outcomes.OutcomeConstraint`) on outcomes other than the
            objectives, e.g. ``["memory_gb <= 3"]``: a trial is feasible if it meets
            every one; :attr:`best` and :meth:`pareto_front` are feasible trials, and
            ``ask`` weighs its improvement by the probability of feasibility. Each trial
            is then told a dict of every outcome (:meth:`tell`).
        seed: Makes the study reproducible end to end; drawn at random if None
            (and kept in ``study.seed``).
        storage: Where trials live: None (in memory, the default), a database URL
            (``"sqlite:///tuning.db"``, ``"postgresql+psycopg://user@host/db"``) or a
            :class:`~hbo.storage.Storage`. A study already stored under ``name`` is
            resumed; its space, task, objectives and constraints must equal the given
            ones, and so must its seed when one is given (else
            :class:`~hbo.storage.StudyMismatchError`).
        name: The study's name in the database (required with a URL).
        proposer: What chooses the next points (:mod:`hbo.proposer`); default: a
            :class:`~hbo.proposer.HierarchicalProposer` made of the options below.
        n_initial, shared_function, inference, nuts, hyperpriors, kernel, training,
        output_warping: Options
            of the default :class:`~hbo.proposer.HierarchicalProposer` (see there; not with
            ``proposer``): Sobol points before the model, the shared function ``g``,
            ``"map"`` or ``"nuts"`` inference and its settings (``"nuts"`` with one
            outcome only), replaced hyperpriors, the kernel (``"matern52"``, the default,
            or ``"matern32"``), ``"auto"``, ``"joint"`` or ``"hierarchical"`` training
            (the sources fitted once per history above ``MAX_SHARED_POINTS`` other-task
            observations, by default), and the tasks' values through a Yeo-Johnson
            transform chosen by the history's evidence before the surrogate (one
            outcome; off by default).
        heartbeat_timeout: Seconds after which a running trial without a heartbeat
            (:meth:`heartbeat`, :meth:`keep_alive`, or its ``ask``) is presumed dead:
            ``ask`` then marks it failed. None (default): running trials wait forever.
    """

    def __init__(
        self,
        space: SearchSpace,
        task: str = "default",
        direction: str = "minimize",
        seed: int | None = None,
        *,
        objectives: Mapping[str, str] | None = None,
        constraints: Sequence[str | OutcomeConstraint] | None = None,
        storage: Storage | str | None = None,
        name: str | None = None,
        proposer: Proposer | None = None,
        n_initial: int | None = None,
        shared_function: bool | None = None,
        heartbeat_timeout: float | None = None,
        inference: str = "map",
        nuts: NUTSOptions | Mapping[str, Any] | None = None,
        hyperpriors: Mapping[str, Hyperprior] | None = None,
        kernel: str | Kernel = "matern52",
        training: str = "auto",
        output_warping: bool = False,
    ) -> None:
        if not isinstance(space, SearchSpace):
            raise ArgumentTypeError(f"space must be an hbo.SearchSpace, got {type(space).__name__}")
        outcomes = define_outcomes(direction, objectives, constraints, space.names)
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
            raise ArgumentTypeError(f"seed must be an int or None, got {seed!r}")
        if seed is not None and not -(2**63) <= seed < 2**63:
            raise InvalidArgumentError(f"seed must fit in 64 bits (|seed| < 2**63), got {seed}")
        if heartbeat_timeout is not None and not (
            is_real(heartbeat_timeout)
            and heartbeat_timeout >= 0
            and math.isfinite(heartbeat_timeout)
        ):
            raise InvalidArgumentError(
                f"heartbeat_timeout must be a finite number of seconds >= 0, got "
                f"{heartbeat_timeout!r}"
            )
        options = {"n_initial": n_initial, "shared_function": shared_function,
                   "inference": inference, "nuts": nuts, "hyperpriors": hyperpriors,
                   "kernel": kernel, "training": training, "output_warping": output_warping}
        if proposer is None:
            proposer = HierarchicalProposer(**options)
        elif not isinstance(proposer, Proposer):
            raise ArgumentTypeError(
                f"proposer must be an hbo.proposer.Proposer (e.g. HierarchicalProposer()), got "
                f"{type(proposer).__name__}"
            )
        else:
            defaults = inspect.signature(HierarchicalProposer).parameters  # one source of truth
            given = [k for k, v in options.items() if v != defaults[k].default]
            if given:
                raise InvalidArgumentError(
                    f"{given} configure the default proposer; with proposer= given, pass "
                    f"them to it instead (e.g. HierarchicalProposer({given[0]}=...))"
                )
        nuts_fit = isinstance(proposer, HierarchicalProposer) and proposer.inference == "nuts"
        if nuts_fit and not outcomes.single:
            raise InvalidArgumentError(
                f'inference="nuts" fits one outcome; this study has the outcomes '
                f'{outcomes.names}: use inference="map"'
            )
        self.proposer = proposer
        self.space = space
        self.task = check_name(task, "task")
        self._outcomes = outcomes
        self.storage = open_storage(storage, None if name is None else check_name(name, "name"))
        self.name = getattr(self.storage, "study_name", name)
        config = {
            "space": space_to_dict(space),
            "task": self.task,
            "direction": self._direction(),
            **outcomes.config(),
            "seed": secrets.randbits(31) if seed is None else seed,
        }
        stored = self.storage.create_study(config)
        self._check_stored(stored, config, seed_given=seed is not None)
        self.seed = stored["seed"]
        self.heartbeat_timeout = heartbeat_timeout

    def __repr__(self) -> str:
        n = len(self.storage.get_trials())
        goal = (f"direction={self._direction()!r}" if self._outcomes.single
                else f"objectives={self.objectives!r}, constraints={self.constraints!r}")
        return f"Study(task={self.task!r}, {goal}, trials={n})"

    # ------------------------------------------------------------------ outcomes
    @property
    def direction(self) -> str:
        """The direction of the study's one objective (see :attr:`objectives`)."""
        direction = self._direction()
        if direction is None:
            raise InvalidArgumentError(
                f"this study has several objectives {self.objectives}: direction is "
                "defined for one; read study.objectives"
            )
        return direction

    def _direction(self) -> str | None:
        """The one objective's direction; None with several objectives."""
        ways = list(self._outcomes.objectives.values())
        return ways[0] if len(ways) == 1 else None

    @classmethod
    def load(cls, name: str, storage: Storage | str, **options: Any) -> Study:
        """Resume a stored study: its space, task, direction, seed and every trial.

        Args:
            name: The study's name.
            storage: A database URL or the :class:`~hbo.storage.Storage` holding it.
            options: ``proposer``, ``n_initial``, ``shared_function``,
                ``heartbeat_timeout``, ``inference``, ``nuts``, ``hyperpriors``, ``kernel``
                (not stored).

        Raises:
            UnknownStudyError: no study of this name is stored there.
        """
        check_name(name, "name")
        stored = sorted(
            {"space", "task", "direction", "objectives", "constraints", "seed"} & set(options)
        )
        if stored:
            raise InvalidArgumentError(
                f"Study.load: {stored} are read from the stored study and cannot be given; "
                "accepted options: proposer, n_initial, shared_function, heartbeat_timeout, "
                "inference, nuts, hyperpriors, kernel, training, output_warping"
            )
        store = open_storage(storage, name if isinstance(storage, str) else None, create=False)
        config = store.study_config()
        if config is None or getattr(store, "study_name", name) != name:
            listed = ""
            if isinstance(storage, str):
                from hbo.storage.sql import list_studies

                listed = f"; studies there: {[s['name'] for s in list_studies(storage)]}"
            raise UnknownStudyError(f"no study named {name!r} in {store!r}{listed}")
        space = space_from_dict(config["space"])
        outcomes = outcomes_from_config(config)
        return cls(space, config["task"], seed=config["seed"], objectives=outcomes.objectives,
                   constraints=outcomes.constraints, storage=store, **options)

    def _check_stored(self, stored: dict, config: dict, *, seed_given: bool) -> None:
        """Raise :class:`StudyMismatchError` naming each difference from the stored study."""
        notes = space_differences(space_from_dict(stored["space"]), self.space)
        stored = {**stored, **outcomes_from_config(stored).config()}
        # one objective of the same name in the other direction: say "direction"
        same_names = list(stored["objectives"]) == list(config["objectives"])
        keys = ("task", "direction" if same_names and config["direction"] else "objectives",
                "constraints", "seed")
        notes += [
            f"{key}: stored {stored[key]!r}, given {config[key]!r}"
            for key in keys
            if stored[key] != config[key] and (key != "seed" or seed_given)
        ]
        if notes:
            raise StudyMismatchError(
                f"study {self.name!r} is stored with another definition: {'; '.join(notes)}. "
                "Open it with hbo.Study.load(name, storage) to use the stored one"
            )

    # ------------------------------------------------------------------ tasks
    def _check_task(self, task: str | None) -> str:
        task = self.task if task is None else check_name(task, "task")
        if task not in self.tasks:
            raise UnknownTaskError(
                f"task {task!r} is unknown; known tasks: {self.tasks} "
                "(add data for a new task with study.add_history)"
            )
        return task

    # ------------------------------------------------------------------ history
    def add_history(
        self,
        task: str,
        params: Sequence[Mapping[str, Any]] | pd.DataFrame,
        values: Sequence[float | Mapping[str, float]] | None = None,
    ) -> list[Trial]:
        """Add completed evaluations of a (related) task, of any size.

        Args:
            task: Task name (a source task, or the target itself).
            params: Parameter dicts, or a DataFrame with one column per parameter
                plus one per outcome name (one outcome: its name or ``value``; several:
                an empty cell or a column left out is a missing outcome); then ``values``
                must be None.
            values: One per parameter dict: the value (a study of one outcome), or a dict
                outcome -> value with some of the study's outcomes (a source may not have
                measured them all; each row has at least one).

        Returns:
            The stored trials. Nothing is stored if any row is invalid.
        """
        task = check_name(task, "task")
        rows, vals = history_rows(self.space, params, values, self._outcomes)
        return self.storage.create_trials(task, rows, vals, origin=Origin.HISTORY)

    def import_history(
        self, source: Any, *, task: str | None = None, source_direction: str | None = None
    ) -> dict[str, list[Trial]]:
        """Add the completed trials of a past study as history, e.g. ``optuna.Study``.

        ``source``: an ``optuna.Study``, an Optuna ``trials_dataframe()`` (with ``task``),
        an :class:`hbo.Study`, ``(name, storage)`` of a stored hbo or Optuna study, or an
        Ax ``Experiment`` / ``Client``; rows map by parameter name, values are negated if
        the source optimized the other way, and what is left out is named in one
        :class:`~hbo.HistoryImportWarning` (:mod:`hbo.study.history`). Returns task ->
        stored trials; a source without a usable trial stores nothing and raises.
        """
        if len(self.objectives) > 1:
            raise InvalidArgumentError(
                f"import_history reads one objective per source; this study has the "
                f"objectives {self.objectives}: add the rows with study.add_history(task, "
                "params, values) and a dict of outcomes per row"
            )
        if source is self or source is self.storage:
            raise InvalidArgumentError(
                "import_history: the source is this study itself; its trials are already "
                "here (import another study, or add rows with add_history)"
            )
        tables = read_history(source, self.space, self.direction, task=task,
                              source_direction=source_direction)
        return store_history(self.storage, tables)

    # ------------------------------------------------------------------ ask / tell
    def enqueue(
        self, params: Mapping[str, Any], task: str | None = None, *,
        user_attrs: Mapping[str, Any] | None = None,
    ) -> Trial:
        """Queue ``params`` to be evaluated first on ``task`` (default: the target), as
        Optuna's ``enqueue_trial``; returns the stored ``WAITING`` trial.

        ``ask`` on the task hands out waiting trials first, oldest first, each exactly once
        (also to workers sharing a database), then proposes for the rest of its ``n``.
        A waiting trial is in :meth:`trials_dataframe`; proposals leave it out (no model
        data, not pending, not in the Sobol count; the default proposer avoids repeating it).
        """
        task = self._check_task(task)
        point = self.space.validate(params, "params")
        waiting = Trial(-1, task, point, TrialState.WAITING, origin=Origin.ENQUEUED,
                        user_attrs=check_user_attrs(user_attrs))
        return self.storage.add_trials([waiting])[0]

    def ask(self, n: int | None = None, *, task: str | None = None) -> Trial | list[Trial]:
        """Parameters to evaluate on ``task`` (default: the target): enqueued ones first
        (:meth:`enqueue`), then proposed ones.

        Args:
            n: None for one :class:`Trial`; an int for a list of ``n`` distinct trials
                for parallel workers.
            task: Any task the study knows.
        """
        if n is not None and (not isinstance(n, int) or isinstance(n, bool) or n < 1):
            raise InvalidArgumentError(f"n must be a positive int or None, got {n!r}")
        task = self._check_task(task)
        if self.heartbeat_timeout is not None:
            self.storage.fail_stale_trials(self.heartbeat_timeout)
        q = 1 if n is None else n
        trials = self.storage.claim_waiting(task, q)
        if len(trials) < q:  # the claimed trials are running: pending for the proposal
            trials += self.proposer.ask(self, task, q - len(trials))
        return trials[0] if n is None else trials

    def tell(
        self, trial: Trial | int, value: float | Mapping[str, float] | None = None, *,
        failed: bool = False,
    ) -> Trial:
        """Record the outcome of a trial: its value, or ``failed=True``.

        ``value``: a number in a study of one outcome; else a dict with exactly the
        study's :attr:`outcomes`, e.g. ``{"loss": 0.3, "latency_ms": 12.0,
        "memory_gb": 2.5}`` (a missing or unknown outcome raises, and nothing is stored).
        A NaN or infinite value (in any outcome) records the trial as failed, with a
        warning, so that a long loop goes on. The values are stored in one transaction.
        Returns the trial: a :class:`Trial` passed in is updated in place (state, value,
        values, ``datetime_complete``).
        """
        ident = trial_id(trial)
        stored = self.storage.get_trial(ident)
        check_transition(stored, TrialState.FAILED)
        state, values = TrialState.FAILED, None
        if failed and value is not None:
            raise InvalidArgumentError("tell: give either a value or failed=True, not both")
        if not failed:
            if value is None:
                raise InvalidArgumentError("tell: give the trial's value, or failed=True")
            state, values = TrialState.COMPLETE, self._outcomes.told(value, "value")
            odd = {name: v for name, v in values.items() if not math.isfinite(v)}
            if odd:
                what = (f"objective value {odd.popitem()[1]}" if self._outcomes.single
                        else f"outcome(s) {odd}")
                warn(f"trial {ident}: {what} not finite; the trial is recorded as failed",
                     FailedTrialWarning)
                state, values = TrialState.FAILED, None
        return _updated(trial, self.storage.finish_trial(ident, state, values))

    def set_user_attr(self, trial: Trial | int, key: str, value: Any) -> Trial:
        """Keep ``value`` (JSON: str, number, bool, None, lists and str-keyed dicts) under
        ``key`` in the trial's ``user_attrs``, in any state (history trials too), as
        Optuna's ``set_user_attr``; :meth:`trials_dataframe` shows it as ``user_attrs_<key>``.
        Returns the trial; a :class:`Trial` passed in is updated in place."""
        ident = trial_id(trial)
        key, value = user_attr(key, value)
        return _updated(trial, self.storage.set_user_attr(ident, key, value))

    def heartbeat(self, trial: Trial | int) -> None:
        """Tell the storage that the worker evaluating ``trial`` is alive.

        Call it more often than ``heartbeat_timeout`` during long evaluations.
        """
        self.storage.heartbeat(trial_id(trial))

    @contextmanager
    def keep_alive(self, trial: Trial | int, every: float) -> Iterator[None]:
        """Send heartbeats for ``trial`` every ``every`` seconds while the block runs.

        For evaluations longer than ``heartbeat_timeout``::

            with study.keep_alive(trial, every=60):
                value = train(trial.params)
        """
        ident = trial_id(trial)
        if not (as_real(every, "every") > 0 and math.isfinite(every)):
            raise InvalidArgumentError(f"every must be a positive number of seconds, got {every}")
        stop = threading.Event()

        def beat() -> None:
            while not stop.wait(every):
                self.storage.heartbeat(ident)

        thread = threading.Thread(target=beat, name=f"hbo-heartbeat-{ident}", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()

    def fail_stale_trials(self, timeout: float | None = None) -> list[Trial]:
        """Mark failed the running trials without a heartbeat for ``timeout`` seconds.

        ``timeout`` defaults to the study's ``heartbeat_timeout``. Returns those trials.
        """
        timeout = self.heartbeat_timeout if timeout is None else timeout
        if timeout is None or not (as_real(timeout, "timeout") >= 0):
            raise InvalidArgumentError(
                f"timeout must be a number of seconds >= 0 (or set heartbeat_timeout), "
                f"got {timeout!r}"
            )
        return self.storage.fail_stale_trials(timeout)

    def optimize(
        self,
        func: Objective,
        n_trials: int | None = None,
        timeout: float | None = None,
        callbacks: Sequence[Callback] = (),
        catch: type[Exception] | Sequence[type[Exception]] = (),
    ) -> None:
        """Ask, evaluate ``func(trial) -> value`` (a dict of every outcome in a study of
        several) and tell, ``n_trials`` times or until
        ``timeout`` seconds, as Optuna's ``optimize``; ``callbacks`` are called with
        ``(study, finished_trial)`` after each trial, exceptions in ``catch`` mark the trial
        failed and the loop goes on (:mod:`hbo.study.optimize`)."""
        optimize(self, func, n_trials, timeout, callbacks, catch)


def _updated(given: Trial | int, stored: Trial) -> Trial:
    """``given`` updated in place to ``stored`` if it is a :class:`Trial` (see its
    docstring), else ``stored``."""
    return given._refresh(stored) if isinstance(given, Trial) else stored
