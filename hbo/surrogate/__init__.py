"""Surrogate models: the hierarchical GP, its hyperprior, and its fully Bayesian ensemble.

The fully Bayesian names load on first use: they bring the sampler (pyro) and ArviZ,
which a study fitted by MAP never needs (``import hbo`` stays about 2 s lighter).
"""

from typing import Any

from hbo.surrogate.hierarchical_gp import HierarchicalGP
from hbo.surrogate.nuts_options import NUTSOptions
from hbo.surrogate.priors import Hyperprior, default_hyperpriors

_FULLY_BAYESIAN = ("FullyBayesianHierarchicalGP", "fit_fully_bayesian")

__all__ = [
    "FullyBayesianHierarchicalGP",
    "HierarchicalGP",
    "Hyperprior",
    "NUTSOptions",
    "default_hyperpriors",
    "fit_fully_bayesian",
]


def __getattr__(name: str) -> Any:  # noqa: ANN401
    if name in _FULLY_BAYESIAN:
        from hbo.surrogate import fully_bayesian

        return getattr(fully_bayesian, name)
    raise AttributeError(f"module 'hbo.surrogate' has no attribute {name!r}")
