"""The storage interface: everything ``Study`` keeps, behind four calls.

``Study`` holds no trial state of its own; a storage that implements this
interface (in memory here, SQL later) slots in without touching its logic.
Implementations apply :func:`hbo.trial.check_transition` on every finish.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Sequence
from typing import Any

from hbo.trial import Origin, Trial, TrialState


class Storage(abc.ABC):
    """Where the trials of one study live."""

    @abc.abstractmethod
    def create_trials(
        self,
        task: str,
        params_list: Sequence[dict[str, Any]],
        values: Sequence[float] | None = None,
        origin: Origin = Origin.ASKED,
    ) -> list[Trial]:
        """Store new trials atomically (all or none) and return them with fresh ids.

        With ``values`` the trials are stored ``COMPLETE`` with those values, else ``RUNNING``.
        """

    @abc.abstractmethod
    def finish_trial(self, trial_id: int, state: TrialState, value: float | None) -> Trial:
        """Move a running trial to ``COMPLETE`` (with ``value``) or ``FAILED``; return it.

        Raises:
            UnknownTrialError: no trial has this id.
            TrialStateError: the trial is already finished.
        """

    @abc.abstractmethod
    def get_trial(self, trial_id: int) -> Trial:
        """The trial with this id, or :class:`~hbo.errors.UnknownTrialError`."""

    @abc.abstractmethod
    def get_trials(
        self, task: str | None = None, states: Iterable[TrialState] | None = None
    ) -> list[Trial]:
        """Trials in id order, optionally only of one task and/or some states."""
