"""Forest, funnel and bubble plots of a meta-analysis or meta-regression, drawn onto an Axes.

Every function takes ``ax=`` (a :class:`matplotlib.axes.Axes`; a new headless
:class:`matplotlib.figure.Figure` with one Axes when ``None``, no pyplot state) and returns
the Axes, so plots compose into the caller's figures; ``path=`` optionally writes the
figure as PNG (saving is otherwise the caller's choice).

- Forest plot: each study's ``y_i`` with its ``level`` confidence interval
  ``y_i +- z sqrt(v_i)``, squares sized by the weight ``1 / (v_i + tau^2)``; for a fit
  without moderators the summary ``mu`` as a diamond spanning its CI and the prediction
  interval as a line (a fixed-effect fit is labelled "FE model" and its title has no tau^2);
  for a meta-regression the fitted value of each study as a grey diamond spanning its CI
  (as metafor's ``forest.rma``). ``transf`` (e.g. ``np.exp``) transforms what is drawn;
  ``atransf`` keeps the positions and labels the axis ticks in the transformed unit (e.g.
  odds ratios on a log axis), as metafor's arguments of the same names.
- Funnel plot (as metafor's ``funnel``): ``y_i`` against its standard error (axis inverted,
  precise studies on top), a vertical line at ``mu`` and the pseudo-confidence region
  ``mu +- z sei``; asymmetry suggests small-study effects (:func:`hbo.meta.egger_test`).
- Bubble plot (as metafor's ``regplot``): ``y_i`` against one moderator of a
  meta-regression, points sized by weight, the fitted line with its CI band and the PI
  band, the other moderators held at their means.
"""

from __future__ import annotations

from collections.abc import Callable
from os import PathLike

import numpy as np
from matplotlib.axes import Axes
from matplotlib.patches import Polygon
from matplotlib.ticker import FuncFormatter
from scipy import stats

from hbo.diagnostics.figures import save, single_axes
from hbo.errors import ArgumentTypeError, InvalidArgumentError
from hbo.meta.prediction import predict_rows


def forest_plot(
    res, path: str | PathLike | None = None, *, ax: Axes | None = None,
    xlabel: str = "effect size", title: str | None = None, transf: Callable | None = None,
    atransf: Callable | None = None,
) -> Axes:
    """Draw the forest plot of ``res`` (a fit of :func:`hbo.meta.random_effects`, with or
    without ``mods``) on ``ax``; write it to ``path`` (PNG) if given. Returns the Axes."""
    if transf is not None and atransf is not None:
        raise InvalidArgumentError("give transf (transform what is drawn) or atransf (label "
                                   "the axis), not both.")
    f = _function("transf", transf)
    z = stats.norm.ppf(0.5 + res.level / 2)
    se = np.sqrt(res.vi)
    k = res.k
    ax = single_axes(ax, 7.5, 0.32 * k + 2.2)
    rows = np.arange(k, 0, -1) + 1.0  # studies top-down, summary at row 0
    weights = 1 / (res.vi + res.tau2)
    ax.hlines(rows, f(res.yi - z * se), f(res.yi + z * se), color="0.2", lw=1)
    ax.scatter(f(res.yi), rows, marker="s", s=30 + 170 * weights / weights.max(), color="0.2",
               zorder=3)
    names = [str(lab) for lab in res.labels]
    fixed = res.method == "FE"
    if hasattr(res, "mu"):
        lo, hi = res.ci
        ax.add_patch(Polygon([[f(lo), 0], [f(res.mu), 0.3], [f(hi), 0], [f(res.mu), -0.3]],
                             closed=True, color="tab:blue", zorder=3))
        ax.hlines(-0.6, *f(np.asarray(res.pi)), color="tab:blue", lw=1.5, linestyles="dotted")
        ax.axvline(f(res.mu), color="tab:blue", lw=0.8, ls="--")
        model = "FE model" if fixed else f"RE model ({res.method})"
        ax.set_yticks(list(rows) + [0, -0.6], names + [model, f"{100 * res.level:g}% PI"])
        tau2 = "" if fixed else f"tau^2 = {res.tau2:.3f}, "
        default = (f"Forest plot: mu = {res.mu:.3f} [{lo:.3f}, {hi:.3f}], {tau2}"
                   f"I^2 = {res.i2:.1f}%")
    else:
        fitted = res.predict()
        for row, (_, r) in zip(rows, fitted.iterrows(), strict=True):
            ax.add_patch(Polygon([[f(r.ci_lb), row], [f(r.pred), row + 0.25],
                                  [f(r.ci_ub), row], [f(r.pred), row - 0.25]], closed=True,
                                 color="0.6", alpha=0.7, zorder=2))
        ax.set_yticks(list(rows), names)
        default = (f"Forest plot with fitted values ({', '.join(res.names[1:]) or 'model'}): "
                   f"tau^2 = {res.tau2:.3f}, R^2 = "
                   + ("NA" if res.r2 is None else f"{res.r2:.1f}%"))
    ax.axvline(f(0.0), color="0.6", lw=0.8)
    ax.set_ylim(-1.2, k + 1.8)
    ax.set_xlabel(xlabel)
    if atransf is not None:
        g = _function("atransf", atransf)
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{float(g(x)):.3g}"))
    ax.set_title(title or default, fontsize=9)
    for spine in ("top", "right"):
        ax.spines[spine].set_visible(False)
    save(ax, path)
    return ax


