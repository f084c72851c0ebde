"""The storage interface: everything ``Study`` keeps, behind a few calls.

``Study`` holds no state of its own; a storage that implements this interface (in
memory, or SQL in :mod:`hbo.storage.sql`) slots in without touching its logic.
Implementations apply :func:`hbo.trial.check_transition` on every finish.

A storage holds one study: its definition (``create_study`` / ``study_config``, a
JSON-ready dict ``{"space": ..., "task": ..., "direction": ..., "objectives": ...,
"constraints": ..., "seed": ...}``) and its trials, numbered ``0, 1, 2, ...`` in the
order they were created. Each trial carries the time it was last known alive (its
heartbeat); ``fail_stale_trials`` marks running trials whose worker stopped beating as
failed. Trials come back as copies: a caller may keep or change what it was given without
changing what is stored (inside a :meth:`Storage.snapshot` a storage may hand out its
view's own trials, for reading).

A complete trial keeps every outcome (``Trial.values``, name -> number) and, when the study
has one objective, that objective's value (``Trial.value``). A storage is told either the
outcomes (a mapping) or, in a study with one objective, the number (see
:func:`outcome_fields`); it keeps both, so a trial is never stored half told.

Enqueued trials (:meth:`hbo.Study.enqueue`) are stored ``WAITING`` (origin ``ENQUEUED``)
with :meth:`Storage.add_trials`; :meth:`Storage.claim_waiting` hands each out exactly once,
even to many workers at once, by moving it to ``RUNNING`` in one transaction.

Reads may be grouped in a :meth:`Storage.snapshot`: one consistent view of the study
for a whole proposal, read once (see :mod:`hbo.storage.sql` for why that matters when
many workers share a database).
"""

from __future__ import annotations

import abc
import copy
import dataclasses
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from hbo.errors import InvalidArgumentError
from hbo.trial import Origin, Trial, TrialState

#: A trial's result as a storage is told it: every outcome, or one objective's number.
Told = float | Mapping[str, float]
#: The objective of a study defined before outcomes had names (``direction=`` only).
DEFAULT_OUTCOME = "value"


def objective_names(config: Mapping[str, Any] | None) -> list[str]:
    """The objectives of a stored study definition, in order (a definition without
    ``objectives``, as stored before version 3 of the SQL schema: ``["value"]``)."""
    return list((config or {}).get("objectives") or [DEFAULT_OUTCOME])


def outcome_fields(
    config: Mapping[str, Any] | None, told: Told | None
) -> tuple[float | None, dict[str, float] | None]:
    """``(value, values)`` a storage keeps for a trial told ``told`` in the study ``config``.

    A mapping is every outcome; ``value`` is then the objective's when the study has one
    objective, else None. A number is the value of a study's only objective. None: nothing
    (a running or failed trial).
    """
    if told is None:
        return None, None
    objectives = objective_names(config)
    if isinstance(told, Mapping):
        values = {str(name): float(v) for name, v in told.items()}
        return (values.get(objectives[0]) if len(objectives) == 1 else None), values
    if len(objectives) != 1:
        raise InvalidArgumentError(
            f"a trial of a study with the objectives {objectives} is told a dict of its "
            f"outcomes, got the number {told!r}"
        )
    return float(told), {objectives[0]: float(told)}


def moment(seconds: float | None) -> datetime | None:
    """Seconds since the epoch (how storages keep times) as a UTC datetime; None stays None."""
    return None if seconds is None else datetime.fromtimestamp(seconds, UTC)


def new_trials(
    start: int,
    task: str,
    params_list: Sequence[dict[str, Any]],
    values: Sequence[Told] | None,
    origin: Origin,
    now: float,
    config: Mapping[str, Any] | None,
) -> list[Trial]:
    """Trials with ids ``start, start + 1, ...`` started at ``now`` (seconds): ``COMPLETE``
    (also at ``now``) with ``values`` (each as :func:`outcome_fields` reads it in the study
    ``config``), else ``RUNNING``."""
    state = TrialState.RUNNING if values is None else TrialState.COMPLETE
    told = [outcome_fields(config, None if values is None else values[i])
            for i in range(len(params_list))]
    return [
        Trial(
            id=start + i,
            task=task,
            params=dict(params),
            state=state,
            value=value,
            origin=origin,
            datetime_start=moment(now),
            datetime_complete=None if values is None else moment(now),
            values=outcomes,
        )
        for i, (params, (value, outcomes)) in enumerate(zip(params_list, told, strict=True))
    ]


def added_trials(
    start: int, trials: Sequence[Trial], now: float, config: Mapping[str, Any] | None
) -> list[Trial]:
    """Copies of ``trials`` with ids ``start, start + 1, ...`` for :meth:`Storage.add_trials`:
    a missing start time is ``now`` (none while waiting), a finished trial's missing end
    time too, and a complete trial's missing ``values`` its objective's ``value`` (in the
    study ``config``)."""
    return [
        dataclasses.replace(
            t,
            id=start + i,
            params=dict(t.params),
            user_attrs=copy.deepcopy(t.user_attrs),
            values=dict(t.values) if t.values is not None
            else outcome_fields(config, t.value)[1],
            datetime_start=None if t.state is TrialState.WAITING
            else t.datetime_start or moment(now),
            datetime_complete=(t.datetime_complete or moment(now)) if t.state.finished else None,
        )
        for i, t in enumerate(trials)
    ]


