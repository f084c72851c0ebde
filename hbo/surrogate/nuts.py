r"""NUTS over the hyperprior of a :class:`~hbo.surrogate.HierarchicalGP`: the fully Bayesian fit.

Target density, over the unconstrained parameters ``phi = (m, log tau, z, log ell_g)``
(non-centered, Half-Normal ``tau`` with its log-Jacobian, :mod:`hbo.surrogate.priors`), with
the constant means ``c`` (prior ``N(0, CONSTANT_PRIOR_SCALE^2)`` of
:mod:`hbo.surrogate.hierarchical_gp`, standardized units) integrated out:

    log p(phi | y) = log int p(y | theta(phi), c) p(c) dc + log p(phi) + const,   theta = m + tau z,

i.e. :meth:`HierarchicalGP.constant_marginal` plus :meth:`HierarchicalGP.log_prior`; each
kept draw then gets its ``c`` from the exact Gaussian conditional ``p(c | phi, y)``, so
the draws are draws of the full joint posterior. The MAP fit's Laplace correction is
*not* part of it: NUTS integrates ``z`` out by sampling it.

pyro's NUTS (Hoffman & Gelman 2014, https://jmlr.org/papers/v15/hoffman14a.html) runs in
:class:`SamplingCoordinates` (constants out, centered where the data dominate, Laplace
preconditioned) through a ``potential_fn``, the chains at once in forked processes where
the machine allows (``NUTSOptions.parallel``: the same draws as one after another), each
started at the MAP fit plus ``INIT_SPREAD`` Laplace standard deviations of noise, so that
R-hat compares chains that did not start at one point. Each chain adapts its step size
and a diagonal mass matrix (on top of the preconditioning) during warm-up. The sampler
and its per-draw statistics (divergences, energy, tree depth) are those of
:mod:`hbo.hierarchy.models` (:mod:`hbo.mcmc`'s ``FlatNUTS``), so the InferenceData read by
:func:`hbo.diagnostics.convergence` has the same layout.

Defaults (:class:`NUTSOptions`): 2 chains x (128 warm-up + 128 draws), every 2nd draw
kept, so the ensemble holds 128 draws; tree depth at most 6 (63 leapfrog steps, as
BoTorch's SAAS fit). The choice is set by cost, not by convergence. The potential and its
gradient are traced into one TorchScript graph (:class:`FlatPotential` of
:mod:`hbo.mcmc`). At these defaults max R-hat is typically 1.03 to 1.6, not the 1.01 the
convergence report asks for (the target's shared-function loading, weakly identified by a
few points, mixes slowest), and the fit warns (:func:`fit_fully_bayesian`); where the model
holds, its 90% intervals of ``m`` and ``tau`` cover at their nominal rate. The measurements
(cost per ask against BoTorch's SAAS models, R-hat over seeds and parameterizations,
coverage): ``experiments/results/nuts_surrogate_measurements.md``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import arviz as az
import numpy as np
import torch
from torch import Tensor, nn

from hbo.errors import ModelFittingError
from hbo.mcmc import FLAT, FlatPotential, run_chains, seeded
from hbo.surrogate.hierarchical_gp import HierarchicalGP
from hbo.surrogate.information import shrinkage
from hbo.surrogate.nuts_options import NUTSOptions
from hbo.surrogate.priors import GROUP_SPEC

#: Standard deviation of each chain's start around the MAP fit, in units of the Laplace
#: posterior standard deviation (preconditioned coordinates): overdispersed enough for
#: R-hat to compare chains that did not start at one point.
INIT_SPREAD = 0.5
#: Shrinkage below which an element of ``z`` is sampled centered (:class:`SamplingCoordinates`):
#: ``B < 1/4`` means ``tau^2 I > 3``, so the data still dominate if ``tau`` is 1.7x
#: smaller than at the MAP. The textbook ``B < 1/2`` centered a small-data family whose
#: ``tau`` posterior reached 20x below the MAP (funnel, a missed interval in the coverage
#: test); on the Branin family ``B < 1/10`` gave R-hat 1.49 in its one run, inside the
#: 1.06-1.56 spread of five runs at ``1/4``: that comparison decides nothing.
CENTER_BELOW = 0.25
#: Smallest curvature (absolute Hessian eigenvalue) of the preconditioning: a direction
#: with less gets standard deviation 10 on the log scale.
HESSIAN_FLOOR = 1e-2


@dataclass
class NUTSResult:
    """Draws of a NUTS run over a HierarchicalGP's parameters.

    Attributes:
        samples: parameter name (as in ``model.named_parameters()``) -> ``chains x draws x
            shape`` tensor of all post-warm-up draws.
        idata: ArviZ InferenceData: posterior ``m_<group>``, ``tau_<group>`` (natural
            scale), ``z_<group>``, ``constant``, ``g_log_lengthscale``; sample_stats
            (``diverging``, ``energy``, ``tree_depth``, ...).
        options: the settings of the run.
    """

    samples: dict[str, Tensor]
    idata: az.InferenceData
    options: NUTSOptions

    def thinned(self) -> dict[str, Tensor]:
        """Every ``thinning``-th draw of each chain, chains merged: name -> ``S x shape``."""
        step = self.options.thinning
        return {k: v[:, ::step].reshape(-1, *v.shape[2:]) for k, v in self.samples.items()}


class SamplingCoordinates:
    r"""The coordinates NUTS moves in, and the map back to the model's parameters.

    Four changes of variables make the posterior of the hierarchical GP one a short
    trajectory can cross. Measured on the transfer benchmark's Branin family (155
    observations, 2 x (128 + 128) iterations): in the model's own parameters max R-hat
    1.9-2.2 and 80-100% tree-depth saturation (two runs); constants integrated out and
    preconditioned, 1.37 and 94% (one run); 1, 2 and 4, 1.06-1.56 and 9-77% (five runs);
    all four, below (module docstring): better, not yet converged.

    1. **No constants.** The constant means are integrated out
       (:meth:`HierarchicalGP.constant_marginal`, :mod:`hbo.surrogate.constant_means`) and
       drawn from their Gaussian conditional afterwards: jointly sampled, ``c_t`` and a
       long-lengthscale GP trade the level of task ``t`` along a ridge.
    2. **Centered where the data dominate.** Non-centering (``z_t``) helps where a task's
       data say little (the Eight Schools funnel); where they pin ``theta_t = m + tau
       z_t``, the non-centered ``z_t = (theta_t - m) / tau`` curves with ``tau`` and the
       centered form is the better one (Papaspiliopoulos, Roberts & Skold 2007). So each
       element of ``z`` whose shrinkage at the start is below ``CENTER_BELOW``
       (:func:`~hbo.surrogate.information.shrinkage`: data information ``I`` exceeds the
       prior precision ``1 / tau^2``) is sampled as ``theta_t``, with the Jacobian
       ``1 / tau`` per centered element.
    3. **``m`` standardized against its prior conditional.** Given ``tau`` and the
       centered ``theta_t`` of a group, ``m`` is Gaussian a priori (``theta_t ~ N(m,
       tau^2)``, ``m ~ N(m_0, s_m^2)``; :meth:`_m_conditional`), so NUTS moves ``m~`` with
       ``m = E[m | theta_C, tau] + sd[m | theta_C, tau] m~`` (log-Jacobian ``log sd``).
       Where every element of a group is centered the likelihood does not involve ``m``
       and ``m~`` is exactly ``N(0, 1)`` and independent of the rest: the conditional
       scale ``tau / sqrt(T)`` of the centered form, a funnel in ``(m, log tau)`` that the
       Laplace step (4) sees only at the start, is gone. On the Branin family seed 0 that
       direction had posterior sd 11.6 in the preconditioned coordinates, against 0.7-2.6
       for the others. Elements sampled non-centered do not enter the conditional.
    4. **Laplace preconditioning.** ``psi = psi_0 + A u`` with ``A A^T`` the inverse of
       the negative Hessian of the log density at the start ``psi_0`` (eigenvalues
       below ``HESSIAN_FLOOR`` in absolute value raised to it, so every direction gets
       a finite scale), so ``u`` is roughly standard normal near the mode: the
       amplitude-lengthscale ridge of a Matern kernel is linear in the log scale.

    Tried and dropped: sampling each task's centered (outputscale, loading) pair as (log
    total variance ``log(s2_t + a_t^2)``, share ``log(a_t^2 / s2_t)``; unit Jacobian),
    which straightens their L-shaped ridge. Four seeds each on the Branin family at the
    defaults: max R-hat 1.08-1.35 against 1.09-1.14 without; the slowest direction moved
    from the target's loading to ``g``'s lengthscale, and the fit was no better. Sampling
    the target's loading non-centered though its shrinkage says centered (5 points; the
    Fisher information at the MAP overstates what they say): on the two worst of the 14
    families above, max R-hat 1.25 -> 1.06 on one and 1.34 -> 1.39 on the other, the
    slowest direction moving to ``tau`` of the lengthscale. Undecided; not taken.

    Args:
        model: The HierarchicalGP; its current (normally MAP) parameters are ``psi_0``.
    """

    def __init__(self, model: HierarchicalGP) -> None:
        self.model = model
        self.params = {n: p for n, p in sampled_parameters(model).items() if n != "constant"}
        self.names = list(self.params)
        self.shapes = [self.params[n].shape for n in self.names]
        self.sizes = [int(np.prod(s)) for s in self.shapes]
        shrink = shrinkage(model)
        self.centered = {g: shrink[g] < CENTER_BELOW for g in model.log_tau if model.hierarchical}
        self.start = self.to_psi({n: p.detach() for n, p in self.params.items()})
        self.scale = self._laplace_scale()

    def to_psi(self, params: Mapping[str, Tensor]) -> Tensor:
        """Model parameters (``z`` non-centered) -> flat ``psi`` (``theta`` centered, ``m``
        standardized)."""
        values = dict(params)
        for g, centered in self.centered.items():
            z, m, log_tau = values[f"z.{g}"], values[f"m.{g}"], values[f"log_tau.{g}"]
            theta = torch.where(centered, m + log_tau.exp() * z, z)
            mean, var = self._m_conditional(g, theta, log_tau, ())
            values[f"z.{g}"], values[f"m.{g}"] = theta, (m - mean) / var.sqrt()
        return torch.cat([values[n].reshape(-1) for n in self.names])

    def to_parameters(self, psi: Tensor) -> tuple[dict[str, Tensor], Tensor]:
        """``... x P`` flat ``psi`` -> model parameters (``... x shape``) and
        ``log |d params / d psi|`` (``...``)."""
        parts = torch.split(psi, self.sizes, dim=-1)
        values = {n: p.reshape(psi.shape[:-1] + s)
                  for n, p, s in zip(self.names, parts, self.shapes, strict=True)}
        batch = psi.shape[:-1]
        log_jacobian = psi.new_zeros(batch)
        for g, centered in self.centered.items():
            theta, log_tau = values[f"z.{g}"], values[f"log_tau.{g}"]  # *B x T [x D], *B
            mean, var = self._m_conditional(g, theta, log_tau, batch)  # *B [x D]
            m = mean + var.sqrt() * values[f"m.{g}"]
            tau = log_tau.exp().reshape(tuple(batch) + (1,) * (theta.dim() - len(batch)))
            values[f"z.{g}"] = torch.where(centered, (theta - m.unsqueeze(len(batch))) / tau, theta)
            values[f"m.{g}"] = m
            log_jacobian = (log_jacobian + 0.5 * var.log().reshape(tuple(batch) + (-1,)).sum(-1)
                            - centered.sum() * log_tau)
        return values, log_jacobian

    def _m_conditional(
        self, group: str, theta: Tensor, log_tau: Tensor, batch: tuple[int, ...]
    ) -> tuple[Tensor, Tensor]:
        r"""Mean and variance of ``m``'s prior conditional given the centered elements and ``tau``.

        With ``theta_t ~ N(m, tau^2)`` for the centered tasks ``C`` and ``m ~ N(m_0,
        s_m^2)``: ``Var = 1 / (|C| / tau^2 + 1 / s_m^2)``, ``E = Var (sum_C theta_t / tau^2
        + m_0 / s_m^2)``, per input for the lengthscale. Shapes: ``theta`` ``*B x T [x
        D]``, ``log_tau`` ``*B``; returns ``*B [x D]`` each.
        """
        centered = self.centered[group]
        prior = self.model.hyperpriors[group]
        loc, scale = prior.location(self.model._Z.shape[-1]), prior.scale
        tau2 = (2 * log_tau).exp().reshape(tuple(batch) + (1,) * (theta.dim() - len(batch) - 1))
        var = 1.0 / (centered.sum(0) / tau2 + 1.0 / scale**2)
        total = torch.where(centered, theta, torch.zeros_like(theta)).sum(len(batch))
        return var * (total / tau2 + loc / scale**2), var

    def log_density(self, psi: Tensor) -> Tensor:
        """``log p(psi | y)`` up to a constant (constants integrated out)."""
        values, log_jacobian = self.to_parameters(psi)
        return _call(self.model, _log_target, values) + log_jacobian

    def _laplace_scale(self) -> Tensor:
        """``A`` with ``A A^T = (-Hessian)^{-1}`` at the start, eigenvalues floored; the
        identity where the Hessian is not available (not finite at the start)."""
        identity = torch.eye(len(self.start), dtype=self.start.dtype)
        try:
            H = torch.autograd.functional.hessian(lambda psi: -self.log_density(psi), self.start)
            lam, V = torch.linalg.eigh(H)
        except (ModelFittingError, RuntimeError):  # eigh of a NaN matrix
            return identity
        if not torch.isfinite(lam).all():
            return identity
        return V / lam.abs().clamp_min(HESSIAN_FLOOR).sqrt()

    def psi(self, u: Tensor) -> Tensor:
        """Preconditioned ``u`` (``... x P``) -> ``psi``."""
        return self.start + u @ self.scale.T


class _Call(nn.Module):
    """``fn(model)`` as a module's forward, so ``functional_call`` can swap in parameters."""

    def __init__(self, model: HierarchicalGP, fn: Callable[[HierarchicalGP], Any]) -> None:
        super().__init__()
        self.model, self.fn = model, fn

    def forward(self) -> Any:
        return self.fn(self.model)


