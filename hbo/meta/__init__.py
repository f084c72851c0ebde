"""Random-effects meta-analysis, as R's metafor does it, with the Bayesian peer one call away.

``random_effects(yi, vi, method="REML")`` estimates the overall effect ``mu`` and the
between-study variance ``tau^2`` (DL, REML, PM, ML, EB, HE, SJ, HS, FE) with confidence,
Q-profile and prediction intervals, I^2, H^2, Cochran's Q and Knapp-Hartung inference;
:mod:`hbo.meta.effect_sizes` computes ``yi`` and ``vi`` from 2x2 tables or group means;
:func:`egger_test`, :func:`funnel_plot` and :func:`forest_plot` look at small-study effects.
``hbo.hierarchy.NormalHierarchy(yi, np.sqrt(vi))`` is the exact Bayesian counterpart.
"""

from hbo.meta import datasets, effect_sizes
from hbo.meta.egger import EggerTest, egger_test
from hbo.meta.plots import forest_plot, funnel_plot
from hbo.meta.random_effects import RandomEffectsResult, random_effects
from hbo.meta.tau2 import METHODS

__all__ = [
    "METHODS",
    "EggerTest",
    "RandomEffectsResult",
    "datasets",
    "effect_sizes",
    "egger_test",
    "forest_plot",
    "funnel_plot",
    "random_effects",
]
