"""History from where it already lives: past Optuna, hbo and Ax studies as related tasks.

A person's history of related tasks usually *is* a set of finished studies. This module
reads one of them (:func:`read_history`) into :class:`HistoryTable` rows ready for
:meth:`hbo.Study.add_history`, and :func:`store_history` stores the tables of one source
all or nothing (:meth:`hbo.Study.import_history` is the two in one call).

Sources, each read by name (``type(source).__module__``) so that Optuna and Ax are
imported only when the source is theirs:

* an ``optuna.Study`` (single objective): its COMPLETE trials, task = its
  ``study_name``;
* an Optuna ``trials_dataframe()`` (columns ``params_<name>``, ``value``, ``state``),
  e.g. read back from a CSV; the task must be given, the direction is the target's
  unless ``source_direction`` says otherwise;
* an :class:`hbo.Study` (or its :class:`~hbo.storage.Storage`): every task in it is a
  table;
* ``(name, storage)``: a study stored in a database, hbo's or Optuna's
  (:mod:`hbo.study.history_stored` tells which);
* an Ax ``Experiment`` or ``Client`` (single objective): completed trials' arm
  parameters and the objective metric's mean, task = the experiment's name.

Rows map to the target space by parameter name. A source parameter that the space lacks
is left out (listed in :attr:`HistoryTable.dropped`); a trial that cannot be a row is
counted in :attr:`HistoryTable.skipped` with its reason: not complete, no finite value,
a space parameter missing (a conditional parameter not sampled), or a value outside the
space's bounds or choices. Values are negated when the source optimized in the other
direction, so every table is in the target study's direction.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from hbo._numbers import is_real, python_scalar
from hbo._warnings import HistoryImportWarning, warn
from hbo.errors import (
    ArgumentTypeError,
    InvalidArgumentError,
    InvalidDataError,
    ParamTypeError,
    ParamValueError,
)
from hbo.space import SearchSpace, space_from_dict
from hbo.storage import Storage
from hbo.storage.base import objective_names
from hbo.study.arguments import DIRECTIONS, check_name
from hbo.trial import Origin, Trial, TrialState

#: What :func:`read_history` accepts, for its error on anything else.
ACCEPTED = (
    "an optuna.Study, an Optuna trials_dataframe() DataFrame (with task=), an hbo.Study "
    "or its hbo Storage, (name, storage) of a study stored by hbo or Optuna (storage a "
    "database URL or an hbo Storage), or an Ax Experiment or Client"
)

#: One trial of a source: its parameters, its value, whether it completed.
Record = tuple[Mapping[str, Any], Any, bool]


@dataclass(frozen=True)
class HistoryTable:
    """One related task's completed evaluations, read from somewhere, ready for add_history.

    Attributes:
        task: The task name.
        params: One dict per usable trial, validated against the target space
            (``space.validate``: every space parameter, nothing else).
        values: One number per dict, in the *target* study's direction (negated if the
            source optimized the other way).
        dropped: Source parameters the target space lacks (left out of ``params``).
        skipped: Source trials that are not rows: not complete, no finite value, a space
            parameter missing, or a value outside the space's bounds or choices.
        skipped_because: ``(reason, count)`` pairs summing to ``skipped``.
    """

    task: str
    params: list[dict[str, Any]]
    values: list[float]
    dropped: tuple[str, ...]
    skipped: int
    skipped_because: tuple[tuple[str, int], ...] = ()

    def __str__(self) -> str:
        text = f"task {self.task!r}: {_trials(len(self.params))} usable"
        if self.dropped:
            text += f"; parameters not in the space, left out: {list(self.dropped)}"
        if self.skipped:
            reasons = ", ".join(f"{n} {reason}" for reason, n in self.skipped_because)
            text += f"; {_trials(self.skipped)} skipped ({reasons})"
        return text


def _trials(n: int) -> str:
    return f"{n} trial{'' if n == 1 else 's'}"


@dataclass(frozen=True)
class Source:
    """What a reader finds in a source, before the target space is applied.

    ``tasks`` maps each task name to its trials, ``names`` lists every parameter name the
    source uses, ``direction`` is None when the source does not say, ``label`` names the
    source in messages.
    """

    tasks: dict[str, list[Record]]
    names: tuple[str, ...]
    direction: str | None
    label: str


def read_history(
    source: Any,
    space: SearchSpace,
    direction: str,
    *,
    task: str | None = None,
    source_direction: str | None = None,
) -> list[HistoryTable]:
    """Read the completed trials of ``source`` as tables for ``space`` and ``direction``.

    Args:
        source: What to read (see the module docstring): an ``optuna.Study``, an Optuna
            ``trials_dataframe()``, an :class:`hbo.Study` or its Storage, ``(name,
            storage)``, an Ax ``Experiment`` or ``Client``.
        space: The target study's search space.
        direction: The target study's direction, ``"minimize"`` or ``"maximize"``.
        task: The task name for the rows (needed for a DataFrame; default: the source's
            name). An hbo study holding several tasks keeps their names.
        source_direction: The direction the source optimized, for a source that does
            not say (a DataFrame; default: ``direction``). For one that does, it must
            agree.

    Returns:
        One table per task of the source (one, but for an hbo study), in the source's
        order. A task whose every trial was skipped has a table without rows; the
        tables together have at least one.

    Raises:
        ArgumentTypeError: ``source`` is none of the above.
        InvalidArgumentError: a multi-objective source; a ``task`` or
            ``source_direction`` that does not fit the source.
        InvalidDataError: the source yields no usable row (the reasons are named).
    """
    if not isinstance(space, SearchSpace):
        raise ArgumentTypeError(f"space must be an hbo.SearchSpace, got {type(space).__name__}")
    for argument, value in (("direction", direction), ("source_direction", source_direction)):
        if value not in DIRECTIONS and (value is not None or argument == "direction"):
            raise InvalidArgumentError(f"{argument} must be one of {DIRECTIONS}, got {value!r}")
    if task is not None:
        check_name(task, "task")
    found = _read(source, task)
    if found.direction is not None and source_direction not in (None, found.direction):
        raise InvalidArgumentError(
            f"source_direction={source_direction!r}, but {found.label} is stored as "
            f"{found.direction!r}; leave source_direction out for a source that says its own"
        )
    if task is not None and len(found.tasks) > 1:
        raise InvalidArgumentError(
            f"task={task!r}: {found.label} holds tasks {list(found.tasks)}; they keep their "
            "names (leave task out), or import one study per task"
        )
    if task is not None:
        found = Source({task: next(iter(found.tasks.values()))}, found.names, found.direction,
                       found.label)
    flip = (found.direction or source_direction or direction) != direction
    dropped = tuple(n for n in found.names if n not in space.names)
    tables = [_table(name, records, space, flip, dropped) for name, records in found.tasks.items()]
    if not any(t.params for t in tables):
        why = "; ".join(str(t) for t in tables) or "it holds no trials"
        raise InvalidDataError(
            f"{found.label} yields no usable trial for the space {space.names}: {why}"
        )
    return tables


def store_history(storage: Storage, tables: Iterable[HistoryTable]) -> dict[str, list[Trial]]:
    """Store ``tables`` as history trials; warn once about what was left out.

    Every table is read and validated before the first is stored; the storage stores
    each task's rows in one transaction (a storage failure between two tasks leaves the
    earlier ones stored). Tables without rows store nothing.

    Returns:
        Task name -> its stored trials.
    """
    tables = list(tables)
    lossy = [t for t in tables if t.dropped or t.skipped]
    if lossy:
        warn(
            "history import: " + "; ".join(str(t) for t in lossy),
            HistoryImportWarning,
        )
    return {
        t.task: storage.create_trials(t.task, t.params, t.values, origin=Origin.HISTORY)
        for t in tables
        if t.params
    }


# ---------------------------------------------------------------------- the rows
def _table(
    task: str, records: list[Record], space: SearchSpace, flip: bool, dropped: tuple[str, ...]
) -> HistoryTable:
    """The usable ``records`` of ``task`` as validated rows; the rest counted by reason."""
    params, values, reasons = [], [], Counter()
    for record, value, complete in records:
        row = _row(record, value, complete, space)
        if isinstance(row, str):
            reasons[row] += 1
            continue
        params.append(row)
        values.append(-float(value) if flip else float(value))
    return HistoryTable(task, params, values, dropped, sum(reasons.values()),
                        tuple(reasons.most_common()))


def _row(
    record: Mapping[str, Any], value: Any, complete: bool, space: SearchSpace
) -> dict[str, Any] | str:
    """The trial's validated parameters of ``space``, or why it is not a row."""
    if not complete:
        return "not complete"
    if not (is_real(value) and math.isfinite(value)):
        return "without a finite value"
    row = {}
    for p in space.params:
        if p.name not in record:
            return f"without {p.name!r}"
        try:
            row[p.name] = p.validate(record[p.name])
        except (ParamValueError, ParamTypeError):
            given = record[p.name]  # a DataFrame's empty cell: a parameter not sampled
            empty = given is None or (is_real(given) and math.isnan(given))
            return f"without {p.name!r}" if empty else f"with {p.name!r} outside the space"
    return row


