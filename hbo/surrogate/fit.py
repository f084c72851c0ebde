"""MAP fitting of the hierarchical GP (L-BFGS-B, BFGS on refits), with restarts and jitter.

The objective is ``-log p(y, m, log tau, z) / N`` (the constant means profiled out,
:mod:`hbo.surrogate.constant_means`; dividing by ``N`` keeps its scale, and so L-BFGS-B's
tolerances, independent of the data size). SciPy's optimizers run on BoTorch's closures
of the model's parameters; what is ours is the robustness policy:

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

A refit keeps the last fit's curvature (:class:`Curvature`). Between two asks a model is
refitted from the last optimum with one more observation, and that optimum is close; what
L-BFGS-B lacks there is not the start but the Hessian: it begins each run from a scaled
identity, and took a median 18 iterations to reach a point one new observation away. A fit
therefore ends by keeping its optimizer's estimate of the inverse Hessian, and a model that
starts from a fitted model of the same tasks and parameters (``initialize_from``) refits by
BFGS (Nocedal & Wright 2006, §6.1) from that estimate, rescaled to the new ``N`` (the
objective is per observation). BFGS has no bounds: a trial point outside the prior box is a
wall, not evaluated, so the search still evaluates nothing outside it. It stops by the same
relative reduction ``FTOL``, and is kept only if its own estimate then predicts less than
that still to gain (:func:`converged`); else L-BFGS-B goes on from where it ended, as above.
Measured refit by refit against L-BFGS-B from the same start
(``experiments/refit_curvature.py``, ``results/refit_curvature.md``; 412 refits of the
transfer families' and the Ray Tune sweep's asks): BFGS was kept in all of them, with 0.5 to
0.7 times L-BFGS-B's evaluations of the objective and 0.3 to 0.5 times its seconds; the
fitted log joints agreed within 0.0071 nats in 95% of the refits, and the largest
differences were 0.096 nats below L-BFGS-B's and 9.6 above (another local optimum). The
transfer families' regret, paired by seed with the code before (10 seeds x 4 families,
``results/refit_curvature_families.md``): 1.03 [0.98, 1.11] times after 5 evaluations, 1.04
[0.84, 1.28] after 10, 1.03 [0.72, 1.46] after 25. Hierarchical training's source fits
(stage A) refit by L-BFGS-B, without the curvature: from it their regret on YAHPO at
20 x 100 was worse after 20 to 30 evaluations (:func:`hbo.surrogate.source_posterior._fit`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from botorch.optim.closures.core import ForwardBackwardClosure, NdarrayOptimizationClosure
from botorch.optim.utils.numpy_utils import get_bounds_as_ndarray
from scipy.optimize import OptimizeResult, minimize

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


def projected_gradient(x: np.ndarray, grad: np.ndarray, bounds: np.ndarray) -> float:
    """Largest entry of the objective's gradient ``grad`` at ``x`` projected on the box
    (``P x 2`` ``bounds``; entries pushing against a bound they sit on dropped): 0 at a local
    minimum within the box (and at a failed point, which has no gradient)."""
    blocked = ((x <= bounds[:, 0]) & (grad > 0)) | ((x >= bounds[:, 1]) & (grad < 0))
    return float(np.abs(np.where(blocked, 0.0, grad)).max(initial=0.0))


@dataclass(frozen=True)
class Curvature:
    """What a fit leaves to the next: its optimizer's estimate of the inverse Hessian of the
    per-observation objective at the optimum (``P x P``, symmetric positive definite, in the
    order of the model's parameters), the layout it belongs to (:func:`parameter_layout`) and
    the number of observations ``n`` the objective was divided by."""

    inverse_hessian: np.ndarray
    layout: tuple
    n: int

    def scaled_to(self, n: int) -> np.ndarray:
        """The inverse Hessian for ``n`` observations: the objective is divided by ``n``, so
        its Hessian scales by ``self.n / n`` and the inverse by ``n / self.n``."""
        return self.inverse_hessian * (n / self.n)


def parameter_layout(model) -> tuple:
    """The model's task labels and the names and shapes of its fitted parameters: two models
    with the same layout have the same parameter vector, entry for entry."""
    shapes = tuple((name, tuple(p.shape)) for name, p in model.named_parameters()
                   if p.requires_grad)
    return tuple(model.task_labels), shapes


def _inverse_hessian(estimate: np.ndarray) -> np.ndarray | None:
    """``estimate`` symmetrized, or None if it is not positive definite (then not kept)."""
    symmetric = 0.5 * (estimate + estimate.T)
    try:
        np.linalg.cholesky(symmetric)
    except np.linalg.LinAlgError:
        return None
    return symmetric


def _values(closure: NdarrayOptimizationClosure, bounds: np.ndarray | None = None):
    """``x -> (objective, gradient)`` for SciPy: the gradient copied (the closure refills
    one buffer), and ``FAILED_POINT_OBJECTIVE`` without evaluating outside ``bounds``."""

    def values(x: np.ndarray) -> tuple[float, np.ndarray]:
        if bounds is not None and ((x < bounds[:, 0]) | (x > bounds[:, 1])).any():
            return FAILED_POINT_OBJECTIVE, np.zeros_like(x)
        value, grad = closure(x)
        return float(value), grad.copy()

    return values


def _lbfgsb(closure, x0: np.ndarray, bounds: np.ndarray, maxiter: int) -> OptimizeResult:
    """One run of L-BFGS-B within ``bounds`` from ``x0``."""
    return minimize(_values(closure), x0, jac=True, method="L-BFGS-B", bounds=bounds,
                    options={"maxiter": maxiter, "ftol": FTOL})


def _bfgs(closure, x0: np.ndarray, inverse_hessian: np.ndarray, bounds: np.ndarray,
          maxiter: int) -> OptimizeResult:
    """BFGS from ``x0`` with ``inverse_hessian`` as its first estimate, walled at ``bounds``,
    stopped when an iteration lowers the objective by less than ``FTOL`` of its size (the
    relative reduction at which L-BFGS-B stops)."""
    values, last = _values(closure, bounds), {}

    def evaluate(x: np.ndarray) -> tuple[float, np.ndarray]:
        value, grad = values(x)
        last.setdefault("value", value)  # the start's, for the first iteration's test
        return value, grad

    def stop_on_small_reduction(intermediate_result: OptimizeResult) -> None:
        value, before = intermediate_result.fun, last["value"]
        last["value"] = value
        if before - value <= FTOL * max(abs(before), abs(value), 1.0):
            raise StopIteration

    return minimize(evaluate, x0, jac=True, method="BFGS", callback=stop_on_small_reduction,
                    options={"hess_inv0": inverse_hessian, "maxiter": maxiter})


def converged(result: OptimizeResult) -> bool:
    """Whether BFGS's own quadratic model predicts less than ``FTOL`` (relative) still to
    gain: ``g^T H g / 2 <= FTOL max(|f|, 1)`` with ``H`` its inverse Hessian estimate (half
    the squared Newton decrement, Boyd & Vandenberghe 2004, §9.5.1). A last step cut short
    (by a stale estimate, or at the wall) also gains little, and passes the stopping test;
    this one it does not (``tests/surrogate/test_fit.py``: an estimate 1e6 times too
    large)."""
    if not result.fun < FAILED_POINT_OBJECTIVE:  # also NaN
        return False
    remaining = 0.5 * result.jac @ result.hess_inv @ result.jac
    return bool(remaining <= FTOL * max(abs(result.fun), 1.0))


def _minimize(closure, bounds: np.ndarray, curvature: np.ndarray | None,
              maxiter: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Minimize from the closure's current state; return the minimizer and the inverse
    Hessian estimate to keep (None if not positive definite).

    With ``curvature`` BFGS first (module doc), kept if :func:`converged`; otherwise L-BFGS-B
    goes on from where it ended (or, without a curvature, starts), resumed while its
    projected gradient is above ``RESUME_GRADIENT``.
    """
    x = closure.state
    if curvature is not None:
        result = _bfgs(closure, x, curvature, bounds, maxiter)
        if converged(result):
            return result.x, _inverse_hessian(result.hess_inv)
        if result.fun < FAILED_POINT_OBJECTIVE:  # BFGS only steps down: go on from there
            x = result.x
    for _ in range(1 + MAX_RESUMES):
        result = _lbfgsb(closure, x, bounds, maxiter)
        x = result.x
        if projected_gradient(result.x, result.jac, bounds) <= RESUME_GRADIENT:
            break
    return x, _inverse_hessian(result.hess_inv.todense())


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
    set by the caller is used), by BFGS from ``model.curvature`` when that was left by a fit
    of the same layout (module doc); later attempts restart from the prior. A successful fit
    sets ``model.curvature`` for the next.
    """
    n = model._tasks.numel()
    layout = parameter_layout(model)
    kept = getattr(model, "curvature", None)  # absent from models pickled before it
    errors = []
    for attempt in range(max_attempts):
        if attempt:
            _reset_to_prior(model, attempt)
        params = {name: p for name, p in model.named_parameters() if p.requires_grad}
        curvature = kept.scaled_to(n) if kept and not attempt and kept.layout == layout else None
        try:
            closure = NdarrayOptimizationClosure(
                ForwardBackwardClosure(_objective(model, n), params), params)
            bounds = get_bounds_as_ndarray(params, prior_box(model))
            closure.state, inverse_hessian = _minimize(closure, bounds, curvature, maxiter)
            model.fit_jitter = 0.0  # what the fitted state needs, not a line search's trial
            with torch.no_grad():
                loss = float(-model.log_joint() / n)
        except (ModelFittingError, RuntimeError) as exc:  # torch raises RuntimeError too
            errors.append(str(exc))
            continue
        if not math.isfinite(loss):
            errors.append("non-finite objective")
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
        model.curvature = (None if inverse_hessian is None
                           else Curvature(inverse_hessian, layout, n))
        return loss
    raise ModelFittingError(
        f"HierarchicalGP could not be fitted in {max_attempts} attempts: {errors}"
    )
