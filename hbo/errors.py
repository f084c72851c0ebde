"""One exception root for hbo, with subclasses named for the situation.

Every error hbo raises on bad input derives from :class:`HBOError` and, where the
meaning matches, from the builtin a caller would catch anyway (``ValueError``,
``TypeError``, ``KeyError``, ``RuntimeError``). Messages name the argument, say
what was wrong and what would be accepted.
"""

from __future__ import annotations


class HBOError(Exception):
    """Root of every exception raised by hbo."""

    def __str__(self) -> str:
        # KeyError quotes its message; we want the sentence as written.
        return str(self.args[0]) if len(self.args) == 1 else super().__str__()


class InvalidSpaceError(HBOError, ValueError):
    """A search space or parameter definition is malformed (bounds, names, choices)."""


class ParamKeyError(HBOError, KeyError):
    """A parameter dict has a missing or unknown key."""


class ParamTypeError(HBOError, TypeError):
    """A parameter value has the wrong type (e.g. a string for a Float)."""


class ParamValueError(HBOError, ValueError):
    """A parameter value lies outside its domain (bounds or choices)."""


class ObjectiveTypeError(HBOError, TypeError):
    """An objective value told for a trial is not a real number."""


class UnknownTrialError(HBOError, KeyError):
    """A trial id (or Trial) that the study does not hold."""


class TrialStateError(HBOError, RuntimeError):
    """A trial state transition that is not allowed (e.g. telling a finished trial twice)."""


class UnknownTaskError(HBOError, KeyError):
    """A task name the study does not know."""


class ArgumentTypeError(HBOError, TypeError):
    """An argument has the wrong type (e.g. a string where a trial or an int is expected)."""


class InvalidArgumentError(HBOError, ValueError):
    """An argument has a value outside what the function accepts."""


class InvalidDataError(HBOError, ValueError):
    """Data handed to a model or estimator is malformed (lengths, NaN, non-positive variances)."""


class NotReadyError(HBOError, RuntimeError):
    """A result was asked for before the calls that produce it (the message names them)."""


class ModelFittingError(HBOError, RuntimeError):
    """A model could not be fitted, even after jitter and restarts."""


class ImproperPosteriorError(HBOError, ValueError):
    """The prior and data give an improper posterior: no number can be reported."""