# ---------------------------------------------------------------------- the sources
def _module(source: Any) -> str:
    return type(source).__module__.partition(".")[0]


def _read(source: Any, task: str | None) -> Source:
    """The trials of ``source`` by task, whichever system it comes from."""
    if isinstance(source, pd.DataFrame):
        if task is None:
            raise InvalidArgumentError(
                "task: a DataFrame does not name its task; give task='name'"
            )
        return _from_frame(source)
    if isinstance(source, tuple):
        from hbo.study.history_stored import open_stored

        name, storage = _name_and_storage(source)
        source = open_stored(name, storage)
    if isinstance(source, Storage):
        return _from_hbo(source, f"hbo study {getattr(source, 'study_name', 'in memory')!r}")
    if _is_hbo_study(source):
        return _from_hbo(source.storage, f"hbo study {source.name or source.task!r}")
    if _module(source) == "optuna":
        return _from_optuna(source)
    if _module(source) == "ax":
        return _from_ax(source)
    raise ArgumentTypeError(f"source must be {ACCEPTED}; got {type(source).__name__}")


def _name_and_storage(source: tuple) -> tuple[str, Any]:
    if len(source) != 2 or not isinstance(source[0], str) or not isinstance(
            source[1], str | Storage):
        raise ArgumentTypeError(
            f"a stored study is given as (name, storage), a name and a database URL or an "
            f"hbo Storage, e.g. ('resnet-lr', 'sqlite:///tuning.db'); got {source!r}"
        )
    return source


