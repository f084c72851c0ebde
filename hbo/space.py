"""Search spaces: Float, Int and Categorical parameters, to and from the model's space.

The model works on a ``d``-dimensional tensor, one column per parameter:

* ``Float(low, high)`` and ``Int(low, high)`` map to ``[0, 1]`` (linearly, or in
  ``log`` space when ``log=True``); an ``Int`` column only takes the positions of
  its integers. :meth:`SearchSpace.discrete_dims` lists them for the optimizer when
  there are few; a wider ``Int`` is searched as a continuous column and rounded (in
  ``O(1)``, never by listing its integers) by :meth:`SearchSpace.snap`.
* ``Categorical(choices)`` maps to the integer code ``0 .. k-1`` of the choice; the
  surrogate one-hot encodes it (see :meth:`SearchSpace.categorical_dims`), so no
  order between choices is assumed.

Every parameter validates its definition and values at the boundary and raises a
specific :class:`~hbo.errors.HBOError` subclass naming the parameter. A parameter
holds plain Python only (``np.float32`` bounds become ``float``, ``np.bool_`` becomes
``bool``), so a space is stored as JSON as it is.
"""

from __future__ import annotations

import math
import numbers
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from botorch.optim.optimize_mixed import MAX_DISCRETE_VALUES
from torch import Tensor

from hbo._numbers import is_real
from hbo.errors import InvalidSpaceError, ParamKeyError, ParamTypeError, ParamValueError

#: Column names of ``Study.trials_dataframe`` that a parameter may not take (nor may it
#: start with ``user_attrs_``, the prefix of its user attribute columns).
RESERVED_NAMES = frozenset({"trial_id", "task", "state", "value", "origin", "datetime_start",
                            "datetime_complete", "duration"})


def _same_choice(choice: Any, value: Any) -> bool:
    """Equality without Python's cross-type surprises (``True == 1``, ``np.str_`` vs ``str``)."""
    if isinstance(choice, str) and isinstance(value, str):
        return choice == value
    if is_real(choice) and is_real(value):
        return choice == value
    return type(choice) is type(value) and choice == value


def _plain_real(value: Any) -> int | float:
    """A real number as a Python ``int`` (if integral, e.g. ``np.int64``) or ``float``."""
    return int(value) if isinstance(value, numbers.Integral) else float(value)


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not name:
        raise InvalidSpaceError(f"parameter name must be a non-empty string, got {name!r}")
    if name in RESERVED_NAMES or name.startswith("user_attrs_"):
        raise InvalidSpaceError(
            f"parameter name {name!r} is reserved (reserved: {sorted(RESERVED_NAMES)} and "
            "names starting with 'user_attrs_')"
        )
    return str(name)


@dataclass(frozen=True)
class _Range:
    """A numeric range ``[low, high]``, optionally searched on a log scale."""

    name: str
    low: float
    high: float
    log: bool = False

    def __post_init__(self) -> None:
        kind = type(self).__name__
        object.__setattr__(self, "name", _check_name(self.name))
        for bound in ("low", "high"):
            value = getattr(self, bound)
            plain = _plain_real(value) if is_real(value) else math.nan
            # |plain| <= the largest float: rejects inf, nan and ints too big for a float
            if not abs(plain) <= sys.float_info.max:
                raise InvalidSpaceError(
                    f"{kind} {self.name!r}: {bound} must be a finite number, got {value!r}"
                )
            object.__setattr__(self, bound, plain)
        if not isinstance(self.log, bool | np.bool_):
            raise InvalidSpaceError(
                f"{kind} {self.name!r}: log must be True or False, "
                f"got {type(self.log).__name__} {self.log!r}"
            )
        object.__setattr__(self, "log", bool(self.log))
        if not self.low < self.high:
            raise InvalidSpaceError(
                f"{kind} {self.name!r}: bounds [{self.low}, {self.high}] are "
                "empty or inverted; low must be strictly below high"
            )
        if self.log and self.low <= 0:
            raise InvalidSpaceError(
                f"{kind} {self.name!r}: log=True needs low > 0, got low={self.low}"
            )
        if not math.isfinite(self._warp(self.high) - self._warp(self.low)):
            raise InvalidSpaceError(
                f"{kind} {self.name!r}: the width high - low of [{self.low}, {self.high}] "
                f"overflows a float; give bounds less than {sys.float_info.max:.4g} apart "
                "(or log=True for positive bounds)"
            )

    def _warp(self, value: float) -> float:
        return math.log(value) if self.log else float(value)

    def to_unit(self, value: float) -> float:
        """Map a value of the parameter to ``[0, 1]``."""
        lo, hi = self._warp(self.low), self._warp(self.high)
        return (self._warp(value) - lo) / (hi - lo)

    def _from_unit_real(self, u: float) -> float:
        lo, hi = self._warp(self.low), self._warp(self.high)
        x = lo + min(max(u, 0.0), 1.0) * (hi - lo)
        return min(max(math.exp(x) if self.log else x, self.low), self.high)

    def _check_real(self, value: Any) -> int | float:
        """``value`` as a Python number within ``[low, high]``.

        The value is widened to a Python number first and compared exactly, so what is
        returned (and stored) lies in bounds. A lower-precision float (``np.float32``)
        that widens to just outside, but equals a bound *at its own precision*, is taken
        as that bound: ``np.float32(0.1)`` widens to ``0.10000000149011612 > 0.1`` but
        stands for ``0.1``. One ulp further out is rejected.
        """
        if not is_real(value):
            raise ParamTypeError(
                f"parameter {self.name!r} takes a number, got {type(value).__name__} {value!r}"
            )
        plain = _plain_real(value)
        if self.low <= plain <= self.high:  # False for NaN
            return plain
        if isinstance(value, np.floating):
            with np.errstate(over="ignore"):  # a bound beyond float16's range becomes inf
                for bound in (self.low, self.high):
                    if value.dtype.type(bound) == value:
                        return bound
        raise ParamValueError(
            f"parameter {self.name!r} = {value!r} is outside [{self.low}, {self.high}]"
        )


