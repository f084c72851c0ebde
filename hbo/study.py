"""Study: the ask/tell loop users touch.

A thin façade over a :class:`~hbo.storage.Storage` (which holds every trial), the
:class:`~hbo.models.HierarchicalGP` surrogate and :mod:`hbo.acquisition`. Data flow
one way: space -> study -> model -> acquisition -> study.

Each call validates all of its input before it stores anything, so a rejected call
leaves the study as it was. With ``storage="sqlite:///tuning.db"`` (or a PostgreSQL URL)
and a ``name``, the study lives in a database (:mod:`hbo.storage.sql`): any number of
worker processes may open it, and :meth:`Study.load` resumes it after a crash.
"""

from __future__ import annotations

import math
import secrets
import threading
import zlib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch
from botorch.utils.sampling import manual_seed

from hbo import acquisition
from hbo._numbers import is_integer, is_real
from hbo._warnings import FailedTrialWarning, ModelFittingWarning, warn
from hbo.errors import (
    ArgumentTypeError,
    InvalidArgumentError,
    InvalidDataError,
    ModelFittingError,
    NotReadyError,
    ObjectiveTypeError,
    UnknownTaskError,
)
from hbo.models import HierarchicalGP, Hyperprior
from hbo.models.nuts_options import NUTSOptions
from hbo.models.pooling import PoolingReport
from hbo.models.priors import check_hyperpriors
from hbo.models.shared_choice import SharedFunctionChoice, fit_surrogate
from hbo.models.training_data import task_standardization
from hbo.space import SearchSpace, space_differences, space_from_dict, space_to_dict
from hbo.storage import Storage, StudyMismatchError, UnknownStudyError, open_storage
from hbo.trial import Origin, Trial, TrialState, check_transition

if TYPE_CHECKING:  # the fully Bayesian modules load pyro and ArviZ: imported where used
    from hbo.diagnostics import ConvergenceReport
    from hbo.models.fully_bayesian import FullyBayesianHierarchicalGP
    from hbo.models.posterior_pooling import PosteriorPoolingReport

#: Rounds of :meth:`Study._settle` (each a concurrent ask found and proposed around).
SETTLE_ROUNDS = 8
DIRECTIONS = ("minimize", "maximize")
INFERENCE = ("map", "nuts")


def _as_real(value: Any, argument: str) -> float:
    """``value`` as a float if it is a real number (or a one-element array/tensor of one)."""
    one = value.numel() == 1 if isinstance(value, torch.Tensor) else np.size(value) == 1
    if isinstance(value, torch.Tensor | np.ndarray | np.generic) and one:
        value = value.item()
    if not is_real(value):
        raise ObjectiveTypeError(
            f"{argument} must be a real number, got {type(value).__name__} {value!r}"
        )
    return float(value)


def _trial_id(trial: Any) -> int:
    if isinstance(trial, Trial):
        return trial.id
    if is_integer(trial):
        return int(trial)  # an id read from trials_dataframe() is a numpy integer
    raise ArgumentTypeError(f"trial must be an hbo.Trial or its id, got {trial!r}")


def _check_name(value: Any, argument: str) -> str:
    if not isinstance(value, str) or not value:
        raise ArgumentTypeError(f"{argument} must be a non-empty string, got {value!r}")
    return value


