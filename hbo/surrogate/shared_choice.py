r"""Should the target task borrow function values? Leave-one-out says.

The shared function ``g`` of :class:`~hbo.surrogate.HierarchicalGP` lets a task borrow the
other tasks' *observations*, not only their hyperparameters. That is the big win when
the tasks are related and a loss when they are not: a target whose loading ``a_t`` is
partially pooled toward the sources' keeps part of a ``g`` fitted to functions unlike its
own, and the acquisition keeps exploiting that part long after the target's own data
have said otherwise (a stall of Expected Improvement near, not at, the optimum).

The choice is made by the target's own data, as RGPE (Feurer, Letham & Bakshy 2018)
weights source models: both models are fitted, with and without ``g``, and compared by
the leave-one-out predictive density of the target's observations,

    LOO(M) = sum_{i in target} log p(y_i | y_{-i}, M)     (closed form for a GP),

at each model's MAP hyperparameters (the rule, with its margin, is below). Until the
target has ``MIN_TARGET_POINTS`` observations ``g`` stays on, and the model without it is
not fitted (the history is then the best information there is; see the end).

``g`` is the default, and it goes only when the target's points are clearly better
predicted without it: ``LOO(without g) - LOO(with g) > LOO_MARGIN = 2`` nats, i.e. the
held-out points jointly e^2 = 7.4 times as likely (Sivula, Magnusson & Vehtari 2020,
"Uncertainty in Bayesian leave-one-out cross-validation based model comparison", call
differences below 4 small, and their standard errors unreliable there). With a bare
``>`` on three to six target points, differences of 0.5 to 1.7 nats switched ``g`` off
for a single step on the Branin family of ``experiments/transfer_benchmark.py``, and that
step went to the worst corner of the domain (regrets 72, 183 and 248, seeds 0, 5, 9): the
model without ``g`` pools the sources' long-lengthscale, large-amplitude fits
(``log s^2`` 4.7) and extrapolates wildly from three points. Over the benchmark's four
families (10 seeds each, the MAP arm), the margin against none: regret after 5
evaluations 0.81 times [0.70, 0.93] (geometric mean, 90% interval; branin 0.86, the
unrelated family 0.50), after 10 0.97 [0.74, 1.26], after 25 0.91 [0.63, 1.30]; such
corner evaluations 2 instead of 4 in 90 (branin, evaluations 2-10). A margin of 4 did as
well at 5 (0.76) and worse on the unrelated family at 10 (1.32).

Nor may leave-one-out drop ``g`` before the target has ``MIN_TARGET_POINTS = 10``
observations. On fewer, the model without ``g`` (the target's own GP, with hyperparameters
pooled from the sources' long-lengthscale, large-amplitude fits) can predict a smooth
target's few points better than the model with ``g`` while knowing nothing of the rest of
the domain, and Expected Improvement then goes where every source says the function is
worst: on the Branin family with 4 scrambled-Sobol target points, seed 5, leave-one-out
favoured it by 4.2 nats, every point agreeing, and its proposal was the (0, 0) corner,
regret 207, where the model with ``g`` proposed a point of regret 2.2.
``experiments/shared_choice_one_step.py`` measures such states, one proposal each, with 3
to 9 target points (60 seeds apart from the benchmark's, ``results/shared_choice_one_step.md``):
where leave-one-out would have dropped ``g``, the proposal without it had a regret 11.3
times [4.4, 26] that of the proposal with it on Branin (9 of 360 states, at 4 to 7 points)
and 1.96 times [1.54, 2.48] on the unrelated family (48 of 360; geometric means, 90%
intervals), no worse in 1 of 9 and 8 of 48. In whole runs (``transfer_benchmark.py``,
``results/shared_choice_runs.md``) the choice from 10 points on dropped ``g`` in 27 of 30
runs of the unrelated family, first at 10 to 24 target points, and the regret after 25
evaluations was 15.6 times [8.2, 30] lower than with ``g`` always on (arm ``hbo_shared``)
and 11.6 times [6.3, 22] lower than with the choice from 3 points on, which had dropped
``g`` in 2 of those 30 runs (``MIN_TARGET_POINTS = 3``, runs in
``results/shared_choice_min_points_runs.jsonl``). The likely reason: fitted from 3 points
on, the model without ``g`` is warm-started from its own fits to few points, and its
leave-one-out rarely beats the model with ``g``; fitted first at 10 points, from the model
with ``g``, it does. On Branin the runs were the same through 10 evaluations; after 25 the
choice was better than ``g`` always on in 2 of 10 runs and the same in 8 (1.3 times [1.0,
2.0] lower). Against the choice from 3 points on, 10 points was the same or better in each of
10 runs on Branin and on Hartmann-3 (all the same there); on Hartmann-6 (10 runs) the
regret after 5, 10 and 25 evaluations was 0.90, 0.97 and 0.80 times as large.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from hbo.surrogate.hierarchical_gp import HierarchicalGP
from hbo.surrogate.target_gp import TargetGP

#: Target observations needed before leave-one-out may switch ``g`` off (see above).
MIN_TARGET_POINTS = 10
#: How much higher (nats, summed over the target's points) the leave-one-out density
#: without ``g`` must be to switch ``g`` off.
LOO_MARGIN = 2.0


@dataclass(frozen=True)
class SharedFunctionChoice:
    """Whether the target's surrogate uses ``g``, and the evidence for it.

    ``loo_with`` / ``loo_without``: the target's leave-one-out log predictive density
    (standardized units, summed over its ``n_target`` observations) with and without
    ``g``; None when only one model was fitted.
    """

    used: bool
    n_target: int
    loo_with: float | None = None
    loo_without: float | None = None

    def __str__(self) -> str:
        state = "on" if self.used else "off"
        if self.loo_with is None or self.loo_without is None:
            return (
                f"shared function: {state} (the target has {self.n_target} observation(s); "
                f"leave-one-out needs {MIN_TARGET_POINTS} to compare)"
            )
        if not self.used:
            verdict = ("the sources' function values do not help predict the target; "
                       "only hyperparameters are pooled")
        elif self.loo_with >= self.loo_without:
            verdict = "the sources' function values help predict the target"
        else:
            verdict = (f"kept: the target is predicted a little better without the sources' "
                       f"function values, by less than the {LOO_MARGIN:g} nats needed to drop "
                       "them")
        return (
            f"shared function: {state}: {verdict} (target leave-one-out log density "
            f"{self.loo_with:.2f} with, {self.loo_without:.2f} without, over "
            f"{self.n_target} observations)"
        )


def fits_model_without_g(shared_function: bool | None, n_target: int) -> bool:
    """Whether the surrogate's fit needs the model without ``g``: always with
    ``shared_function=False``, never with ``True``, and with ``None`` (the leave-one-out
    choice of :func:`fit_surrogate` and :func:`fit_target_surrogate`) once the target has
    ``MIN_TARGET_POINTS`` observations."""
    return shared_function is False or (shared_function is None
                                        and n_target >= MIN_TARGET_POINTS)


def fit_surrogate(
    build: Callable[[bool | None], HierarchicalGP],
    target: int,
    warm: Mapping[bool, HierarchicalGP],
    shared_function: bool | None = None,
) -> tuple[HierarchicalGP, SharedFunctionChoice | None, dict[bool, HierarchicalGP]]:
    """Fit the surrogate; with ``shared_function=None``, choose ``g`` by leave-one-out.

    Args:
        build: ``build(shared_function)`` returns an unfitted model of all the data.
        target: The target task's label in ``train_X``.
        warm: Previously fitted models by their ``shared_function``, to warm-start
            from (a model of the other kind when there is none of the same kind).
        shared_function: True / False fits that model only. None fits the model's
            default, and, when that includes ``g`` and the target has
            ``MIN_TARGET_POINTS`` observations, also the model without ``g``, which
            replaces it when its target leave-one-out density is higher by more than
            ``LOO_MARGIN``.

    Returns:
        The fitted model, the choice (None when no choice was made), and the fitted
        models by ``shared_function`` (the next call's ``warm``).
    """
    first = _fit(build(shared_function), warm)
    fitted = {first.shared_function: first}
    if shared_function is not None or not first.shared_function:
        return first, None, fitted
    n_target = first.num_observations(target)
    if n_target < MIN_TARGET_POINTS:
        return first, SharedFunctionChoice(True, n_target), fitted
    fitted[False] = _fit(build(False), warm)
    loo = {shared: float(model.loo_log_density(target)) for shared, model in fitted.items()}
    return _choose(fitted, loo, n_target)


def fit_target_surrogate(
    build: Callable[[bool], TargetGP],
    warm: Mapping[bool, TargetGP],
    shared_function: bool | None = None,
) -> tuple[TargetGP, SharedFunctionChoice | None, dict[bool, TargetGP]]:
    """:func:`fit_surrogate` for hierarchical training: the target's GP given the cached
    sources (:mod:`hbo.surrogate.target_gp`), with and without ``g`` by the same rule.

    Both models condition on the same factorization of the sources (stage A), so the
    choice costs a second ``n_T x n_T`` fit of the target, not a second fit of all tasks.
    """
    shared = shared_function is not False
    first = _fit(build(shared), warm)
    fitted = {shared: first}
    if shared_function is not None:
        return first, None, fitted
    n_target = first.train_targets.numel()
    if n_target < MIN_TARGET_POINTS:
        return first, SharedFunctionChoice(True, n_target), fitted
    fitted[False] = _fit(build(False), warm)
    loo = {shared: float(model.loo_log_density()) for shared, model in fitted.items()}
    return _choose(fitted, loo, n_target)


def _choose(fitted, loo: Mapping[bool, float], n_target: int):
    """The model the leave-one-out rule keeps (``g`` unless ``LOO_MARGIN`` nats worse)."""
    used = loo[False] - loo[True] <= LOO_MARGIN
    return fitted[used], SharedFunctionChoice(used, n_target, loo[True], loo[False]), fitted


def _fit(model, warm):
    """Fit ``model`` (a HierarchicalGP or a TargetGP), warm-started from ``warm``."""
    start = warm.get(model.shared_function) or next(iter(warm.values()), None)
    if start is not None:
        model.initialize_from(start)
    return model.fit()
