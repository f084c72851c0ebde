"""The storage interface: everything ``Study`` keeps, behind a few calls.

``Study`` holds no state of its own; a storage that implements this interface (in
memory, or SQL in :mod:`hbo.storage.sql`) slots in without touching its logic.
Implementations apply :func:`hbo.trial.check_transition` on every finish.

A storage holds one study: its definition (``create_study`` / ``study_config``, a
JSON-ready dict ``{"space": ..., "task": ..., "direction": ..., "seed": ...}``) and
its trials, numbered ``0, 1, 2, ...`` in the order they were created. Each trial
carries the time it was last known alive (its heartbeat); ``fail_stale_trials`` marks
running trials whose worker stopped beating as failed.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Sequence
from typing import Any

from hbo.trial import Origin, Trial, TrialState


def new_trials(
    start: int,
    task: str,
    params_list: Sequence[dict[str, Any]],
    values: Sequence[float] | None,
    origin: Origin,
) -> list[Trial]:
    """Trials with ids ``start, start + 1, ...``: ``COMPLETE`` with ``values``, else ``RUNNING``."""
    state = TrialState.RUNNING if values is None else TrialState.COMPLETE
    return [
        Trial(
            id=start + i,
            task=task,
            params=dict(params),
            state=state,
            value=None if values is None else float(values[i]),
            origin=origin,
        )
        for i, params in enumerate(params_list)
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
        values: Sequence[float] | None = None,
        origin: Origin = Origin.ASKED,
    ) -> list[Trial]:
        """Store new trials atomically (all or none) and return them with fresh ids.

        With ``values`` the trials are stored ``COMPLETE`` with those values, else ``RUNNING``
        (with a heartbeat of now). No id is ever handed out twice, even across processes.
        """

    @abc.abstractmethod
    def finish_trial(self, trial_id: int, state: TrialState, value: float | None) -> Trial:
        """Move a running trial to ``COMPLETE`` (with ``value``) or ``FAILED``; return it.

        One transaction: the trial is either finished with its value or still running.

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

    @abc.abstractmethod
    def heartbeat(self, trial_id: int) -> None:
        """Record that the worker of this running trial is alive (now)."""

    @abc.abstractmethod
    def fail_stale_trials(self, timeout: float) -> list[Trial]:
        """Mark ``FAILED`` every running trial without a heartbeat for ``timeout`` seconds.

        Returns the trials so failed (their worker is presumed dead; telling them later
        raises :class:`~hbo.errors.TrialStateError`).
        """