@dataclass(frozen=True)
class Float(_Range):
    """A real parameter in ``[low, high]`` (searched in log space if ``log=True``)."""

    def validate(self, value: Any) -> float:
        """Return ``value`` as a float, or raise naming the parameter."""
        return float(self._check_real(value))

    def from_unit(self, u: float) -> float:
        """Map ``u`` in ``[0, 1]`` back to a value."""
        return self._from_unit_real(u)


@dataclass(frozen=True)
class Int(_Range):
    """An integer parameter in ``[low, high]`` (both included)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        for bound in ("low", "high"):
            value = getattr(self, bound)
            if int(value) != value:
                raise InvalidSpaceError(f"Int {self.name!r}: bounds must be integers, got {value}")
            object.__setattr__(self, bound, int(value))

    @property
    def size(self) -> int:
        """Number of admissible integers, ``high - low + 1``."""
        return self.high - self.low + 1

    def validate(self, value: Any) -> int:
        """Return ``value`` as an int (integral floats such as ``3.0`` are accepted)."""
        value = self._check_real(value)
        if int(value) != value:
            raise ParamValueError(f"parameter {self.name!r} takes an integer, got {value!r}")
        return int(value)

    def from_unit(self, u: float) -> int:
        """The integer ``v`` minimizing ``|to_unit(v) - u|`` (the smaller one on a tie).

        ``to_unit`` increases, so the nearest integer in the unit scale brackets the real
        preimage ``x`` of ``u``: it is ``floor(x)`` or ``floor(x) + 1``. One more
        neighbour each side guards against rounding in ``exp``/``log``; the cost is
        ``O(1)`` however wide ``[low, high]`` is.
        """
        k = math.floor(self._from_unit_real(u))
        near = range(max(k - 1, self.low), min(k + 2, self.high) + 1)
        return min(near, key=lambda v: abs(self.to_unit(v) - u))


@dataclass(frozen=True)
class Categorical:
    """A parameter taking one of ``choices`` (no order assumed between them)."""

    name: str
    choices: tuple

    def __init__(self, name: str, choices: Iterable[Any]) -> None:
        object.__setattr__(self, "name", _check_name(name))
        if isinstance(choices, str | bytes) or not isinstance(choices, Iterable):
            raise InvalidSpaceError(
                f"Categorical {name!r}: choices must be a list of values, got {choices!r}"
            )
        choices = tuple(choices)
        if not choices:
            raise InvalidSpaceError(f"Categorical {name!r}: choices is empty; give at least one")
        object.__setattr__(self, "choices", choices)
        unreachable = [c for i, c in enumerate(choices) if self._find(c) != i]
        if unreachable:
            raise InvalidSpaceError(
                f"Categorical {name!r}: choices {unreachable!r} could never be chosen: each "
                "duplicates an earlier choice (numbers match by value, so 1 and 1.0 are one "
                "choice) or, like nan, matches nothing; give distinct choices"
            )

    def _find(self, value: Any) -> int | None:
        """Position of the first choice matching ``value``, or None."""
        return next((i for i, c in enumerate(self.choices) if _same_choice(c, value)), None)

    def validate(self, value: Any) -> Any:
        """Return the matching choice, or raise naming the parameter and the choices."""
        return self.choices[self.index(value)]

    def index(self, value: Any) -> int:
        """The integer code of ``value`` (strings match strings, numbers match numbers)."""
        i = self._find(value)
        if i is None:
            raise ParamValueError(
                f"parameter {self.name!r} = {value!r} is not one of {list(self.choices)}"
            )
        return i

    def to_unit(self, value: Any) -> float:
        """The choice's integer code, as a float."""
        return float(self.index(value))

    def from_unit(self, code: float) -> Any:
        """The choice whose code is nearest to ``code``."""
        return self.choices[min(max(round(code), 0), len(self.choices) - 1)]


