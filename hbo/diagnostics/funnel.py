"""The funnel plot of a hierarchical posterior: ``log tau`` against one group's coefficient.

In the centered normal hierarchy ``theta_j ~ N(mu, tau^2)`` the joint posterior of
``(theta_j, log tau)`` is a funnel: as ``tau -> 0`` the ``theta_j`` are squeezed to ``mu``
and the log-density's curvature grows like ``1 / tau^2``. One HMC step size cannot fit both
the mouth and the neck; NUTS diverges at the neck and under-samples small ``tau``
(Betancourt & Girolami 2015, arXiv:1312.0906; Neal 2003, doi:10.1214/aos/1056562461). The
plot shows the draws and marks the divergent transitions, which cluster at the neck. In the
non-centered coordinates ``z_j = (theta_j - mu) / tau`` the same plot has no neck.
"""

from __future__ import annotations

import os

import arviz as az
import numpy as np
from matplotlib.axes import Axes

from hbo._numbers import is_integer
from hbo.diagnostics._input import check_var_names, posterior_of
from hbo.diagnostics.figures import save, single_axes
from hbo.errors import InvalidArgumentError, InvalidDataError

#: Labels of the two scatter layers, so that callers (and tests) can find them.
REGULAR_LABEL = "draws"
DIVERGENT_LABEL = "divergent"


def funnel(
    idata: az.InferenceData,
    group_param: str,
    scale_param: str,
    *,
    group: int = 0,
    ax: Axes | None = None,
    path: str | os.PathLike | None = None,
) -> Axes:
    """Scatter ``log tau`` against one group's coefficient, divergent draws in red.

    Args:
        idata: InferenceData with ``posterior`` (``group_param``: ``chain x draw x J``,
            ``scale_param``: ``chain x draw``) and, optionally, ``sample_stats.diverging``
            (``chain x draw``, boolean); without it no draw is marked.
        group_param: the group coefficients to plot on x, ``theta`` or ``z``.
        scale_param: the group-level standard deviation ``tau > 0`` (y axis: ``log tau``).
        group: position ``0..J-1`` of the group along ``group_param``'s last dimension.
        ax: draw into these axes; by default a new ``Figure`` (no pyplot state).
        path: if given, save the figure of ``ax`` there as PNG.

    Returns:
        The Axes drawn on (:mod:`hbo.diagnostics.figures`). The regular draws are the
        scatter labelled :data:`REGULAR_LABEL`, the divergent ones :data:`DIVERGENT_LABEL`
        (``"divergent (n)"`` in the legend).
    """
    post = posterior_of(idata)
    check_var_names(post, [group_param], "group_param")
    check_var_names(post, [scale_param], "scale_param")
    theta, tau = post[group_param], post[scale_param]
    if theta.ndim != 3 or tau.ndim != 2:
        raise InvalidDataError(
            f"group_param must be chain x draw x J and scale_param chain x draw; got shapes "
            f"{theta.shape} and {tau.shape}"
        )
    n_groups = theta.shape[-1]
    if not (is_integer(group) and 0 <= group < n_groups):
        raise InvalidArgumentError(f"group must be an integer in 0..{n_groups - 1}, got {group!r}")
    tau_v = tau.values.reshape(-1)
    if not (tau_v > 0).all():
        raise InvalidDataError(f"scale_param {scale_param!r} must be > 0 in every draw")
    x = theta.values[..., group].reshape(-1)
    y = np.log(tau_v)
    stats = getattr(idata, "sample_stats", None)
    if stats is not None and "diverging" in stats:
        divergent = np.asarray(stats["diverging"].values, dtype=bool).reshape(-1)
    else:
        divergent = np.zeros_like(x, dtype=bool)
    if divergent.shape != x.shape:
        raise InvalidDataError(
            f"sample_stats.diverging has {divergent.size} entries for {x.size} draws"
        )
    ax = single_axes(ax, width=5.0, height=4.0)
    ax.scatter(x[~divergent], y[~divergent], s=4, alpha=0.35, color="0.35", label=REGULAR_LABEL,
               rasterized=True)
    ax.scatter(x[divergent], y[divergent], s=12, color="tab:red",
               label=f"{DIVERGENT_LABEL} ({int(divergent.sum())})")
    coord = theta.coords[theta.dims[-1]].values[group]
    ax.set_xlabel(f"{group_param}[{coord}]")
    ax.set_ylabel(f"log {scale_param}")
    ax.legend(loc="lower right", fontsize="small")
    save(ax, path)
    return ax
