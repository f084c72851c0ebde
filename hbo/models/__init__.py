"""Surrogate models: the hierarchical GP and its hyperpriors."""

from hbo.models.hierarchical_gp import HierarchicalGP
from hbo.models.priors import Hyperprior, default_hyperpriors

__all__ = ["HierarchicalGP", "Hyperprior", "default_hyperpriors"]
