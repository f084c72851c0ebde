"""Hierarchical posterior summaries: the exact normal hierarchical model, and your own models.

``NormalHierarchy(y, sigma, tau_prior=..., tau_scale=..., mu_prior=None).fit()`` gives the
exact posterior of ``(mu, tau, theta_j)`` with no MCMC; its plots (forest, shrinkage,
``p(tau | y)``, funnel) are in ``hbo.hierarchy.plots``. The seed models fitted with NUTS
live in ``hbo.hierarchy.models``. A model of your own subclasses
:class:`HierarchicalModel` (write its pyro program, its data and ArviZ labels;
``fit()`` samples it with NUTS and returns a :class:`FitResult` whose ``idata`` carries
posterior, log-likelihood, posterior predictive and prior draws). ``HierarchicalModel`` and
``FitResult`` are imported on first use (they bring pyro's and ArviZ's import time); the
data sets of :mod:`hbo.hierarchy.datasets` (``load_rats``) are plain CSV files.
"""

from typing import Any

from hbo.hierarchy.datasets import load_rats
from hbo.hierarchy.normal import NormalHierarchy, NormalHierarchyPosterior

__all__ = [
    "FitResult",
    "HierarchicalModel",
    "NormalHierarchy",
    "NormalHierarchyPosterior",
    "load_rats",
]
_FROM_MODELS = ("FitResult", "HierarchicalModel")


def __getattr__(name: str) -> Any:  # noqa: ANN401 - PEP 562: the class asked for
    if name in _FROM_MODELS:
        from hbo.hierarchy import models

        return getattr(models, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
