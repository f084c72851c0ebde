"""Diagnostics of hierarchical posteriors: convergence (via ArviZ), pooling, funnel plots.

- :func:`convergence` -> :class:`ConvergenceReport`: R-hat, ESS, MCSE, divergences, E-BFMI.
- :func:`pooling_factor` -> :class:`PoolingFactor`: Gelman & Pardoe (2006) pooling factor
  of a level and per-group shrinkage.
- :func:`funnel`: ``log tau`` against a group coefficient, divergent draws marked.
- :mod:`hbo.diagnostics.plots`: trace, rank and forest plots (ArviZ) saved as PNG.
- :mod:`hbo.diagnostics.figures`: the ``ax=`` / ``path=`` contract every hbo plot keeps.
"""

from hbo.diagnostics.convergence import ConvergenceReport, convergence
from hbo.diagnostics.funnel import funnel
from hbo.diagnostics.pooling import PoolingFactor, pooling_factor

__all__ = ["ConvergenceReport", "PoolingFactor", "convergence", "funnel", "pooling_factor"]
