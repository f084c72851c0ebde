"""Rows of the SQL tables (:mod:`hbo.storage._schema`) to and from hbo's objects.

A trial row keeps its times as seconds since the epoch (``started_at``, ``finished_at``)
and its parameters, user attributes and outcomes (``outcome_values``) as JSON text; a
:class:`~hbo.trial.Trial` has UTC datetimes and dicts. A waiting trial's ``started_at``
holds when it was enqueued: its ``datetime_start`` is None until ``ask`` hands it out.
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

from hbo.storage.base import DEFAULT_OUTCOME, moment
from hbo.trial import Origin, Trial, TrialState


def config_of(row: sa.Row) -> dict[str, Any]:
    """The study definition (``Storage.study_config``) of an ``hbo_studies`` row."""
    return {
        "space": json.loads(row.space),
        "task": row.task,
        "direction": row.direction or None,  # None: several objectives
        "objectives": json.loads(row.objectives),
        "constraints": json.loads(row.outcome_constraints),
        "seed": row.seed,
    }


def study_row(config: dict[str, Any]) -> dict[str, Any]:
    """The definition's columns of an ``hbo_studies`` row (``config_of`` reads them back;
    a definition without ``objectives`` has the one objective ``value``)."""
    return {
        "space": json.dumps(config["space"]),
        "task": config["task"],
        "direction": config["direction"] or "",
        "objectives": json.dumps(
            config.get("objectives") or {DEFAULT_OUTCOME: config["direction"]}
        ),
        "outcome_constraints": json.dumps(config.get("constraints") or []),
        "seed": config["seed"],
    }


def trial_of(row: sa.Row) -> Trial:
    """The trial of an ``hbo_trials`` row."""
    state = TrialState(row.state)
    return Trial(
        id=row.number,
        task=row.task,
        params=json.loads(row.params),
        state=state,
        value=row.value,
        origin=Origin(row.origin),
        user_attrs=json.loads(row.user_attrs),
        datetime_start=None if state is TrialState.WAITING else moment(row.started_at),
        datetime_complete=moment(row.finished_at),
        values=None if row.outcome_values is None else json.loads(row.outcome_values),
    )


def row_of(trial: Trial, study_id: int, now: float) -> dict[str, Any]:
    """The ``hbo_trials`` row of ``trial`` in study ``study_id``, stored at ``now`` (its
    heartbeat, and its start while it waits)."""
    start, complete = trial.datetime_start, trial.datetime_complete
    return {
        "study_id": study_id,
        "number": trial.id,
        "task": trial.task,
        "params": json.dumps(trial.params),
        "state": trial.state.value,
        "value": trial.value,
        "origin": trial.origin.value,
        "user_attrs": json.dumps(trial.user_attrs),
        "outcome_values": None if trial.values is None else json.dumps(trial.values),
        "started_at": now if start is None else start.timestamp(),
        "heartbeat_at": now,
        "finished_at": None if complete is None else complete.timestamp(),
    }
