"""The training data of a HierarchicalGP: checked, split into features and task labels,
standardized per task. Every error names the argument and what would be accepted."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor

from hbo.errors import InvalidArgumentError, InvalidDataError
from hbo.models.priors import check_group_names, is_finite_number


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
    """Per-task mean and standard deviation (ddof 1, as BoTorch's ``Standardize``).

    A task with one observation, or a constant one, gets standard deviation 1. Constant
    means a spread below ``1e-12`` of the largest ``|y|`` (rounding, not data): relative,
    so that an objective of size 1e-9, or 1e9 plus a variation of 1, is modelled as it is.
    """
    mean = torch.zeros(T, dtype=Y.dtype)
    std = torch.ones(T, dtype=Y.dtype)
    for t in range(T):
        y = Y[tasks == t]
        mean[t] = y.mean()
        if y.numel() > 1 and y.std() > CONSTANT_SPREAD * float(y.abs().max()):
            std[t] = y.std()
    return mean, std
