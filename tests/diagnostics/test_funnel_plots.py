"""Funnel plot (divergent draws are exactly the marked ones) and the ArviZ plots as PNG."""

import arviz as az
import numpy as np
import pytest
from matplotlib.figure import Figure
from matplotlib.image import imread

from hbo.diagnostics import convergence, funnel
from hbo.diagnostics.funnel import DIVERGENT_LABEL, REGULAR_LABEL
from hbo.diagnostics.plots import R_HAT_LABEL, forest_plot, rank_plot, trace_plot
from hbo.errors import InvalidArgumentError, InvalidDataError


@pytest.fixture
def idata(rng):
    """A centered-like posterior, 2 chains x 300 draws, with divergences at small tau."""
    log_tau = rng.normal(1.0, 1.0, size=(2, 300))
    theta = 5 + np.exp(log_tau)[..., None] * rng.normal(size=(2, 300, 3))
    diverging = log_tau < -0.5  # the neck of the funnel
    posterior = {"theta": theta, "tau": np.exp(log_tau), "mu": rng.normal(size=(2, 300))}
    return az.from_dict(posterior=posterior, sample_stats={"diverging": diverging},
                        dims={"theta": ["school"]}, coords={"school": ["A", "B", "C"]})


def _layer(ax, label):
    (coll,) = [c for c in ax.collections if c.get_label().startswith(label)]
    return coll.get_offsets()


def test_funnel_marks_exactly_the_divergent_draws(idata, tmp_path):
    path = tmp_path / "funnel.png"
    ax = funnel(idata, "theta", "tau", group=1, path=path)
    div = idata.sample_stats["diverging"].values.reshape(-1)
    x = idata.posterior["theta"].values[..., 1].reshape(-1)
    y = np.log(idata.posterior["tau"].values.reshape(-1))
    assert 5 < div.sum() < 200  # the fixture has divergences and regular draws
    np.testing.assert_allclose(_layer(ax, DIVERGENT_LABEL), np.column_stack([x[div], y[div]]))
    np.testing.assert_allclose(_layer(ax, REGULAR_LABEL), np.column_stack([x[~div], y[~div]]))
    assert ax.get_xlabel() == "theta[B]" and ax.get_ylabel() == "log tau"
    assert ax.figure.axes == [ax]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert f"{DIVERGENT_LABEL} ({div.sum()})" in legend
    image = imread(path)
    assert image.ndim == 3 and image.shape[0] > 300 and image.shape[1] > 300


def test_funnel_without_sample_stats_marks_nothing_and_draws_into_given_axes(idata):
    plain = az.from_dict(posterior={k: idata.posterior[k].values for k in ("theta", "tau")})
    ax = Figure().add_subplot()
    assert funnel(plain, "theta", "tau", ax=ax) is ax
    assert len(_layer(ax, DIVERGENT_LABEL)) == 0
    assert len(_layer(ax, REGULAR_LABEL)) == 600


def test_funnel_bad_input(idata):
    with pytest.raises(InvalidArgumentError, match="scale_param"):
        funnel(idata, "theta", "sigma")
    with pytest.raises(InvalidArgumentError, match="group"):
        funnel(idata, "theta", "tau", group=3)
    with pytest.raises(InvalidDataError, match="chain x draw x J"):
        funnel(idata, "mu", "tau")
    negative = az.from_dict(posterior={"theta": idata.posterior["theta"].values,
                                       "tau": -idata.posterior["tau"].values})
    with pytest.raises(InvalidDataError, match="> 0"):
        funnel(negative, "theta", "tau")


@pytest.mark.parametrize("plot", [trace_plot, rank_plot, forest_plot])
def test_arviz_plots_write_png_with_one_panel_per_variable(idata, tmp_path, plot):
    path = tmp_path / f"{plot.__name__}.png"
    fig = plot(idata, ["mu", "theta"], path=path)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    expected = {"trace_plot": 2 * 2, "rank_plot": 1 + 3, "forest_plot": 2}[plot.__name__]
    assert len(visible) == expected
    assert imread(path).ndim == 3
    with pytest.raises(InvalidArgumentError, match="nope"):
        plot(idata, ["nope"])


def test_forest_plot_shows_the_rank_normalized_split_r_hat(rng):
    # chains with one mean but scales 1 and 3: the original Gelman-Rubin R-hat (ArviZ's
    # plot_forest(r_hat=True) column) stays near 1.0, the rank-normalized split R-hat that
    # convergence() reports (its folded half sees the scales) is near 1.2
    theta = rng.normal(size=(2, 300, 3)) * np.array([1.0, 3.0])[:, None, None]
    idata = az.from_dict(posterior={"mu": rng.normal(size=(2, 300)), "theta": theta},
                         dims={"theta": ["school"]}, coords={"school": ["A", "B", "C"]})
    fig = forest_plot(idata)
    forest, rhat_ax = fig.axes
    (markers,) = [line for line in rhat_ax.lines if line.get_label() == R_HAT_LABEL]
    x, y = markers.get_data()
    expected = az.rhat(idata)
    top_down = [float(expected["mu"])] + [float(r) for r in expected["theta"]]
    np.testing.assert_allclose(x[np.argsort(-y)], top_down, rtol=1e-12)
    np.testing.assert_allclose(top_down, convergence(idata).table["r_hat"], rtol=1e-12)
    assert min(top_down[1:]) > 1.1  # the classic R-hat of theta is below 1.01 here
    labels = [t.get_text() for t in forest.get_yticklabels()]
    ticks = dict(zip(forest.get_yticks(), labels, strict=True))
    assert ticks[max(y)] == "mu" and ticks[np.sort(y)[-2]] == "theta[A]"


def test_diagnostic_plots_draw_into_the_callers_axes(idata, tmp_path):
    # one figure of the caller's: a funnel, a trace (2 variables x 2 panels) and a forest
    fig = Figure(figsize=(14, 8), layout="constrained")
    grid = fig.subplots(2, 4)
    path = tmp_path / "composed.png"
    assert funnel(idata, "theta", "tau", ax=grid[0, 0]) is grid[0, 0]
    assert trace_plot(idata, ["mu", "tau"], ax=grid[:, 1:3], path=path) is fig
    assert forest_plot(idata, ["mu"], ax=[grid[0, 3], grid[1, 3]]) is fig
    assert len(fig.axes) == 8  # no panel added, none taken away
    assert imread(path).ndim == 3
    assert grid[1, 3].get_ylim() == grid[0, 3].get_ylim()  # R-hat beside its forest row
    with pytest.raises(InvalidArgumentError, match="4 matplotlib Axes"):
        trace_plot(idata, ["mu", "tau"], ax=grid[0, :3])
    with pytest.raises(InvalidArgumentError, match="one figure"):
        rank_plot(idata, ["theta"], ax=[grid[0, 0], grid[0, 1], Figure().add_subplot()])
