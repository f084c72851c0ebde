"""Axes for hbo's plots: the caller's, or new ones on a pyplot-free Figure; saving as PNG.

Every plot function of :mod:`hbo.diagnostics`, :mod:`hbo.hierarchy.plots`,
:mod:`hbo.meta.plots` and :mod:`hbo.surrogate.posterior_pooling_plots` takes ``ax=`` and
``path=``:

- a single-panel plot takes one :class:`~matplotlib.axes.Axes` and returns the Axes it drew
  on; a multi-panel plot takes a sequence (or array) of Axes, one per panel in the order
  its docstring gives, and returns their :class:`~matplotlib.figure.Figure`;
- with ``ax=None`` it draws on a new ``Figure`` made here (no pyplot global state, so it
  works headless and in threads);
- figure-level decorations (a suptitle, a legend shared by the panels) go only on a figure
  the function made: a figure the caller passed axes of stays the caller's to title;
- ``path`` saves the whole figure the plot is on as PNG.

So plots compose: ``fig, (a, b) = plt.subplots(1, 2); forest_plot(post, ax=a);
funnel_plot(post, ax=b)``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure, SubFigure

from hbo.errors import ArgumentTypeError, InvalidArgumentError

#: Resolution of the saved PNGs.
DPI = 120


def single_axes(ax: Axes | None, width: float, height: float) -> Axes:
    """``ax`` itself, or the one Axes of a new ``width x height`` inch Figure."""
    if ax is None:
        return Figure(figsize=(width, height), layout="constrained").add_subplot()
    if not isinstance(ax, Axes):
        raise ArgumentTypeError(f"ax must be a matplotlib Axes or None, got {type(ax).__name__}")
    return ax


def panel_axes(
    ax: Sequence[Axes] | np.ndarray | None,
    n: int,
    *,
    cols: int = 4,
    width: float = 3.6,
    height: float = 3.0,
) -> tuple[Figure, np.ndarray, bool]:
    """``n`` panels: the caller's Axes (exactly ``n``, all on one figure), or a new grid of
    ``min(n, cols)`` columns (``width x height`` inches per panel, spare cells hidden).

    Returns:
        ``(figure, axes, made)``: ``axes`` a flat object array of ``n`` Axes, ``made``
        whether the figure is new (then the caller may decorate it).
    """
    if ax is None:
        cols = max(1, min(n, cols))
        rows = max(1, math.ceil(n / cols))
        fig = Figure(figsize=(width * cols, height * rows), layout="constrained")
        grid = np.asarray(fig.subplots(rows, cols, squeeze=False), dtype=object).ravel()
        for spare in grid[n:]:
            spare.set_visible(False)
        return fig, grid[:n], True
    axes = np.asarray(ax, dtype=object).ravel()
    if len(axes) != n or not all(isinstance(a, Axes) for a in axes):
        raise InvalidArgumentError(f"ax must hold {n} matplotlib Axes (one per panel), got "
                                   f"{len(axes)} object(s)")
    figures = {id(a.get_figure(root=True)) for a in axes}
    if len(figures) != 1:
        raise InvalidArgumentError("the Axes passed as ax must all lie on one figure")
    return axes[0].get_figure(root=True), axes, False


def save(drawn: Axes | Figure | SubFigure, path: str | os.PathLike | None) -> None:
    """Write the whole figure ``drawn`` lies on (the root one, when in a subfigure) to
    ``path`` as PNG, making its folder if need be; nothing if ``path`` is None."""
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        drawn.get_figure(root=True).savefig(path, format="png", dpi=DPI)
