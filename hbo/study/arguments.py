"""Argument checks shared by the Study's methods: numbers, names, trial ids, history rows.

Each check raises an :mod:`hbo.errors` error that names the argument, what it was and
what would be accepted, before anything is stored.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

from hbo._numbers import is_integer, is_real
from hbo.errors import ArgumentTypeError, InvalidArgumentError, InvalidDataError, ObjectiveTypeError
from hbo.space import SearchSpace
from hbo.trial import Trial


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
    values: Sequence[float] | None,
) -> tuple[list[dict[str, Any]], list[float]]:
    """Validated ``(params, values)`` of :meth:`hbo.Study.add_history`: parameter dicts
    (or a DataFrame with a ``value`` column) and one finite number per dict."""
    if isinstance(params, pd.DataFrame):
        if values is not None:
            raise InvalidArgumentError(
                "add_history: with a DataFrame, give values in its 'value' column, "
                "not as the values argument"
            )
        if "value" not in params.columns:
            raise InvalidDataError(
                f"add_history: the DataFrame needs a 'value' column; it has {list(params)}"
            )
        values = params["value"].tolist()
        params = params.drop(columns="value").to_dict("records")
    if isinstance(params, Mapping) or not isinstance(params, Sequence):
        raise ArgumentTypeError(
            "add_history: params must be a list of dicts or a DataFrame, "
            f"got {type(params).__name__}"
        )
    if isinstance(values, np.ndarray | pd.Series | torch.Tensor) and values.ndim == 1:
        values = values.tolist()
    if values is None or isinstance(values, str) or not isinstance(values, Sequence):
        raise ArgumentTypeError(
            "add_history: values must be a list (or 1-D array) of numbers, got "
            f"{type(values).__name__}"
        )
    if len(params) != len(values):
        raise InvalidDataError(
            f"add_history: params has {len(params)} rows but values has {len(values)}"
        )
    if not params:
        raise InvalidDataError("add_history: params is empty; give at least one evaluation")
    rows = [space.validate(p, f"params[{i}]") for i, p in enumerate(params)]
    vals = [as_real(v, f"values[{i}]") for i, v in enumerate(values)]
    bad = [i for i, v in enumerate(vals) if not math.isfinite(v)]
    if bad:
        raise InvalidDataError(
            f"add_history: values at rows {bad} are not finite; drop failed runs from history"
        )
    return rows, vals


def user_attr(key: Any, value: Any) -> tuple[str, Any]:
    """``(key, value)`` of a user attribute: a non-empty string key and a JSON value (str,
    finite number, bool, None, and lists, tuples or string-keyed dicts of those)."""
    check_name(key, "key")
    bad = _not_json(value)
    if bad is not None:
        raise ArgumentTypeError(
            f"user attribute {key!r}: the value must be JSON (str, finite int or float, bool, "
            f"None, list, tuple, dict with str keys); {bad}"
        )
    return key, value


def check_user_attrs(attrs: Any) -> dict[str, Any]:
    """A dict of user attributes (None: none), each checked by :func:`user_attr`."""
    if attrs is None:
        return {}
    if not isinstance(attrs, Mapping):
        raise ArgumentTypeError(f"user_attrs must be a dict or None, got {type(attrs).__name__}")
    return dict(user_attr(key, value) for key, value in attrs.items())


def _not_json(value: Any) -> str | None:
    """What in ``value`` JSON cannot hold unchanged, or None if nothing."""
    if value is None or isinstance(value, str | bool | int):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else f"got the float {value}, not finite"
    if isinstance(value, list | tuple):
        return next((bad for bad in map(_not_json, value) if bad is not None), None)
    if isinstance(value, dict):
        keys = [k for k in value if not isinstance(k, str)]
        if keys:
            return f"got a dict with the non-str key {keys[0]!r}"
        return next((bad for bad in map(_not_json, value.values()) if bad is not None), None)
    return f"got {type(value).__name__} {value!r}"
