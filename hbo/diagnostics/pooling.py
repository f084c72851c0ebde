"""How much a hierarchical model pools: Gelman & Pardoe's pooling factor and per-group shrinkage.

A level of a hierarchical model with a normal group level writes each group's coefficient as
its group-level prediction plus an error,

    theta_j = mu_j + eps_j,    eps_j ~ N(0, tau^2),    j = 1..J,

where ``mu_j`` is a common mean ``mu`` or a group-level regression. From ``S`` posterior
draws ``eps^(s)`` the pooling factor of the level (Gelman & Pardoe 2006,
doi:10.1198/004017005000000517) is

    lambda = 1 - V_j(E[eps_j | y]) / E[V_j(eps_j) | y],

with ``V_j`` the finite-sample variance across groups, ``V_j x_j = sum_j (x_j - xbar)^2 /
(J - 1)``, and ``E`` the posterior mean (over draws). ``lambda`` near 0: the posterior
means of the errors are as spread out as the errors themselves, the data determine each
group (no pooling); near 1: the posterior means are all pulled to the group-level
prediction (complete pooling). For the normal model with equal ``sigma_j = sigma`` and
``tau`` known, ``E[eps_j | y] = (1 - B)(y_j - mu)`` and ``Var(eps_j | y) = (1 - B) sigma^2``;
with ``V_j(y_j) ~ sigma^2 + tau^2 = sigma^2 / B`` (many groups) the ratio is ``1 - B``, so
``lambda`` is the common shrinkage factor ``B``, which is what the paper generalizes.

Per-group shrinkage of the normal model ``y_j ~ N(theta_j, sigma_j^2)`` is

    B_j = sigma_j^2 / (sigma_j^2 + tau^2),   E[theta_j | y, mu, tau] = (1 - B_j) y_j + B_j mu,

reported as its posterior mean ``E[B_j | y]`` over the draws of ``tau`` (BDA3 §5.5). For a
non-normal likelihood (logistic, Poisson), ``sigma_j`` is the standard error of group
``j``'s own (no-pooling) estimate and ``B_j`` is the usual normal approximation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr

from hbo.diagnostics._input import check_var_names, posterior_of
from hbo.errors import InvalidArgumentError, InvalidDataError


@dataclass(frozen=True)
class PoolingFactor:
    """Pooling of one level of a hierarchical model, from posterior draws.

    Attributes:
        pooling_factor: Gelman & Pardoe's ``lambda`` in ``[0, 1]`` (up to Monte Carlo error).
        var_of_means: ``V_j(E[eps_j | y])``, the numerator.
        mean_of_vars: ``E[V_j(eps_j) | y]``, the denominator.
        table: one row per group (indexed by the group coordinate): ``eps_mean`` and
            ``eps_sd`` (posterior mean and sd of ``eps_j``), and ``shrinkage``
            (``E[B_j | y]``) when ``scale_param`` and ``sigma`` were given.
    """

    pooling_factor: float
    var_of_means: float
    mean_of_vars: float
    table: pd.DataFrame


def pooling_factor(
    idata: az.InferenceData,
    group_param: str,
    mean_param: str | None = None,
    *,
    scale_param: str | None = None,
    sigma: Sequence[float] | np.ndarray | None = None,
) -> PoolingFactor:
    """Gelman & Pardoe (2006) pooling factor of one level, and per-group shrinkage.

    Args:
        idata: ArviZ ``InferenceData`` whose ``posterior`` holds the draws.
        group_param: posterior variable of the group coefficients ``theta``, shape
            ``chain x draw x J`` (or of the errors ``eps`` themselves when ``mean_param`` is
            None, e.g. the ``a_j`` of ``alpha + a_j``).
        mean_param: posterior variable of the group-level prediction ``mu``: shape
            ``chain x draw`` (a common mean) or ``chain x draw x J`` (a group-level
            regression); ``eps = theta - mu``.
        scale_param: posterior variable of the group-level sd ``tau`` (``chain x draw``);
            with ``sigma``, gives the per-group shrinkage ``E[B_j | y]``.
        sigma: the ``J`` standard errors ``sigma_j > 0`` of the groups' own estimates.

    Returns:
        A :class:`PoolingFactor`.
    """
    post = posterior_of(idata)
    theta = _draws(post, group_param, "group_param", ndim=3)
    eps = theta
    if mean_param is not None:
        mu = _draws(post, mean_param, "mean_param", ndim=(2, 3))
        if mu.ndim == 2:
            mu = np.broadcast_to(mu[..., None], theta.shape)
        if mu.shape != theta.shape:
            raise InvalidDataError(
                f"mean_param {mean_param!r} has shape {mu.shape}; it must be chain x draw or "
                f"match group_param's {theta.shape}"
            )
        eps = theta - mu
    n_groups = eps.shape[-1]
    if n_groups < 2:
        raise InvalidDataError(f"group_param {group_param!r} has {n_groups} group; need >= 2")
    flat = eps.reshape(-1, n_groups)
    eps_mean = flat.mean(axis=0)
    var_of_means = float(np.var(eps_mean, ddof=1))
    mean_of_vars = float(np.var(flat, axis=1, ddof=1).mean())
    if not mean_of_vars > 0:
        raise InvalidDataError(
            f"the errors of {group_param!r} do not vary across groups in any draw; "
            "the pooling factor is undefined"
        )
    dim = post[group_param].dims[-1]
    index = pd.Index(post[group_param].coords[dim].values, name=dim)
    table = pd.DataFrame({"eps_mean": eps_mean, "eps_sd": flat.std(axis=0, ddof=1)}, index=index)
    if (scale_param is None) != (sigma is None):
        raise InvalidArgumentError(
            "per-group shrinkage needs both scale_param (tau) and sigma (standard errors); "
            f"got scale_param={scale_param!r}, sigma={'given' if sigma is not None else None}"
        )
    if scale_param is not None:
        tau = _draws(post, scale_param, "scale_param", ndim=2).reshape(-1)
        var = _standard_errors(sigma, n_groups) ** 2
        table["shrinkage"] = (var / (var + tau[:, None] ** 2)).mean(axis=0)
    return PoolingFactor(1.0 - var_of_means / mean_of_vars, var_of_means, mean_of_vars, table)


def _draws(post: xr.Dataset, name: str, arg: str, ndim: int | tuple[int, ...]) -> np.ndarray:
    """Draws of posterior variable ``name`` as float array, with ``ndim`` dims (chain, draw...)."""
    check_var_names(post, [name], arg)
    values = np.asarray(post[name].values, dtype=float)
    allowed = (ndim,) if isinstance(ndim, int) else ndim
    if values.ndim not in allowed:
        shapes = " or ".join(["chain x draw", "chain x draw x J"][n - 2] for n in allowed)
        raise InvalidDataError(f"{arg} {name!r} must be {shapes}; got shape {values.shape}")
    if not np.isfinite(values).all():
        raise InvalidDataError(f"{arg} {name!r} has NaN or infinite draws")
    return values


def _standard_errors(sigma: Sequence[float] | np.ndarray, n_groups: int) -> np.ndarray:
    try:
        s = np.asarray(sigma, dtype=float)
    except (TypeError, ValueError) as exc:
        raise InvalidDataError("sigma must be a 1-D array of numbers") from exc
    if s.shape != (n_groups,):
        raise InvalidDataError(f"sigma must have shape ({n_groups},), got {s.shape}")
    if not (np.isfinite(s).all() and (s > 0).all()):
        raise InvalidDataError("sigma must be finite and > 0 for every group")
    return s
