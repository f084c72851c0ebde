"""hbo: hierarchical Bayesian optimization and hierarchical posterior summaries.

Partial pooling across related groups (tasks, schools, clinics), with the amount
of pooling learned from the data and shown to the user.

``import hbo`` loads only the light modules (errors, warnings, trials); the search space,
the study and the reports bring torch and BoTorch, and load on first use of their names
(PEP 562), so that ``import hbo`` and ``hbo --help`` stay fast.
"""

from hbo._lazy import lazy_names
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


__getattr__, __dir__ = lazy_names(__name__, _LAZY)