def _is_hbo_study(source: Any) -> bool:
    """Whether ``source`` is an :class:`hbo.Study` (by name: this module is below it)."""
    return any(c.__module__ == "hbo.study.study" and c.__name__ == "Study"
               for c in type(source).__mro__)


def _from_hbo(storage: Storage, label: str) -> Source:
    """Each task of an hbo study with trials (the target first, as ``Study.tasks``); a
    study of several objectives is refused (which one would be the history?)."""
    config = storage.study_config()
    objectives = objective_names(config)
    if len(objectives) > 1:
        raise InvalidArgumentError(
            f"{label} has the objectives {objectives}; hbo imports one objective per "
            "source: add its rows with study.add_history(task, params, values)"
        )
    tasks: dict[str, list[Record]] = {config["task"]: []}
    for t in storage.get_trials():
        tasks.setdefault(t.task, []).append((t.params, t.value, t.state is TrialState.COMPLETE))
    names = space_from_dict(config["space"]).names
    tasks = {name: records for name, records in tasks.items() if records}
    return Source(tasks, tuple(names), config["direction"], label)


def _from_optuna(study: Any) -> Source:
    """An ``optuna.Study``: every trial, COMPLETE ones usable."""
    import optuna

    if not isinstance(study, optuna.Study):
        raise ArgumentTypeError(
            f"source must be {ACCEPTED}; got {type(study).__module__}.{type(study).__name__}"
        )
    label = f"Optuna study {study.study_name!r}"
    if len(study.directions) > 1:
        raise InvalidArgumentError(
            f"{label} has {len(study.directions)} objectives; hbo imports single-objective "
            "studies only"
        )
    complete = optuna.trial.TrialState.COMPLETE
    trials = study.get_trials(deepcopy=False)
    records = [(t.params, t.value, t.state == complete) for t in trials]
    names = dict.fromkeys(n for t in trials for n in t.params)
    return Source({study.study_name: records}, tuple(names), study.direction.name.lower(), label)


