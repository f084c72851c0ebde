"""MAP fitting of the hierarchical GP by L-BFGS-B, with restarts and reported jitter.

The objective is ``-log p(y, m, log tau, z) / N`` (the constant means profiled out,
:mod:`hbo.surrogate.constant_means`; dividing by ``N`` keeps its scale, and so L-BFGS-B's
tolerances, independent of the data size). BoTorch's
``scipy_minimize`` runs the optimizer; what is ours is the robustness policy:

* the search is kept within ``PRIOR_BOX_SDS`` prior standard deviations of the
  hyperprior's centre (:func:`prior_box`), where the prior density has fallen to
  ``e^-32`` of its peak: no MAP estimate lies outside it, and L-BFGS-B's line search
  cannot try a ``log tau`` of 9 there, at which every task's lengthscale overflows
  and the kernel matrix is NaN (it did, on a benchmark family, in all three attempts);
* a Cholesky failure is first absorbed by jitter (:func:`robust_cholesky`), and
  reported with a :class:`~hbo._warnings.NumericalWarning` when the fitted state needs it
  (not when only a line search's trial point did);
* a trial point of the line search whose kernel matrix has no factor even with jitter
  gets a finite wall, ``FAILED_POINT_OBJECTIVE``, from which the line search steps back
  (an infinite one ends L-BFGS-B at its start). L-BFGS-B's first step on a problem bounded
  in every coordinate is the whole gradient step, which can cross the box: with ``tau``
  fixed at 100 it tried ``log theta`` of +-800;
* a run of L-BFGS-B that stops short of a minimum (its relative-reduction test passes
  after a step that gained little, while the projected gradient is still large: a memory
  spoiled by a trial step far across the box) is resumed from where it stopped;
* an attempt that still fails, or ends with a non-finite objective, is restarted
  from the prior's centre with a small random perturbation of ``z``, with a warning;
* when every attempt fails, :class:`~hbo.errors.ModelFittingError` says so.

L-BFGS-B stops when an iteration lowers the objective by less than ``FTOL`` of its size
(relative, and the objective is per observation: at most ``FTOL * N`` nats of the log joint,
6e-5 at ``N = 60``, 0.002 at 2,000). SciPy's default, 2.2e-9, kept a warm-started refit,
one new point away from its start, iterating. Measured on the families of
``experiments/transfer_benchmark.py``, arm ``hbo``, 10 seeds each, against the default
(``experiments/compare_versions.py``; ``results/fit_tolerance_1e-6.md``): the median ask
2-4 times faster (Branin 0.86 s against 3.51, both beside other jobs); the regret, paired
by seed, 0.98 [0.96, 1.00] times the default's after 5 evaluations, 0.91 [0.54, 1.43]
after 10 and 0.85 [0.48, 1.37] after 25 (pooled over the 40 pairs, 90% intervals), but
2.2 [1.3, 4.0] times after 25 on Hartmann-6, where runs that found the optimum's basin
polished it less (regrets 1e-4 to 1e-2 against 1e-5 to 6e-4). A tolerance of 1e-7
(``results/fit_tolerance_1e-7.md``) was 1.8 [1.1, 3.3] there, with less speed (Branin
2.1 s). A 20-trial Ray Tune sweep (``experiments/ray_tune_transfer.py``, idle machine,
minutes apart): 4.4 times random search's wall time against 7.6 with the default.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import torch
from botorch.optim.closures.core import ForwardBackwardClosure
from botorch.optim.core import scipy_minimize

from hbo._warnings import NumericalWarning, warn
from hbo.errors import ModelFittingError

#: Half-width of the box the MAP search stays in, in prior standard deviations.
PRIOR_BOX_SDS = 8.0
#: L-BFGS-B's relative tolerance on the per-observation objective (module doc).
FTOL = 1e-6
#: A run that stops with a larger projected gradient (largest entry, per observation) is
#: resumed from where it stopped, with a fresh memory, at most ``MAX_RESUMES`` times.
RESUME_GRADIENT = 1e-2
MAX_RESUMES = 2
#: The objective at a trial point without a Cholesky factor (module doc): above any
#: attained value (at a corner of the box, -log joint / N reached 5e5).
FAILED_POINT_OBJECTIVE = 1e12


def prior_box(model) -> dict[str, tuple[float | None, float | None]]:
    """Bounds (by parameter name) ``PRIOR_BOX_SDS`` prior sds around the hyperprior's centre.

    ``m_g``: ``loc_g +- 8 scale_g``; ``z``: ``+-8``; ``log tau_g``: at most
    ``log(8 tau_scale_g)`` (no lower bound: ``tau -> 0`` is complete pooling); the shared
    function's log lengthscale as ``m`` of the lengthscale. The constant means are not
    searched (:mod:`hbo.surrogate.constant_means`).
    """
    D = model._Z.shape[-1]
    box: dict[str, tuple[float | None, float | None]] = {}
    for g in model.groups:
        m_box, log_tau_box = group_box(model.hyperpriors[g], D)
        box[f"m.{g}"] = m_box
        if g in model.z:
            box[f"z.{g}"] = (-PRIOR_BOX_SDS, PRIOR_BOX_SDS)
        if g in model.log_tau:
            box[f"log_tau.{g}"] = log_tau_box
    if model.shared_function:
        box["g_log_lengthscale"] = box["m.lengthscale"]
    return box


def group_box(prior, dim: int) -> tuple[tuple[float, float], tuple[None, float]]:
    """Bounds of a group's ``m`` (``loc +- 8 scale``) and ``log tau`` (at most
    ``log(8 tau_scale)``) under its hyperprior ``prior``, ``dim`` encoded inputs."""
    loc, half = prior.location(dim), PRIOR_BOX_SDS * prior.scale
    return (loc - half, loc + half), (None, math.log(PRIOR_BOX_SDS * prior.tau_scale))


def _objective(model, n: int) -> Callable[[], torch.Tensor]:
    """``-log joint / n`` as a closure for the optimizer; at a trial point whose kernel matrix
    has no Cholesky factor even with jitter, ``FAILED_POINT_OBJECTIVE`` (no gradient), so
    that the line search steps back. At the start the failure ends the attempt."""
    evaluations = itertools.count()

    def objective() -> torch.Tensor:
        start = next(evaluations) == 0
        try:
            return -model.log_joint() / n
        except ModelFittingError:
            if start:
                raise
            return torch.tensor(FAILED_POINT_OBJECTIVE, dtype=torch.double, requires_grad=True)

    return objective


def projected_gradient(closure, params: dict[str, torch.Tensor],
                       box: dict[str, tuple[float | None, float | None]]) -> float:
    """Largest entry of the objective's gradient projected on the box (entries pushing
    against a bound they sit on dropped): 0 at a local minimum within the box (and at a
    failed point, which has no gradient)."""
    _, grads = closure()
    largest = 0.0
    for (name, p), grad in zip(params.items(), grads, strict=True):
        if grad is None:
            continue
        lower, upper = box.get(name, (None, None))
        blocked = torch.zeros_like(grad, dtype=torch.bool)
        if lower is not None:
            blocked |= (p.detach() <= lower) & (grad > 0)
        if upper is not None:
            blocked |= (p.detach() >= upper) & (grad < 0)
        largest = max(largest, float(grad.masked_fill(blocked, 0.0).abs().max()))
    return largest


def _reset_to_prior(model, attempt: int) -> None:
    """Put every parameter at its prior centre; perturb ``z`` so restarts differ."""
    generator = torch.Generator().manual_seed(attempt)
    model._init_parameters()
    with torch.no_grad():
        for z in model.z.values():
            z.add_(0.3 * torch.randn(z.shape, generator=generator, dtype=z.dtype))


def fit_map(model, *, maxiter: int = 200, max_attempts: int = 3) -> float:
    """Maximize the log joint of ``model`` in place; return the final objective.

    The first attempt starts from the model's current parameters (so a warm start
    set by the caller is used); later attempts restart from the prior.
    """
    n = model._tasks.numel()
    errors = []
    for attempt in range(max_attempts):
        if attempt:
            _reset_to_prior(model, attempt)
        params = {name: p for name, p in model.named_parameters() if p.requires_grad}
        try:
            closure = ForwardBackwardClosure(_objective(model, n), params)
            box = prior_box(model)
            for _ in range(1 + MAX_RESUMES):
                result = scipy_minimize(closure, params, bounds=box,
                                        options={"maxiter": maxiter, "ftol": FTOL})
                if projected_gradient(closure, params, box) <= RESUME_GRADIENT:
                    break
            model.fit_jitter = 0.0  # what the fitted state needs, not a line search's trial
            with torch.no_grad():
                loss = float(-model.log_joint() / n)
        except (ModelFittingError, RuntimeError) as exc:  # torch raises RuntimeError too
            errors.append(str(exc))
            continue
        if not math.isfinite(loss):
            errors.append(f"non-finite objective ({result.message})")
            continue
        if attempt:
            warn(
                f"HierarchicalGP fit needed {attempt + 1} attempts (earlier: {errors}); "
                "the model was refitted from the prior",
                NumericalWarning,
            )
        if model.fit_jitter:
            warn(
                f"HierarchicalGP kernel matrix needed jitter {model.fit_jitter:g} x its mean "
                "diagonal to factor; duplicate inputs or very long lengthscales are likely",
                NumericalWarning,
            )
        model._cache = None
        return loss
    raise ModelFittingError(
        f"HierarchicalGP could not be fitted in {max_attempts} attempts: {errors}"
    )
