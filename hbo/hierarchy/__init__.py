"""Hierarchical posterior summaries: the normal hierarchical model in exact full Bayes.

``NormalHierarchy(y, sigma, tau_prior=..., tau_scale=..., mu_prior=None).fit()`` gives the
exact posterior of ``(mu, tau, theta_j)`` with no MCMC; its plots (forest, shrinkage,
``p(tau | y)``, funnel) are in ``hbo.hierarchy.plots``. The seed models fitted with NUTS
live in ``hbo.hierarchy.models`` (imported by its full path).
"""

from hbo.hierarchy.normal import NormalHierarchy, NormalHierarchyPosterior

__all__ = ["NormalHierarchy", "NormalHierarchyPosterior"]