class Study:
    """Tune a target task with the help of related tasks.

    Args:
        space: The search space.
        task: Name of the target task (the one ``ask()`` proposes for by default).
        direction: ``"minimize"`` or ``"maximize"``.
        seed: Makes the study reproducible end to end; drawn at random if None
            (and kept in ``study.seed``).
        storage: Where trials live: None (in memory, the default), a database URL
            (``"sqlite:///tuning.db"``, ``"postgresql+psycopg://user@host/db"``) or a
            :class:`~hbo.storage.Storage`. A study already stored under ``name`` is
            resumed; its space, task and direction must equal the given ones, and so must
            its seed when one is given (else :class:`~hbo.storage.StudyMismatchError`).
        name: The study's name in the database (required with a URL).
        n_initial: Number of Sobol points on a task before the model takes over.
            Default: 1 when other tasks already hold ``max(5, d + 1)`` observations
            (the model is usable from history), else ``max(5, d + 1)``.
        shared_function: Whether the surrogate includes the shared function ``g``
            (:class:`~hbo.models.HierarchicalGP`). None (default): when the model would
            include it, it is kept until the model without it predicts the target's own
            observations clearly better (leave-one-out, by ``LOO_MARGIN`` nats of
            :mod:`hbo.models.shared_choice`); ``pooling()`` says which was used.
        heartbeat_timeout: Seconds after which a running trial without a heartbeat
            (:meth:`heartbeat`, :meth:`keep_alive`, or its ``ask``) is presumed dead:
            ``ask`` then marks it failed. None (default): running trials wait forever.
        inference: ``"map"`` (default): the surrogate's hyperparameters at their MAP
            estimate. ``"nuts"``: fully Bayesian; NUTS draws of ``(m, tau, z)`` form an
            ensemble and Expected Improvement is averaged over them
            (:mod:`hbo.models.fully_bayesian`). The shared function ``g`` is chosen first
            as in MAP mode (leave-one-out at the MAP fits, which also start the chains);
            NUTS then samples the chosen model. :meth:`diagnostics` reports convergence.
        nuts: NUTS settings for ``inference="nuts"``: a dict with any of ``warmup``,
            ``draws``, ``chains``, ``thinning``, ``target_accept``, ``max_tree_depth``,
            ``progress``, or a :class:`~hbo.models.nuts.NUTSOptions`.
        hyperpriors: Replace the surrogate's default hyperprior of some groups: a dict
            of group (``"lengthscale"``, ``"outputscale"``, ``"noise"``,
            ``"shared_scale"``) -> :class:`~hbo.models.Hyperprior` (:mod:`hbo.models.priors`),
            e.g. ``{"shared_scale": Hyperprior(loc=0.0, scale=3.0, tau_scale=0.3)}`` (the
            default loc and scale) for a stronger pull of the tasks towards each other.
    """

    def __init__(
        self,
        space: SearchSpace,
        task: str = "default",
        direction: str = "minimize",
        seed: int | None = None,
        *,
        storage: Storage | str | None = None,
        name: str | None = None,
        n_initial: int | None = None,
        shared_function: bool | None = None,
        heartbeat_timeout: float | None = None,
        inference: str = "map",
        nuts: NUTSOptions | Mapping[str, Any] | None = None,
        hyperpriors: Mapping[str, Hyperprior] | None = None,
    ) -> None:
        if not isinstance(space, SearchSpace):
            raise ArgumentTypeError(f"space must be an hbo.SearchSpace, got {type(space).__name__}")
        if direction not in DIRECTIONS:
            raise InvalidArgumentError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
        if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
            raise ArgumentTypeError(f"seed must be an int or None, got {seed!r}")
        if seed is not None and not -(2**63) <= seed < 2**63:
            raise InvalidArgumentError(f"seed must fit in 64 bits (|seed| < 2**63), got {seed}")
        if n_initial is not None and (
            not isinstance(n_initial, int) or isinstance(n_initial, bool) or n_initial < 1
        ):
            raise InvalidArgumentError(f"n_initial must be a positive int, got {n_initial!r}")
        if heartbeat_timeout is not None and not (
            is_real(heartbeat_timeout)
            and heartbeat_timeout >= 0
            and math.isfinite(heartbeat_timeout)
        ):
            raise InvalidArgumentError(
                f"heartbeat_timeout must be a finite number of seconds >= 0, got "
                f"{heartbeat_timeout!r}"
            )
        if inference not in INFERENCE:
            raise InvalidArgumentError(f"inference must be one of {INFERENCE}, got {inference!r}")
        if nuts is not None and inference != "nuts":
            raise InvalidArgumentError('nuts options are used only with inference="nuts"')
        self.inference = inference
        self.nuts = NUTSOptions.from_value(nuts)
        self.hyperpriors = check_hyperpriors(hyperpriors)
        self.space = space
        self.task = _check_name(task, "task")
        self.direction = direction
        self.storage = open_storage(storage, None if name is None else _check_name(name, "name"))
        self.name = getattr(self.storage, "study_name", name)
        config = {
            "space": space_to_dict(space),
            "task": self.task,
            "direction": direction,
            "seed": secrets.randbits(31) if seed is None else seed,
        }
        stored = self.storage.create_study(config)
        self._check_stored(stored, config, seed_given=seed is not None)
        self.seed = stored["seed"]
        self.heartbeat_timeout = heartbeat_timeout
        self.n_initial = n_initial
        self.shared_function = shared_function
        self._model: HierarchicalGP | FullyBayesianHierarchicalGP | None = None
        self._model_key: tuple[int, ...] = ()
        self._fitted: dict[bool, HierarchicalGP] = {}  # warm starts, by shared_function
        self._shared_choice: SharedFunctionChoice | None = None

    def __repr__(self) -> str:
        n = len(self.storage.get_trials())
        return f"Study(task={self.task!r}, direction={self.direction!r}, trials={n})"

    @classmethod
    def load(cls, name: str, storage: Storage | str, **options: Any) -> Study:
        """Resume a stored study: its space, task, direction, seed and every trial.

        Args:
            name: The study's name.
            storage: A database URL or the :class:`~hbo.storage.Storage` holding it.
            options: ``n_initial``, ``shared_function``, ``heartbeat_timeout``,
                ``inference``, ``nuts``, ``hyperpriors`` (not stored).

        Raises:
            UnknownStudyError: no study of this name is stored there.
        """
        _check_name(name, "name")
        stored = sorted({"space", "task", "direction", "seed"} & set(options))
        if stored:
            raise InvalidArgumentError(
                f"Study.load: {stored} are read from the stored study and cannot be given; "
                "accepted options: n_initial, shared_function, heartbeat_timeout, inference, "
                "nuts, hyperpriors"
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
        direction, seed = config["direction"], config["seed"]
        return cls(space, config["task"], direction, seed, storage=store, **options)

    def _check_stored(self, stored: dict, config: dict, *, seed_given: bool) -> None:
        """Raise :class:`StudyMismatchError` naming each difference from the stored study."""
        notes = space_differences(space_from_dict(stored["space"]), self.space)
        notes += [
            f"{key}: stored {stored[key]!r}, given {config[key]!r}"
            for key in ("task", "direction", "seed")
            if stored[key] != config[key] and (key != "seed" or seed_given)
        ]
        if notes:
            raise StudyMismatchError(
                f"study {self.name!r} is stored with another definition: {'; '.join(notes)}. "
                "Open it with hbo.Study.load(name, storage) to use the stored one"
            )

    # ------------------------------------------------------------------ tasks
    @property
    def tasks(self) -> list[str]:
        """Every task the study knows: the target first, then in order of appearance."""
        names = [self.task] + [t.task for t in self.storage.get_trials()]
        return list(dict.fromkeys(names))

    def _check_task(self, task: str | None) -> str:
        task = self.task if task is None else _check_name(task, "task")
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
        values: Sequence[float] | None = None,
    ) -> list[Trial]:
        """Add completed evaluations of a (related) task, of any size.

        Args:
            task: Task name (a source task, or the target itself).
            params: Parameter dicts, or a DataFrame with one column per parameter
                plus ``value`` (then ``values`` must be None).
            values: Objective values, one per parameter dict.

        Returns:
            The stored trials. Nothing is stored if any row is invalid.
        """
        task = _check_name(task, "task")
        if isinstance(params, pd.DataFrame):
            if values is not None:
                raise InvalidArgumentError(
                    "add_history: with a DataFrame, give values in its 'value' column, "
                    "not as the values argument"
                )
            if "value" not in params.columns:
                raise InvalidDataError(
                    f"add_history: the DataFrame needs a 'value' column; it has {list(params)}"
                )
            values = params["value"].tolist()
            params = params.drop(columns="value").to_dict("records")
        if isinstance(params, Mapping) or not isinstance(params, Sequence):
            raise ArgumentTypeError(
                "add_history: params must be a list of dicts or a DataFrame, "
                f"got {type(params).__name__}"
            )
        if isinstance(values, np.ndarray | pd.Series | torch.Tensor) and values.ndim == 1:
            values = values.tolist()
        if values is None or isinstance(values, str) or not isinstance(values, Sequence):
            raise ArgumentTypeError(
                "add_history: values must be a list (or 1-D array) of numbers, got "
                f"{type(values).__name__}"
            )
        if len(params) != len(values):
            raise InvalidDataError(
                f"add_history: params has {len(params)} rows but values has {len(values)}"
            )
        if not params:
            raise InvalidDataError("add_history: params is empty; give at least one evaluation")
        rows = [self.space.validate(p, f"params[{i}]") for i, p in enumerate(params)]
        vals = [_as_real(v, f"values[{i}]") for i, v in enumerate(values)]
        bad = [i for i, v in enumerate(vals) if not math.isfinite(v)]
        if bad:
            raise InvalidDataError(
                f"add_history: values at rows {bad} are not finite; drop failed runs from history"
            )
        return self.storage.create_trials(task, rows, vals, origin=Origin.HISTORY)

    # ------------------------------------------------------------------ ask / tell
    def ask(self, n: int | None = None, *, task: str | None = None) -> Trial | list[Trial]:
        """Propose parameters to evaluate on ``task`` (default: the target).

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
        with self.storage.snapshot():  # the proposal's reads: one view, read once
            known = {t.id for t in self.storage.get_trials(task)}
            X = self._propose(task, 1 if n is None else n)
        trials = self._settle(task, self.storage.create_trials(task, self.space.decode(X)), known)
        return trials[0] if n is None else trials

    def tell(
        self, trial: Trial | int, value: float | None = None, *, failed: bool = False
    ) -> Trial:
        """Record the outcome of a trial: its value, or ``failed=True``.

        A NaN or infinite value records the trial as failed, with a warning, so that a
        long loop goes on. The value is stored in one transaction.
        """
        trial_id = _trial_id(trial)
        stored = self.storage.get_trial(trial_id)
        check_transition(stored, TrialState.FAILED)
        if failed:
            if value is not None:
                raise InvalidArgumentError("tell: give either a value or failed=True, not both")
            return self.storage.finish_trial(trial_id, TrialState.FAILED, None)
        if value is None:
            raise InvalidArgumentError("tell: give the trial's value, or failed=True")
        number = _as_real(value, "value")
        if not math.isfinite(number):
            warn(
                f"trial {trial_id}: objective value {number} is not finite; "
                "the trial is recorded as failed",
                FailedTrialWarning,
            )
            return self.storage.finish_trial(trial_id, TrialState.FAILED, None)
        return self.storage.finish_trial(trial_id, TrialState.COMPLETE, number)

    def heartbeat(self, trial: Trial | int) -> None:
        """Tell the storage that the worker evaluating ``trial`` is alive.

        Call it more often than ``heartbeat_timeout`` during long evaluations.
        """
        self.storage.heartbeat(_trial_id(trial))

    @contextmanager
    def keep_alive(self, trial: Trial | int, every: float) -> Iterator[None]:
        """Send heartbeats for ``trial`` every ``every`` seconds while the block runs.

        For evaluations longer than ``heartbeat_timeout``::

            with study.keep_alive(trial, every=60):
                value = train(trial.params)
        """
        trial_id = _trial_id(trial)
        if not (_as_real(every, "every") > 0 and math.isfinite(every)):
            raise InvalidArgumentError(f"every must be a positive number of seconds, got {every}")
        stop = threading.Event()

        def beat() -> None:
            while not stop.wait(every):
                self.storage.heartbeat(trial_id)

        thread = threading.Thread(target=beat, name=f"hbo-heartbeat-{trial_id}", daemon=True)
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
        if timeout is None or not (_as_real(timeout, "timeout") >= 0):
            raise InvalidArgumentError(
                f"timeout must be a number of seconds >= 0 (or set heartbeat_timeout), "
                f"got {timeout!r}"
            )
        return self.storage.fail_stale_trials(timeout)

    # ------------------------------------------------------------------ results
    @property
    def best(self) -> Trial:
        """The best completed trial on the target task."""
        done = self.storage.get_trials(self.task, [TrialState.COMPLETE])
        if not done:
            raise NotReadyError(
                f"no completed trial on task {self.task!r} yet: call study.tell(trial, value) "
                "after study.ask()"
            )
        pick = min if self.direction == "minimize" else max
        return pick(done, key=lambda t: t.value)

    def trials_dataframe(self) -> pd.DataFrame:
        """One row per trial, every task: id, task, origin, state, value, then parameters."""
        columns = ["trial_id", "task", "origin", "state", "value", *self.space.names]
        rows = [
            {
                "trial_id": t.id,
                "task": t.task,
                "origin": t.origin.value,
                "state": t.state.value,
                "value": t.value,
                **t.params,
            }
            for t in self.storage.get_trials()
        ]
        return pd.DataFrame(rows, columns=columns)

    def pooling(self) -> PoolingReport | PosteriorPoolingReport:
        """How much the tasks shared, from the surrogate fitted to all completed trials.

        With ``inference="nuts"``, a :class:`~hbo.models.posterior_pooling.PosteriorPoolingReport`
        of the posterior draws (medians and 90% intervals).
        """
        done = self.storage.get_trials(states=[TrialState.COMPLETE])
        if not done:
            raise NotReadyError(
                "pooling() needs completed trials: call study.add_history or study.tell first"
            )
        # before the target's first result, the report covers the tasks with data
        has_target = any(t.task == self.task for t in done)
        with manual_seed(self.seed):
            model = self._fit_model(self.task if has_target else done[0].task)
        if self.inference == "nuts":
            from hbo.models.posterior_pooling import PosteriorPoolingReport

            report = PosteriorPoolingReport.from_ensemble
        else:
            report = PoolingReport.from_model
        base = getattr(model, "model", model)
        tasks = [self.tasks[label] for label in base.task_labels]
        return report(
            model, tasks, self.space.feature_names(), target=self.task if has_target else None,
            shared_choice=self._shared_choice if has_target else None,
        )

    def diagnostics(self) -> ConvergenceReport:
        """Convergence of the last NUTS run (``inference="nuts"``): R-hat, ESS, divergences."""
        if self.inference != "nuts":
            raise InvalidArgumentError(
                'diagnostics() reports on NUTS; this study uses inference="map" (create it '
                'with hbo.Study(..., inference="nuts"))'
            )
        if self._model is None:
            raise NotReadyError(
                "no NUTS fit yet: call study.ask() once the model is in use, or "
                "study.pooling(), first"
            )
        return self._model.convergence

    # ------------------------------------------------------------------ internals
    def _n_initial(self, task: str) -> int:
        if self.n_initial is not None:
            return self.n_initial
        usable = max(5, self.space.dim + 1)
        done = self.storage.get_trials(states=[TrialState.COMPLETE])
        return 1 if sum(t.task != task for t in done) >= usable else usable

    def _propose(self, task: str, q: int, before: int | None = None) -> torch.Tensor:
        """``q`` points for ``task``: Sobol points until it has ``n_initial`` results, then
        the model's. ``before``: the ask's own first stored id when it proposes again; only
        trials stored before it are then pending or taken (see :meth:`_settle`)."""
        done = self.storage.get_trials(task, [TrialState.COMPLETE])
        stored = len(self._trials_before(None, before))
        call_seed = (self.seed * 1_000_003 + stored) % 2**31
        with manual_seed(call_seed):
            if len(done) < self._n_initial(task):
                return self._distinct(self._sobol(task, q, before), task, before)
            return self._suggest_or_sobol(task, q, call_seed, before)

    def _trials_before(
        self, task: str | None, before: int | None, states: list[TrialState] | None = None
    ) -> list[Trial]:
        """The stored trials (of ``task``, in ``states``) with ids below ``before`` (None: all)."""
        trials = self.storage.get_trials(task, states)
        return trials if before is None else [t for t in trials if t.id < before]

    def _settle(self, task: str, trials: list[Trial], known: set[int]) -> list[Trial]:
        """Propose again while other workers' asks were stored between this ask's reading
        (``known``: the task's trial ids then) and its storing.

        Both proposals came from the same trials, and with one seed they are one point. The
        ask with the lower ids keeps its points; the other proposes again from the trials
        stored before its own (the earlier asks pending, and counted in the Sobol sequence,
        so each ask's Sobol points follow from its ids) and replaces its points before
        handing them out. Later trials are left out: they do the same around this one.
        """
        first = trials[0].id
        for _ in range(SETTLE_ROUNDS):
            with self.storage.snapshot():  # reads only: set_params writes after it
                earlier = {t.id for t in self._trials_before(task, first)} - known
                if not earlier:
                    break
                known |= earlier
                X = self._propose(task, len(trials), before=first)
            trials = [self.storage.set_params(t.id, params)
                      for t, params in zip(trials, self.space.decode(X), strict=True)]
        return trials

    def _sobol(self, task: str, q: int, before: int | None = None) -> torch.Tensor:
        """The next ``q`` points of the task's own scrambled Sobol sequence, after its asked
        trials (stored before ``before``)."""
        asked = [t for t in self._trials_before(task, before) if t.origin is Origin.ASKED]
        task_seed = (self.seed + zlib.crc32(task.encode())) % 2**31
        return self.space.sobol(q, seed=task_seed, skip=len(asked))

    def _fit_model(self, task: str) -> HierarchicalGP | FullyBayesianHierarchicalGP:
        """Fit (or reuse) the surrogate on all completed trials, output on ``task``."""
        done = self.storage.get_trials(states=[TrialState.COMPLETE])
        key = (self.tasks.index(task), *(t.id for t in done))
        if self._model is not None and key == self._model_key:
            return self._model
        label = {name: i for i, name in enumerate(self.tasks)}
        X = self.space.encode([t.params for t in done])
        labels = torch.tensor([[float(label[t.task])] for t in done], dtype=torch.double)
        sign = -1.0 if self.direction == "minimize" else 1.0
        Y = torch.tensor([[sign * t.value] for t in done], dtype=torch.double)
        # each task centred, all in the target's standard units (the model standardizes
        # each task again, to the same result: task_standardization is equivariant): the
        # posterior the acquisition reads is then O(1) whatever the objective's size
        # (GPyTorch raises variances below 1e-10 to 1e-10, the whole variance of an
        # objective of size 1e-5)
        index = labels[:, 0].long()
        mean, std = task_standardization(Y, index, len(self.tasks))
        Y = (Y - mean[index, None]) / std[label[task]]

        def build(shared_function: bool | None) -> HierarchicalGP:
            return HierarchicalGP(
                torch.cat([X, labels], dim=-1),
                Y,
                task_feature=-1,
                output_tasks=[label[task]],
                categorical_dims=self.space.categorical_dims(),
                shared_function=shared_function,
                hyperpriors=self.hyperpriors,
            )

        model, self._shared_choice, self._fitted = fit_surrogate(
            build, label[task], self._fitted, self.shared_function
        )
        if self.inference == "nuts":  # chains start at the MAP fit of the chosen model
            from hbo.models.fully_bayesian import fit_fully_bayesian

            seed = int(torch.randint(2**31 - 1, ()))  # from the caller's seeded RNG
            model = fit_fully_bayesian(model, self.nuts, seed)
        self._model, self._model_key = model, key
        return model

    def _suggest_or_sobol(
        self, task: str, q: int, seed: int, before: int | None
    ) -> torch.Tensor:
        """The model's proposal; the task's Sobol points, with a warning, if no fit is found.

        A surrogate that cannot be fitted (every restart of the optimizer failed) should
        not end a long loop: as Ax's Sobol fallback does, the ask goes on without a model
        and the next ask tries again with one more observation.
        """
        try:
            return self._suggest(task, q, seed, before)
        except ModelFittingError as exc:
            warn(
                f"ask: the surrogate could not be fitted on {task!r} ({exc}); proposing "
                f"{q} quasi-random point(s) instead. The next ask refits. If this recurs, "
                "look for duplicated or extreme objective values, or set hyperpriors",
                ModelFittingWarning,
            )
            return self._distinct(self._sobol(task, q, before), task, before)

    def _suggest(self, task: str, q: int, seed: int, before: int | None) -> torch.Tensor:
        model = self._fit_model(task)
        encode = self.space.encode
        observed = encode([t.params for t in self.storage.get_trials(task, [TrialState.COMPLETE])])
        waiting = self._trials_before(task, before, [TrialState.RUNNING, TrialState.FAILED])
        pending = encode([t.params for t in waiting]) if waiting else None
        acqf = acquisition.build_acquisition(model, observed, pending, q, seed)
        X = acquisition.optimize(acqf, self.space, q)
        return self._distinct(X, task, before)

    def _distinct(self, X: torch.Tensor, task: str, before: int | None) -> torch.Tensor:
        """Replace proposals that repeat each other or a trial of ``task`` (any state,
        stored before ``before``) by fresh Sobol points.

        Only matters on discrete spaces; a repeated point would waste an evaluation
        (or re-run a failed one blindly).
        """
        taken = [t.params for t in self._trials_before(task, before)]
        seen = {tuple(row) for row in self.space.encode(taken).tolist()}
        spare = iter(map(tuple, self._sobol(task, 64 + len(X), before).tolist()))
        rows = []
        for row in map(tuple, X.tolist()):
            if row in seen:  # keep the repeat only if the space is exhausted
                row = next((s for s in spare if s not in seen), row)
            seen.add(row)
            rows.append(row)
        return torch.tensor(rows, dtype=torch.double)
