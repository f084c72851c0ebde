"""A task's first point from its history: where the shared function the other tasks give is best.

A study with history starts the model after one point of its own (``n_initial``'s default,
:class:`~hbo.proposer.HierarchicalProposer`). That point need not be a Sobol point: the
hierarchical GP predicts a task it has no observation of as ``a_T g(x) + c_T`` plus a
residual of mean zero, with ``g`` the shared function and a positive loading ``a_T``, so
whatever ``a_T`` and ``c_T`` are, its predicted best is the maximum of ``g``'s posterior
mean given the other tasks. Starting there is the hierarchical model's version of
initializing with the best configurations of similar datasets (Feurer, Springenberg &
Hutter 2015, "Initializing Bayesian hyperparameter optimization via meta-learning", AAAI),
weighting each task as the model pools it rather than by a distance between datasets.

``g``'s posterior is stage A of hierarchical training (:mod:`hbo.surrogate.source_posterior`:
the other tasks the source screen keeps, fitted once per history), cached where hierarchical
training keeps it, so that a study fitted that way (histories above ``MAX_SHARED_POINTS``)
goes on from it; below that the exact joint model takes over from the next ask, and stage
A's model without ``g`` is not fitted.

Measured on YAHPO Gym (``experiments/yahpo_benchmark.py``, lcbench and rbv2_rpart, history
5 x 50 and 20 x 100, 16 targets x 3 seeds each), paired with the Sobol start
(``experiments/results/history_start_vs_sobol.md``): the first point was at least as good as
the Sobol point in 164 of 192 runs, and the regret, pooled (geometric means, 90% intervals),
was 0.36 [0.32, 0.41] times after 1 evaluation, 0.82 [0.73, 0.92] after 10, 0.88 [0.73, 1.06]
after 20 and 1.01 [0.81, 1.26] after 30.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from hbo import acquisition

if TYPE_CHECKING:
    from hbo.proposer.hierarchical import HierarchicalProposer
    from hbo.study import Study


def history_start(
    proposer: HierarchicalProposer, study: Study, task: str
) -> torch.Tensor | None:
    """``1 x d`` encoded: the maximum of ``g``'s posterior mean given the other tasks
    (:func:`hbo.acquisition.shared_function_mean`), for ``task`` before its first trial.

    None (the caller proposes a Sobol point) without ``g`` (``shared_function=False``), with
    several outcomes, or with fewer than two other tasks kept by the source screen (stage
    A's ``g`` needs two, :mod:`hbo.proposer.hierarchical_training`).
    """
    if proposer.shared_function is False or len(study.outcomes) > 1:
        return None
    outcome = study.outcomes[0]
    done = proposer.pooled_trials(study, task)  # the other tasks' only: the task has no result
    n_sources = len({t.task for t in done})
    if n_sources < 2:
        return None
    X, _, Y, _ = proposer.training_data(study, task, outcome, done)
    # no target point yet: the model without g is not needed (fits_model_without_g)
    sources = proposer.hierarchical_training(outcome).sources_of(
        proposer, study, task, done, X, Y, own=False
    )
    return acquisition.optimize(acquisition.shared_function_mean(sources, X), study.space, 1)
