"""Random-effects meta-analysis and meta-regression, as R's metafor does it, with the Bayesian
peer one call away.

``random_effects(yi, vi, method="REML")`` estimates the overall effect ``mu`` and the
between-study variance ``tau^2`` (DL, REML, PM, ML, EB, HE, SJ, HS, FE) with confidence,
Q-profile and prediction intervals, I^2, H^2, Cochran's Q and z, t or Knapp-Hartung
inference; with ``mods=`` (a matrix, or a formula such as ``"~ ablat + year"`` over
``data=``) the same call fits a meta-regression (:class:`MetaRegressionResult`: coefficients,
QM and QE tests, residual tau^2, pseudo-R^2, ``predict``). Both fits have ``predict``,
``blup`` and ``influence``.
:mod:`hbo.meta.effect_sizes` computes ``yi`` and ``vi`` from 2x2 tables or group means;
:func:`mantel_haenszel` and :func:`peto` pool 2x2 tables directly;
:func:`egger_test`, :func:`ranktest` and :func:`trimfill` look at small-study effects;
:mod:`hbo.meta.plots` draws forest, funnel and bubble plots onto matplotlib Axes (loaded on
first use of their names, PEP 562: the GP proposer standardizes through
:mod:`hbo.meta.tau2`, and its first ask need not import matplotlib).
``hbo.hierarchy.NormalHierarchy(yi, np.sqrt(vi))`` is the exact Bayesian counterpart.
"""

from hbo._lazy import lazy_names
from hbo.meta import datasets, effect_sizes
from hbo.meta.case_deletion import Influence, influence
from hbo.meta.egger import EggerTest, egger_test
from hbo.meta.mantel_haenszel import PooledTables, mantel_haenszel, peto
from hbo.meta.random_effects import RandomEffectsResult, random_effects
from hbo.meta.rank_correlation import RankTest, ranktest
from hbo.meta.regression import MetaRegressionResult
from hbo.meta.tau2 import METHODS
from hbo.meta.trim_and_fill import TrimFill, trimfill

__all__ = [
    "METHODS",
    "EggerTest",
    "Influence",
    "MetaRegressionResult",
    "PooledTables",
    "RandomEffectsResult",
    "RankTest",
    "TrimFill",
    "bubble_plot",
    "datasets",
    "effect_sizes",
    "egger_test",
    "forest_plot",
    "funnel_plot",
    "influence",
    "mantel_haenszel",
    "peto",
    "random_effects",
    "ranktest",
    "trimfill",
]

#: The plots, loaded on first use (module doc).
__getattr__, __dir__ = lazy_names(__name__, dict.fromkeys(
    ("bubble_plot", "forest_plot", "funnel_plot"), "hbo.meta.plots"))
