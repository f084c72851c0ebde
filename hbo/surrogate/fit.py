"""MAP fitting of the hierarchical GP by L-BFGS-B, with restarts and reported jitter.

The objective is ``-log p(y, m, log tau, z) / N`` (dividing by ``N`` keeps its scale,
and so L-BFGS-B's tolerances, independent of the data size). BoTorch's
``scipy_minimize`` runs the optimizer; what is ours is the robustness policy:

* the search is kept within ``PRIOR_BOX_SDS`` prior standard deviations of the
  hyperprior's centre (:func:`prior_box`), where the prior density has fallen to
  ``e^-32`` of its peak: no MAP estimate lies outside it, and L-BFGS-B's line search
  cannot try a ``log tau`` of 9 there, at which every task's lengthscale overflows
  and the kernel matrix is NaN (it did, on a benchmark family, in all three attempts);
* a Cholesky failure is first absorbed by jitter (:func:`robust_cholesky`), and
  reported once per fit with a :class:`~hbo._warnings.NumericalWarning`;
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

import math

import torch
from botorch.optim.closures.core import ForwardBackwardClosure
from botorch.optim.core import scipy_minimize

from hbo._warnings import NumericalWarning, warn
from hbo.errors import ModelFittingError

#: Half-width of the box the MAP search stays in, in prior standard deviations.
PRIOR_BOX_SDS = 8.0
#: L-BFGS-B's relative tolerance on the per-observation objective (module doc).
FTOL = 1e-6


def prior_box(model) -> dict[str, tuple[float | None, float | None]]:
    """Bounds (by parameter name) ``PRIOR_BOX_SDS`` prior sds around the hyperprior's centre.

    ``m_g``: ``loc_g +- 8 scale_g``; ``z``: ``+-8``; ``log tau_g``: at most
    ``log(8 tau_scale_g)`` (no lower bound: ``tau -> 0`` is complete pooling); the shared
    function's log lengthscale as ``m`` of the lengthscale. The constant means are free.
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
        model.fit_jitter = 0.0
        try:
            closure = ForwardBackwardClosure(lambda: -model.log_joint() / n, params)
            result = scipy_minimize(
                closure, params, bounds=prior_box(model),
                options={"maxiter": maxiter, "ftol": FTOL},
            )
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
