"""The training data of a HierarchicalGP: checked, split into features and task labels,
standardized per task (scales partially pooled across tasks). Every error names the
argument and what would be accepted."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import Tensor

from hbo.errors import InvalidArgumentError, InvalidDataError
from hbo.surrogate.priors import check_group_names, is_finite_number


def drop_column(X: Tensor, column: int) -> tuple[Tensor, Tensor]:
    """``X`` without column ``column``, and that column."""
    keep = [j for j in range(X.shape[-1]) if j != column]
    return X[..., keep], X[..., column]


def split_inputs(
    train_X: Tensor, train_Y: Tensor, task_feature: int
) -> tuple[Tensor, Tensor, Tensor]:
    """Checked ``train_X`` (``n x (d + 1)``), ``train_Y`` (``n x 1``) -> features
    ``n x d``, task labels ``n`` and values ``n`` (double)."""
    if not isinstance(train_X, Tensor) or not isinstance(train_Y, Tensor):
        raise InvalidDataError("train_X and train_Y must be torch tensors")
    if train_X.dim() != 2 or train_X.shape[-1] < 2:
        raise InvalidDataError(
            f"train_X must be n x (d + 1) with a task column, got shape {tuple(train_X.shape)}"
        )
    if train_Y.shape != (train_X.shape[0], 1):
        raise InvalidDataError(
            f"train_Y must be n x 1 with n = {train_X.shape[0]}, got {tuple(train_Y.shape)}"
        )
    if not -train_X.shape[-1] <= task_feature < train_X.shape[-1]:
        raise InvalidArgumentError(
            f"task_feature={task_feature} is not a column of train_X ({train_X.shape[-1]} columns)"
        )
    if not (torch.isfinite(train_X).all() and torch.isfinite(train_Y).all()):
        raise InvalidDataError("train_X and train_Y must be finite (no NaN or inf)")
    X, labels = drop_column(train_X.double(), task_feature % train_X.shape[-1])
    if (labels != labels.round()).any():
        raise InvalidDataError("the task column of train_X must hold integer labels")
    return X, labels, train_Y.double().squeeze(-1)


def check_categorical(categorical_dims: Mapping[int, int] | None, X: Tensor) -> dict[int, int]:
    """Checked ``{feature column: number of categories}`` (codes in ``X`` are ``0..k-1``)."""
    dims = dict(categorical_dims or {})
    for j, k in dims.items():
        if not 0 <= j < X.shape[-1] or int(k) < 1:
            raise InvalidArgumentError(
                f"categorical_dims: column {j} with {k} categories is invalid for "
                f"{X.shape[-1]} feature columns"
            )
        codes = X[:, j]
        if ((codes != codes.round()) | (codes < 0) | (codes > k - 1)).any():
            raise InvalidDataError(f"column {j} must hold category codes 0..{k - 1}")
    return dims


def check_fixed_tau(
    fixed_tau: float | Mapping[str, float] | None, groups: Sequence[str]
) -> dict[str, float]:
    """Checked ``{group: tau}`` from a number (every group), a mapping or None."""
    if fixed_tau is None:
        return {}
    if not isinstance(fixed_tau, Mapping):
        fixed_tau = dict.fromkeys(groups, fixed_tau)
    check_group_names(fixed_tau, groups, "fixed_tau")
    for g, v in fixed_tau.items():
        if not (is_finite_number(v) and v >= 0):
            raise InvalidArgumentError(f"fixed_tau[{g!r}] must be a finite number >= 0, got {v}")
    return {g: float(v) for g, v in fixed_tau.items()}


#: A task's outputs whose standard deviation is below this fraction of their largest
#: absolute value are constant (:func:`task_standardization`).
CONSTANT_SPREAD = 1e-12


def task_standardization(Y: Tensor, tasks: Tensor, T: int) -> tuple[Tensor, Tensor]:
    """Per-task mean, and a per-task standard deviation partially pooled across tasks.

    A task's own spread is a poor estimate of its scale when it has few observations: the
    target of a transfer study starts with one, and three points on a plateau of the
    objective have a spread that says nothing of the function's range. Standardized by it,
    the plateau's small differences look like the whole signal, the model expects nothing
    much better anywhere, and Expected Improvement keeps to the plateau. (On YAHPO's
    rbv2_rpart, dataset 1475, with history whose values were shuffled, hbo stayed at
    accuracy 0.36-0.39 for 20 evaluations, below the median random configuration's 0.43;
    ``experiments/yahpo_benchmark.py``.)

    So the scales are pooled as the Eight Schools' effects are (the normal hierarchical
    model, :mod:`hbo.meta`): a task with ``n_t >= 2`` non-constant values has
    ``v_t = log s_t^2`` (sample variance, ddof 1), whose sampling variance is about
    ``2 / (n_t - 1)`` (``s^2 ~ sigma^2 chi^2_{n-1} / (n - 1)``, delta method). For each task,
    the *other* tasks' ``v`` are taken as draws from ``N(mu, tau^2)``, with ``mu`` and
    ``tau^2`` by DerSimonian and Laird (:func:`hbo.meta.tau2.estimate_tau2`), and the task's
    log-variance is its shrinkage estimate

        v_t* = (1 - B_t) v_t + B_t mu,     B_t = (2 / (n_t - 1)) / (2 / (n_t - 1) + tau^2),

    or ``mu`` for a task without a variance of its own (one observation, or constant). The
    prior comes from the others only: with its own ``v_t`` among them, a target of three
    points on a plateau makes ``tau^2`` large enough to keep its own scale. With fewer than
    two other tasks that have a variance, a task keeps its own (the other's, without one;
    1 when there is none). The estimate is equivariant: a common factor on ``Y``
    multiplies every standard deviation by it, and a shift of a task's values changes only
    its mean, so standardizing twice (the Study, then the model) gives what standardizing
    once does.

    Constant means a spread below ``1e-12`` of the largest ``|y|`` (rounding, not data):
    relative, so that an objective of size 1e-9, or 1e9 plus a variation of 1, is modelled
    as it is.
    """
    mean = torch.zeros(T, dtype=Y.dtype)
    log_var = torch.full((T,), math.nan, dtype=Y.dtype)
    counts = torch.zeros(T, dtype=Y.dtype)
    for t in range(T):
        y = Y[tasks == t]
        mean[t] = y.mean()
        counts[t] = y.numel()
        if y.numel() > 1 and y.std() > CONSTANT_SPREAD * float(y.abs().max()):
            log_var[t] = 2 * y.std().log()
    pooled = torch.zeros(T, dtype=Y.dtype)
    for t in range(T):
        others = [u for u in range(T) if u != t and not math.isnan(log_var[u])]
        own = not math.isnan(log_var[t])
        if len(others) < 2:
            pooled[t] = log_var[t] if own else log_var[others[0]] if others else 0.0
            continue
        mu, tau2 = _log_variance_population(log_var[others], 2 / (counts[others] - 1))
        shrink = 2 / (counts[t] - 1) / (2 / (counts[t] - 1) + tau2) if own else 1.0
        pooled[t] = mu + (1 - shrink) * (log_var[t] - mu) if own else mu
    return mean, (pooled / 2).exp()


def _log_variance_population(v: Tensor, sampling_var: Tensor) -> tuple[float, float]:
    """Mean and between-task variance of log-variances ``v`` (``k >= 2``) with sampling
    variances ``sampling_var``: DerSimonian-Laird ``tau^2``, inverse-variance mean."""
    from hbo.meta.tau2 import estimate_tau2

    tau2 = estimate_tau2(v.numpy(), sampling_var.numpy(), np.ones((len(v), 1)), "DL").tau2
    weights = 1 / (sampling_var + tau2)
    return float((weights * v).sum() / weights.sum()), tau2
