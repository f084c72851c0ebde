"""RGPE's pieces against brute force and closed forms (experiments/rgpe.py)."""

import itertools

import numpy as np
import pytest
import torch
from rgpe import RGPE, fit_gp, loo_samples, misranked_pairs, ranking_weights

BOUNDS = torch.tensor([[0.0, 0.0], [1.0, 1.0]], dtype=torch.double)


def _data(rng, n, f):
    X = torch.from_numpy(rng.random((n, 2)))
    return X, f(X)


def _branin_like(X):
    return torch.sin(6 * X[:, 0]) + (X[:, 1] - 0.3) ** 2


def test_misranked_pairs_counts_discordant_pairs(rng):
    f = torch.from_numpy(rng.normal(size=(3, 6)))
    y = torch.from_numpy(rng.normal(size=6))
    expected = [sum((f[s, j] < f[s, k]) != (y[j] < y[k]) for j, k in itertools.product(range(6),
                                                                                    repeat=2))
                for s in range(3)]
    assert misranked_pairs(f, y).tolist() == expected
    g = torch.from_numpy(rng.normal(size=6))
    expected = [sum((f[s, j] < g[k]) != (y[j] < y[k]) for j, k in itertools.product(range(6),
                                                                                   repeat=2))
                for s in range(3)]
    assert misranked_pairs(f, y, against=g).tolist() == expected


def test_loo_samples_match_conditioning_on_the_other_points(rng):
    """The closed form (one inverse of K) equals conditioning the Gaussian of the noisy
    observations on the other n - 1 of them, one point at a time, at the fitted
    hyperparameters."""
    X, y = _data(rng, 8, _branin_like)
    model = fit_gp(X, y, BOUNDS)
    draws = loo_samples(model, X, 40000, torch.Generator().manual_seed(0))
    with torch.no_grad():
        Xt = model.transform_inputs(X)
        K = model.covar_module(Xt).to_dense() + model.likelihood.noise * torch.eye(8)
        m = model.mean_module(Xt)
    z = model.train_targets
    for j in range(8):
        o = [i for i in range(8) if i != j]
        gain = torch.linalg.solve(K[o][:, o], K[o, j])
        mean = m[j] + gain @ (z[o] - m[o])
        sd = (K[j, j] - gain @ K[o, j]).sqrt()
        # 40000 draws: the sample mean's se is sd / 200, the sample sd's relative se 1/283
        assert draws[:, j].mean().item() == pytest.approx(mean.item(), abs=5 * sd.item() / 200)
        assert draws[:, j].std().item() == pytest.approx(sd.item(), rel=5 / 283)


def test_ranking_weights_favour_a_related_source_and_drop_an_inverted_one(rng):
    X, y = _data(rng, 12, _branin_like)
    related = fit_gp(*_data(rng, 30, lambda X: 3 * _branin_like(X) + 1), BOUNDS)
    inverted = fit_gp(*_data(rng, 30, lambda X: -_branin_like(X)), BOUNDS)
    weights = ranking_weights([related, inverted], fit_gp(X, y, BOUNDS), X,
                              torch.Generator().manual_seed(0))
    assert weights.sum().item() == pytest.approx(1.0)
    assert weights[1].item() == 0.0  # its median loss is far above the target's 95th percentile
    assert weights[0].item() > 0.5


def test_ensemble_posterior_is_the_weighted_sum(rng):
    a = fit_gp(*_data(rng, 10, _branin_like), BOUNDS)
    b = fit_gp(*_data(rng, 10, lambda X: X[:, 0]), BOUNDS)
    x = torch.from_numpy(rng.random((4, 2)))
    w = torch.tensor([0.25, 0.75], dtype=torch.double)
    post = RGPE([a, b], w).posterior(x)
    with torch.no_grad():
        pa, pb = a.posterior(x).distribution, b.posterior(x).distribution
        torch.testing.assert_close(post.mean.squeeze(-1), 0.25 * pa.mean + 0.75 * pb.mean)
        torch.testing.assert_close(post.distribution.covariance_matrix,
                                   0.0625 * pa.covariance_matrix + 0.5625 * pb.covariance_matrix)
        only_a = RGPE([a, b], torch.tensor([1.0, 0.0], dtype=torch.double)).posterior(x)
        torch.testing.assert_close(only_a.mean.squeeze(-1), pa.mean)
    assert np.isfinite(post.variance.detach().numpy()).all()
