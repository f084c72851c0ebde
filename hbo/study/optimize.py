"""The evaluation loop: ask, evaluate, tell, as Optuna's ``Study.optimize`` runs it.

Each trial's objective is called with the :class:`~hbo.Trial` that ``ask`` returned (its
``params``); its value is told, and so is a failure: an exception of a type in ``catch``
marks the trial failed with a :class:`~hbo.FailedTrialWarning` and the loop goes on; any
other exception (``KeyboardInterrupt`` too) marks it failed and ends the loop by
propagating, so that no trial is left running. The loop stops after ``n_trials`` trials or,
checked before each ask, once ``timeout`` seconds have passed since it started (a trial in
progress is finished, not cut), whichever comes first.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from hbo._numbers import is_real
from hbo._warnings import FailedTrialWarning, warn
from hbo.errors import ArgumentTypeError, InvalidArgumentError
from hbo.trial import Trial

if TYPE_CHECKING:
    from hbo.study.study import Study

#: ``func(trial)``: the value, or a dict of every outcome (a study of several outcomes)
Objective = Callable[[Trial], float | Mapping[str, float]]
Callback = Callable[["Study", Trial], None]


def check_loop_arguments(
    func: object, n_trials: object, timeout: object, callbacks: object, catch: object
) -> tuple[tuple[Callback, ...], tuple[type[BaseException], ...]]:
    """Validate :func:`optimize`'s arguments; return ``callbacks`` and ``catch`` as tuples."""
    if not callable(func):
        raise ArgumentTypeError(
            f"optimize: func must be a callable taking an hbo.Trial, got {type(func).__name__}"
        )
    if n_trials is not None and (
        not isinstance(n_trials, int) or isinstance(n_trials, bool) or n_trials < 1
    ):
        raise InvalidArgumentError(f"optimize: n_trials must be a positive int or None, got "
                                   f"{n_trials!r}")
    if timeout is not None and not (is_real(timeout) and 0 < timeout < math.inf):
        raise InvalidArgumentError(f"optimize: timeout must be a positive number of seconds "
                                   f"or None, got {timeout!r}")
    callbacks = tuple(callbacks) if isinstance(callbacks, Sequence) else callbacks
    if not isinstance(callbacks, tuple) or not all(callable(c) for c in callbacks):
        raise ArgumentTypeError("optimize: callbacks must be a sequence of callables "
                                "callback(study, trial)")
    catch = (catch,) if isinstance(catch, type) else catch
    if not isinstance(catch, tuple | list) or not all(
        isinstance(c, type) and issubclass(c, Exception) for c in catch
    ):
        raise ArgumentTypeError(f"optimize: catch must be an Exception class or a tuple of "
                                f"them, got {catch!r}")
    return callbacks, tuple(catch)


def optimize(
    study: Study,
    func: Objective,
    n_trials: int | None = None,
    timeout: float | None = None,
    callbacks: Sequence[Callback] = (),
    catch: type[Exception] | Sequence[type[Exception]] = (),
) -> None:
    """Run the loop of the module docstring on ``study``'s target task."""
    callbacks, catch = check_loop_arguments(func, n_trials, timeout, callbacks, catch)
    start, done = time.monotonic(), 0
    while (n_trials is None or done < n_trials) and (
        timeout is None or time.monotonic() - start < timeout
    ):
        trial = study.ask()
        try:
            value = func(trial)
        except catch as exc:
            warn(f"trial {trial.id} failed with {type(exc).__name__}: {exc}; the loop goes on",
                 FailedTrialWarning)
            finished = study.tell(trial, failed=True)
        except BaseException:
            study.tell(trial, failed=True)
            raise
        else:
            finished = study.tell(trial, value)
        done += 1
        for callback in callbacks:
            callback(study, finished)
