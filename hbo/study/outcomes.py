"""A study's outcomes: objectives (each minimized or maximized) and outcome constraints.

A study measures one or more *outcomes* per trial. Some are *objectives*, each with a
direction; others are only *constrained*: ``"memory_gb <= 3"`` says a trial is feasible
only if its ``memory_gb`` is at most 3 (Ax's outcome constraints, Gardner et al. 2014,
"Bayesian optimization with inequality constraints", ICML). With one objective the best
trial is the best feasible one; with several there is no single best, only the *Pareto
front*: the feasible trials that no other feasible trial dominates (at least as good in
every objective and better in one), and its *hypervolume*, the volume of objective space
between the front and a reference point, which grows whenever the front improves
(Zitzler & Thiele 1998; computed by BoTorch's box decomposition,
``botorch.utils.multi_objective``).

Everything here works in the user's units and directions; :func:`maximized` orients the
objectives for maximization (minimized ones negated), as BoTorch's multi-objective
utilities expect.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from botorch.utils.multi_objective.box_decompositions.dominated import (
    DominatedPartitioning,
)
from botorch.utils.multi_objective.pareto import is_non_dominated

from hbo._numbers import is_real
from hbo.errors import ArgumentTypeError, InvalidArgumentError
from hbo.storage.base import DEFAULT_OUTCOME
from hbo.study.arguments import DIRECTIONS, as_real
from hbo.trial import Trial

_COMPARE = {"<=": operator.le, ">=": operator.ge}
_CONSTRAINT = re.compile(r"^\s*([A-Za-z_]\w*)\s*(<=|>=)\s*(\S+)\s*$")


@dataclass(frozen=True)
class OutcomeConstraint:
    """``name op bound``: a trial is feasible only if its outcome ``name`` satisfies it.

    Attributes:
        name: The constrained outcome (an identifier-like name).
        op: ``"<="`` (an upper bound) or ``">="`` (a lower bound).
        bound: A finite number, in the outcome's units.
    """

    name: str
    op: str
    bound: float

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise InvalidArgumentError(
                f"constraint: the outcome name must be identifier-like (letters, digits, _), "
                f"got {self.name!r}"
            )
        if self.op not in _COMPARE:
            raise InvalidArgumentError(
                f"constraint on {self.name!r}: op must be '<=' or '>=', got {self.op!r}"
            )
        if not is_real(self.bound) or not math.isfinite(self.bound):
            raise InvalidArgumentError(
                f"constraint on {self.name!r}: the bound must be a finite number, got "
                f"{self.bound!r}"
            )
        object.__setattr__(self, "bound", float(self.bound))

    @classmethod
    def parse(cls, text: str) -> OutcomeConstraint:
        """The constraint written ``"name <= bound"`` or ``"name >= bound"``."""
        match = _CONSTRAINT.match(text)
        if match is None:
            raise InvalidArgumentError(
                f"constraint {text!r} is not 'name <= bound' or 'name >= bound' (e.g. "
                "'memory_gb <= 3')"
            )
        name, op, bound = match.groups()
        try:
            number = float(bound)
        except ValueError:
            raise InvalidArgumentError(
                f"constraint {text!r}: the bound {bound!r} is not a number"
            ) from None
        return cls(name, op, number)

    def satisfied(self, value: float) -> bool:
        """Whether ``value`` of the outcome meets the constraint."""
        return bool(_COMPARE[self.op](value, self.bound))

    def __str__(self) -> str:
        return f"{self.name} {self.op} {self.bound!r}"  # repr: parses back to the same bound


@dataclass(frozen=True)
class Outcomes:
    """What a study measures: its objectives (name -> direction, in order) and constraints.

    Build it with :func:`define_outcomes`, which validates the study's arguments.
    """

    objectives: dict[str, str]
    constraints: tuple[OutcomeConstraint, ...] = ()

    @property
    def names(self) -> list[str]:
        """Every outcome a complete trial has: the objectives, then the constrained ones."""
        return list(dict.fromkeys([*self.objectives, *(c.name for c in self.constraints)]))

    @property
    def single(self) -> bool:
        """Whether the study measures one number (one objective, no constraint)."""
        return len(self.names) == 1

    def config(self) -> dict[str, Any]:
        """The JSON-ready form the storage keeps (``objectives``, ``constraints``)."""
        return {"objectives": dict(self.objectives),
                "constraints": [str(c) for c in self.constraints]}

    def told(self, value: Any, argument: str) -> dict[str, float]:
        """The outcomes of ``tell``: a number (one-outcome studies) or a mapping with
        exactly :attr:`names`; values may be NaN (the study records a failure)."""
        if not isinstance(value, Mapping):
            if self.single:
                return {self.names[0]: as_real(value, argument)}
            raise ArgumentTypeError(
                f"{argument} must be a dict of outcome -> number for this study's outcomes "
                f"{self.names}, got {type(value).__name__} {value!r}"
            )
        values = self._numbers(value, argument)  # a misspelt name: named as unknown first
        missing = [name for name in self.names if name not in values]
        if missing:
            raise InvalidArgumentError(
                f"{argument} lacks the outcome(s) {missing}; expected exactly {self.names}"
            )
        return values

    def partial(self, value: Any, argument: str) -> dict[str, float]:
        """A history row's outcomes: a number (one-outcome studies) or a mapping with some
        of :attr:`names` (at least one; the caller checks that they are finite)."""
        if not isinstance(value, Mapping):
            return self.told(value, argument)
        values = self._numbers(value, argument)
        if not values:
            raise InvalidArgumentError(
                f"{argument} has none of the study's outcomes {self.names}"
            )
        return values

    def _numbers(self, value: Mapping[Any, Any], argument: str) -> dict[str, float]:
        unknown = [name for name in value if name not in self.names]
        if unknown:
            raise InvalidArgumentError(
                f"{argument} has unknown outcome(s) {unknown}; this study's outcomes are "
                f"{self.names}"
            )
        return {name: as_real(value[name], f"{argument}[{name!r}]")
                for name in self.names if name in value}

    def feasible(self, values: Mapping[str, float]) -> bool:
        """Whether ``values`` has every outcome and satisfies every constraint (a history
        trial without some outcome cannot be judged, so it is not feasible)."""
        return set(self.names) <= set(values) and all(
            c.satisfied(values[c.name]) for c in self.constraints
        )

    def maximized(self, trials: Sequence[Trial]) -> torch.Tensor:
        """``n x m`` objective values of ``trials`` oriented for maximization (minimized
        objectives negated), in the order of :attr:`objectives`."""
        signs = [1.0 if d == "maximize" else -1.0 for d in self.objectives.values()]
        return torch.tensor(
            [[s * t.values[name] for s, name in zip(signs, self.objectives, strict=True)]
             for t in trials], dtype=torch.double,
        ).reshape(len(trials), len(signs))

    def pareto_front(self, trials: Sequence[Trial]) -> list[Trial]:
        """The feasible ``trials`` that no other feasible one dominates, in their order."""
        feasible = [t for t in trials if self.feasible(t.values)]
        if not feasible:
            return []
        keep = is_non_dominated(self.maximized(feasible), deduplicate=False)
        return [t for t, k in zip(feasible, keep.tolist(), strict=True) if k]

    def hypervolume(self, trials: Sequence[Trial], reference_point: Any) -> float:
        """The hypervolume the feasible ``trials`` dominate beyond ``reference_point``
        (objective -> value, or a sequence in objective order; the user's units)."""
        reference = self._reference(reference_point)
        front = self.pareto_front(trials)
        if not front:
            return 0.0
        partitioning = DominatedPartitioning(ref_point=reference, Y=self.maximized(front))
        return float(partitioning.compute_hypervolume())

    def _reference(self, point: Any) -> torch.Tensor:
        names = list(self.objectives)
        if isinstance(point, Mapping):
            if set(point) != set(names):
                raise InvalidArgumentError(
                    f"reference_point must give exactly the objectives {names}, got "
                    f"{list(point)}"
                )
            point = [point[name] for name in names]
        elif isinstance(point, str) or not isinstance(point, Sequence):
            raise ArgumentTypeError(
                f"reference_point must be a dict objective -> number or a sequence in the "
                f"order {names}, got {type(point).__name__}"
            )
        if len(point) != len(names):
            raise InvalidArgumentError(
                f"reference_point has {len(point)} numbers; the study has {len(names)} "
                f"objectives {names}"
            )
        numbers = [as_real(v, f"reference_point[{n!r}]") for n, v in zip(names, point, strict=True)]
        if not all(math.isfinite(v) for v in numbers):
            raise InvalidArgumentError(f"reference_point must be finite, got {numbers}")
        signs = [1.0 if d == "maximize" else -1.0 for d in self.objectives.values()]
        return torch.tensor([s * v for s, v in zip(signs, numbers, strict=True)],
                            dtype=torch.double)


def define_outcomes(
    direction: str,
    objectives: Mapping[str, str] | None,
    constraints: Sequence[str | OutcomeConstraint] | None,
    parameters: Sequence[str],
) -> Outcomes:
    """Validated :class:`Outcomes` of ``hbo.Study(direction=, objectives=, constraints=)``.

    ``direction`` alone means ``objectives={"value": direction}``; ``objectives`` with a
    non-default direction is refused (which one would hold?). With more than one outcome,
    no outcome may share a parameter's name (a history DataFrame holds both as columns).
    """
    if direction not in DIRECTIONS:
        raise InvalidArgumentError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
    if objectives is None:
        objectives = {DEFAULT_OUTCOME: direction}
    elif direction != DIRECTIONS[0]:
        raise InvalidArgumentError(
            f"give either direction={direction!r} or objectives (each with its direction), "
            f"not both; e.g. objectives={{'loss': {direction!r}}}"
        )
    if not isinstance(objectives, Mapping) or not objectives:
        raise ArgumentTypeError(
            "objectives must be a non-empty dict of outcome name -> 'minimize' or "
            f"'maximize', got {objectives!r}"
        )
    for name, way in objectives.items():
        if not isinstance(name, str) or not name.isidentifier():
            raise InvalidArgumentError(
                f"objective name {name!r} must be identifier-like (letters, digits, _)"
            )
        if way not in DIRECTIONS:
            raise InvalidArgumentError(
                f"objective {name!r}: direction must be one of {DIRECTIONS}, got {way!r}"
            )
    if constraints is None:
        constraints = []
    if isinstance(constraints, str | OutcomeConstraint) or not isinstance(constraints, Sequence):
        raise ArgumentTypeError(
            "constraints must be a list of 'name <= bound' / 'name >= bound' strings or "
            f"OutcomeConstraint, got {constraints!r}"
        )
    parsed = []
    for item in constraints:
        if isinstance(item, str):
            item = OutcomeConstraint.parse(item)
        elif not isinstance(item, OutcomeConstraint):
            raise ArgumentTypeError(
                f"each constraint must be a string like 'memory_gb <= 3' or an "
                f"OutcomeConstraint, got {type(item).__name__} {item!r}"
            )
        if item.name in objectives:
            raise InvalidArgumentError(
                f"constraint {str(item)!r} is on the objective {item.name!r}; constrain "
                "another outcome (an objective is optimized, not bounded)"
            )
        parsed.append(item)
    outcomes = Outcomes(dict(objectives), tuple(parsed))
    clash = sorted(set(outcomes.names) & set(parameters))
    if clash and not outcomes.single:
        raise InvalidArgumentError(
            f"outcome name(s) {clash} are also parameter names; name outcomes apart from "
            "the parameters"
        )
    return outcomes


def outcomes_from_config(config: Mapping[str, Any]) -> Outcomes:
    """The :class:`Outcomes` of a stored study definition (one stored before outcomes
    existed has the single objective ``value`` in its ``direction``)."""
    objectives = config.get("objectives") or {DEFAULT_OUTCOME: config["direction"]}
    constraints = tuple(map(OutcomeConstraint.parse, config.get("constraints") or ()))
    return Outcomes(dict(objectives), constraints)
