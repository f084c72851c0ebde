"""Argument checks shared by the Study's methods: numbers, names, trial ids, history rows.

Each check raises an :mod:`hbo.errors` error that names the argument, what it was and
what would be accepted, before anything is stored.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch

from hbo._numbers import is_integer, is_real
from hbo.errors import ArgumentTypeError, InvalidArgumentError, InvalidDataError, ObjectiveTypeError
from hbo.space import SearchSpace
from hbo.trial import Trial

if TYPE_CHECKING:  # outcomes imports this module's checks
    from hbo.study.outcomes import Outcomes

DIRECTIONS = ("minimize", "maximize")


def as_real(value: Any, argument: str) -> float:
    """``value`` as a float if it is a real number (or a one-element array/tensor of one)."""
    one = value.numel() == 1 if isinstance(value, torch.Tensor) else np.size(value) == 1
    if isinstance(value, torch.Tensor | np.ndarray | np.generic) and one:
        value = value.item()
    if not is_real(value):
        raise ObjectiveTypeError(
            f"{argument} must be a real number, got {type(value).__name__} {value!r}"
        )
    return float(value)


def trial_id(trial: Any) -> int:
    if isinstance(trial, Trial):
        return trial.id
    if is_integer(trial):
        return int(trial)  # an id read from trials_dataframe() is a numpy integer
    raise ArgumentTypeError(f"trial must be an hbo.Trial or its id, got {trial!r}")


def check_name(value: Any, argument: str) -> str:
    if not isinstance(value, str) or not value:
        raise ArgumentTypeError(f"{argument} must be a non-empty string, got {value!r}")
    return value


def history_rows(
    space: SearchSpace,
    params: Sequence[Mapping[str, Any]] | pd.DataFrame,
    values: Sequence[float | Mapping[str, float]] | None,
    outcomes: Outcomes,
) -> tuple[list[dict[str, Any]], list[dict[str, float]]]:
    """Validated ``(params, values)`` of :meth:`hbo.Study.add_history`: parameter dicts
    (or a DataFrame with a ``value`` column, or a column per outcome) and per dict its
    outcomes, each finite (a number for a study of one outcome, else some of its outcomes:
    :meth:`~hbo.study.outcomes.Outcomes.partial`)."""
    if isinstance(params, pd.DataFrame):
        params, values = _frame_rows(params, values, outcomes)
    if isinstance(params, Mapping) or not isinstance(params, Sequence):
        raise ArgumentTypeError(
            "add_history: params must be a list of dicts or a DataFrame, "
            f"got {type(params).__name__}"
        )
    if isinstance(values, np.ndarray | pd.Series | torch.Tensor) and values.ndim == 1:
        values = values.tolist()
    if values is None or isinstance(values, str) or not isinstance(values, Sequence):
        raise ArgumentTypeError(
            "add_history: values must be a list (or 1-D array) of numbers or of dicts "
            f"outcome -> number, got {type(values).__name__}"
        )
    if len(params) != len(values):
        raise InvalidDataError(
            f"add_history: params has {len(params)} rows but values has {len(values)}"
        )
    if not params:
        raise InvalidDataError("add_history: params is empty; give at least one evaluation")
    rows = [space.validate(p, f"params[{i}]") for i, p in enumerate(params)]
    vals = [outcomes.partial(v, f"values[{i}]") for i, v in enumerate(values)]
    bad = [i for i, v in enumerate(vals) if not all(map(math.isfinite, v.values()))]
    if bad:
        raise InvalidDataError(
            f"add_history: values at rows {bad} are not finite; drop failed runs from history"
        )
    return rows, vals


def _frame_rows(
    frame: pd.DataFrame, values: Any, outcomes: Outcomes
) -> tuple[list[dict[str, Any]], list[Any]]:
    """The parameter dicts and values of a history DataFrame: its outcome columns, an empty
    cell a missing outcome; with one outcome, the column of its name or ``value``."""
    if values is not None:
        raise InvalidArgumentError(
            "add_history: with a DataFrame, give values in its outcome columns, "
            "not as the values argument"
        )
    columns = list(dict.fromkeys([*outcomes.names, "value"])) if outcomes.single \
        else outcomes.names
    present = [c for c in columns if c in frame.columns]
    if not present:
        need = (" or ".join(f"a {c!r} column" for c in columns) if outcomes.single
                else f"columns of the outcomes {columns}")
        raise InvalidDataError(f"add_history: the DataFrame needs {need}; it has {list(frame)}")
    if outcomes.single and len(present) > 1:
        raise InvalidDataError(
            f"add_history: the DataFrame has both {present[0]!r} and 'value' columns; keep "
            f"one, the values of the objective {present[0]!r}"
        )
    params = frame.drop(columns=present).to_dict("records")
    if outcomes.single:
        return params, frame[present[0]].tolist()
    rows = frame[present].to_dict("records")
    return params, [{k: v for k, v in row.items() if not pd.isna(v)} for row in rows]


def user_attr(key: Any, value: Any) -> tuple[str, Any]:
    """``(key, value)`` of a user attribute: a non-empty string key and a JSON value (str,
    finite number, bool, None, and lists, tuples or string-keyed dicts of those; numpy
    scalars become Python's)."""
    return check_name(key, "key"), _plain(value, key)


def check_user_attrs(attrs: Any) -> dict[str, Any]:
    """A dict of user attributes (None: none), each checked by :func:`user_attr`."""
    if attrs is None:
        return {}
    if not isinstance(attrs, Mapping):
        raise ArgumentTypeError(f"user_attrs must be a dict or None, got {type(attrs).__name__}")
    return dict(user_attr(key, value) for key, value in attrs.items())


def _plain(value: Any, key: str) -> Any:
    """``value`` as JSON holds it unchanged (numpy scalars as Python's), or an error."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    if isinstance(value, list | tuple):
        return [_plain(v, key) for v in value]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {k: _plain(v, key) for k, v in value.items()}
    if isinstance(value, float):
        problem = f"got the float {value}, not finite"
    elif isinstance(value, dict):
        odd = next(k for k in value if not isinstance(k, str))
        problem = f"got a dict with the non-str key {odd!r}"
    else:
        problem = f"got {type(value).__name__} {value!r}"
    raise ArgumentTypeError(
        f"user attribute {key!r}: the value must be JSON (str, finite int or float, bool, None, "
        f"list, tuple, dict with str keys); {problem}"
    )
