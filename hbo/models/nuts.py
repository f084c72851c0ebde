r"""NUTS over the hyperprior of a :class:`~hbo.models.HierarchicalGP`: the fully Bayesian fit.

Target density, over the unconstrained parameters ``phi = (m, log tau, z, c, log ell_g)``
(non-centered, Half-Normal ``tau`` with its log-Jacobian, :mod:`hbo.models.priors`):

    log p(phi | y) = log p(y | theta(phi)) + log p(phi) + const,   theta = m + tau z,

i.e. :meth:`HierarchicalGP.log_likelihood` plus :meth:`HierarchicalGP.log_prior`. The
MAP fit's Laplace correction is *not* part of it: NUTS integrates ``z`` out by sampling
it. The constant means ``c`` have the flat prior of the MAP fit (proper posterior: each
task has data).

pyro's NUTS (Hoffman & Gelman 2014, https://jmlr.org/papers/v15/hoffman14a.html) runs on
the flattened ``phi`` through a ``potential_fn``, chains one after another, each started
at the MAP fit plus a small perturbation (``INIT_SPREAD``), so that R-hat compares chains
that did not start at one point. Each chain adapts its step size and a diagonal mass
matrix during warm-up. The sampler and its per-draw statistics (divergences, energy,
tree depth) are those of :mod:`hbo.hierarchy.models` (``RecordingNUTS``), so the
InferenceData read by :func:`hbo.diagnostics.convergence` has the same layout.

Defaults (:class:`NUTSOptions`): 2 chains x (128 warm-up + 128 draws), every 2nd draw
kept, so the ensemble holds 128 draws; tree depth at most 6 (63 leapfrog steps, as
BoTorch's SAAS fit). The choice is set by cost, not by convergence: one gradient of the
potential costs about 14 ms with the shared function at ``N = 153`` observations (one
``N x N`` Cholesky and its backward pass, one thread), so these 512 iterations take
minutes per ask. Two chains are the fewest that give a split R-hat across chains.
Measured (experiments/results/nuts_ask_timing.txt, the benchmark's branin family with
history, 155 observations, 47 parameters): 190 CPU-s per ask, the tree depth saturated
in 95% of transitions, max R-hat 1.8 and 18 divergences: the defaults do *not* converge
on the with-``g`` model there, and the fit warns (:func:`fit_fully_bayesian`). On small
models without ``g`` (tests/models/test_nuts_recovery.py) intervals are calibrated.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

import arviz as az
import numpy as np
import torch
from pyro.infer import MCMC
from torch import Tensor, nn

from hbo.errors import InvalidArgumentError, ModelFittingError
from hbo.hierarchy.models._base import RecordingNUTS, seeded
from hbo.models.hierarchical_gp import HierarchicalGP

#: Standard deviation of the perturbation of the MAP start of each chain (unconstrained).
INIT_SPREAD = 0.1


@dataclass(frozen=True)
class NUTSOptions:
    """Settings of the NUTS run of a fully Bayesian hierarchical GP.

    Attributes:
        warmup: Adaptation iterations per chain (discarded).
        draws: Kept iterations per chain, before thinning.
        chains: Number of chains (>= 2 for R-hat).
        thinning: Keep every ``thinning``-th draw of each chain for the ensemble; the
            ensemble has ``chains * ceil(draws / thinning)`` members.
        target_accept: Target acceptance probability of the step-size adaptation.
        max_tree_depth: NUTS doubling limit.
        progress: Show pyro's progress bar.
    """

    warmup: int = 128
    draws: int = 128
    chains: int = 2
    thinning: int = 2
    target_accept: float = 0.8
    max_tree_depth: int = 6
    progress: bool = True

    def __post_init__(self) -> None:
        for name, low in (("warmup", 0), ("draws", 1), ("chains", 1), ("thinning", 1),
                          ("max_tree_depth", 1)):
            value = getattr(self, name)
            if not isinstance(value, int | np.integer) or isinstance(value, bool) or value < low:
                raise InvalidArgumentError(
                    f"nuts option {name!r} must be an integer >= {low}, got {value!r}"
                )
        if self.thinning > self.draws:
            raise InvalidArgumentError(
                f"nuts option 'thinning' ({self.thinning}) must not exceed 'draws' "
                f"({self.draws}): no draw would be kept"
            )
        if not (isinstance(self.target_accept, float | int) and 0 < self.target_accept < 1):
            raise InvalidArgumentError(
                f"nuts option 'target_accept' must lie in (0, 1), got {self.target_accept!r}"
            )
        if not isinstance(self.progress, bool):
            raise InvalidArgumentError(
                f"nuts option 'progress' must be True or False, got {self.progress!r}"
            )

    @classmethod
    def from_value(cls, value: NUTSOptions | Mapping[str, Any] | None) -> NUTSOptions:
        """Options from None (defaults), a mapping of some fields, or options."""
        if value is None:
            return cls()
        if isinstance(value, cls):
            return value
        if not isinstance(value, Mapping):
            raise InvalidArgumentError(
                f"nuts must be a dict of options or hbo.models.NUTSOptions, got "
                f"{type(value).__name__}"
            )
        known = [f.name for f in fields(cls)]
        unknown = sorted(set(value) - set(known))
        if unknown:
            raise InvalidArgumentError(f"nuts: unknown options {unknown}; accepted: {known}")
        return cls(**value)

    @property
    def kept_per_chain(self) -> int:
        return math.ceil(self.draws / self.thinning)


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


class _Target(nn.Module):
    """``log p(y | phi) + log p(phi)`` of a model, as a module for ``functional_call``."""

    def __init__(self, model: HierarchicalGP) -> None:
        super().__init__()
        self.model = model

    def forward(self) -> Tensor:
        return self.model.log_likelihood() + self.model.log_prior()


def sampled_parameters(model: HierarchicalGP) -> dict[str, Tensor]:
    """The parameters NUTS samples: every trainable one (fixed ``tau`` are not parameters)."""
    return {name: p for name, p in model.named_parameters() if p.requires_grad}


def run_nuts(model: HierarchicalGP, options: NUTSOptions, seed: int) -> NUTSResult:
    """Sample ``p(phi | y)`` of ``model`` with NUTS, chains started near its current fit.

    Args:
        model: A HierarchicalGP, normally MAP-fitted (its parameters start the chains).
        options: Warm-up, draws, chains, thinning and sampler settings.
        seed: Seed of the run; global RNG states are restored afterwards.

    Returns:
        The draws and their InferenceData (the model's parameters are left unchanged).
    """
    params = sampled_parameters(model)
    names = list(params)
    shapes = [params[n].shape for n in names]
    sizes = [int(np.prod(s)) for s in shapes]
    start = torch.cat([params[n].detach().reshape(-1) for n in names])
    target = _Target(model)

    def unflatten(flat: Tensor) -> dict[str, Tensor]:
        parts = torch.split(flat, sizes)
        return {f"model.{n}": p.reshape(s) for n, p, s in zip(names, parts, shapes, strict=True)}

    def potential(values: Mapping[str, Tensor]) -> Tensor:
        phi = values["phi"]
        try:
            value = torch.func.functional_call(target, unflatten(phi), ())
        except ModelFittingError:  # not positive definite even with jitter
            value = phi.sum() * 0.0 - math.inf  # infinite potential: the step is rejected
        return -value

    draws, stats = [], []
    chain_seeds = np.random.SeedSequence(seed).generate_state(options.chains)
    for chain, chain_seed in enumerate(chain_seeds):
        kernel = RecordingNUTS(
            potential_fn=potential,
            target_accept_prob=options.target_accept,
            max_tree_depth=options.max_tree_depth,
            jit_compile=False,
        )
        with seeded(int(chain_seed)):
            init = start + INIT_SPREAD * torch.randn_like(start)
            mcmc = MCMC(
                kernel,
                num_samples=options.draws,
                warmup_steps=options.warmup,
                initial_params={"phi": init},
                disable_progbar=not options.progress,
            )
            if options.progress:
                print(f"NUTS chain {chain + 1}/{options.chains} ({len(start)} parameters)",
                      flush=True)
            mcmc.run()
        draws.append(mcmc.get_samples()["phi"].detach())
        stats.append(kernel.stats)
    flat = torch.stack(draws)  # chains x draws x P
    samples = {
        n: p.reshape(*flat.shape[:2], *s)
        for n, p, s in zip(names, torch.split(flat, sizes, dim=-1), shapes, strict=True)
    }
    model._cache = None  # functional_call left the parameters as they were; drop stale caches
    return NUTSResult(samples, _inference_data(model, samples, stats, options), options)


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
            dims[f"m_{group}"] = ["input"] if group == "lengthscale" else []
        elif kind == "z":
            posterior[f"z_{group}"] = array
            dims[f"z_{group}"] = ["task", "input"] if group == "lengthscale" else ["task"]
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
