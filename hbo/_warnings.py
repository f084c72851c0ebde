"""Warnings that point at the caller's line, not at hbo's internals (as Optuna does)."""

from __future__ import annotations

import os
import sys
import warnings

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


class HBOWarning(UserWarning):
    """Root of every warning hbo emits."""


class NumericalWarning(HBOWarning):
    """A numerical problem was worked around (jitter added, optimizer restarted)."""


class FailedTrialWarning(HBOWarning):
    """A trial was recorded as failed instead of raising (e.g. a NaN objective)."""


class ModelFittingWarning(HBOWarning):
    """The surrogate could not be fitted; ``ask`` proposed quasi-random points instead."""


class HistoryImportWarning(HBOWarning):
    """Imported history left out source parameters or trials (the message says which)."""


class ConvergenceWarning(HBOWarning):
    """A sampler or optimizer result does not meet its convergence checks."""


def _stacklevel_outside_package() -> int:
    """Number of frames from ``warn``'s caller up to the first frame outside hbo."""
    level = 1
    frame = sys._getframe(1)
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE_DIR):
        frame = frame.f_back
        level += 1
    return level


def warn(message: str, category: type[Warning] = HBOWarning) -> None:
    """Emit ``message`` attributed to the first stack frame outside the hbo package."""
    warnings.warn(message, category, stacklevel=_stacklevel_outside_package())
