"""Hierarchical training for the proposer: the sources fitted once per history, the target
each ask (:mod:`hbo.surrogate.source_posterior`, :mod:`hbo.surrogate.target_gp`).

``training="auto"`` (the default of :class:`~hbo.proposer.HierarchicalProposer`) keeps the
exact joint model while the other tasks hold at most ``MAX_SHARED_POINTS`` observations
(proposals there are those of the joint fit, unchanged) and switches to hierarchical
training above, where the joint model with the shared function ``g`` would cost an
``N x N`` factorization per likelihood evaluation (and ``g`` used to be switched off).

**Stage A sees the target.** Stage A is fitted to the sources alone while the target has
fewer than ``TARGET_REFIT_POINTS`` observations (the history's start,
:mod:`hbo.proposer.history_start`), then with the target's observations as one more task
of its hyperparameter fit (``fit_sources(target=...)``; ``g``'s posterior stays the
sources'), refitted each time they have grown by ``TARGET_REFIT_GROWTH`` and by at least
``TARGET_REFIT_STEP`` points (at 2, 4, 6, 8, 10, 13, 17, 22, 28, ... points: 9 of a run's
first 30 asks, logarithmically many after). Between refits each ask refits stage B only,
warm-started, and after a refit the target with ``g`` starts at stage A's fit of it.
Stage A's model without ``g`` is fitted only from ``MIN_TARGET_POINTS`` target points on,
where the leave-one-out choice of ``g`` (:mod:`hbo.surrogate.shared_choice`) first needs
it, and once per history: it sees the sources alone, on every point
(:func:`~hbo.surrogate.source_posterior.fit_own_model`), and the refits with the target keep it.

Why: fitted to the sources alone, stage A finds the ``g`` the sources share, which may be
none. On YAHPO rbv2_rpart (dataset 24, 5 x 50 history, 28 target points; commit b61f068) the
five sources' loadings ``log a_s^2`` were all near -3.5 (``g`` nearly unused, its
lengthscales short and weakly determined), and stage B, which cannot move them, kept the
target's loading at -3.4. The exact joint model of the same data put the target's loading at
0.1, two sources' at -1.3 and -1.4, and ``g``'s lengthscales 0.4 to 1.3 (log) longer: the
function the target shares with *some* sources. The target's leave-one-out log density (with
``g``) was 48.0 there and 29.8 under stage B. With stage A fitted with the target (a
prototype of this code, seed 0): on dataset 6 at 28 points 65.7 with ``g`` and 67.8 without,
against the joint model's 65.0 and 67.8, where stage A of the sources alone gave 53.3 and
53.7. How fresh stage A must be: fitted at 10 target points and used at 19 it gained little
(dataset 6: 29.6 against 29.5, joint 34.3); fitted at 20 and used at 28 it closed most of
the gap (61.0). Measured over targets, seeds and states:
``experiments/stage_a_target_loo.py`` (``results/stage_a_target_loo.md``). In regret on
YAHPO (``results/stage_a_target.md``): with 20 x 100 history, 16 targets x 3 seeds per
scenario, 0.77 [0.48, 1.24] (lcbench) and 0.50 [0.32, 0.80] (rbv2_rpart) times the regret of
stage A of the sources alone after 30 evaluations, after 10 1.15 [0.93, 1.49] and 0.94
[0.77, 1.17] (90% intervals); forced at 5 x 50 (2 seeds), 0.74 [0.57, 0.94] after 10 and
0.65 [0.43, 0.97] after 30, pooled (refits at every quarter's growth, then). The cost: stage
A's fit (at most ``SOURCE_FIT_POINTS`` source points and the target's) on 9 of a run's first
30 asks. Spacing the refits at least 2 points apart (11 of 30 before) took the median later
ask at 50 x 100 history from 2.6 to 1.2 times that at 5 x 50, with the products of
:func:`~hbo.surrogate.kernels.base.squared_distance`; the regret at 20 x 100, paired, was
1.01 [0.89, 1.14] times that of every quarter's refit after 10 evaluations and 1.09 [0.84,
1.41] after 30 (``results/stage_a_refit_step.md``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from hbo.surrogate.hierarchical_gp import MAX_SHARED_POINTS, HierarchicalGP
from hbo.surrogate.shared_choice import (
    SharedFunctionChoice,
    fit_target_surrogate,
    fits_model_without_g,
)
from hbo.surrogate.source_posterior import SourcePosterior, fit_own_model, fit_sources
from hbo.surrogate.target_gp import TargetGP
from hbo.surrogate.training_data import task_standardization

if TYPE_CHECKING:
    from hbo.proposer.hierarchical import HierarchicalProposer
    from hbo.study import Study
    from hbo.trial import Trial

TRAINING = ("auto", "joint", "hierarchical")
#: Stage A is refitted with the target as one of its tasks once the target has this many
#: observations, and again each time they have grown by ``TARGET_REFIT_GROWTH`` and by at
#: least ``TARGET_REFIT_STEP`` points since.
TARGET_REFIT_POINTS = 2
TARGET_REFIT_GROWTH = 1.25
TARGET_REFIT_STEP = 2


def uses_hierarchical_training(proposer: HierarchicalProposer, n_target: int,
                               n_other: int, n_other_tasks: int) -> bool:
    """Whether ``proposer`` fits this target by hierarchical training (module doc): it
    needs at least one point of the target, two other tasks (stage A is a hierarchical
    model of the sources with ``g``, which one task cannot separate from its own function;
    with one, the exact joint model of it and the target is fitted), and MAP inference."""
    if proposer.training == "joint" or not n_target or n_other_tasks < 2:
        return False
    if proposer.training == "hierarchical":
        return True
    return (n_other > MAX_SHARED_POINTS and proposer.shared_function is not False
            and proposer.inference == "map")


def history_key(study: Study, task: str, done: Sequence[Trial]) -> tuple:
    """What identifies the history of ``task`` among ``done``: the study and the other
    tasks' trials. What is fitted once per history is cached under it."""
    return (id(study), task, *(t.id for t in done if t.task != task))


