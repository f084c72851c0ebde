"""hbo: hierarchical Bayesian optimization and hierarchical posterior summaries.

Partial pooling across related groups (tasks, schools, clinics), with the amount
of pooling learned from the data and shown to the user.

``import hbo`` loads only the light modules (errors, warnings, trials); the search space,
the study and the reports bring torch and BoTorch, and load on first use of their names
(PEP 562), so that ``import hbo`` and ``hbo --help`` stay fast.
"""

import importlib
from typing import Any

from hbo._warnings import (
    ConvergenceWarning,
    FailedTrialWarning,
    HBOWarning,
    HistoryImportWarning,
    ModelFittingWarning,
    NumericalWarning,
)
from hbo.errors import HBOError
from hbo.trial import Origin, Trial, TrialState

__version__ = "0.1.0"

#: Public names loaded on first use, and their modules.
_LAZY = {
    "Categorical": "hbo.space",
    "Float": "hbo.space",
    "Int": "hbo.space",
    "SearchSpace": "hbo.space",
    "Study": "hbo.study",
    "OutcomeConstraint": "hbo.study.outcomes",
    "PoolingReport": "hbo.surrogate.pooling",
}

__all__ = [
    "Categorical",
    "ConvergenceWarning",
    "FailedTrialWarning",
    "Float",
    "HBOError",
    "HBOWarning",
    "HistoryImportWarning",
    "Int",
    "ModelFittingWarning",
    "NumericalWarning",
    "Origin",
    "OutcomeConstraint",
    "PoolingReport",
    "SearchSpace",
    "Study",
    "Trial",
    "TrialState",
    "__version__",
]


def __getattr__(name: str) -> Any:  # noqa: ANN401 - PEP 562: the object asked for
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'hbo' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
