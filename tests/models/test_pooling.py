"""The pooling report: the GP's Eight Schools table."""

import numpy as np
import pytest
import torch

from hbo.models import HierarchicalGP
from hbo.models.pooling import PoolingReport


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
