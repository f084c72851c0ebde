"""MAP fitting of the hierarchical GP by L-BFGS-B, with restarts and reported jitter.

The objective is ``-log p(y, m, log tau, z) / N`` (dividing by ``N`` keeps its scale,
and so L-BFGS-B's tolerances, independent of the data size). BoTorch's
``scipy_minimize`` runs the optimizer; what is ours is the robustness policy:

* a Cholesky failure is first absorbed by jitter (:func:`robust_cholesky`), and
  reported once per fit with a :class:`~hbo._warnings.NumericalWarning`;
* an attempt that still fails, or ends with a non-finite objective, is restarted
  from the prior's centre with a small random perturbation of ``z``, with a warning;
* when every attempt fails, :class:`~hbo.errors.ModelFittingError` says so.
"""

from __future__ import annotations

import math

import torch
from botorch.optim.closures.core import ForwardBackwardClosure
from botorch.optim.core import scipy_minimize

from hbo._warnings import NumericalWarning, warn
from hbo.errors import ModelFittingError


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
            result = scipy_minimize(closure, params, options={"maxiter": maxiter})
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
