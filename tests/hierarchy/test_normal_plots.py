"""hbo.hierarchy.plots: each plot writes a PNG and draws the values it claims to draw."""

import numpy as np
import pytest
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from scipy.special import ndtri

from hbo.errors import ArgumentTypeError, InvalidArgumentError
from hbo.hierarchy import NormalHierarchy
from hbo.hierarchy.plots import (
    forest_plot,
    funnel_plot,
    shrinkage_plot,
    tau_posterior_plot,
    write_plots,
)

Y = np.array([28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0])
SIGMA = np.array([15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0])
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def fit():
    return NormalHierarchy(Y, SIGMA, labels=list("ABCDEFGH")).fit()


@pytest.fixture(scope="module")
def raw_fit():
    rng = np.random.default_rng(4)
    n = rng.integers(3, 20, 10)
    groups = np.repeat(np.arange(10), n)
    values = rng.normal(0.0, 1.5, 10)[groups] + rng.normal(0.0, 4.0, len(groups))
    return NormalHierarchy.from_observations(values, groups).fit()


def _line(ax, label):
    (line,) = [ln for ln in ax.get_lines() if ln.get_label() == label]
    return line


def _errorbar(ax, label):
    (container,) = [c for c in ax.containers if c.get_label() == label]
    data_line, _, (bars,) = container
    segments = np.array(bars.get_segments())  # J x 2 x 2: ((lo, y), (hi, y))
    return data_line.get_xdata(), segments[:, 0, 0], segments[:, 1, 0]


def test_write_plots_writes_four_pngs(fit, tmp_path):
    paths = write_plots(fit, tmp_path / "out", prefix="es_")
    assert sorted(paths) == ["forest", "funnel", "shrinkage", "tau_posterior"]
    for name, path in paths.items():
        assert path.name == f"es_{name}.png"
        data = path.read_bytes()
        assert data[:8] == PNG_MAGIC and len(data) > 5_000  # a drawn figure, not a blank


def test_forest_plot_values(fit):
    ax = forest_plot(fit, prob=0.9)
    z = ndtri(0.95)
    x, lo, hi = _errorbar(ax, "no pooling")
    np.testing.assert_allclose(x, Y)
    np.testing.assert_allclose(lo, Y - z * SIGMA)
    np.testing.assert_allclose(hi, Y + z * SIGMA)
    table = fit.summary(probs=(0.05, 0.5, 0.95))
    x, lo, hi = _errorbar(ax, "partial pooling")
    np.testing.assert_allclose(x, table["mean"].iloc[2:])
    np.testing.assert_allclose(lo, table["5%"].iloc[2:])
    np.testing.assert_allclose(hi, table["95%"].iloc[2:])
    mu_line = _line(ax, "median of mu")
    assert mu_line.get_xdata()[0] == pytest.approx(table.loc["mu", "50%"])
    assert [t.get_text() for t in ax.get_yticklabels()] == list("ABCDEFGH")


def test_shrinkage_plot_values(fit):
    ax = shrinkage_plot(fit)
    theta_mean = fit.shrinkage()["theta_mean"].to_numpy()
    for label, y, target in zip("ABCDEFGH", Y, theta_mean, strict=True):
        line = _line(ax, f"group {label}")
        np.testing.assert_allclose(line.get_xdata(), [0.0, 1.0])
        np.testing.assert_allclose(line.get_ydata(), [y, target])
    pooled = _line(ax, "complete pooling").get_ydata()[0]
    assert pooled == pytest.approx(np.sum(Y / SIGMA**2) / np.sum(1 / SIGMA**2))


def test_tau_posterior_plot_values(fit, raw_fit):
    ax = tau_posterior_plot(fit)
    line = _line(ax, "p(tau | y)")
    grid = fit.tau_posterior()
    top = fit.summary(probs=(0.995,)).loc["tau", "99.5%"]
    shown = grid[grid["tau"] <= top]
    np.testing.assert_allclose(line.get_xdata(), shown["tau"])
    np.testing.assert_allclose(line.get_ydata(), shown["density"])
    assert _line(ax, "median").get_xdata()[0] == pytest.approx(
        fit.summary(probs=(0.5,)).loc["tau", "50%"])
    assert not [ln for ln in ax.get_lines() if ln.get_label() == "REML"]
    raw_ax = tau_posterior_plot(raw_fit)
    assert _line(raw_ax, "REML").get_xdata()[0] == raw_fit.model.reml.tau
    with pytest.raises(InvalidArgumentError, match="upper_prob"):
        tau_posterior_plot(fit, upper_prob=1.0)


def test_funnel_plot_against_sigma(fit):
    ax = funnel_plot(fit)
    (points,) = [c for c in ax.collections if c.get_label() == "groups"]
    xy = points.get_offsets()
    mu_med = fit.summary(probs=(0.5,)).loc["mu", "50%"]
    np.testing.assert_allclose(xy[:, 0], SIGMA)
    np.testing.assert_allclose(xy[:, 1], np.abs(Y - mu_med))
    band = _line(ax, "tau = 0")
    np.testing.assert_allclose(band.get_ydata(), ndtri(0.975) * band.get_xdata())
    assert "sigma" in ax.get_xlabel()


def test_funnel_plot_against_group_size(raw_fit):
    """With raw observations the x axis is n_j and the tau = 0 band is z s_pooled / sqrt(n)."""
    ax = funnel_plot(raw_fit, prob=0.5)
    (points,) = [c for c in ax.collections if c.get_label() == "groups"]
    np.testing.assert_allclose(points.get_offsets()[:, 0], raw_fit.model.n)
    s_pooled = raw_fit.model.sigma[0] * np.sqrt(raw_fit.model.n[0])
    band = _line(ax, "tau = 0")
    np.testing.assert_allclose(band.get_ydata(),
                               ndtri(0.75) * s_pooled / np.sqrt(band.get_xdata()))
    tau_med = raw_fit.summary(probs=(0.5,)).loc["tau", "50%"]
    wide = _line(ax, "tau = median")
    np.testing.assert_allclose(
        wide.get_ydata(), ndtri(0.75) * np.sqrt(s_pooled**2 / wide.get_xdata() + tau_med**2))
    assert "n_j" in ax.get_xlabel()


@pytest.mark.parametrize("plot", [forest_plot, funnel_plot])
def test_bad_probability_raises(fit, plot):
    with pytest.raises(InvalidArgumentError, match="prob must lie in"):
        plot(fit, prob=1.5)


def test_plots_compose_into_one_figure_of_the_callers(fit, tmp_path):
    fig = Figure(figsize=(12, 8), layout="constrained")
    axes = fig.subplots(2, 2).ravel()
    plots = (forest_plot, shrinkage_plot, tau_posterior_plot, funnel_plot)
    path = tmp_path / "all.png"
    for plot, ax in zip(plots, axes, strict=True):
        assert plot(fit, ax=ax, path=path) is ax
    assert fig.axes == list(axes)  # nothing added: no new axes, no figure of their own
    assert path.read_bytes()[:8] == PNG_MAGIC
    assert isinstance(forest_plot(fit), Axes)  # without ax: the axes of a new figure
    with pytest.raises(ArgumentTypeError, match="Axes"):  # a Figure is not an Axes
        forest_plot(fit, ax=fig)