def funnel_plot(
    res, path: str | PathLike | None = None, *, ax: Axes | None = None,
    xlabel: str = "effect size", title: str | None = None,
) -> Axes:
    """Draw the funnel plot of ``res`` (a fit without moderators) on ``ax``; write it to
    ``path`` (PNG) if given. Returns the Axes."""
    if not hasattr(res, "mu"):
        raise InvalidArgumentError("funnel_plot is for fits without moderators; for a "
                                   "meta-regression use bubble_plot.")
    z = stats.norm.ppf(0.5 + res.level / 2)
    se = np.sqrt(res.vi)
    top = 1.05 * se.max()
    ax = single_axes(ax, 6, 5.4)
    grid = np.array([0.0, top])
    ax.fill_betweenx(grid, res.mu - z * grid, res.mu + z * grid, color="0.92", zorder=0,
                     label=f"pseudo {100 * res.level:g}% region")
    ax.plot(res.mu - z * grid, grid, color="0.5", lw=0.8, ls="--")
    ax.plot(res.mu + z * grid, grid, color="0.5", lw=0.8, ls="--")
    ax.axvline(res.mu, color="tab:blue", lw=1, label=f"mu ({res.method}) = {res.mu:.3f}")
    ax.scatter(res.yi, se, color="0.15", s=25, zorder=3, label="studies")
    ax.set_ylim(top, 0)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("standard error")
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=3,
              frameon=False)  # below the axes: no study is hidden
    ax.set_title(title or f"Funnel plot (k = {res.k})", fontsize=9)
    save(ax, path)
    return ax


def bubble_plot(
    res, mod: str | int | None = None, path: str | PathLike | None = None, *,
    ax: Axes | None = None, ylabel: str = "effect size", title: str | None = None,
    transf: Callable | None = None, points: int = 200,
) -> Axes:
    """Draw ``y_i`` against moderator ``mod`` (a coefficient name or 0-based column index of
    the design; default: the only moderator) of a meta-regression ``res`` with the fitted
    line, its CI band and the PI band; other columns at their means. Returns the Axes."""
    names = getattr(res, "names", None)
    if names is None:
        raise InvalidArgumentError("bubble_plot needs a meta-regression (random_effects with "
                                   "mods); this fit has no moderators.")
    first = 1 if res.design.intercept else 0
    if mod is None:
        if len(names) - first != 1:
            raise InvalidArgumentError(f"the model has several moderators; choose one with "
                                       f"mod= (one of {list(names[first:])}).")
        j = first
    elif isinstance(mod, str) and mod in names:
        j = names.index(mod)
    elif isinstance(mod, int) and not isinstance(mod, bool) and first <= mod < len(names):
        j = mod
    else:
        raise InvalidArgumentError(f"mod must be one of {list(names[first:])} or its column "
                                   f"index; got {mod!r}.")
    f = _function("transf", transf)
    x = res.X[:, j]
    grid = np.linspace(x.min(), x.max(), points)
    X = np.tile(res.X.mean(axis=0), (points, 1))
    X[:, j] = grid
    band = predict_rows(X, res.beta, res.vb, res.tau2, res.crit)
    ax = single_axes(ax, 6.5, 5)
    weights = 1 / (res.vi + res.tau2)
    ax.fill_between(grid, f(band.pi_lb), f(band.pi_ub), color="0.93", zorder=0,
                    label=f"{100 * res.level:g}% PI")
    ax.fill_between(grid, f(band.ci_lb), f(band.ci_ub), color="0.8", zorder=1,
                    label=f"{100 * res.level:g}% CI")
    ax.plot(grid, f(band.pred), color="tab:blue", lw=1.5, zorder=2, label="fitted")
    ax.scatter(x, f(res.yi), s=20 + 300 * weights / weights.max(), facecolor="0.3",
               edgecolor="white", alpha=0.8, zorder=3, label="studies")
    ax.set_xlabel(names[j])
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8, frameon=False)
    ax.set_title(title or f"Bubble plot: {names[j]} (slope {res.beta[j]:.4f}, "
                          f"tau^2 = {res.tau2:.3f})", fontsize=9)
    save(ax, path)
    return ax


def _function(name: str, f: Callable | None) -> Callable:
    if f is None:
        return lambda values: values
    if not callable(f):
        raise ArgumentTypeError(f"{name} must be a function such as np.exp; got {f!r}.")
    return f
