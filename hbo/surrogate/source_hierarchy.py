r"""Stage B's pooling: the target as one more task of the sources' hierarchy.

Stage A (:mod:`hbo.surrogate.source_posterior`) fits the centre ``m`` and spread ``tau``
of every hyperparameter group to the sources alone. Held fixed in stage B, they pin the
target to the sources' spread: where the sources are alike, the target's data cannot move
its values far from theirs, and a target unlike them is fitted with the sources'
lengthscales and a scale grown to make up for them. On four alike sources and a rougher
target (``tests/surrogate/test_source_hierarchy.py``) the exact joint MAP, fitted with the
target, widens the lengthscales' ``tau`` and gives the target its own; stage B with stage
A's ``m, tau`` kept the target's lengthscales 1.2 to 2.25 (in log) from the joint's, with
an outputscale 20 to 50 times larger, where re-estimating them comes within 0.12 to 0.34.

So stage B re-estimates ``m`` and ``tau`` of every group whose ``tau`` stage A fitted, with
the target as task ``S + 1``, as the joint MAP (:meth:`HierarchicalGP.log_joint`) does.
The sources' own hyperparameters ``theta_s`` stay at stage A's values: 50 to 100 points
each fix them, the target's few do not move them. The joint objective with ``theta_s``
fixed is, per group (per input for the lengthscale),

    log N(m; loc, scale^2) + log p(log tau)
      + sum_s [ log N(z_s; 0, 1) - 1/2 log(1 + tau^2 I_s) ],   z_s = (theta_s - m) / tau,
      - 1/2 log(1 + tau^2 I_T),

plus the target's ``log N(z_T; 0, 1)`` and likelihood (:class:`~hbo.surrogate.target_gp.TargetGP`).
``p(log tau)`` is the Half-Normal hyperprior with its Jacobian
(:func:`~hbo.surrogate.priors.half_normal_log_prob_of_log`). ``I_s`` is the Fisher
information of source ``s``'s data about its ``log theta_s`` at stage A
(:func:`~hbo.surrogate.information.fisher_information`), fixed; ``I_T`` the target's given
the sources, at its current ``theta_T`` (:meth:`TargetGP.information`). The ``log1p`` terms are
the joint fit's Laplace term, which integrates each task's ``z`` out; for a well-informed
source (``tau^2 I_s >> 1``) the bracket is ``log N(theta_s; m, tau^2)`` up to a constant, the
centred density. Without the target's terms the maximum is stage A's ``(m, tau)``: stage A
maximized the same function jointly in ``(m, tau, theta_s)``, and a joint maximum is a
maximum along ``theta_s`` fixed (``tests/surrogate/test_source_hierarchy.py``).

On YAHPO with 5 x 50 history (16 targets x 3 seeds per scenario), against holding ``m, tau``
at stage A's: regret after 30 evaluations 0.84 [0.62, 1.14] times (after 10, 0.92 [0.80,
1.06]; 90% intervals), and against the exact joint model on lcbench 1.02 after 10 and
after 30 where it had been 1.15 and 1.18. Each ask fits ``D + 7`` more parameters and
differentiates ``I_T``: 0.36 s against 0.21 on lcbench (``experiments/results/target_pooling.md``).

Groups whose ``tau`` is fixed (``fixed_tau``, or a single source, where stage A has no
spread to fit) keep stage A's ``m`` and ``tau``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import Tensor

from hbo.surrogate.fit import group_box
from hbo.surrogate.hierarchical_gp import HierarchicalGP
from hbo.surrogate.information import fisher_information
from hbo.surrogate.priors import Hyperprior, half_normal_log_prob_of_log, normal_log_prob


@dataclass(frozen=True)
class SourceHierarchy:
    """The sources' side of every group's pooling, fixed at stage A (module doc).

    Attributes:
        m: Group -> stage A's centre ``m`` (``D`` for the lengthscale, scalar otherwise).
        tau: Group -> stage A's spread ``tau`` (scalar; 0 with a single source).
        refitted: Groups whose ``m, tau`` stage B re-estimates (stage A fitted their ``tau``).
        log_theta: Group in ``refitted`` -> ``S x ...`` the sources' log hyperparameters.
        information: Group in ``refitted`` -> ``S x ...`` their Fisher information.
        hyperpriors: Group -> its hyperprior; ``dim``: the encoded input dimension ``D``.
    """

    m: Mapping[str, Tensor]
    tau: Mapping[str, Tensor]
    refitted: tuple[str, ...]
    log_theta: Mapping[str, Tensor]
    information: Mapping[str, Tensor]
    hyperpriors: Mapping[str, Hyperprior]
    dim: int

    @classmethod
    def of(cls, model: HierarchicalGP, num_sources: int | None = None) -> SourceHierarchy:
        """The hierarchy of a fitted stage-A model whose first ``num_sources`` tasks (default:
        all) are the sources; a later task, the target when stage A saw it, is left out of
        ``log_theta`` and ``information``, as stage B adds the target with its own terms."""
        keep = slice(num_sources)
        with torch.no_grad():
            theta = {g: v.detach() for g, v in model.log_hyperparameters().items()}
            refitted = tuple(g for g in model.groups if g in model.log_tau)
            information = {}
            if refitted:
                info = fisher_information(model, theta, model._factor(theta)[0])
                information = {g: info[g][keep] for g in refitted}
            return cls(
                m={g: model.m[g].detach().clone() for g in model.groups},
                tau={g: model.tau(g).detach().clone() for g in model.groups},
                refitted=refitted,
                log_theta={g: theta[g][keep] for g in refitted},
                information=information,
                hyperpriors={g: model.hyperpriors[g] for g in model.groups},
                dim=model._Z.shape[-1],
            )

    def log_density(self, m: Mapping[str, Tensor], log_tau: Mapping[str, Tensor],
                    target_information: Mapping[str, Tensor]) -> Tensor:
        """The terms of the module doc's objective that involve ``m, tau`` (all but the
        target's ``log N(z_T; 0, 1)``), summed over ``refitted``; ``target_information``:
        group -> ``I_T`` (shaped as ``m``)."""
        value = torch.zeros((), dtype=torch.double)
        for g in self.refitted:
            prior, tau = self.hyperpriors[g], log_tau[g].exp()
            z = (self.log_theta[g] - m[g]) / tau
            value = (value + normal_log_prob(m[g], prior.location(self.dim), prior.scale)
                     + half_normal_log_prob_of_log(log_tau[g], prior.tau_scale)
                     - 0.5 * z.pow(2).sum()
                     - 0.5 * torch.log1p(tau**2 * self.information[g]).sum()
                     - 0.5 * torch.log1p(tau**2 * target_information[g]).sum())
        return value

    def box(self) -> dict[str, tuple[float | None, float | None]]:
        """Bounds of ``m.<group>`` and ``log_tau.<group>`` as :func:`~hbo.surrogate.fit.prior_box`
        gives the joint fit's."""
        box: dict[str, tuple[float | None, float | None]] = {}
        for g in self.refitted:
            box[f"m.{g}"], box[f"log_tau.{g}"] = group_box(self.hyperpriors[g], self.dim)
        return box
