"""Settings of the fully Bayesian fit's NUTS run (:mod:`hbo.surrogate.nuts`).

A module of its own, free of the sampler's imports (pyro, ArviZ), so that a
:class:`~hbo.Study` validates its ``nuts=`` options without loading them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from hbo.errors import InvalidArgumentError


@dataclass(frozen=True)
class NUTSOptions:
    """Settings of the NUTS run of a fully Bayesian hierarchical GP.

    Attributes:
        warmup: Adaptation iterations per chain (discarded).
        draws: Kept iterations per chain, before thinning.
        chains: Number of chains (>= 2 for R-hat).
        thinning: Keep every ``thinning``-th draw of each chain for the ensemble; the
            ensemble has ``chains * ceil(draws / thinning)`` members.
        target_accept: Target acceptance probability of the step-size adaptation.
        max_tree_depth: NUTS doubling limit.
        progress: Show pyro's progress bar.
        parallel: Run the chains at once in forked processes where that helps (Linux, two
            or more usable cores: :func:`hbo.mcmc.can_fork`), else one
            after another. The draws do not depend on it at one thread per chain; the wall
            time of an ask roughly divides by the number of chains.
    """

    warmup: int = 128
    draws: int = 128
    chains: int = 2
    thinning: int = 2
    target_accept: float = 0.8
    max_tree_depth: int = 6
    progress: bool = True
    parallel: bool = True

    def __post_init__(self) -> None:
        for name, low in (("warmup", 0), ("draws", 1), ("chains", 1), ("thinning", 1),
                          ("max_tree_depth", 1)):
            value = getattr(self, name)
            if not isinstance(value, int | np.integer) or isinstance(value, bool) or value < low:
                raise InvalidArgumentError(
                    f"nuts option {name!r} must be an integer >= {low}, got {value!r}"
                )
        if self.thinning > self.draws:
            raise InvalidArgumentError(
                f"nuts option 'thinning' ({self.thinning}) must not exceed 'draws' "
                f"({self.draws}): no draw would be kept"
            )
        if not (isinstance(self.target_accept, float | int) and 0 < self.target_accept < 1):
            raise InvalidArgumentError(
                f"nuts option 'target_accept' must lie in (0, 1), got {self.target_accept!r}"
            )
        for name in ("progress", "parallel"):
            if not isinstance(getattr(self, name), bool):
                raise InvalidArgumentError(
                    f"nuts option {name!r} must be True or False, got {getattr(self, name)!r}"
                )

    @classmethod
    def from_value(cls, value: NUTSOptions | Mapping[str, Any] | None) -> NUTSOptions:
        """Options from None (defaults), a mapping of some fields, or options."""
        if value is None:
            return cls()
        if isinstance(value, cls):
            return value
        if not isinstance(value, Mapping):
            raise InvalidArgumentError(
                f"nuts must be a dict of options or hbo.surrogate.NUTSOptions, got "
                f"{type(value).__name__}"
            )
        known = [f.name for f in fields(cls)]
        unknown = sorted(set(value) - set(known))
        if unknown:
            raise InvalidArgumentError(f"nuts: unknown options {unknown}; accepted: {known}")
        return cls(**value)

    @property
    def kept_per_chain(self) -> int:
        return math.ceil(self.draws / self.thinning)
