"""Stochastic volatility: a latent AR(1) log-variance behind a series of returns, fitted with NUTS.

Model (Kim, Shephard & Chib 1998, doi:10.1111/1467-937X.00050; Stan User's Guide §2.5), for
returns ``y_1..y_T``:

    h_1 ~ N(mu, sigma_eta^2 / (1 - phi^2))                  stationary start
    h_t = mu + phi (h_{t-1} - mu) + sigma_eta eta_t,  eta_t ~ N(0, 1)
    y_t ~ N(0, exp(h_t / 2)^2)                              volatility exp(h_t / 2)

    mu ~ N(m, s^2), (phi + 1) / 2 ~ Beta(20, 1.5), sigma_eta ~ Half-Normal(0, scale)

The Beta(20, 1.5) prior on the persistence is Kim, Shephard & Chib's; it puts 90% of its
mass on phi > 0.8 but allows the whole of (-1, 1).

Parameterizations. ``centered=True`` samples ``h`` itself under its AR(1) density
(:class:`AR1`). ``centered=False`` (default, the Stan User's Guide's choice) samples the
standardized innovations ``eta_1..eta_T`` and builds ``h = mu + sigma_eta x`` with
``x_1 = eta_1 / sqrt(1 - phi^2)``, ``x_t = phi x_{t-1} + eta_t``; when the returns say little
about each ``h_t`` (T large, sigma_eta small) the posterior of ``(sigma_eta, h)`` is a funnel
that the innovations remove.

Speed. The recursion ``x_t = phi x_{t-1} + b_t`` is evaluated by :func:`ar1_filter`, a
Hillis-Steele scan of ``ceil(log2 T)`` vectorized steps instead of ``T`` Python steps, so the
potential energy and its gradient cost O(T log T) tensor work in ~10 kernel calls; it
broadcasts over any leading batch dimension.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyro
import pyro.distributions as dist
import torch
from torch.distributions import constraints

from hbo.errors import InvalidArgumentError, InvalidDataError
from hbo.hierarchy.models._base import DTYPE, HierarchicalModel, as_tensor, normal


def ar1_filter(b: torch.Tensor, phi: torch.Tensor) -> torch.Tensor:
    """``x`` with ``x_1 = b_1`` and ``x_t = phi x_{t-1} + b_t`` along the last dimension.

    Hillis-Steele scan: after the step with offset ``d`` every ``x_t`` holds
    ``sum_{k < 2d} phi^k b_{t-k}``, so ``ceil(log2 T)`` steps give the full sum. Stable for
    ``|phi| < 1``: the powers ``phi^d`` only shrink (no division by ``phi^t`` as in the
    closed form ``phi^t cumsum(b_s phi^-s)``, which overflows for small ``|phi|``).

    Args:
        b: innovations, shape ``... x T``.
        phi: AR coefficient, shape broadcastable to ``... x 1``.

    Returns:
        ``x``, shape ``... x T``.
    """
    x, p, d, n = b, phi, 1, b.shape[-1]
    while d < n:
        x = x + p * torch.nn.functional.pad(x[..., :-d], (d, 0))
        p, d = p * p, 2 * d
    return x


class AR1(dist.TorchDistribution):
    """Stationary Gaussian AR(1) path ``h_1..h_T`` (event shape ``T``) with mean ``mu``,
    persistence ``phi`` in (-1, 1) and innovation SD ``sigma``; the parameters broadcast to
    the batch shape ``B`` (pyro's convention: under a plate at dim ``-2`` they are ``n x 1``
    and a path is ``n x 1 x T``).

    ``log_prob(h) = log N(h_1; mu, sigma^2 / (1 - phi^2))
    + sum_{t>1} log N(h_t; mu + phi (h_{t-1} - mu), sigma^2)``.
    """

    arg_constraints = {
        "mu": constraints.real,
        "phi": constraints.interval(-1.0, 1.0),
        "sigma": constraints.positive,
    }
    support = constraints.independent(constraints.real, 1)

    def __init__(self, mu: torch.Tensor, phi: torch.Tensor, sigma: torch.Tensor, T: int) -> None:
        self.mu, self.phi, self.sigma = torch.broadcast_tensors(
            *(torch.as_tensor(v, dtype=DTYPE) for v in (mu, phi, sigma))
        )
        self.T = T
        super().__init__(batch_shape=self.mu.shape, event_shape=torch.Size([T]))

    def sample(self, sample_shape: tuple[int, ...] = ()) -> torch.Tensor:
        shape = torch.Size(sample_shape) + self.batch_shape + self.event_shape
        eta = torch.randn(shape, dtype=DTYPE)
        phi = self.phi[..., None]
        first = eta[..., :1] / torch.sqrt(1.0 - phi**2)
        x = ar1_filter(torch.cat([first, eta[..., 1:]], dim=-1), phi)
        return self.mu[..., None] + self.sigma[..., None] * x

    def log_prob(self, h: torch.Tensor) -> torch.Tensor:
        mu, phi, sigma = self.mu[..., None], self.phi[..., None], self.sigma[..., None]
        dev = h - mu
        sd0 = sigma / torch.sqrt(1.0 - phi**2)
        first = dist.Normal(0.0, sd0).log_prob(dev[..., :1]).squeeze(-1)
        rest = dist.Normal(phi * dev[..., :-1], sigma).log_prob(dev[..., 1:])
        return first + rest.sum(-1)


class _OnMinusOneOne(dist.TransformedDistribution):
    """A transformed distribution that declares its support (-1, 1), so that NUTS maps it to
    the real line by the bijection of ``interval(-1, 1)`` (torch's affine transform would
    declare the whole real line)."""

    support = constraints.interval(-1.0, 1.0)


def _persistence_prior(a: float, b: float) -> dist.Distribution:
    """``phi = 2 u - 1`` with ``u ~ Beta(a, b)``."""
    base = dist.Beta(torch.tensor(a, dtype=DTYPE), torch.tensor(b, dtype=DTYPE))
    return _OnMinusOneOne(base, [dist.transforms.AffineTransform(-1.0, 2.0)])


class StochasticVolatility(HierarchicalModel):
    """Stochastic-volatility model of a return series, for NUTS.

    Use it to estimate the latent volatility path ``exp(h_t / 2)`` with uncertainty bands and
    the persistence ``phi`` of volatility shocks. Returns should be demeaned and in units where
    ``mu`` lies within a few ``mu_prior`` scales of 0 (percent returns: ``mu`` near 0).

    Args:
        y: returns, shape ``T`` (T >= 2).
        centered: sample ``h`` (True) or the innovations ``eta`` (False, default).
        mu_prior: ``(loc, scale)`` of the normal prior of ``mu``, the mean log variance.
        sigma_scale: scale of the Half-Normal prior of ``sigma_eta``.
        phi_beta: ``(a, b)`` of the Beta prior of ``(phi + 1) / 2``.
    """

    def __init__(
        self,
        y: Sequence[float],
        *,
        centered: bool = False,
        mu_prior: tuple[float, float] = (0.0, 5.0),
        sigma_scale: float = 1.0,
        phi_beta: tuple[float, float] = (20.0, 1.5),
    ) -> None:
        y_t = as_tensor(y, "y")
        if len(y_t) < 2:
            raise InvalidDataError(f"y needs at least 2 returns, got {len(y_t)}")
        if not mu_prior[1] > 0:
            raise InvalidArgumentError(f"mu_prior scale must be > 0, got {mu_prior[1]}")
        if not sigma_scale > 0:
            raise InvalidArgumentError(f"sigma_scale must be > 0, got {sigma_scale}")
        if not (phi_beta[0] > 0 and phi_beta[1] > 0):
            raise InvalidArgumentError(f"phi_beta must be two positive numbers, got {phi_beta}")
        self.centered = centered
        self.mu_prior = mu_prior
        self.sigma_scale = torch.tensor(float(sigma_scale), dtype=DTYPE)
        self.phi_beta = tuple(float(v) for v in phi_beta)
        self.T = len(y_t)
        self.observed = {"y": y_t}
        self.coords = {"time": list(range(1, self.T + 1))}
        self.dims = {"h": ["time"], "eta": ["time"], "y": ["time"]}

    def model(self) -> None:
        mu = pyro.sample("mu", normal(*self.mu_prior))
        phi = pyro.sample("phi", _persistence_prior(*self.phi_beta))
        sigma = pyro.sample("sigma_eta", dist.HalfNormal(self.sigma_scale))
        if self.centered:
            h = pyro.sample("h", AR1(mu, phi, sigma, self.T))
            if h.ndim > 1:  # batched: B x 1 x T, the 1 the time plate's slot
                h = h.squeeze(-2)
        with pyro.plate("time", self.T, dim=-1):
            if not self.centered:
                eta = pyro.sample("eta", normal(0.0, 1.0))
                first = eta[..., :1] / torch.sqrt(1.0 - phi**2)
                x = ar1_filter(torch.cat([first, eta[..., 1:]], dim=-1), phi)
                h = pyro.deterministic("h", mu + sigma * x, event_dim=0)
            vol = torch.exp(0.5 * h)
            pyro.sample("y", dist.Normal(torch.zeros_like(vol), vol), obs=self.observed["y"])


@dataclass(frozen=True)
class SVTruth:
    """Parameters and latent path behind a simulated return series."""

    mu: float
    phi: float
    sigma_eta: float
    h: np.ndarray


def simulate_returns(
    T: int = 750, mu: float = 0.0, phi: float = 0.95, sigma_eta: float = 0.25, seed: int = 20261126
) -> tuple[np.ndarray, SVTruth]:
    """Returns ``y_1..y_T`` drawn from the model with known ``(mu, phi, sigma_eta, h)``.

    The defaults resemble daily percent returns of a stock index (annualized volatility near
    16%, volatility half-life ``log 0.5 / log phi`` of ~14 days).
    """
    if T < 2:
        raise InvalidArgumentError(f"T must be >= 2, got {T}")
    if not -1.0 < phi < 1.0 or not sigma_eta > 0:
        raise InvalidArgumentError(f"need -1 < phi < 1 and sigma_eta > 0, got {phi}, {sigma_eta}")
    rng = np.random.default_rng(seed)
    eta = rng.standard_normal(T)
    eta[0] /= math.sqrt(1.0 - phi**2)
    x = ar1_filter(torch.as_tensor(eta, dtype=DTYPE), torch.tensor(phi, dtype=DTYPE)).numpy()
    h = mu + sigma_eta * x
    y = np.exp(h / 2.0) * rng.standard_normal(T)
    return y, SVTruth(mu, phi, sigma_eta, h)
