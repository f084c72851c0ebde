"""RGPE: the ranking-weighted Gaussian process ensemble, a transfer-learning peer of hbo.

Feurer, Letham & Bakshy (2018), "Scalable Meta-Learning for Bayesian Optimization using
Ranking-Weighted Gaussian Process Ensembles", AutoML Workshop at ICML, arXiv:1802.02219
(written after the paper and BoTorch's RGPE tutorial).

One GP per source task (fitted once on that task's standardized data, then fixed) and one on
the target; the ensemble's prediction at ``x`` is

    mean(x) = sum_i w_i mu_i(x),     var(x) = sum_i w_i^2 sigma_i^2(x)

with weights from how well each model *ranks* the target's observations. For ``S`` posterior
samples, the ranking loss of a source model ``f_i`` is the number of misranked pairs

    L(f_i) = sum_{j, k} 1[(f_i(x_j) < f_i(x_k)) xor (y_j < y_k)],

and the target model's is taken on leave-one-out predictions (it would rank its own data
perfectly): ``L(f_t) = sum_{j, k} 1[(f_t^{-j}(x_j) < y_k) xor (y_j < y_k)]``. ``w_i`` is the
share of samples in which model ``i`` has the smallest loss (ties split at random). A source
whose median loss exceeds the 95th percentile of the target's loss is dropped (the paper's
guard against weight dilution). The target's leave-one-out predictions use the closed form
at fixed hyperparameters (Rasmussen & Williams 2006, eq. 5.12):
``mu_{-j} = y_j - [K^{-1} y]_j / [K^{-1}]_jj``, ``sigma_{-j}^2 = 1 / [K^{-1}]_jj``.
"""

from __future__ import annotations

import torch
from botorch.fit import fit_gpytorch_mll
from botorch.models import SingleTaskGP
from botorch.models.model import Model
from botorch.models.transforms import Normalize
from botorch.posteriors.gpytorch import GPyTorchPosterior
from gpytorch.distributions import MultivariateNormal
from gpytorch.mlls import ExactMarginalLogLikelihood
from linear_operator.utils.cholesky import psd_safe_cholesky
from torch import Tensor

N_RANKING_SAMPLES = 256


def standardize(y: Tensor) -> Tensor:
    """``(y - mean) / sd`` (sd 1 when ``y`` has one value or none spread)."""
    sd = y.std() if len(y) > 1 else torch.ones((), dtype=y.dtype)
    return (y - y.mean()) / (sd if sd > 0 else 1.0)


def fit_gp(X: Tensor, y: Tensor, bounds: Tensor) -> SingleTaskGP:
    """A SingleTaskGP (BoTorch's defaults) on ``n x d`` inputs in the box ``bounds``
    (``2 x d``) and the ``n`` values ``y`` standardized (no outcome transform: every model of
    the ensemble predicts in its task's standard units)."""
    model = SingleTaskGP(X, standardize(y).unsqueeze(-1), outcome_transform=None,
                         input_transform=Normalize(X.shape[-1], bounds=bounds))
    fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model))
    return model


def misranked_pairs(f: Tensor, y: Tensor, against: Tensor | None = None) -> Tensor:
    """``S`` ranking losses: pairs ``(j, k)`` where ``f[s, j] < g[s, k]`` disagrees with
    ``y_j < y_k``; ``g = f`` unless ``against`` (``n`` values) is given. ``f``: ``S x n``."""
    g = f if against is None else against.expand_as(f)
    predicted = f.unsqueeze(-1) < g.unsqueeze(-2)
    observed = y.unsqueeze(-1) < y.unsqueeze(-2)
    return (predicted ^ observed).sum(dim=(-1, -2))


def loo_samples(model: SingleTaskGP, X: Tensor, n_samples: int,
                generator: torch.Generator) -> Tensor:
    """``S x n`` draws of the target GP's leave-one-out predictions at its inputs ``X``
    (``n x d``, untransformed), in its standardized units."""
    y = model.train_targets
    with torch.no_grad():
        X = model.transform_inputs(X)
        K = model.covar_module(X).to_dense() + model.likelihood.noise * torch.eye(len(y)).to(X)
        K_inv = torch.cholesky_inverse(torch.linalg.cholesky(K))
        residual = y - model.mean_module(X)
        mean = y - (K_inv @ residual) / K_inv.diagonal()
        sd = K_inv.diagonal().rsqrt()
    noise = torch.randn(n_samples, len(y), generator=generator, dtype=X.dtype)
    return mean + sd * noise


def ranking_weights(sources: list[SingleTaskGP], target: SingleTaskGP, X: Tensor,
                    generator: torch.Generator, n_samples: int = N_RANKING_SAMPLES) -> Tensor:
    """Weights of ``sources + [target]`` (length ``T + 1``, summing to 1); ``X``: the
    target's ``n x d`` inputs."""
    y = target.train_targets
    losses = []
    with torch.no_grad():
        for model in sources:
            mvn = model.posterior(X).distribution
            chol = psd_safe_cholesky(mvn.covariance_matrix)
            eps = torch.randn(n_samples, len(y), generator=generator, dtype=X.dtype)
            draws = mvn.mean + eps @ chol.T
            losses.append(misranked_pairs(draws, y))
    target_f = loo_samples(target, X, n_samples, generator)
    target_loss = misranked_pairs(target_f, y, against=y)
    losses.append(target_loss)
    L = torch.stack(losses).to(torch.double)  # (T + 1) x S
    # weight dilution: drop sources that rank worse than the target model almost always
    dropped = L[:-1].median(dim=1).values > torch.quantile(target_loss.to(torch.double), 0.95)
    L[:-1][dropped] = float("inf")
    # the smallest loss wins each sample; ties split at random by a tiny jitter
    jitter = torch.rand(L.shape, generator=generator, dtype=L.dtype) * 1e-3
    best = torch.argmin(L + jitter, dim=0)
    return torch.bincount(best, minlength=len(L)).to(X.dtype) / n_samples


class RGPE(Model):
    """The weighted ensemble as a BoTorch model: a Gaussian posterior with
    ``mean = sum_i w_i mu_i`` and ``covariance = sum_i w_i^2 Sigma_i`` (one output).

    Args:
        models: GPs in a common (standardized) output scale.
        weights: One weight per model (:func:`ranking_weights`).
    """

    num_outputs = 1

    def __init__(self, models: list[SingleTaskGP], weights: Tensor) -> None:
        super().__init__()
        keep = [i for i, w in enumerate(weights.tolist()) if w > 0]
        self.models = torch.nn.ModuleList([models[i] for i in keep])
        self.weights = weights[keep]

    def posterior(self, X: Tensor, output_indices=None, observation_noise=False,
                  posterior_transform=None, **kwargs) -> GPyTorchPosterior:
        mean, covariance = 0.0, 0.0
        for model, w in zip(self.models, self.weights, strict=True):
            mvn = model.posterior(X).distribution
            mean = mean + w * mvn.mean
            # lazily: a dense joint covariance of many near-duplicate points can fail the
            # positive-definiteness check of a dense MultivariateNormal
            covariance = covariance + mvn.lazy_covariance_matrix * w**2
        posterior = GPyTorchPosterior(MultivariateNormal(mean, covariance))
        return posterior if posterior_transform is None else posterior_transform(posterior)
