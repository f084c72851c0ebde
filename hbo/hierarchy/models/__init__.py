"""Hierarchical models without a closed form, fitted with NUTS (pyro) and checked with ArviZ.

Each model is a small class; ``fit(chains=4, warmup=..., draws=..., seed=...)`` returns a
:class:`FitResult` with ``.idata`` (ArviZ ``InferenceData``: posterior, sample_stats,
log_likelihood, posterior_predictive, prior, prior_predictive, observed_data),
``.summary()`` and ``.convergence()``; ``sample_prior(draws)`` draws the prior alone. Each
seed model ships a data set (real or simulated with known truth) through a loader or
simulator beside it. A model of your own subclasses :class:`HierarchicalModel` (also
``hbo.hierarchy.HierarchicalModel``).
"""

from hbo.hierarchy.models._base import FitResult, HierarchicalModel
from hbo.hierarchy.models.eight_schools import EightSchools
from hbo.hierarchy.models.football import (
    FootballHomeAdvantage,
    load_epl_2018_19,
    simulate_season,
)
from hbo.hierarchy.models.irt import IRT2PL, simulate_irt
from hbo.hierarchy.models.mrp import MrP, simulate_poll
from hbo.hierarchy.models.stochastic_volatility import StochasticVolatility, simulate_returns

__all__ = [
    "IRT2PL",
    "EightSchools",
    "FitResult",
    "FootballHomeAdvantage",
    "HierarchicalModel",
    "MrP",
    "StochasticVolatility",
    "load_epl_2018_19",
    "simulate_irt",
    "simulate_poll",
    "simulate_returns",
    "simulate_season",
]
