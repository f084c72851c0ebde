"""Surrogate models: the hierarchical GP, its hyperpriors, and its fully Bayesian ensemble."""

from hbo.models.fully_bayesian import FullyBayesianHierarchicalGP, fit_fully_bayesian
from hbo.models.hierarchical_gp import HierarchicalGP
from hbo.models.nuts import NUTSOptions
from hbo.models.priors import Hyperprior, default_hyperpriors

__all__ = [
    "FullyBayesianHierarchicalGP",
    "HierarchicalGP",
    "Hyperprior",
    "NUTSOptions",
    "default_hyperpriors",
    "fit_fully_bayesian",
]
