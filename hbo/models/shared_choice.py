r"""Should the target task borrow function values? Leave-one-out says.

The shared function ``g`` of :class:`~hbo.models.HierarchicalGP` lets a task borrow the
other tasks' *observations*, not only their hyperparameters. That is the big win when
the tasks are related and a loss when they are not: a target whose loading ``a_t`` is
partially pooled toward the sources' keeps part of a ``g`` fitted to functions unlike its
own, and the acquisition keeps exploiting that part long after the target's own data
have said otherwise (a stall of Expected Improvement near, not at, the optimum).

The choice is made by the target's own data, as RGPE (Feurer, Letham & Bakshy 2018)
weights source models: both models are fitted, with and without ``g``, and the one whose
leave-one-out predictive density of the target's observations is higher is used,

    LOO(M) = sum_{i in target} log p(y_i | y_{-i}, M)     (closed form for a GP),

at each model's MAP hyperparameters. Until the target has ``MIN_TARGET_POINTS``
observations there is nothing to validate against, and ``g`` stays on (the history is
then the only information there is).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from hbo.models.hierarchical_gp import HierarchicalGP

#: Target observations needed before leave-one-out may switch ``g`` off.
MIN_TARGET_POINTS = 3


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
        verdict = (
            "the sources' function values help predict the target"
            if self.used
            else "the sources' function values do not help predict the target; "
            "only hyperparameters are pooled"
        )
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
            ``MIN_TARGET_POINTS`` observations, also the model without ``g``, keeping
            the one with the higher target leave-one-out density.

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
    used = loo[True] >= loo[False]
    return fitted[used], SharedFunctionChoice(used, n_target, loo[True], loo[False]), fitted


def _fit(model: HierarchicalGP, warm: Mapping[bool, HierarchicalGP]) -> HierarchicalGP:
    start = warm.get(model.shared_function) or next(iter(warm.values()), None)
    if start is not None:
        model.initialize_from(start)
    return model.fit()