def select_trials(
    trials: Iterable[Trial], task: str | None, states: Iterable[TrialState] | None
) -> list[Trial]:
    """The ``trials`` of ``task`` (None: any) in ``states`` (None: any), in the given order."""
    wanted = None if states is None else set(states)
    return [
        t
        for t in trials
        if (task is None or t.task == task) and (wanted is None or t.state in wanted)
    ]


class Storage(abc.ABC):
    """Where one study (its definition and its trials) lives."""

    @abc.abstractmethod
    def create_study(self, config: dict[str, Any]) -> dict[str, Any]:
        """Store the study's definition unless one is stored already; return the stored one.

        Atomic: when several workers open the same study at once, exactly one definition
        wins and every worker gets it back (and compares it with its own).
        """

    @abc.abstractmethod
    def study_config(self) -> dict[str, Any] | None:
        """The stored definition, or None if the study was never created."""

    @abc.abstractmethod
    def create_trials(
        self,
        task: str,
        params_list: Sequence[dict[str, Any]],
        values: Sequence[Told] | None = None,
        origin: Origin = Origin.ASKED,
    ) -> list[Trial]:
        """Store new trials atomically (all or none) and return them with fresh ids.

        With ``values`` (each a number or outcome -> number, :func:`outcome_fields`) the
        trials are stored ``COMPLETE`` with those values, else ``RUNNING``
        (with a heartbeat of now). No id is ever handed out twice, even across processes.
        """

    @abc.abstractmethod
    def add_trials(self, trials: Sequence[Trial]) -> list[Trial]:
        """Store copies of ``trials`` atomically, with fresh ids in order; return them.

        Everything else is kept as given: task, params, state (``WAITING`` too), value,
        origin, user attributes and times (a missing start time is now, except while
        waiting; a finished trial's missing end time too). For
        :meth:`hbo.Study.enqueue` and :mod:`hbo.study.io`, which validate the trials first.
        """

    @abc.abstractmethod
    def claim_waiting(self, task: str, n: int) -> list[Trial]:
        """Hand out up to ``n`` waiting trials of ``task``, oldest (lowest id) first.

        In one transaction they move to ``RUNNING``, started (and heartbeat) now, so a
        waiting trial is handed out exactly once however many workers claim at once.
        Returns the claimed trials (none if none wait).
        """

    @abc.abstractmethod
    def set_user_attr(self, trial_id: int, key: str, value: Any) -> Trial:
        """Set one user attribute (a JSON value) of a trial in any state; return the trial.

        The value is stored as JSON and read back as JSON decodes it (a tuple comes back
        as a list).

        Raises:
            UnknownTrialError: no trial has this id.
        """

    @abc.abstractmethod
    def finish_trial(self, trial_id: int, state: TrialState, value: Told | None) -> Trial:
        """Move a running trial to ``COMPLETE`` (with ``value``: a number or every outcome,
        :func:`outcome_fields`) or ``FAILED``; return it.

        One transaction: the trial is either finished with its value and outcomes or still
        running.

        Raises:
            UnknownTrialError: no trial has this id.
            TrialStateError: the trial is already finished.
        """

    @abc.abstractmethod
    def set_params(self, trial_id: int, params: dict[str, Any]) -> Trial:
        """Replace the parameters of a running trial; return it.

        For :meth:`hbo.Study.ask` only, before it hands the trial out: a worker that finds
        another's ask stored between its reading and its storing proposes again.

        Raises:
            UnknownTrialError: no trial has this id.
            TrialStateError: the trial is finished.
        """

    @abc.abstractmethod
    def get_trial(self, trial_id: int) -> Trial:
        """The trial with this id, or :class:`~hbo.errors.UnknownTrialError`."""

    @abc.abstractmethod
    def get_trials(
        self, task: str | None = None, states: Iterable[TrialState] | None = None
    ) -> list[Trial]:
        """Trials in id order, optionally only of one task and/or some states."""

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Within the block, this thread's reads see one consistent view of the study.

        For a computation that reads many times and must see one state, like
        :meth:`hbo.Study.ask`'s proposal: a storage may answer every read in the block
        (``study_config``, ``get_trial``, ``get_trials``) from one read of the study, so
        trials stored meanwhile by other workers are not seen until the block ends.
        Nested blocks share the outermost one's view; other threads are not affected.

        Do not write in the block: the view would not show the write, so a storage may
        raise :class:`~hbo.storage.SnapshotWriteError` (:class:`~hbo.storage.sql.SQLStorage`
        does). This default is a no-op (every read reads the current state), right for
        storages whose reads are cheap and lock nothing, such as the in-memory one.
        """
        yield

    @abc.abstractmethod
    def heartbeat(self, trial_id: int) -> None:
        """Record that the worker of this running trial is alive (now)."""

    @abc.abstractmethod
    def fail_stale_trials(self, timeout: float) -> list[Trial]:
        """Mark ``FAILED`` every running trial without a heartbeat for ``timeout`` seconds.

        Returns the trials so failed (their worker is presumed dead; telling them later
        raises :class:`~hbo.errors.TrialStateError`).
        """