def _call(model: HierarchicalGP, fn: Callable[[HierarchicalGP], Any],
          values: Mapping[str, Tensor]) -> Any:
    """``fn(model)`` with ``values`` (parameter name -> tensor) in place of its parameters."""
    return torch.func.functional_call(
        _Call(model, fn), {f"model.{n}": v for n, v in values.items()}, ()
    )


def _log_target(model: HierarchicalGP) -> Tensor:
    """``log p(y | phi)`` with the constants integrated out, ``+ log p(phi)``."""
    return model.constant_marginal(traceable=True)[0] + model.log_prior()


def sampled_parameters(model: HierarchicalGP) -> dict[str, Tensor]:
    """The parameters a draw holds: those NUTS samples (the trainable ones; fixed ``tau`` are
    not parameters) and the constant means, drawn from their conditional given each draw."""
    return {name: p for name, p in model.named_parameters()
            if p.requires_grad or name == "constant"}


def run_nuts(model: HierarchicalGP, options: NUTSOptions, seed: int) -> NUTSResult:
    """Sample ``p(phi | y)`` of ``model`` with NUTS, chains started near its current fit.

    NUTS runs in :class:`SamplingCoordinates`; the draws are returned as the model's
    parameters, the constant means drawn from their exact conditional given each draw.

    Args:
        model: A HierarchicalGP, normally MAP-fitted (its parameters start the chains).
        options: Warm-up, draws, chains, thinning and sampler settings.
        seed: Seed of the run; global RNG states are restored afterwards.

    Returns:
        The draws and their InferenceData (the model's parameters are left unchanged).
    """
    coords = SamplingCoordinates(model)
    start = {FLAT: torch.zeros_like(coords.start)}
    if not torch.isfinite(coords.log_density(coords.start)):
        raise ModelFittingError(
            "NUTS cannot start: the kernel matrix at the MAP fit is not positive definite "
            f"without jitter (the fit needed {model.fit_jitter:g}); duplicate inputs with "
            "noise near its floor do this: raise the noise prior (hyperpriors['noise'])"
        )
    # value and gradient traced into one TorchScript graph (about 1.5x faster at N = 155)
    potential = FlatPotential(lambda u: -coords.log_density(coords.psi(u[FLAT])), start)

    def initial_point() -> Tensor:
        """A perturbed start where the density is finite (pyro does not check: an infinite
        starting energy makes its tree weights NaN); the MAP itself after 10 misses."""
        for _ in range(10):
            u = INIT_SPREAD * torch.randn_like(coords.start)
            with torch.no_grad():
                if torch.isfinite(coords.log_density(coords.psi(u))):
                    return u
        return torch.zeros_like(coords.start)

    u, stats = run_chains(
        potential, initial_point,
        chains=options.chains, warmup=options.warmup, draws=options.draws, seed=seed,
        target_accept=options.target_accept, max_tree_depth=options.max_tree_depth,
        progress=options.progress, parallel=options.parallel,
    )
    samples, _ = coords.to_parameters(coords.psi(u))  # chains x draws x shape
    with seeded(seed):
        flat = {n: v.reshape(-1, *v.shape[2:]) for n, v in samples.items()}
        samples["constant"] = _draw_constants(model, flat).reshape(*u.shape[:2], -1)
    model._cache = None  # functional_call left the parameters as they were; drop stale caches
    return NUTSResult(samples, _inference_data(model, samples, stats, options), options)


