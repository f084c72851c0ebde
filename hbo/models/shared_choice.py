r"""Should the target task borrow function values? Leave-one-out says.

The shared function ``g`` of :class:`~hbo.models.HierarchicalGP` lets a task borrow the
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
target has ``MIN_TARGET_POINTS`` observations there is nothing to validate against, and
``g`` stays on (the history is then the only information there is).

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
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from hbo.models.hierarchical_gp import HierarchicalGP

#: Target observations needed before leave-one-out may switch ``g`` off.
MIN_TARGET_POINTS = 3
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
    used = loo[False] - loo[True] <= LOO_MARGIN
    return fitted[used], SharedFunctionChoice(used, n_target, loo[True], loo[False]), fitted


def _fit(model: HierarchicalGP, warm: Mapping[bool, HierarchicalGP]) -> HierarchicalGP:
    start = warm.get(model.shared_function) or next(iter(warm.values()), None)
    if start is not None:
        model.initialize_from(start)
    return model.fit()
