"""In-memory storage: the default, for one process.

A read is a lookup under a lock held for that read only, and always sees the current
state. Trials go in and come out as copies, as they would through a database: what a
caller does to a trial it was given changes nothing stored. User attributes are kept as
JSON decodes them, as the SQL storage keeps them.

Within :meth:`~hbo.storage.Storage.snapshot` (one proposal's reads), a trial unchanged
since this thread last read it in the block comes back as the same copy instead of a new
one: an ask reads the study's trials a dozen times, and with a history of thousands the
copying alone took about 0.4 s of a 0.9 s ask (50 tasks x 100 points). Reads still see
every write (a stored trial is replaced, never changed, on each write, so a changed trial
is a new object and is copied anew).
"""

from __future__ import annotations

import copy
import dataclasses
import json
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from hbo.errors import UnknownTrialError
from hbo.storage.base import (
    Storage,
    Told,
    added_trials,
    moment,
    new_trials,
    outcome_fields,
    select_trials,
)
from hbo.trial import Origin, Trial, TrialState, check_running, check_transition


def _copy(trial: Trial) -> Trial:
    attrs = copy.deepcopy(trial.user_attrs) if trial.user_attrs else {}
    values = None if trial.values is None else dict(trial.values)
    return dataclasses.replace(trial, params=dict(trial.params), user_attrs=attrs, values=values)


class InMemoryStorage(Storage):
    """Trials in a dict guarded by a lock (safe for threads of one process)."""

    #: Seconds since the epoch, for heartbeats and timeouts (replaceable in tests).
    clock = staticmethod(time.time)

    def __init__(self) -> None:
        self._config: dict[str, Any] | None = None
        self._trials: dict[int, Trial] = {}
        self._beats: dict[int, float] = {}
        self._lock = threading.Lock()
        # this thread's open snapshot: .copies, id -> (stored trial, its copy); None outside
        self._local = threading.local()

    def create_study(self, config: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            if self._config is None:
                self._config = copy.deepcopy(config)
            return copy.deepcopy(self._config)

    def study_config(self) -> dict[str, Any] | None:
        with self._lock:
            return copy.deepcopy(self._config)

    def create_trials(
        self,
        task: str,
        params_list: Sequence[dict[str, Any]],
        values: Sequence[Told] | None = None,
        origin: Origin = Origin.ASKED,
    ) -> list[Trial]:
        with self._lock:
            now = self.clock()
            return self._store(new_trials(len(self._trials), task, params_list, values,
                                          origin, now, self._config), now)

    def add_trials(self, trials: Sequence[Trial]) -> list[Trial]:
        with self._lock:
            now = self.clock()
            return self._store(added_trials(len(self._trials), trials, now, self._config), now)

    def _store(self, new: list[Trial], now: float) -> list[Trial]:
        self._trials.update((t.id, _copy(t)) for t in new)
        self._beats.update((t.id, now) for t in new)
        return new

    def claim_waiting(self, task: str, n: int) -> list[Trial]:
        with self._lock:
            now = self.clock()
            waiting = select_trials(self._trials.values(), task, [TrialState.WAITING])[:n]
            for trial in waiting:
                check_transition(trial, TrialState.RUNNING)
                self._trials[trial.id] = dataclasses.replace(
                    trial, state=TrialState.RUNNING, datetime_start=moment(now)
                )
                self._beats[trial.id] = now
            return [_copy(self._trials[t.id]) for t in waiting]

    def set_user_attr(self, trial_id: int, key: str, value: Any) -> Trial:
        with self._lock:
            trial = self._get(trial_id)
            attrs = {**trial.user_attrs, key: json.loads(json.dumps(value))}
            self._trials[trial_id] = dataclasses.replace(trial, user_attrs=attrs)
            return _copy(self._trials[trial_id])

    def finish_trial(self, trial_id: int, state: TrialState, value: Told | None) -> Trial:
        with self._lock:
            trial = self._get(trial_id)
            check_transition(trial, state)
            number, values = outcome_fields(self._config, value)
            finished = dataclasses.replace(
                trial, state=state, value=number, values=values,
                datetime_complete=moment(self.clock()),
            )
            self._trials[trial_id] = finished
            return _copy(finished)

    def set_params(self, trial_id: int, params: dict[str, Any]) -> Trial:
        with self._lock:
            trial = self._get(trial_id)
            check_running(trial)
            self._trials[trial_id] = dataclasses.replace(trial, params=dict(params))
            return _copy(self._trials[trial_id])

    def get_trial(self, trial_id: int) -> Trial:
        with self._lock:
            return _copy(self._get(trial_id))

    def get_trials(
        self, task: str | None = None, states: Iterable[TrialState] | None = None
    ) -> list[Trial]:
        with self._lock:
            selected = select_trials(self._trials.values(), task, states)
        copies = getattr(self._local, "copies", None)
        if copies is None:
            return [_copy(t) for t in selected]
        out = []
        for trial in selected:
            entry = copies.get(trial.id)
            if entry is None or entry[0] is not trial:
                entry = copies[trial.id] = (trial, _copy(trial))
            out.append(entry[1])
        return out

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Reads in the block see the current state, as outside it; an unchanged trial read
        again comes back as the same copy (module doc)."""
        local = self._local
        outermost = getattr(local, "copies", None) is None
        if outermost:
            local.copies = {}
        try:
            yield
        finally:
            if outermost:
                local.copies = None

    def heartbeat(self, trial_id: int) -> None:
        with self._lock:
            self._get(trial_id)
            self._beats[trial_id] = self.clock()

    def fail_stale_trials(self, timeout: float) -> list[Trial]:
        with self._lock:
            now = self.clock()
            stale = [
                t
                for t in self._trials.values()
                if t.state is TrialState.RUNNING and self._beats[t.id] < now - timeout
            ]
            failed = [dataclasses.replace(t, state=TrialState.FAILED,
                                          datetime_complete=moment(now)) for t in stale]
            self._trials.update((t.id, t) for t in failed)
            return [_copy(t) for t in failed]

    def _get(self, trial_id: int) -> Trial:
        try:
            return self._trials[trial_id]
        except KeyError:
            raise UnknownTrialError(
                f"trial id {trial_id!r} is not in this study (ids 0..{len(self._trials) - 1})"
            ) from None
