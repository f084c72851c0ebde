"""Hierarchical models without a closed form, fitted with NUTS (pyro) and checked with ArviZ.

Each model is a small class; ``fit(chains=4, warmup=..., draws=..., seed=...)`` returns a
:class:`FitResult` with ``.idata`` (ArviZ ``InferenceData``), ``.summary()`` and
``.convergence()``.
"""

from hbo.hierarchy.models._base import FitResult, HierarchicalModel
from hbo.hierarchy.models.eight_schools import EightSchools

__all__ = ["EightSchools", "FitResult", "HierarchicalModel"]
