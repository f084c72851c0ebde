"""Trials and their state machine: WAITING -> RUNNING -> COMPLETE | FAILED, nothing else.

The transition check is a pure function so that every storage applies the same
rule (as Optuna's ``_tell`` does): a finished trial is never told twice, and a waiting
(enqueued) trial is told only after ``ask`` has handed it out.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from hbo.errors import TrialStateError


class TrialState(enum.Enum):
    """Life cycle of a trial. ``WAITING``: enqueued (:meth:`hbo.Study.enqueue`), not yet
    handed out by ``ask``."""

    RUNNING = "running"
    COMPLETE = "complete"
    FAILED = "failed"
    WAITING = "waiting"

    @property
    def finished(self) -> bool:
        return self in (TrialState.COMPLETE, TrialState.FAILED)


class Origin(enum.Enum):
    """Where a trial came from: proposed by ``ask``, handed in with ``add_history``, or
    given by the user with ``enqueue`` (and then handed out by ``ask``)."""

    ASKED = "asked"
    HISTORY = "history"
    ENQUEUED = "enqueued"


@dataclass(frozen=True)
class Trial:
    """One evaluation of the objective on one task, as the storage held it when read.

    Attributes:
        id: Study-wide unique integer id.
        task: Name of the task the parameters are (to be) evaluated on.
        params: Parameter name -> value.
        state: ``WAITING`` (enqueued), ``RUNNING`` until told, then ``COMPLETE`` or
            ``FAILED``.
        value: The objective value (``None`` unless ``COMPLETE``; ``None`` too in a
            study with several objectives: see ``values``).
        origin: ``ASKED``, ``HISTORY`` or ``ENQUEUED``.
        user_attrs: Key -> JSON value, set with :meth:`hbo.Study.set_user_attr` (a
            copy: changing it changes nothing stored).
        datetime_start: When the trial started running (UTC, timezone-aware); None
            while it waits. A history trial starts and completes when it is added.
        datetime_complete: When it finished (UTC); None until then.
        values: Every outcome of a complete trial, name -> value
            (:mod:`hbo.study.outcomes`): ``{"value": v}`` in a study made with
            ``direction=``; a history trial may lack some of a study's outcomes. None
            unless ``COMPLETE``.

    Updates. The fields cannot be assigned; a trial changes through its study, and
    :meth:`hbo.Study.tell` and :meth:`hbo.Study.set_user_attr` update the very object
    passed to them (and return it), so after ``study.tell(trial, 1.0)`` ``trial.value``
    is 1.0, as a demanding Optuna user expects. Every other copy (a list read earlier,
    the same trial in another worker) keeps what it read: read the study again for the
    current state. Equality compares every field; the hash uses only ``id`` and ``task``,
    which never change, so a trial stays findable in a set or dict as it is updated.
    """

    id: int
    task: str
    params: dict[str, Any]
    state: TrialState = TrialState.RUNNING
    value: float | None = None
    origin: Origin = Origin.ASKED
    user_attrs: dict[str, Any] = field(default_factory=dict)
    datetime_start: datetime | None = None
    datetime_complete: datetime | None = None
    values: dict[str, float] | None = None

    def __hash__(self) -> int:
        return hash((self.id, self.task))

    @property
    def duration(self) -> timedelta | None:
        """``datetime_complete - datetime_start``; None until the trial finishes."""
        if self.datetime_start is None or self.datetime_complete is None:
            return None
        return self.datetime_complete - self.datetime_start

    def _refresh(self, stored: Trial) -> Trial:
        """Take every field of ``stored`` (this trial read again, later); return self.

        For the study's calls that change a trial (``tell``, ``set_user_attr``) only.
        """
        if (stored.id, stored.task) != (self.id, self.task):
            raise ValueError(f"trial {self.id} ({self.task!r}) cannot take the fields of "
                             f"trial {stored.id} ({stored.task!r})")
        for item in dataclasses.fields(self):
            object.__setattr__(self, item.name, getattr(stored, item.name))
        return self


def check_transition(trial: Trial, new_state: TrialState) -> None:
    """Raise :class:`TrialStateError` unless ``trial`` may move to ``new_state``."""
    if trial.state.finished:
        raise TrialStateError(
            f"trial {trial.id} is already {trial.state.value}; a trial is told exactly once"
        )
    if trial.state is TrialState.WAITING:
        if new_state is not TrialState.RUNNING:
            raise TrialStateError(
                f"trial {trial.id} is waiting (enqueued, not yet handed out): ask() hands it "
                "out as running first, then it can be told"
            )
    elif not new_state.finished:
        raise TrialStateError(f"trial {trial.id}: a trial can only be told COMPLETE or FAILED")


def check_running(trial: Trial) -> None:
    """Raise :class:`TrialStateError` unless ``trial`` is running (its parameters may change)."""
    if trial.state is not TrialState.RUNNING:
        raise TrialStateError(
            f"trial {trial.id} is {trial.state.value}; only a running trial's parameters "
            "can be replaced"
        )