Parameter = Float | Int | Categorical


class SearchSpace:
    """An ordered set of parameters; converts parameter dicts to model tensors and back.

    Args:
        params: ``Float`` / ``Int`` / ``Categorical`` objects with distinct names.
    """

    def __init__(self, params: Sequence[Parameter]) -> None:
        params = list(params)
        if not params:
            raise InvalidSpaceError("SearchSpace needs at least one parameter, got none")
        for p in params:
            if not isinstance(p, Float | Int | Categorical):
                raise InvalidSpaceError(
                    f"SearchSpace takes hbo.Float, hbo.Int or hbo.Categorical, got {p!r}"
                )
        names = [p.name for p in params]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise InvalidSpaceError(f"SearchSpace: duplicate parameter names {duplicated}")
        self.params: tuple[Parameter, ...] = tuple(params)

    def __repr__(self) -> str:
        return f"SearchSpace({list(self.params)!r})"

    def __len__(self) -> int:
        return len(self.params)

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.params]

    @property
    def dim(self) -> int:
        """Number of model columns ``d`` (one per parameter)."""
        return len(self.params)

    def feature_names(self) -> list[str]:
        """Names of the surrogate's kernel inputs: a Categorical gives one per choice."""
        names: list[str] = []
        for p in self.params:
            if isinstance(p, Categorical):
                names.extend(f"{p.name}={choice}" for choice in p.choices)
            else:
                names.append(p.name)
        return names

    def bounds(self) -> Tensor:
        """``2 x d`` box of the model space: ``[0, 1]``, or ``[0, k - 1]`` for a Categorical."""
        upper = [len(p.choices) - 1 if isinstance(p, Categorical) else 1.0 for p in self.params]
        return torch.tensor([[0.0] * self.dim, upper], dtype=torch.double)

    def categorical_dims(self) -> dict[int, int]:
        """Column index -> number of choices, for every Categorical."""
        return {i: len(p.choices) for i, p in enumerate(self.params) if isinstance(p, Categorical)}

    def discrete_dims(self) -> dict[int, list[float]]:
        """Column index -> admissible unit positions, for every Int of at most
        BoTorch's ``MAX_DISCRETE_VALUES`` (20) integers.

        A wider Int is left out: the optimizer searches its column as continuous and
        :meth:`snap` rounds it. ``optimize_acqf_mixed_alternating`` relaxes such a column
        that way anyway, but rounds with the full list (2**31 values for a seed).
        """
        return {
            i: [p.to_unit(v) for v in range(p.low, p.high + 1)]
            for i, p in enumerate(self.params)
            if isinstance(p, Int) and p.size <= MAX_DISCRETE_VALUES
        }

    def validate(self, params: Any, argument: str = "params") -> dict[str, Any]:
        """Check keys and values of one parameter dict; return it normalized.

        Raises:
            ParamTypeError: ``params`` is not a mapping, or a value has the wrong type.
            ParamKeyError: a key is missing or unknown.
            ParamValueError: a value lies outside its bounds or choices.
        """
        if not isinstance(params, Mapping):
            raise ParamTypeError(
                f"{argument} must be a dict of parameter values, got {type(params).__name__}"
            )
        missing = [n for n in self.names if n not in params]
        unknown = [k for k in params if k not in self.names]
        if missing or unknown:
            raise ParamKeyError(
                f"{argument}: missing keys {missing}, unknown keys {unknown}; "
                f"the space has {self.names}"
            )
        try:
            return {p.name: p.validate(params[p.name]) for p in self.params}
        except (ParamTypeError, ParamValueError) as exc:  # say which dict held the value
            raise type(exc)(f"{argument}: {exc}") from None

    def encode(self, params_list: Sequence[Mapping[str, Any]]) -> Tensor:
        """Map validated parameter dicts to an ``n x d`` double tensor in the model space."""
        rows = [[p.to_unit(params[p.name]) for p in self.params] for params in params_list]
        return torch.tensor(rows, dtype=torch.double).reshape(len(rows), self.dim)

    def decode(self, X: Tensor) -> list[dict[str, Any]]:
        """Map an ``n x d`` tensor of the model space to parameter dicts (snapping to grids)."""
        return [
            {p.name: p.from_unit(float(u)) for p, u in zip(self.params, row, strict=True)}
            for row in X.detach().cpu().tolist()
        ]

    def snap(self, X: Tensor) -> Tensor:
        """Round an ``n x d`` tensor onto admissible points (Int grid, Categorical codes)."""
        return self.encode(self.decode(X)).to(X)

    def sobol(self, n: int, seed: int, skip: int = 0) -> Tensor:
        """``n x d`` scrambled Sobol points snapped onto the space, after ``skip`` points.

        Categorical codes are drawn uniformly by splitting ``[0, 1)`` into ``k`` bins.
        """
        engine = torch.quasirandom.SobolEngine(self.dim, scramble=True, seed=seed)
        if skip:
            engine.fast_forward(skip)
        U = engine.draw(n, dtype=torch.double)
        for i, k in self.categorical_dims().items():
            U[:, i] = torch.clamp(torch.floor(U[:, i] * k), max=k - 1)
        return self.snap(U)


