"""What counts as a number in an argument: any real or integer type (Python, numpy), but
not a bool (``True`` is an ``int`` to Python, never a setting meant as 1)."""

from __future__ import annotations

import numbers
from typing import Any


def is_real(value: object) -> bool:
    """A real number of any type (``float``, ``np.float32``, ``int``...), not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def is_integer(value: object) -> bool:
    """An integer of any type (``int``, ``np.int64``...), not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def python_scalar(value: Any) -> Any:
    """A numpy (or torch) scalar as its Python value, anything else unchanged, so that a
    value read from a DataFrame matches a Python choice (``'a'``, ``3``)."""
    return value.item() if hasattr(value, "item") else value