def _from_frame(frame: pd.DataFrame) -> Source:
    """An Optuna ``trials_dataframe()``: ``params_<name>`` columns, ``value``, ``state``."""
    columns = [str(c) for c in frame.columns]
    if "value" not in columns:
        multi = [c for c in columns if c.startswith("values_")]
        raise InvalidDataError(
            f"the DataFrame has no 'value' column{' but ' + str(multi) if multi else ''}; "
            "hbo imports single-objective Optuna trials_dataframe() tables"
            if multi else f"the DataFrame needs a 'value' column; it has {columns}"
        )
    names = [c.removeprefix("params_") for c in columns if c.startswith("params_")]
    if not names:
        raise InvalidDataError(
            f"the DataFrame has no params_<name> columns (Optuna's trials_dataframe()); it "
            f"has {columns}. For one column per parameter use study.add_history(task, frame)"
        )
    states = (frame["state"].astype(str).str.upper() == "COMPLETE" if "state" in columns
              else pd.Series(True, index=frame.index))
    params = frame[[f"params_{n}" for n in names]].set_axis(names, axis=1)
    records = [
        ({k: python_scalar(v) for k, v in row.items()}, python_scalar(value), bool(ok))
        for row, value, ok in zip(params.to_dict("records"), frame["value"], states, strict=True)
    ]
    return Source({"": records}, tuple(names), None, "the DataFrame")


def _from_ax(source: Any) -> Source:
    """An Ax ``Experiment`` or ``Client`` (single objective): each arm of each trial, with
    the objective metric's mean (the last step's, for a curve); completed trials usable."""
    from ax.api.client import Client
    from ax.core.experiment import Experiment

    experiment = source._experiment if isinstance(source, Client) else source  # no public getter
    if isinstance(source, Client) and experiment is None:
        raise InvalidArgumentError(
            "the Ax Client has no experiment yet: call configure_experiment first"
        )
    if not isinstance(experiment, Experiment):
        kind = f"{type(source).__module__}.{type(source).__name__}"
        raise ArgumentTypeError(f"source must be {ACCEPTED}; got {kind}")
    label = f"Ax experiment {experiment.name!r}"
    config = experiment.optimization_config
    if config is None or not config.objective.is_single_objective:
        raise InvalidArgumentError(
            f"{label} has {'no objective' if config is None else 'several objectives'} "
            "(configure_optimization(objective='name' or '-name')); hbo imports "
            "single-objective experiments only"
        )
    metric = config.objective.metric_names[0]
    data = experiment.lookup_data().df
    data = data[data["metric_name"] == metric]
    if "step" in data.columns:
        data = data.sort_values("step", na_position="first", kind="stable")
    means = data.groupby(["trial_index", "arm_name"])["mean"].last().to_dict()
    records = [
        (arm.parameters, means.get((index, arm.name)), trial.status.is_completed)
        for index, trial in experiment.trials.items()
        for arm in trial.arms
    ]
    names = tuple(experiment.search_space.parameters)
    direction = "minimize" if config.objective.minimize else "maximize"
    return Source({experiment.name: records}, names, direction, label)
