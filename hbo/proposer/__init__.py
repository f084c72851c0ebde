"""Proposers: what chooses a :class:`~hbo.Study`'s next points (as Optuna's samplers).

* :class:`Proposer` (:mod:`hbo.proposer.base`): the protocol, one method ``propose``;
  storing, concurrent-ask settlement and seeding are the base class's.
* :class:`HierarchicalProposer` (:mod:`hbo.proposer.hierarchical`), the default:
  Expected Improvement on the hierarchical GP.
* :class:`SobolProposer`: the task's scrambled Sobol sequence, a baseline.
"""

from hbo.proposer.base import SETTLE_ROUNDS, Proposer, SobolProposer, sobol_points, trials_before
from hbo.proposer.hierarchical import HierarchicalProposer

__all__ = [
    "SETTLE_ROUNDS",
    "HierarchicalProposer",
    "Proposer",
    "SobolProposer",
    "sobol_points",
    "trials_before",
]
