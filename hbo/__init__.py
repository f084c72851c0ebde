"""hbo: hierarchical Bayesian optimization and hierarchical posterior summaries.

Partial pooling across related groups (tasks, schools, clinics), with the amount
of pooling learned from the data and shown to the user.
"""

from hbo.errors import HBOError

__version__ = "0.1.0"

__all__ = ["HBOError", "__version__"]
