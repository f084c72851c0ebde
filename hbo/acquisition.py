"""Log Expected Improvement on one task, optimized over a mixed search space.

* One point, nothing pending: analytic ``LogExpectedImprovement`` (Ament et al. 2023,
  "Unexpected improvements to expected improvement", NeurIPS) with the incumbent
  ``best_f`` = the largest posterior mean at the task's observed points (robust to
  noise, unlike the largest noisy observation; the mixture mean for an ensemble model,
  whose LogEI BoTorch averages over the draws).
* A batch, or points pending on other workers (asked but not told, or failed):
  ``qLogNoisyExpectedImprovement`` with those points as ``X_pending``, so that the
  batch and the pending points are fantasized jointly and suggestions differ.
* The optimizer is BoTorch's ``optimize_acqf`` on a continuous space and
  ``optimize_acqf_mixed_alternating`` when Int or Categorical parameters are
  present: integers and categories are searched as such (local discrete moves
  alternating with L-BFGS on the continuous part), not rounded after the fact.
  On a continuous space L-BFGS-B stops at a relative reduction of ``LBFGS_FACTR``
  machine epsilons (see there); the mixed optimizer keeps BoTorch's settings (it caps
  each continuous phase at 8 iterations already).

Several outcomes (:func:`build_outcome_acquisition`; a ``ModelListGP`` of one such model
per outcome, objectives first, then constrained outcomes):

* Several objectives: ``qLogNoisyExpectedHypervolumeImprovement`` (Daulton et al. 2021,
  "Parallel Bayesian optimization of multiple noisy objectives with expected hypervolume
  improvement", NeurIPS; log form: Ament et al. 2023), the reference point by Ax's rule
  (``infer_reference_point``: the nadir of a Pareto front moved 10% of its range away),
  applied to the front of the observed feasible outcomes *and* of the posterior means at
  a space-filling sample (``X_reference``) that meet the constraints. Why the predicted
  front: with history the model is used from the target's first observation, and the
  front of one or two observations spans nothing, so the reference point sits on them
  and only points dominating them improve the hypervolume: the search stays in one
  corner of the front. The model, pooled with the related tasks, predicts how far the
  front reaches.
* One objective with constraints: ``qLogNoisyExpectedImprovement`` of the objective, for
  ``q = 1`` too.
* Constraints enter both as BoTorch's outcome constraints ``c(Z) <= 0`` (``Z_i - bound``
  for ``<=``, ``bound - Z_i`` for ``>=``), the improvement weighted by a smooth
  (sigmoid) probability of feasibility (Gardner et al. 2014), with each bound in its
  model's units.

The model must return the target task's output for inputs without a task column
(``HierarchicalGP(..., output_tasks=[target])``) and be oriented for maximization.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import torch
from botorch.acquisition import (
    LogExpectedImprovement,
    PosteriorMean,
    qLogNoisyExpectedImprovement,
)
from botorch.acquisition.acquisition import AcquisitionFunction
from botorch.acquisition.multi_objective.logei import (
    qLogNoisyExpectedHypervolumeImprovement,
)
from botorch.acquisition.multi_objective.objective import IdentityMCMultiOutputObjective
from botorch.acquisition.objective import GenericMCObjective
from botorch.exceptions.warnings import BadInitialCandidatesWarning, OptimizationWarning
from botorch.models.deterministic import GenericDeterministicModel
from botorch.models.model import Model
from botorch.optim import optimize_acqf
from botorch.optim.optimize_mixed import optimize_acqf_mixed_alternating
from botorch.sampling import SobolQMCNormalSampler
from botorch.utils.multi_objective.hypervolume import infer_reference_point
from botorch.utils.multi_objective.pareto import is_non_dominated
from torch import Tensor

from hbo.space import SearchSpace

if TYPE_CHECKING:
    from hbo.surrogate.source_posterior import SourcePosterior

NUM_RESTARTS = 8
RAW_SAMPLES = 256
MC_SAMPLES = 128
#: L-BFGS-B stops on a continuous space when an iteration lowers the (log) acquisition by
#: less than ``LBFGS_FACTR`` machine epsilons of its size: 2.2e-6 relative, where BoTorch's
#: default (1e7) is 2.2e-9, at which a restart crossing a flat stretch of log EI crawls on
#: (up to 79 iterations of the 8 batched restarts, ``results/acquisition_operations.md``).
#: Measured at every ask of hbo's loop, both from the same state
#: (``experiments/acquisition_tolerance.py``: 20 asks x 3 seeds x 4 transfer families, and
#: the Ray Tune sweep's qLogNEI with a trial pending, 4 seeds): the same proposal (to 1e-3)
#: in 233 of 240 and 60 of 60 states; of the 7 others, 3 with a lower acquisition value (by
#: at most 0.69 in log units) and 3 higher. The optimizer's time: 0.37 of the default's on
#: Branin, 0.88 to 0.93 on the other families, 0.82 in the Ray sweep.
LBFGS_FACTR = 1e10


def build_acquisition(
    model: Model, X_observed: Tensor, X_pending: Tensor | None, q: int, seed: int
) -> AcquisitionFunction:
    """LogEI for one point with nothing pending, else qLogNEI with ``X_pending``.

    Args:
        model: Single-output model of the task to improve (maximization).
        X_observed: ``n x d`` points where the task has been observed (``n >= 1``).
        X_pending: ``p x d`` points being evaluated (or failed), or None.
        q: Number of points to propose jointly.
        seed: Seed of the quasi-Monte Carlo sampler (batch case).
    """
    if q == 1 and X_pending is None:
        with torch.no_grad():
            posterior = model.posterior(X_observed)
            # an ensemble (fully Bayesian) model: the incumbent under the mixture's mean
            best_f = getattr(posterior, "mixture_mean", posterior.mean).max()
        acquisition = LogExpectedImprovement(model, best_f=best_f)
        # BoTorch's mixed optimizer starts some restarts near ``X_baseline``, else near the
        # model's training inputs, which carry the task column (d + 1 wide)
        acquisition.register_buffer("X_baseline", X_observed)
        return acquisition
    sampler = SobolQMCNormalSampler(torch.Size([MC_SAMPLES]), seed=seed)
    return qLogNoisyExpectedImprovement(
        model,
        X_baseline=X_observed,
        sampler=sampler,
        X_pending=X_pending,
        prune_baseline=True,
        cache_root=False,
    )


def shared_function_mean(sources: SourcePosterior, X_sources: Tensor) -> PosteriorMean:
    """The posterior mean of the shared function ``g`` given the sources, as an acquisition
    function: a task with no observation yet is predicted ``a_T E[g(x) | y_S] + c_T`` with a
    positive loading ``a_T`` (:class:`~hbo.surrogate.HierarchicalGP`), so its maximum is
    ``g``'s, whatever ``a_T`` and ``c_T``.

    Args:
        sources: Stage A of hierarchical training (:mod:`hbo.surrogate.source_posterior`).
        X_sources: ``n x d`` features of the sources' points, where BoTorch's mixed
            optimizer starts some of its restarts.
    """

    def g_mean(X: Tensor) -> Tensor:  # b x q x d -> b x q x 1
        W, _ = sources.whiten(sources.model.encode(X))
        return sources.g_mean(W).unsqueeze(-1)

    acquisition = PosteriorMean(GenericDeterministicModel(g_mean, num_outputs=1))
    acquisition.register_buffer("X_baseline", X_sources)
    return acquisition


def build_outcome_acquisition(
    model: Model,
    n_objectives: int,
    constraints: Sequence[tuple[int, str, float]],
    X_observed: Tensor,
    Y_observed: Tensor,
    feasible: Tensor,
    X_pending: Tensor | None,
    seed: int,
    X_reference: Tensor | None = None,
) -> AcquisitionFunction:
    """qLogNEHVI for several objectives, else constrained qLogNEI (see the module doc).

    Args:
        model: ``m``-output model (e.g. a ``ModelListGP``), every output to maximize;
            outputs ``0 .. n_objectives - 1`` are the objectives.
        n_objectives: Number of objectives (the first outputs).
        constraints: ``(output, op, bound)``: output ``output`` must be ``<=`` or ``>=``
            ``bound``, in the model's units.
        X_observed: ``n x d`` points where the task has been observed (``n >= 1``).
        Y_observed: ``n' x m`` observed outcomes in the model's units (``n' >= 1``), of the
            points with every outcome (for the reference point).
        feasible: ``n'`` booleans: which rows of ``Y_observed`` meet every constraint.
        X_pending: ``p x d`` points being evaluated (or failed), or None.
        seed: Seed of the quasi-Monte Carlo sampler.
        X_reference: ``r x d`` space-filling points whose posterior means join the
            observed outcomes in the reference point's front (several objectives), or None.
    """
    sampler = SobolQMCNormalSampler(torch.Size([MC_SAMPLES]), seed=seed)
    outcome_constraints = [_constraint(i, op, bound) for i, op, bound in constraints] or None
    common = {"X_baseline": X_observed, "sampler": sampler, "X_pending": X_pending,
              "constraints": outcome_constraints, "prune_baseline": True, "cache_root": False}
    if n_objectives == 1:
        return qLogNoisyExpectedImprovement(
            model, objective=GenericMCObjective(lambda Z, X=None: Z[..., 0]), **common
        )
    # the front of the feasible observations (of all, while none is feasible) and of the
    # predictions that meet the constraints
    Y = Y_observed[feasible] if feasible.any() else Y_observed
    if X_reference is not None:
        with torch.no_grad():
            predicted = model.posterior(X_reference).mean
        meets = torch.ones(len(predicted), dtype=torch.bool)
        for c in outcome_constraints or []:
            meets &= c(predicted) <= 0
        Y = torch.cat([Y, predicted[meets]])
    Y = Y[:, :n_objectives]
    reference = infer_reference_point(Y[is_non_dominated(Y)])
    return qLogNoisyExpectedHypervolumeImprovement(
        model, ref_point=reference.tolist(),
        objective=IdentityMCMultiOutputObjective(outcomes=list(range(n_objectives))), **common,
    )


def _constraint(output: int, op: str, bound: float) -> Callable[[Tensor], Tensor]:
    """BoTorch's outcome constraint ``c(Z) <= 0`` of ``Z[..., output] op bound``."""
    if op == "<=":
        return lambda Z: Z[..., output] - bound
    return lambda Z: bound - Z[..., output]


def optimize(acquisition: AcquisitionFunction, space: SearchSpace, q: int) -> Tensor:
    """Maximize ``acquisition`` over ``space``; return ``q x d`` admissible points.

    L-BFGS-B stopping on an abnormal line search from some restart is routine here
    (the best restart is kept); BoTorch's warnings about it are silenced.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=OptimizationWarning)
        # a flat acquisition (a small discrete space nearly exhausted) starts at random
        warnings.filterwarnings("ignore", category=BadInitialCandidatesWarning)
        warnings.filterwarnings("ignore", message="Optimization failed", category=RuntimeWarning)
        return space.snap(_optimize(acquisition, space, q).detach())


def _optimize(acquisition: AcquisitionFunction, space: SearchSpace, q: int) -> Tensor:
    bounds = space.bounds()
    discrete = space.discrete_dims()
    categorical = {i: list(map(float, range(k))) for i, k in space.categorical_dims().items()}
    # a parameter with one admissible value is fixed there (BoTorch's local search draws a
    # neighbour from an empty range otherwise)
    fixed = {i: values[0] for dims in (discrete, categorical)
             for i, values in dims.items() if len(values) == 1}
    discrete = {i: v for i, v in discrete.items() if i not in fixed}
    categorical = {i: v for i, v in categorical.items() if i not in fixed}
    if discrete or categorical:
        X, _ = optimize_acqf_mixed_alternating(
            acquisition,
            bounds=bounds,
            discrete_dims=discrete or None,
            cat_dims=categorical or None,
            q=q,
            num_restarts=NUM_RESTARTS,
            raw_samples=RAW_SAMPLES,
            fixed_features=fixed or None,
        )
    else:
        X, _ = optimize_acqf(
            acquisition, bounds=bounds, q=q, num_restarts=NUM_RESTARTS, raw_samples=RAW_SAMPLES,
            fixed_features=fixed or None, options={"factr": LBFGS_FACTR},
        )
    return X
