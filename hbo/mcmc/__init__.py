"""NUTS on one flat vector of unconstrained parameters, for any model with a potential energy.

Used by the hierarchical models (:mod:`hbo.hierarchy.models`) and by the fully Bayesian fit
of the GP surrogate (:mod:`hbo.surrogate.nuts`). Two kernels, one algorithm: pyro's NUTS
(Hoffman & Gelman 2014, https://jmlr.org/papers/v15/hoffman14a.html) with multinomial
sampling (Betancourt 2017, arXiv:1701.02434), and pyro's warm-up (dual-averaging step size,
diagonal mass matrix estimated in Stan's windows).

- :class:`FlatPotential` (:mod:`hbo.mcmc.potential`): ``U(x) = -log p(x, y)`` of a pyro
  model, all its unconstrained sites in one vector ``x`` under the site name
  :data:`FLAT`, value and gradient traced into one compiled graph;
- :class:`FlatNUTS`: hbo's lean trajectory builder (:mod:`hbo.mcmc.trajectory`) inside
  pyro's kernel; :class:`RecordingNUTS`: pyro's kernel unchanged; both record the sample
  statistics ArviZ needs (divergences, energy, tree depth, step size, log density);
- :func:`run_chains` (:mod:`hbo.mcmc.chains`): seeded chains, one after another or at once
  in forked processes (:mod:`hbo.mcmc.forking`); :func:`seeded`: a block with seeded and
  afterwards restored global RNGs.

The kernels extend pyro's ``NUTS`` through its private members, and the potential compiles
with private torch APIs; all of that is in :mod:`hbo.mcmc._private_apis`, for the versions
pinned in ``pyproject.toml``.
"""

from hbo.mcmc._private_apis.pyro_nuts import FlatNUTS, RecordingNUTS
from hbo.mcmc.chains import SAMPLERS, run_chains, seeded
from hbo.mcmc.forking import can_fork, in_forked_processes
from hbo.mcmc.potential import FLAT, FlatPotential

__all__ = [
    "FLAT",
    "SAMPLERS",
    "FlatNUTS",
    "FlatPotential",
    "RecordingNUTS",
    "can_fork",
    "in_forked_processes",
    "run_chains",
    "seeded",
]
