"""Shared plumbing of the NUTS-fitted hierarchical models: sampling, InferenceData, results.

A model subclasses :class:`HierarchicalModel` and writes only its pyro program
(:meth:`HierarchicalModel.model`), its observed data and its ArviZ coordinates. ``fit`` runs
pyro's NUTS algorithm (Hoffman & Gelman 2014, https://jmlr.org/papers/v15/hoffman14a.html)
with multinomial sampling and dual-averaging step size plus diagonal mass-matrix adaptation,
one chain after another with a seed per chain, on one flat vector of unconstrained
parameters whose potential energy and gradient come from one compiled graph
(:mod:`hbo.mcmc.potential`), its trajectories built by hbo's lean loop or by
pyro's kernel itself (:mod:`hbo.mcmc`); it then adds the model's
generated quantities (:meth:`HierarchicalModel.generated_quantities`) and builds an ArviZ
``InferenceData`` with ``posterior`` (latent and ``pyro.deterministic`` sites),
``sample_stats`` (``diverging``, ``energy``, ``tree_depth``, ``n_steps``, ``step_size``,
``lp``) and ``observed_data``, plus ``log_likelihood``, ``posterior_predictive``, ``prior``
and ``prior_predictive`` from the same program (:mod:`hbo.hierarchy.models._predictive`).

Models must be written so that a leading batch dimension broadcasts (plates with explicit
``dim``, gathers with ``x[..., idx]``): deterministic sites are recomputed for all draws in
one vectorized pass of :class:`pyro.infer.Predictive`.
"""

from __future__ import annotations

import copy
import math
from abc import ABC, abstractmethod
from typing import Any

import arviz as az
import numpy as np
import pandas as pd
import pyro.distributions as dist
import torch
from pyro import poutine
from pyro.infer import Predictive
from pyro.infer.mcmc.util import initialize_model
from pyro.poutine.util import site_is_subsample

from hbo._warnings import ConvergenceWarning, HBOWarning, warn
from hbo.diagnostics.convergence import convergence
from hbo.errors import InvalidArgumentError, InvalidDataError
from hbo.hierarchy.models import _predictive
from hbo.hierarchy.models._result import FitResult
from hbo.mcmc import SAMPLERS, FlatPotential, run_chains, seeded

DTYPE = torch.float64
SCALE_PRIORS = ("half_normal", "half_cauchy", "exponential", "uniform")
#: Most numbers the log_likelihood or posterior_predictive group holds by default (fit).
PREDICTIVE_MAX = 25_000_000


