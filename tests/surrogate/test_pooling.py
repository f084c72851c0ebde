"""The pooling report: the GP's Eight Schools table."""

import numpy as np
import pandas as pd
import pytest
import torch
from matplotlib.figure import Figure

from hbo.errors import InvalidArgumentError
from hbo.surrogate import HierarchicalGP
from hbo.surrogate.pooling import PoolingReport
from hbo.surrogate.posterior_pooling import PosteriorPoolingReport
from hbo.surrogate.posterior_pooling_plots import funnel_figure, shrinkage_figure, tau_figure


def tasks_with_sizes(rng, sizes, ell=0.3, noise=0.1):
    Xs, Ys = [], []
    for t, n in enumerate(sizes):
        x = rng.random(n)
        K = np.exp(-0.5 * (x[:, None] - x[None]) ** 2 / ell**2) + 1e-8 * np.eye(n)
        Xs.append(np.column_stack([x, np.full(n, t)]))
        Ys.append(np.linalg.cholesky(K) @ rng.normal(size=n) + noise * rng.normal(size=n))
    return torch.tensor(np.vstack(Xs)), torch.tensor(np.concatenate(Ys)).unsqueeze(-1)


def test_report_contents_and_shrinkage_order(rng):
    X, Y = tasks_with_sizes(rng, [40, 40, 40, 4])
    model = HierarchicalGP(X, Y, shared_function=True).fit()
    report = PoolingReport.from_model(model, ["a", "b", "c", "tiny"], ["x"], target="tiny")
    assert list(report.groups.index) == ["lengthscale", "outputscale", "noise", "shared_scale"]
    for g in report.groups.index:
        assert report.groups.loc[g, "tau"] == pytest.approx(model.tau(g).item())
    shrink = report.tasks["shrinkage"]
    assert ((shrink >= 0) & (shrink <= 1)).all()
    # 4 points say little about a lengthscale: that task leans on the others the most
    ls = report.tasks.xs("lengthscale[x]", level="hyperparameter")["shrinkage"]
    assert ls["tiny"] == ls.max() and ls["tiny"] > ls[["a", "b", "c"]].max()
    # values are the model's per-task hyperparameters
    ell = model.log_hyperparameters()["lengthscale"].detach().exp()[:, 0]
    np.testing.assert_allclose(
        report.tasks.xs("lengthscale[x]", level="hyperparameter")["value"], ell.numpy()
    )
    share = report.function_share
    assert list(share.index) == ["a", "b", "c", "tiny"] and ((share > 0) & (share < 1)).all()
    frame = report.to_frame()
    assert {"task", "hyperparameter", "value", "shrinkage", "tau", "function_share"} <= set(frame)
    assert len(frame) == 4 * 4
    text = str(report)
    assert "target: tiny" in text and "Function-level share" in text and "tiny" in text


def test_one_task_report_says_nothing_to_pool(rng):
    X, Y = tasks_with_sizes(rng, [15])
    model = HierarchicalGP(X, Y).fit()
    report = PoolingReport.from_model(model, ["only"])
    assert (report.tasks["shrinkage"] == 0).all()
    assert report.function_share is None
    assert "nothing to pool" in str(report)


def _report_with_two_groups(rng):
    """A PosteriorPoolingReport of made-up draws: two groups, three tasks (the figures read
    only these fields)."""
    groups = ["lengthscale", "noise"]
    tasks = ["a", "b", "t"]
    tau = {g: np.exp(rng.normal(-1.0, 0.5, 200)) for g in groups}
    group_rows = pd.DataFrame(
        {"shared_value": [0.3, 0.01], "shared_value_5%": [0.2, 0.005],
         "shared_value_95%": [0.4, 0.02], "tau": [0.4, 0.3], "tau_5%": [0.2, 0.1],
         "tau_95%": [0.8, 0.7]}, index=pd.Index(groups, name="group"))
    index = pd.MultiIndex.from_product([tasks, [f"{g}[x]" if g == "lengthscale" else g
                                                for g in groups]],
                                       names=["task", "hyperparameter"])
    task_rows = pd.DataFrame({"group": [g for _ in tasks for g in groups],
                              "value": 0.1, "value_5%": 0.05, "value_95%": 0.2,
                              "shrinkage": 0.5}, index=index)
    funnels = {g: (np.log(tau[g]), rng.normal(size=200), np.zeros(200, bool)) for g in groups}
    return PosteriorPoolingReport(group_rows, task_rows, None, tau, funnels,
                                  {g: 1.0 for g in groups}, target="t")


def test_pooling_figures_draw_into_the_callers_axes(rng, tmp_path):
    report = _report_with_two_groups(rng)
    fig = Figure(figsize=(12, 9), layout="constrained")
    rows = fig.subplots(3, 2)
    for row, plot in zip(rows, (tau_figure, shrinkage_figure, funnel_figure), strict=True):
        assert plot(report, ax=row) is fig
        assert row[0].has_data() and row[1].has_data()
    assert len(fig.axes) == 6 and fig._suptitle is None  # the caller's figure, untitled
    own = tau_figure(report, path=tmp_path / "tau.png")
    assert own is not fig and own._suptitle is not None
    assert (tmp_path / "tau.png").read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(InvalidArgumentError, match="2 matplotlib Axes"):
        funnel_figure(report, ax=rows[0][:1])
