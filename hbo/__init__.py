"""hbo: hierarchical Bayesian optimization and hierarchical posterior summaries.

Partial pooling across related groups (tasks, schools, clinics), with the amount
of pooling learned from the data and shown to the user.
"""

from hbo._warnings import (
    ConvergenceWarning,
    FailedTrialWarning,
    HBOWarning,
    ModelFittingWarning,
    NumericalWarning,
)
from hbo.errors import HBOError
from hbo.space import Categorical, Float, Int, SearchSpace
from hbo.study import Study
from hbo.surrogate.pooling import PoolingReport
from hbo.trial import Origin, Trial, TrialState

__version__ = "0.1.0"

__all__ = [
    "Categorical",
    "ConvergenceWarning",
    "FailedTrialWarning",
    "Float",
    "HBOError",
    "HBOWarning",
    "Int",
    "ModelFittingWarning",
    "NumericalWarning",
    "Origin",
    "PoolingReport",
    "SearchSpace",
    "Study",
    "Trial",
    "TrialState",
    "__version__",
]
