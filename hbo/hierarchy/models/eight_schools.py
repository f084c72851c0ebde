"""Eight Schools: the normal hierarchical model fitted with NUTS, centered or non-centered.

Model (Rubin 1981, doi:10.3102/10769986006004377; BDA3 §5.5), for ``J`` groups:

    y_j ~ N(theta_j, sigma_j^2)            sigma_j known
    theta_j ~ N(mu, tau^2)                  centered
    theta_j = mu + tau * z_j, z_j ~ N(0, 1) non-centered (same model, other coordinates)
    mu ~ N(m, s^2) (or flat), tau ~ Half-Normal / Half-Cauchy / Exponential / Uniform

The centered form has a funnel: as tau -> 0 the thetas are squeezed together and the
curvature grows without bound, so NUTS with one step size diverges at the neck and cannot
reach small tau. The non-centered form samples the independent ``z_j`` instead, whose
posterior geometry is close to Gaussian when the data are weak (Papaspiliopoulos, Roberts &
Sköld 2007, doi:10.1214/088342307000000014; Betancourt & Girolami 2015, arXiv:1312.0906).
The exact posterior is :class:`hbo.hierarchy.NormalHierarchy`; this class is its NUTS peer.

Marginalized form (``marginalize=True``). The group effects integrate out in closed form,
``y_j | mu, tau ~ N(mu, tau^2 + sigma_j^2)`` (BDA3 §5.4), so NUTS samples only
``(mu, tau)``, a two-dimensional posterior without a funnel. Each draw of ``theta`` is then
drawn from its Gaussian conditional (BDA3 eq. 5.17),

    theta_j | mu, tau, y ~ N((1 - B_j) y_j + B_j mu, (1 - B_j) sigma_j^2),
    B_j = sigma_j^2 / (sigma_j^2 + tau^2),

as a generated quantity: the joint draws of ``(mu, tau, theta)`` have the same law as the
full model's. Its pointwise log-likelihood is ``log N(y_j; mu, tau^2 + sigma_j^2)``, with
``theta_j`` integrated out: the leave-one-out density ``p(y_j | y_-j)`` is the same as the
full model's, but PSIS-LOO estimates it far more reliably (no parameter belongs to school
``j`` alone: Pareto k 0.06 to 0.2 against 0.4 to 0.8; elpd_loo -30.74 against -30.71 for
the non-centered fit, mu ~ N(0, 5), tau ~ Half-Cauchy(5), 4 x 1000 draws).

Complete pooling (``pooled=True``): ``theta_j = mu`` for every group (``tau = 0``), the
model BDA3 §5.5 sets beside the hierarchical one; ``az.compare`` of the two fits (both
carry a pointwise ``log_likelihood`` of ``y``) weighs them by their PSIS-LOO predictive
accuracy.

The bundled data (:data:`Y`, :data:`SIGMA`) are the SAT coaching effects of Rubin (1981).
"""

from __future__ import annotations

from collections.abc import Sequence

import pyro
import pyro.distributions as dist
import torch

from hbo.errors import InvalidDataError
from hbo.hierarchy.models._base import (
    HierarchicalModel,
    as_tensor,
    flat,
    normal,
    scale_prior,
)
from hbo.hierarchy.normal import check_mu_prior

#: Estimated coaching effects of the eight schools (Rubin 1981, Table 2; BDA3 Table 5.2).
Y = (28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0)
#: Their standard errors.
SIGMA = (15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0)


class EightSchools(HierarchicalModel):
    """Normal hierarchical model with known sampling SDs, for NUTS (any number of groups).

    Use it to see the funnel (``centered=True``) and its cure (``centered=False``), or as the
    NUTS cross-check of the exact :class:`hbo.hierarchy.NormalHierarchy`. The priors mean
    what they mean for ``NormalHierarchy``.

    Args:
        y: group estimates, shape ``J``.
        sigma: their standard errors, shape ``J``, all > 0.
        centered: sample ``theta`` directly (funnel) or ``z`` with ``theta = mu + tau z``.
        marginalize: integrate ``theta`` out, sample ``(mu, tau)`` only and draw ``theta``
            from its conditional afterwards (module docstring); ``centered`` is then moot.
        pooled: complete pooling, ``theta_j = mu`` (no ``tau``; ``centered``,
            ``marginalize`` and the tau prior are then moot).
        mu_prior: ``(loc, scale)`` of a normal prior on ``mu``, or ``None`` for a flat prior.
        tau_prior: ``"half_normal"``, ``"half_cauchy"``, ``"exponential"`` or ``"uniform"``.
        tau_scale: scale of the tau prior (1 / rate for the exponential, upper bound for
            the uniform).
        names: labels of the groups (default ``1..J``), used in the summary index.
    """

    def __init__(
        self,
        y: Sequence[float] = Y,
        sigma: Sequence[float] = SIGMA,
        *,
        centered: bool = False,
        marginalize: bool = False,
        pooled: bool = False,
        mu_prior: tuple[float, float] | None = (0.0, 5.0),
        tau_prior: str = "half_normal",
        tau_scale: float = 5.0,
        names: Sequence | None = None,
    ) -> None:
        y_t, s_t = as_tensor(y, "y"), as_tensor(sigma, "sigma")
        if y_t.shape != s_t.shape:
            raise InvalidDataError(f"y and sigma differ in length: {len(y_t)} != {len(s_t)}")
        if not (s_t > 0).all():
            raise InvalidDataError("sigma must be > 0 for every group")
        self.mu_prior = check_mu_prior(mu_prior)
        names = list(range(1, len(y_t) + 1)) if names is None else list(names)
        if len(names) != len(y_t):
            raise InvalidDataError(f"names has {len(names)} labels for {len(y_t)} groups")
        self.sigma = s_t
        self.centered = bool(centered)
        self.marginalize = bool(marginalize)
        self.pooled = bool(pooled)
        self.tau_dist = scale_prior(tau_prior, tau_scale)
        self.observed = {"y": y_t}
        self.coords = {"school": names}
        self.dims = {"theta": ["school"], "z": ["school"], "y": ["school"]}

    def model(self) -> None:
        mu_dist = flat() if self.mu_prior is None else normal(*self.mu_prior)
        mu = pyro.sample("mu", mu_dist)
        if self.pooled:
            with pyro.plate("school", len(self.sigma), dim=-1):
                pyro.sample("y", dist.Normal(mu, self.sigma), obs=self.observed["y"])
            return
        tau = pyro.sample("tau", self.tau_dist)
        with pyro.plate("school", len(self.sigma), dim=-1):
            if self.marginalize:
                scale = torch.sqrt(tau**2 + self.sigma**2)
                pyro.sample("y", dist.Normal(mu, scale), obs=self.observed["y"])
                return
            if self.centered:
                theta = pyro.sample("theta", dist.Normal(mu, tau))
            else:
                z = pyro.sample("z", normal(0.0, 1.0))
                theta = pyro.deterministic("theta", mu + tau * z, event_dim=0)
            pyro.sample("y", dist.Normal(theta, self.sigma), obs=self.observed["y"])

    def generated_quantities(self, draws: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """``theta`` (``n x J``) from its conditional given each draw of ``(mu, tau)`` (module
        docstring), for the marginalized form; nothing otherwise."""
        if not self.marginalize or self.pooled:
            return {}
        mu, tau = draws["mu"][:, None], draws["tau"][:, None]
        var = self.sigma**2
        b = var / (var + tau**2)
        mean = (1.0 - b) * self.observed["y"] + b * mu
        return {"theta": mean + torch.sqrt((1.0 - b) * var) * torch.randn_like(mean)}