# ---------------------------------------------------------------------- JSON form
_JSON_SCALARS = (str, int, float, bool, type(None))


def parameter_to_dict(param: Parameter) -> dict[str, Any]:
    """A parameter as a JSON-ready dict, e.g. ``{"type": "float", "name": "lr", ...}``."""
    if isinstance(param, Categorical):
        bad = [
            c
            for c in param.choices
            if not isinstance(c, _JSON_SCALARS) or (isinstance(c, float) and not math.isfinite(c))
        ]
        if bad:
            raise InvalidSpaceError(
                f"Categorical {param.name!r}: choices {bad!r} cannot be stored; a stored "
                "space takes str, int, float, bool or None choices"
            )
        return {"type": "categorical", "name": param.name, "choices": list(param.choices)}
    kind = "float" if isinstance(param, Float) else "int"
    return {
        "type": kind, "name": param.name, "low": param.low, "high": param.high, "log": param.log
    }


def parameter_from_dict(data: Any) -> Parameter:
    """Inverse of :func:`parameter_to_dict`; malformed input raises :class:`InvalidSpaceError`."""
    kinds = {"float": Float, "int": Int, "categorical": Categorical}
    if not isinstance(data, Mapping) or data.get("type") not in kinds:
        raise InvalidSpaceError(
            f"a stored parameter must be a dict with 'type' in {sorted(kinds)}, got {data!r}"
        )
    fields = {k: v for k, v in data.items() if k != "type"}
    ranged = {"name", "low", "high", "log"}
    expected = {"name", "choices"} if data["type"] == "categorical" else ranged
    if set(fields) != expected:
        raise InvalidSpaceError(
            f"a stored {data['type']} parameter has keys {sorted(expected)}, got {sorted(fields)}"
        )
    if data["type"] != "categorical" and not isinstance(fields["log"], bool):
        raise InvalidSpaceError(f"stored parameter {fields['name']!r}: log must be true or false")
    return kinds[data["type"]](**fields)


def space_to_dict(space: SearchSpace) -> dict[str, Any]:
    """The space as ``{"params": [parameter dicts in order]}``; ``json.dumps`` takes it as is."""
    return {"params": [parameter_to_dict(p) for p in space.params]}


def space_from_dict(data: Any) -> SearchSpace:
    """Inverse of :func:`space_to_dict`; malformed input raises :class:`InvalidSpaceError`."""
    if not isinstance(data, Mapping) or not isinstance(data.get("params"), list):
        raise InvalidSpaceError(f"a stored space is a dict with a 'params' list, got {data!r}")
    return SearchSpace([parameter_from_dict(p) for p in data["params"]])


def space_differences(stored: SearchSpace, given: SearchSpace) -> list[str]:
    """Human-readable differences between two spaces (empty if they are the same)."""
    old = {p["name"]: p for p in space_to_dict(stored)["params"]}
    new = {p["name"]: p for p in space_to_dict(given)["params"]}
    notes = [f"parameter {n!r} is stored but not given" for n in old if n not in new]
    notes += [f"parameter {n!r} is given but not stored" for n in new if n not in old]
    notes += [
        f"parameter {n!r}: stored {old[n]}, given {new[n]}"
        for n in old
        if n in new and old[n] != new[n]
    ]
    if not notes and list(old) != list(new):
        notes.append(f"parameter order: stored {list(old)}, given {list(new)}")
    return notes