def _draw_constants(model: HierarchicalGP, samples: Mapping[str, Tensor]) -> Tensor:
    """``c ~ N(c_hat, M^{-1})`` given each draw (``draws x T``), from the current RNG."""
    out = []
    with torch.no_grad():
        for s in range(next(iter(samples.values())).shape[0]):
            _, c_hat, L_M = _call(model, HierarchicalGP.constant_marginal,
                                  {n: v[s] for n, v in samples.items()})
            eps = torch.randn_like(c_hat).unsqueeze(-1)
            out.append(c_hat + torch.linalg.solve_triangular(L_M.T, eps, upper=True)[:, 0])
    return torch.stack(out)


def _inference_data(
    model: HierarchicalGP, samples: dict[str, Tensor], stats: list[dict], options: NUTSOptions
) -> az.InferenceData:
    """Readable posterior variables (``tau`` on its natural scale) and sample stats."""
    D = model._Z.shape[-1]
    coords = {"task": list(model.task_labels), "input": list(range(D))}
    posterior, dims = {}, {}
    for name, value in samples.items():
        kind, _, group = name.partition(".")
        array = value.numpy()
        if kind == "log_tau":
            posterior[f"tau_{group}"] = np.exp(array)
        elif kind == "m":
            posterior[f"m_{group}"] = array
            dims[f"m_{group}"] = ["input"] if GROUP_SPEC[group].per_input else []
        elif kind == "z":
            posterior[f"z_{group}"] = array
            dims[f"z_{group}"] = ["task", "input"] if GROUP_SPEC[group].per_input else ["task"]
        else:  # constant (per task), g_log_lengthscale (per input)
            posterior[name] = array
            dims[name] = ["task"] if name == "constant" else ["input"]
    sample_stats = {k: np.array([s[k] for s in stats]) for k in stats[0]}
    idata = az.from_dict(
        posterior=posterior, sample_stats=sample_stats, coords=coords, dims=dims
    )
    idata.sample_stats.attrs["max_tree_depth"] = options.max_tree_depth
    idata.posterior.attrs["model"] = "HierarchicalGP"
    idata.posterior.attrs["nuts_options"] = str(asdict(options))
    return idata