def as_tensor(x: Any, name: str, dtype: torch.dtype = DTYPE, ndim: int = 1) -> torch.Tensor:
    """``x`` as a finite tensor of ``ndim`` dimensions, or :class:`InvalidDataError` naming it.

    Always a copy: the tensor must not share memory with the caller's array, which may be
    read-only (pandas hands out read-only views; torch warns on wrapping one and its
    in-place operations would write through) or changed by the caller after the model is
    built."""
    try:
        t = torch.tensor(np.array(x), dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise InvalidDataError(f"{name} must be numeric, got {type(x).__name__}") from exc
    if t.ndim != ndim:
        raise InvalidDataError(f"{name} must have {ndim} dimension(s), got shape {tuple(t.shape)}")
    if t.numel() == 0:
        raise InvalidDataError(f"{name} is empty")
    if dtype.is_floating_point and not torch.isfinite(t).all():
        raise InvalidDataError(f"{name} contains NaN or infinite values")
    return t


def index_codes(values: Any, name: str) -> tuple[torch.Tensor, list]:
    """Integer codes ``0..K-1`` of a label column and the sorted labels they stand for."""
    codes, labels = pd.factorize(pd.Series(values), sort=True)
    if (codes < 0).any():
        raise InvalidDataError(f"{name} contains missing labels")
    return torch.as_tensor(codes, dtype=torch.long), list(labels)


def scale_prior(kind: str, scale: float) -> dist.Distribution:
    """Prior of a group-level standard deviation ``tau > 0``.

    ``half_normal``: Half-Normal(0, scale); ``half_cauchy``: Half-Cauchy(0, scale);
    ``exponential``: Exponential(rate = 1 / scale); ``uniform``: Uniform(0, scale) (the
    bounded version of BDA3's flat prior on tau; pick ``scale`` far beyond the data).
    The first two are Stan's weakly informative recommendations (Gelman 2006,
    doi:10.1214/06-BA117A).
    """
    if kind not in SCALE_PRIORS:
        raise InvalidArgumentError(f"tau_prior must be one of {SCALE_PRIORS}, got {kind!r}")
    if not scale > 0 or not math.isfinite(scale):
        raise InvalidArgumentError(f"tau_scale must be a positive finite number, got {scale}")
    s = torch.tensor(float(scale), dtype=DTYPE)
    if kind == "half_normal":
        return dist.HalfNormal(s)
    if kind == "half_cauchy":
        return dist.HalfCauchy(s)
    if kind == "exponential":
        return dist.Exponential(1.0 / s)
    return dist.Uniform(torch.zeros_like(s), s)


def normal(loc: float | torch.Tensor, scale: float | torch.Tensor) -> dist.Normal:
    """``Normal(loc, scale)`` in hbo's float64."""
    return dist.Normal(torch.as_tensor(loc, dtype=DTYPE), torch.as_tensor(scale, dtype=DTYPE))


class _Flat(dist.ImproperUniform):
    """The improper flat density on the real line (log-density 0), as BDA3's flat prior.

    ``sample`` returns zeros: pyro runs the model once outside MCMC to read its structure
    and needs some value there; NUTS then starts from ``init_to_uniform`` as for any other
    site. :meth:`HierarchicalModel.prior_draw` refuses models with a flat site.
    """

    def sample(self, sample_shape: tuple = ()) -> torch.Tensor:
        return torch.zeros(self.shape(torch.Size(sample_shape)), dtype=DTYPE)


def flat() -> dist.Distribution:
    """The improper flat prior on a real scalar (see :class:`_Flat`)."""
    return _Flat(dist.constraints.real, torch.Size(), torch.Size())


class HierarchicalModel(ABC):
    """A hierarchical model written in pyro and fitted with NUTS: subclass it for your own.

    Use it for a model without a closed form (:class:`hbo.hierarchy.NormalHierarchy` is
    exact for normal data with known standard errors). A subclass writes:

    - ``__init__``: sets ``self.observed`` (site name -> float64 tensor of data, shape ``O``
      per site; the ``obs=`` of :meth:`model`), ``self.coords`` (dimension name -> labels)
      and ``self.dims`` (site name -> dimension names, without ``chain`` and ``draw``), as
      ArviZ's ``from_dict`` takes them;
    - :meth:`model`: the pyro program with no arguments. Latent sites
      (``pyro.sample(name, prior)``), derived quantities
      (``pyro.deterministic(name, value, event_dim=0)`` inside a plate) and one observed
      site per data tensor (``pyro.sample(name, likelihood, obs=self.observed[name])``),
      each observation one scalar distribution. It must broadcast over a leading batch of
      draws: plates with an explicit ``dim``, arithmetic that broadcasts (``mu + tau * z``,
      gathers as ``x[..., idx]``), no Python branching on parameter values. Priors in
      float64 (``dist.Normal(torch.tensor(0.0, dtype=torch.float64), 1.0)``);
    - optionally :meth:`generated_quantities`.

    :meth:`fit` then returns a :class:`FitResult` whose ``idata`` holds the groups
    ``posterior`` (latent and deterministic sites, ``chain x draw x ...``),
    ``sample_stats``, ``log_likelihood`` and ``posterior_predictive`` (per observed site,
    ``chain x draw x O``), ``prior`` and ``prior_predictive`` (``1 x prior_draws x ...``)
    and ``observed_data``: ``az.loo``, ``az.waic``, ``az.compare``, ``az.plot_ppc`` work on
    it as on a PyMC trace. A model with several observed sites (football's home and away
    goals) has one ``log_likelihood`` variable each: ``az.loo(idata, var_name=...)`` picks
    one, or their sum per observation unit (per match) added as a variable of its own gives
    the joint one. ``README.md`` ("Analysts") has a worked binomial-logit example.
    """

    observed: dict[str, torch.Tensor]
    coords: dict[str, list]
    dims: dict[str, list[str]]

    @abstractmethod
    def model(self) -> None:
        """The pyro program: latent sites, ``pyro.deterministic`` sites and observations."""

    def generated_quantities(self, draws: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Random quantities drawn once per posterior draw, after sampling (Stan's
        ``generated quantities``): ``draws`` maps each site to ``n x site shape``; returns
        more sites of shape ``n x ...``. A model that integrates latents out analytically
        draws them back here from their conditional posterior. Default: none."""
        return {}

    def with_observed(self, observed: dict[str, torch.Tensor]) -> HierarchicalModel:
        """A copy of this model with other values for (some of) the observed sites."""
        unknown = set(observed) - set(self.observed)
        if unknown:
            raise InvalidArgumentError(f"not observed sites of this model: {sorted(unknown)}")
        new = copy.copy(self)
        new.observed = {**self.observed, **observed}
        return new

    def prior_draw(self, seed: int) -> tuple[dict[str, torch.Tensor], HierarchicalModel]:
        """One draw of every site from the prior and the model refitted to its simulated data.

        Returns ``(truth, model)``: ``truth`` maps every site (latent, deterministic and
        observed) to its drawn value; ``model`` is :meth:`with_observed` the drawn data.
        Simulation-based calibration and recovery checks start here.
        """
        with seeded(seed):
            tr = poutine.trace(poutine.uncondition(self.model)).get_trace()
        improper = _predictive.improper_sites(self.model)
        if improper:
            raise InvalidArgumentError(
                f"prior_draw needs proper priors; {type(self).__name__} has flat priors on "
                f"{improper}: give them a proper prior (e.g. mu_prior=(0, 5))"
            )
        truth = {n: s["value"].detach() for n, s in tr.nodes.items()
                 if s["type"] == "sample" and not site_is_subsample(s)}
        return truth, self.with_observed({k: truth[k] for k in self.observed})

    def fit(
        self,
        chains: int = 4,
        warmup: int = 1000,
        draws: int = 1000,
        seed: int = 0,
        *,
        target_accept: float = 0.9,
        max_tree_depth: int = 10,
        jit: bool | str = "inductor",
        vectorize: bool = False,
        sampler: str = "hbo",
        progress: bool = True,
        parallel: bool = True,
        predictive: bool | None = None,
        prior_draws: int | None = None,
    ) -> FitResult:
        """Sample the posterior with NUTS, ``chains`` chains at once where the machine allows.

        The sampler sees one flat vector of unconstrained parameters, and the potential
        energy and its gradient come from one compiled function
        (:class:`hbo.mcmc.FlatPotential`), traced once per fit.

        Args:
            chains: number of chains (each seeded from ``seed`` by ``numpy.random.SeedSequence``).
            warmup: adaptation iterations per chain (discarded).
            draws: kept iterations per chain.
            seed: seed of the whole run; global RNG states are restored afterwards.
            target_accept: target mean acceptance probability of step-size adaptation. The
                default 0.9, above Stan's 0.8, is what Stan's guides advise for hierarchical
                models: the curvature of a hierarchical posterior varies with the group
                scale, and a step size tuned to the average curvature diverges now and then
                where the scale is small, even non-centered (Eight Schools non-centered at
                0.8: 1 divergence in 4 x 1000 draws, none at 0.9); the price is a smaller
                step size, so longer trajectories.
            max_tree_depth: NUTS doubling limit (at most ``2**max_tree_depth - 1`` steps).
            jit: ``"inductor"``: potential and gradient traced into one graph and compiled
                to C++ by TorchInductor (2 to 8 s per model, plus about 9 s of compiler
                checks once per machine; about 1 s when its disk cache has the model; then
                3.5 x (IRT) to 8 x (stochastic volatility) faster per gradient than
                TorchScript; falls back to TorchScript, with a warning, where it cannot
                compile); ``True``: the graph run by TorchScript (under a second to build:
                the choice for short runs of many different models); ``False``: pyro's
                potential with autograd, no tracing (for models whose arithmetic branches
                on parameter values).
            vectorize: run the chains as ``chains`` copies of the model in one NUTS
                trajectory (potential ``sum_c U(q_c)``, the copies' gradients one batched
                graph): each copy's draws are exactly posterior draws, and where the
                per-step Python overhead dominates (small models) a draw costs less.
                Measured with pyro's kernel (``sampler="pyro"``, about 0.5 ms of Python per
                step): Eight Schools non-centered, 4 copies, 1.5 to 3.0 x the bulk ESS per
                second of 4 chains one after another; IRT at 10,000 responses, where the
                gradient dominates, 0.7 to 0.8 x (experiments/results/nuts_benchmark.md).
                hbo's own builder leaves a tenth of that overhead to amortize, so less.
                The price: the copies share one step size and one tree, so trajectories
                are longer (tuned to the hardest copy) and the chains are not independent
                (they start apart and move apart, but stop and accept together); the
                sample statistics (divergences, tree depth, energy) are the joint
                trajectory's, repeated for every chain.
            sampler: ``"hbo"``: hbo's lean NUTS trajectory builder on the flat vector
                (:class:`hbo.mcmc.FlatNUTS`: pyro's algorithm, set-up and
                warm-up, without pyro's per-step Python); ``"pyro"``: pyro's ``NUTS`` kernel
                itself (the reference; slower on small models).
            progress: show pyro's progress bar (the first chain's, when they run at once).
            parallel: run the chains at once, each in a process forked from this one after
                the potential is compiled, where that helps (Linux, two or more usable cores:
                :func:`hbo.mcmc.can_fork`); else, or with ``False``, one
                after another. A forked chain runs on one thread; at one thread the draws
                are the same either way. Eight Schools, 4 x (500 + 500), compiled, 2 cores:
                1.1 s against 1.7 s in sequence.
            predictive: add the groups ``log_likelihood`` (``log p(y_i | theta)`` per draw
                and observation, for ``az.loo``, ``az.waic``, ``az.compare``) and
                ``posterior_predictive`` (``y_rep ~ p(y | theta)`` per draw, for
                ``az.plot_ppc``), named and shaped as ``observed_data``
                (:mod:`hbo.hierarchy.models._predictive`). Each holds ``chains x draws x
                N`` numbers for ``N`` observations; ``None``: on up to
                :data:`PREDICTIVE_MAX` numbers per group (200 MB in float64), beyond that
                off with an :class:`hbo.HBOWarning` (IRT's 30,000 responses x 4,000 draws
                are 1.2e8); ``True`` / ``False``: on / off whatever the size.
            prior_draws: draws of the prior and prior predictive (groups ``prior`` and
                ``prior_predictive``, chain dimension 1), as :meth:`sample_prior`; ``None``:
                1000 if the model's priors are all proper and ``predictive`` is on, else 0
                (a flat prior has no draws); 0: none.

        Returns:
            A :class:`FitResult`. Warns :class:`hbo._warnings.ConvergenceWarning` when its
            convergence report is not ok, naming what failed.
        """
        for name, v, lo in (("chains", chains, 1), ("warmup", warmup, 0), ("draws", draws, 1)):
            _check_count(name, v, lo)
        if not 0.0 < target_accept < 1.0:
            raise InvalidArgumentError(f"target_accept must lie in (0, 1), got {target_accept}")
        if not isinstance(max_tree_depth, int) or max_tree_depth < 1:
            raise InvalidArgumentError(
                f"max_tree_depth must be an integer >= 1, got {max_tree_depth}"
            )
        for name, flag in (("vectorize", vectorize), ("parallel", parallel)):
            if not isinstance(flag, bool):
                raise InvalidArgumentError(f"{name} must be True or False, got {flag!r}")
        if sampler not in SAMPLERS:
            raise InvalidArgumentError(f"sampler must be one of {SAMPLERS}, got {sampler!r}")
        if predictive is None:
            predictive = self._predictive_fits(chains * draws)
        if not isinstance(predictive, bool):
            raise InvalidArgumentError(
                f"predictive must be True, False or None, got {predictive!r}"
            )
        improper = _predictive.improper_sites(self.model)
        if prior_draws is None:
            prior_draws = 1000 if predictive and not improper else 0
        _check_count("prior_draws", prior_draws, 0)
        if prior_draws and improper:  # before sampling, not after
            raise InvalidArgumentError(
                f"prior_draws={prior_draws}, but {type(self).__name__} has flat priors on "
                f"{improper}: give them a proper prior or leave prior_draws at 0"
            )
        _predictive.check_plates(self.model)
        copies = chains if vectorize else 1
        first_chain = int(np.random.SeedSequence(seed).generate_state(1)[0])
        with seeded(first_chain):  # the layout and potential (one compilation for all chains)
            init, potential_fn, transforms, _ = initialize_model(self.model)
            potential = FlatPotential(potential_fn, init, jit, copies=copies)

        def initial_point() -> torch.Tensor:  # a fresh one per chain: pyro's init_to_uniform
            return torch.cat([potential.flatten(initialize_model(self.model)[0])
                              for _ in range(copies)])

        flat, stats = run_chains(
            potential, initial_point, chains=1 if vectorize else chains, warmup=warmup, draws=draws,
            seed=seed, target_accept=target_accept, max_tree_depth=max_tree_depth,
            progress=progress, sampler=sampler, parallel=parallel,
        )
        if vectorize:  # 1 x draws x (chains D) -> chains x draws x D
            flat, stats = flat[0].view(draws, chains, -1).transpose(0, 1), stats * chains
        samples = []
        for chain in flat:
            unconstrained = potential.unflatten(chain)
            samples.append({k: transforms[k].inv(v) if k in transforms else v
                            for k, v in unconstrained.items()})
        idata = self._inference_data(samples, stats, max_tree_depth)
        if predictive and self.observed:
            with seeded(_substream(seed, 1)):
                idata.extend(self._predictive_groups(idata))
        if prior_draws:
            idata.extend(self.sample_prior(prior_draws, seed=_substream(seed, 2)))
        settings = dict(chains=chains, warmup=warmup, draws=draws, seed=seed,
                        target_accept=target_accept, max_tree_depth=max_tree_depth, jit=jit,
                        vectorize=vectorize, sampler=sampler, parallel=parallel,
                        predictive=predictive, prior_draws=prior_draws)
        result = FitResult(idata, settings)
        result._report = convergence(idata)
        if not result._report.ok:
            warn(
                f"{type(self).__name__} fit: " + "; ".join(result._report.problems()),
                ConvergenceWarning,
            )
        return result

    def _inference_data(
        self, samples: list[dict[str, torch.Tensor]], stats: list[dict], max_tree_depth: int
    ) -> az.InferenceData:
        """Stack per-chain draws into ``chain x draw x ...``; add deterministic sites and
        generated quantities."""
        latent = {k: torch.stack([s[k] for s in samples]) for k in samples[0]}
        n_chains, n_draws = next(iter(latent.values())).shape[:2]
        flat = {k: v.reshape(n_chains * n_draws, *v.shape[2:]) for k, v in latent.items()}
        posterior = {k: v.numpy() for k, v in latent.items()}
        det = self._deterministic_sites()
        if det:
            pred = Predictive(self.model, posterior_samples=flat, return_sites=det, parallel=True)
            with seeded(0):  # observed sites are redrawn on the way: keep the caller's RNG
                predicted = pred()
            for k, v in predicted.items():
                v = v.reshape(n_chains, n_draws, *v.shape[1:])
                posterior[k] = v.detach().numpy()
        with seeded(0):  # reproducible, and the caller's RNG left alone
            generated = self.generated_quantities(
                {k: torch.as_tensor(v.reshape(n_chains * n_draws, *v.shape[2:]))
                 for k, v in posterior.items()}
            )
        for k, v in generated.items():
            posterior[k] = v.reshape(n_chains, n_draws, *v.shape[1:]).numpy()
        sample_stats = {k: np.array([s[k] for s in stats]) for k in stats[0]}
        masks = _predictive.observation_mask(self.model, self.observed)
        idata = az.from_dict(
            posterior=posterior,
            sample_stats=sample_stats,
            observed_data=self._observed_data(masks),
            coords=self.coords,
            dims=self._dims(masks),
        )
        # az.from_dict drops ``attrs`` (ArviZ 0.2x); without them the tree-depth saturation
        # of the convergence report could not be computed
        idata.sample_stats.attrs["max_tree_depth"] = max_tree_depth
        idata.posterior.attrs["model"] = type(self).__name__
        return idata

    def _deterministic_sites(self) -> list[str]:
        with seeded(0):  # a prior run of the model: leave the caller's RNG alone
            tr = poutine.trace(self.model).get_trace()
        return [n for n, s in tr.nodes.items() if s.get("infer", {}).get("_deterministic")]

    def sample_prior(self, draws: int = 1000, seed: int = 0) -> az.InferenceData:
        """Draws from the prior and the prior predictive, as PyMC's ``sample_prior_predictive``.

        ``theta^(s) ~ p(theta)`` (every latent and deterministic site) and
        ``y^(s) ~ p(y | theta^(s))`` (every observed site), ``s = 1..draws``, in one
        vectorized pass of the model (:func:`hbo.hierarchy.models._predictive.prior`).
        :meth:`generated_quantities` are posterior-side and not drawn here.

        Returns:
            InferenceData with groups ``prior`` and ``prior_predictive`` (``1 x draws x
            ...``) and ``observed_data``; ``fit_result.idata.extend(...)`` it to compare
            prior and posterior (``az.plot_dist_comparison``, ``az.plot_ppc(group="prior")``).
            Raises :class:`InvalidArgumentError` if a prior is improper (a flat ``mu``).
        """
        _check_count("draws", draws, 1)
        _predictive.check_plates(self.model)
        with seeded(seed):
            drawn = _predictive.prior(self.model, draws)
        masks = _predictive.observation_mask(self.model, self.observed)
        prior = {k: v[None].numpy() for k, v in drawn.items() if k not in self.observed}
        predictive = {k: _entries(drawn[k][None].numpy(), masks[k]) for k in self.observed}
        return az.from_dict(
            prior=prior, prior_predictive=predictive, observed_data=self._observed_data(masks),
            coords=self.coords, dims=self._dims(masks),
        )

    def _predictive_groups(self, idata: az.InferenceData) -> az.InferenceData:
        """``log_likelihood`` and ``posterior_predictive`` (``chains x draws x ...``) of the
        posterior draws of every latent site in ``idata``."""
        masks = _predictive.observation_mask(self.model, self.observed)
        latent = self._latent_sites()
        post = idata.posterior
        n_chains, n_draws = post.sizes["chain"], post.sizes["draw"]
        draws = {k: torch.as_tensor(post[k].values).reshape(n_chains * n_draws,
                                                              *post[k].shape[2:])
                 for k in latent}
        loglik, replicated = _predictive.pointwise(self.model, self.observed, draws)

        def grouped(values: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
            return {k: _entries(v.reshape(n_chains, n_draws, *v.shape[1:]).numpy(), masks[k])
                    for k, v in values.items()}

        return az.from_dict(
            log_likelihood=grouped(loglik), posterior_predictive=grouped(replicated),
            coords=self.coords, dims=self._dims(masks),
        )

    def _predictive_fits(self, n_draws: int) -> bool:
        """Whether ``n_draws`` draws' log-likelihood and predictive groups stay within
        :data:`PREDICTIVE_MAX` numbers each; warns when they do not."""
        size = n_draws * sum(v.numel() for v in self.observed.values())
        if size <= PREDICTIVE_MAX:
            return True
        warn(f"{type(self).__name__} fit: no log_likelihood and posterior_predictive groups "
             f"({n_draws} draws x {size // n_draws} observations = {size:.2g} numbers each, "
             f"more than {PREDICTIVE_MAX:.2g}); fit(predictive=True) keeps them, "
             "fit(predictive=False) leaves them out without this warning", HBOWarning)
        return False

    def _latent_sites(self) -> list[str]:
        """The sites NUTS samples (not observed, not deterministic)."""
        with seeded(0):
            tr = poutine.trace(self.model).get_trace()
        return [n for n, s in tr.nodes.items()
                if s["type"] == "sample" and not s["is_observed"] and not site_is_subsample(s)]

    def _observed_data(self, masks: dict[str, torch.Tensor | None]) -> dict[str, np.ndarray]:
        return {k: _entries(v.numpy(), masks[k]) for k, v in self.observed.items()}

    def _dims(self, masks: dict[str, torch.Tensor | None]) -> dict[str, list[str]]:
        """ArviZ dims, a masked observed site's entries along ``<site>_observed``."""
        return {**self.dims, **{k: [f"{k}_observed"] for k, m in masks.items() if m is not None}}


def _entries(values: np.ndarray, mask: torch.Tensor | None) -> np.ndarray:
    """``values`` (``... x O``) at the observed entries of an ``O``-shaped ``mask``
    (``... x n_observed``); unchanged without a mask."""
    return values if mask is None else values[(..., mask.numpy())]


def _check_count(name: str, value: Any, lo: int) -> None:
    if not isinstance(value, int | np.integer) or isinstance(value, bool) or value < lo:
        raise InvalidArgumentError(f"{name} must be an integer >= {lo}, got {value!r}")


def _substream(seed: int, k: int) -> int:
    """A seed for the ``k``-th random step after sampling, independent of the chains'."""
    return int(np.random.SeedSequence([seed, k]).generate_state(1)[0])
