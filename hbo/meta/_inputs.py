"""Validation of meta-analysis input at the boundary: errors name the argument and the fix."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from hbo._numbers import is_real
from hbo.errors import ArgumentTypeError, InvalidArgumentError, InvalidDataError

ArrayLike = Sequence[float] | np.ndarray

#: Smallest sampling variance accepted, and 1 / it the largest: the estimators square the
#: weights 1 / v and the variances v, and both squares stay normal floats (no overflow, no
#: precision lost to subnormals) for v in [V_MIN, 1 / V_MIN], about [1.5e-154, 6.7e153].
V_MIN = math.sqrt(np.finfo(float).tiny)


def as_vector(name: str, values: ArrayLike) -> np.ndarray:
    """``values`` as a finite 1-D float array, or :class:`InvalidDataError` naming ``name``."""
    if isinstance(values, str | bytes):
        raise ArgumentTypeError(f"{name} must be a sequence of numbers, got a string.")
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise InvalidDataError(f"{name} must be numeric; could not convert it: {exc}") from exc
    if arr.ndim != 1:
        raise InvalidDataError(f"{name} must be one-dimensional; got shape {arr.shape}.")
    if arr.size == 0:
        raise InvalidDataError(f"{name} is empty; pass one value per study.")
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        raise InvalidDataError(
            f"{name} contains NaN or infinite values (study index {bad[:5].tolist()}); "
            "drop those studies or supply finite values."
        )
    return arr


def sampling_variances(
    yi: np.ndarray, vi: ArrayLike | None, sei: ArrayLike | None
) -> np.ndarray:
    """The sampling variances from exactly one of ``vi`` or ``sei``, checked against ``yi``."""
    if (vi is None) == (sei is None):
        raise InvalidArgumentError(
            "pass exactly one of vi (sampling variances) or sei (standard errors)"
            + ("; got both." if vi is not None else "; got neither.")
        )
    name = "vi" if vi is not None else "sei"
    arr = as_vector(name, vi if vi is not None else sei)
    if arr.shape != yi.shape:
        raise InvalidDataError(
            f"yi and {name} must have the same length; got {yi.size} and {arr.size}."
        )
    bad = np.flatnonzero(arr <= 0)
    if bad.size:
        raise InvalidDataError(
            f"{name} must be > 0 for every study; study index {bad[:5].tolist()} has "
            f"{name} <= 0 (a study with no sampling error cannot be weighted)."
        )
    power = 1.0 if name == "vi" else 0.5  # sei = sqrt(vi)
    lo, hi = V_MIN**power, V_MIN**-power
    bad = np.flatnonzero((arr < lo) | (arr > hi))
    if bad.size:
        raise InvalidDataError(
            f"{name} must lie in [{lo:.1e}, {hi:.1e}]; study index {bad[:5].tolist()} has "
            f"{name} = {arr[bad[0]]:g}, beyond what the estimators can square in floating "
            f"point. Express yi in a unit that brings {name} nearer 1."
        )
    return arr if name == "vi" else arr**2


def check_level(level: float) -> float:
    """``level`` as a float in (0, 1), else :class:`InvalidArgumentError`."""
    if not is_real(level) or not 0 < level < 1:
        raise InvalidArgumentError(
            f"level must be a coverage in (0, 1) such as 0.95; got {level!r}."
        )
    return float(level)
