"""What :class:`~hbo.integrations.optuna.HBOSampler` reads from an Optuna study.

* :func:`to_parameter`: an Optuna distribution as an hbo parameter (``FloatDistribution``
  -> :class:`~hbo.space.Float`, ``IntDistribution`` -> :class:`~hbo.space.Int`, both with
  ``log``; ``CategoricalDistribution`` -> :class:`~hbo.space.Categorical`), or
  :class:`UnsupportedDistributionError` saying why not (a ``step`` grid, choices hbo
  cannot tell apart).
* :func:`rows_before`: the study's trials numbered below the one being sampled, on an
  hbo space, in order, as ``(number, params, state, value)`` rows; the sampler replays
  them into an in-memory :class:`hbo.Study` as the asked trials of the target task.
* :func:`publish` / :func:`published`: the point proposed for a trial, kept in the trial's
  system attributes, so that other workers (threads, or processes on one RDB storage)
  see it as pending before the objective has suggested the parameters (Optuna samples
  relative parameters lazily, and stores a parameter only when it is suggested).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.study import Study as OptunaStudy
from optuna.trial import FrozenTrial
from optuna.trial import TrialState as OptunaState

from hbo.errors import HBOError, InvalidSpaceError
from hbo.space import Categorical, Float, Int, Parameter, SearchSpace
from hbo.trial import TrialState

SUPPORTED = (
    "FloatDistribution and IntDistribution (linear or log, without step; an int step of 1) "
    "and CategoricalDistribution"
)

#: Prefix of the system attributes that hold a trial's proposed point, one per parameter.
PUBLISHED_KEY = "hbo:proposed:"


class UnsupportedDistributionError(InvalidSpaceError):
    """An Optuna distribution hbo's search space cannot represent (e.g. a step grid)."""


def to_parameter(name: str, distribution: BaseDistribution) -> Parameter:
    """The hbo parameter of an Optuna distribution.

    Raises:
        UnsupportedDistributionError: naming the parameter, the reason and what is
            supported (:data:`SUPPORTED`).
    """
    try:
        if isinstance(distribution, FloatDistribution):
            if distribution.step is None:
                return Float(name, distribution.low, distribution.high, log=distribution.log)
            reason = f"a float with step={distribution.step} (a grid)"
        elif isinstance(distribution, IntDistribution):
            if distribution.step == 1:
                return Int(name, distribution.low, distribution.high, log=distribution.log)
            reason = f"an int with step={distribution.step}"
        elif isinstance(distribution, CategoricalDistribution):
            return Categorical(name, distribution.choices)
        else:
            reason = f"a {type(distribution).__name__}"
    except InvalidSpaceError as exc:  # e.g. choices hbo cannot tell apart (1 and 1.0)
        reason = f"{distribution}, which hbo's space refuses ({exc})"
    raise UnsupportedDistributionError(
        f"parameter {name!r} is {reason}; hbo models {SUPPORTED}"
    )


@dataclass(frozen=True)
class Row:
    """One Optuna trial on an hbo space: its number, point, hbo state and value.

    ``params`` is None for a running trial still to be proposed (its point not known
    yet): the replay asks for it, as hbo would have, and ``fixed`` holds its enqueued
    parameters (valid ones of the space), which will win over the proposal. ``enqueued``:
    every parameter of the space was enqueued (``study.enqueue_trial``), so none was
    proposed: an hbo trial of origin ``ENQUEUED``, as :meth:`hbo.Study.enqueue` stores,
    which the task's Sobol sequence does not count.
    """

    number: int
    params: dict[str, Any] | None
    state: TrialState
    value: float | None
    fixed: dict[str, Any] = field(default_factory=dict)
    enqueued: bool = False


def rows_before(
    trials: Iterable[FrozenTrial], space: SearchSpace, current: float
) -> tuple[list[Row], int]:
    """The trials numbered below ``current`` as hbo trials of the target task, in order.

    * ``COMPLETE`` with a finite value: complete, with that value (an infinite value
      is a failed trial, as :meth:`hbo.Study.tell` records it);
    * ``FAIL`` and ``PRUNED``: failed (no value; the model proposes around them and the
      task's Sobol sequence counts them, so a failing point is not proposed again);
    * ``RUNNING``: running, a pending point of the acquisition; or, when its point is
      not known yet, a row without ``params`` (being proposed).

    A finished trial counts with the parameters it suggested; a running one with its
    suggested parameters over its enqueued ``fixed_params`` over the point proposed for it
    (:func:`published`). Left out: ``WAITING`` trials (enqueued, not started: hbo's
    proposals leave waiting trials out too), and finished trials without a valid value
    for every parameter of ``space``.

    Returns:
        The rows, and how many ``COMPLETE`` trials were left out for lacking a parameter
        (or holding a value outside the space).
    """
    rows, incomplete = [], 0
    for trial in sorted(trials, key=lambda t: t.number):
        if trial.number >= current or trial.state is OptunaState.WAITING:
            continue
        running = trial.state is OptunaState.RUNNING
        fixed = _valid(space, trial.system_attrs.get("fixed_params", {}))
        if trial.state is OptunaState.COMPLETE:
            params = dict(trial.params)
            value = trial.value
            finite = value is not None and math.isfinite(value)
            state = TrialState.COMPLETE if finite else TrialState.FAILED
            value = float(value) if finite else None
        else:
            params = {**published(trial), **fixed, **trial.params}
            state, value = (TrialState.RUNNING if running else TrialState.FAILED), None
        try:
            valid = space.validate({n: params[n] for n in space.names if n in params})
        except HBOError:
            if running:
                rows.append(Row(trial.number, None, TrialState.RUNNING, None, fixed))
            else:
                incomplete += trial.state is OptunaState.COMPLETE
            continue
        rows.append(Row(trial.number, valid, state, value, enqueued=len(fixed) == len(space)))
    return rows, incomplete


def _valid(space: SearchSpace, params: Mapping[str, Any]) -> dict[str, Any]:
    """The entries of ``params`` that are valid values of parameters of ``space``."""
    valid = {}
    for p in space.params:
        if p.name in params:
            try:
                valid[p.name] = p.validate(params[p.name])
            except HBOError:
                continue
    return valid


def has_constraints(trials: Iterable[FrozenTrial]) -> bool:
    """Whether any trial holds constraint values (``trial.set_constraint`` or an Optuna
    sampler's ``constraints_func``; both are system attributes ``constraints...``)."""
    return any(key == "constraints" or key.startswith("constraints:")
               for t in trials for key in t.system_attrs)


def publish(study: OptunaStudy, trial: FrozenTrial, params: Mapping[str, Any]) -> None:
    """Keep the point proposed for ``trial`` in its system attributes, one per parameter.

    One attribute per parameter keeps each value short (an RDB storage holds at most
    2,048 characters per value); a reader that comes between two writes sees a partial
    point, which :func:`rows_before` takes for a trial not yet proposed.
    Optuna's sampler interface has no public write to a trial; its own samplers (GPSampler)
    write through ``study._storage`` as here.
    """
    for name, value in params.items():
        study._storage.set_trial_system_attr(trial._trial_id, f"{PUBLISHED_KEY}{name}", value)


def published(trial: FrozenTrial) -> dict[str, Any]:
    """The point :func:`publish` kept for ``trial`` (empty if none)."""
    start = len(PUBLISHED_KEY)
    return {key[start:]: value for key, value in trial.system_attrs.items()
            if key.startswith(PUBLISHED_KEY)}
