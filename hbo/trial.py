"""Trials and their state machine: RUNNING -> COMPLETE | FAILED, nothing else.

The transition check is a pure function so that every storage applies the same
rule (as Optuna's ``_tell`` does): a finished trial is never told twice.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from hbo.errors import TrialStateError


class TrialState(enum.Enum):
    """Life cycle of a trial."""

    RUNNING = "running"
    COMPLETE = "complete"
    FAILED = "failed"

    @property
    def finished(self) -> bool:
        return self is not TrialState.RUNNING


class Origin(enum.Enum):
    """Where a trial came from: proposed by ``ask`` or handed in with ``add_history``."""

    ASKED = "asked"
    HISTORY = "history"


@dataclass(frozen=True)
class Trial:
    """One evaluation of the objective on one task.

    Attributes:
        id: Study-wide unique integer id.
        task: Name of the task the parameters are (to be) evaluated on.
        params: Parameter name -> value.
        state: ``RUNNING`` until told, then ``COMPLETE`` or ``FAILED``.
        value: The objective value (``None`` unless ``COMPLETE``).
        origin: ``ASKED`` or ``HISTORY``.
    """

    id: int
    task: str
    params: dict[str, Any] = field(hash=False)
    state: TrialState = TrialState.RUNNING
    value: float | None = None
    origin: Origin = Origin.ASKED


def check_transition(trial: Trial, new_state: TrialState) -> None:
    """Raise :class:`TrialStateError` unless ``trial`` may move to ``new_state``."""
    if trial.state.finished:
        raise TrialStateError(
            f"trial {trial.id} is already {trial.state.value}; a trial is told exactly once"
        )
    if not new_state.finished:
        raise TrialStateError(f"trial {trial.id}: a trial can only be told COMPLETE or FAILED")


def check_running(trial: Trial) -> None:
    """Raise :class:`TrialStateError` unless ``trial`` is running (its parameters may change)."""
    if trial.state is not TrialState.RUNNING:
        raise TrialStateError(
            f"trial {trial.id} is {trial.state.value}; only a running trial's parameters "
            "can be replaced"
        )