class HierarchicalTraining:
    """The cached sources of one proposer (stage A, refitted warm when the other tasks'
    trials change) and the target's fits (stage B, warm-started each ask)."""

    def __init__(self) -> None:
        self.key: tuple = ()
        self.sources: SourcePosterior | None = None
        self.source_names: list[str] = []
        self.task_names: list[str] = []  # stage A's tasks: the sources, the target if it saw it
        self.targets: dict[bool, TargetGP] = {}

    @property
    def target_points(self) -> int:
        """The target's observations in the cached stage A (0: the sources' alone, or none)."""
        return 0 if self.sources is None else self.sources.num_target_points

    def fit(
        self, proposer: HierarchicalProposer, study: Study, task: str, done: Sequence[Trial],
        X: Tensor, Y: Tensor,
    ) -> tuple[TargetGP, SharedFunctionChoice | None]:
        """The target's surrogate given the sources among ``done`` (``X``: ``n x d`` features,
        ``Y``: ``n x 1`` values oriented for maximization, rows as ``done``)."""
        is_target = torch.tensor([t.task == task for t in done])
        cached = self.sources
        own = fits_model_without_g(proposer.shared_function, int(is_target.sum()))
        sources = self.sources_of(proposer, study, task, done, X, Y, own)
        if sources is not cached and sources.num_target_points:
            self.targets.pop(True, None)  # start at stage A's fit of the target (TargetGP)
        mean, std = self._standardization(task, done, Y)

        def build(shared: bool) -> TargetGP:
            return TargetGP(sources, X[is_target], Y[is_target], float(mean[-1]),
                            float(std[-1]), shared=shared)

        model, choice, self.targets = fit_target_surrogate(
            build, self.targets, proposer.shared_function
        )
        return model, choice

    def sources_of(
        self, proposer: HierarchicalProposer, study: Study, task: str, done: Sequence[Trial],
        X: Tensor, Y: Tensor, own: bool,
    ) -> SourcePosterior:
        """Stage A of the other tasks among ``done`` (``X``, ``Y`` as in :meth:`fit`), fitted
        when their trials changed since the last call, else the cached one. ``own``: the
        model without ``g`` (:func:`~hbo.surrogate.source_posterior.fit_own_model`) is
        needed; it is fitted once per history, where the cached stage A lacks it."""
        key = history_key(study, task, done)
        n_target = sum(t.task == task for t in done)
        seen = self.target_points
        target_due = n_target >= max(TARGET_REFIT_POINTS, TARGET_REFIT_GROWTH * seen,
                                     seen + TARGET_REFIT_STEP)
        same = key == self.key
        if not same or target_due:
            names = list(dict.fromkeys(t.task for t in done if t.task != task))
            kept = self.sources.own_model if same else None
            self._fit_sources(proposer, study, task, names, done, X, Y,
                              own if kept is None else kept, n_target >= TARGET_REFIT_POINTS)
            self.key = key
        elif own and self.sources.own_model is None:
            self.sources = replace(self.sources, own_model=fit_own_model(
                proposer.history_model(study), *self._source_data(done, X, Y)))
        return self.sources

    def _standardization(self, task: str, done: Sequence[Trial],
                         Y: Tensor) -> tuple[Tensor, Tensor]:
        """:func:`task_standardization` of the sources (in ``source_names``' order) and the
        target (last) among ``done``; the target's is stage B's."""
        labels = {name: i for i, name in enumerate([*self.source_names, task])}
        index = torch.tensor([labels[t.task] for t in done])
        return task_standardization(Y.squeeze(-1), index, len(labels))

    def _source_data(self, done: Sequence[Trial], X: Tensor,
                     Y: Tensor) -> tuple[Tensor, Tensor, Tensor, int]:
        """The sources' (``source_names``) ``N x d`` features, ``N`` task indices and ``N``
        values standardized per source among ``done``, and their number."""
        label = {name: i for i, name in enumerate(self.source_names)}
        is_source = torch.tensor([t.task in label for t in done])
        tasks = torch.tensor([label[t.task] for t in done if t.task in label])
        mean, std = task_standardization(Y[is_source, 0], tasks, len(label))
        return X[is_source], tasks, (Y[is_source, 0] - mean[tasks]) / std[tasks], len(label)

    def _fit_sources(self, proposer, study, task: str, names: list[str], done, X: Tensor,
                     Y: Tensor, own: bool | HierarchicalGP, with_target: bool) -> None:
        """Stage A of the sources ``names`` among ``done``, with the target ``task`` as a
        task of the hyperparameter fit when ``with_target``, in stage B's units (``own``
        as :func:`~hbo.surrogate.source_posterior.fit_sources`')."""
        # other tasks than before: their labels would not match
        warm = self.sources if self.source_names == names else None
        self.source_names = names
        target = None
        if with_target:
            is_target = torch.tensor([t.task == task for t in done])
            t_mean, t_std = self._standardization(task, done, Y)
            target = (X[is_target], (Y[is_target, 0] - t_mean[-1]) / t_std[-1])
        self.sources = fit_sources(proposer.history_model(study),
                                   *self._source_data(done, X, Y), warm=warm, own=own,
                                   target=target)
        self.task_names = names + ([task] if with_target else [])
