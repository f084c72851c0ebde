"""Robust fitting: jitter and restarts warn instead of crashing; hopeless fits raise."""

import pytest
import torch

from hbo._warnings import NumericalWarning
from hbo.errors import ModelFittingError
from hbo.models import HierarchicalGP
from hbo.models.hierarchical_gp import robust_cholesky


def test_robust_cholesky_adds_jitter_only_when_needed():
    v = torch.tensor([[1.0], [2.0], [3.0]], dtype=torch.double)
    L, jitter = robust_cholesky(v @ v.T + torch.eye(3, dtype=torch.double))
    assert jitter == 0.0
    L, jitter = robust_cholesky(v @ v.T)  # rank 1: not positive definite
    assert jitter > 0 and torch.isfinite(L).all()
    with pytest.raises(ModelFittingError, match="not positive definite"):
        robust_cholesky(-torch.eye(3, dtype=torch.double))


def test_fit_restarts_from_the_prior_with_a_warning(monkeypatch, rng):
    X = torch.tensor(rng.random((12, 1)))
    X = torch.cat([X, torch.zeros(12, 1, dtype=torch.double)], -1)
    Y = torch.sin(6 * X[:, :1])
    model = HierarchicalGP(X, Y)
    calls = {"n": 0}
    original = HierarchicalGP.log_joint

    def flaky(self):
        calls["n"] += 1
        if calls["n"] == 1:
            raise ModelFittingError("simulated Cholesky failure")
        return original(self)

    monkeypatch.setattr(HierarchicalGP, "log_joint", flaky)
    with pytest.warns(NumericalWarning, match="2 attempts"):
        model.fit()
    assert torch.isfinite(model.posterior(X[:3, :1]).mean).all()


def test_fit_that_always_fails_raises(monkeypatch, rng):
    X = torch.cat([torch.tensor(rng.random((6, 1))), torch.zeros(6, 1, dtype=torch.double)], -1)
    model = HierarchicalGP(X, torch.tensor(rng.random((6, 1))))

    def broken(self):
        raise ModelFittingError("never factors")

    monkeypatch.setattr(HierarchicalGP, "log_joint", broken)
    with pytest.raises(ModelFittingError, match="3 attempts"):
        model.fit()


def test_duplicate_noise_free_points_fit_without_crashing():
    x = torch.tensor([[0.1], [0.1], [0.1], [0.5], [0.5], [0.9]], dtype=torch.double)
    X = torch.cat([x, torch.zeros(6, 1, dtype=torch.double)], -1)
    Y = torch.tensor([[1.0], [1.0], [1.0], [0.0], [0.0], [2.0]], dtype=torch.double)
    model = HierarchicalGP(X, Y).fit()  # exact repeats: the noise floor keeps K definite
    mean = model.posterior(x[[0, 3, 5]]).mean.squeeze(-1)
    torch.testing.assert_close(mean, torch.tensor([1.0, 0.0, 2.0], dtype=torch.double),
                               atol=0.05, rtol=0)
