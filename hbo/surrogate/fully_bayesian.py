r"""The fully Bayesian hierarchical GP: an ensemble of NUTS draws, as one BoTorch Model.

:func:`fit_fully_bayesian` runs NUTS over the hyperprior of a (MAP-fitted)
:class:`~hbo.surrogate.HierarchicalGP` (:mod:`hbo.surrogate.nuts`) and returns a
:class:`FullyBayesianHierarchicalGP` that keeps ``S`` thinned draws ``phi_s``. Its
posterior at ``X`` is the equal-weight mixture of the ``S`` GP conditionals,

    p(f(X) | y) ~= 1/S sum_s N(mu_s(X), Sigma_s(X)),   phi_s ~ p(phi | y),

returned, as BoTorch's ``SaasFullyBayesianSingleTaskGP`` does, as a
``GaussianMixturePosterior`` whose distribution has the draws in the batch dimension
``MCMC_DIM = -3`` of ``X`` (``batch x S x q``). BoTorch's acquisition functions see
``model._is_ensemble`` and average over that dimension: analytic LogEI by a log-mean-exp
of the per-draw log EI (``average_over_ensemble_models``), qLogNEI by reducing its Monte
Carlo samples over draws too. The mixture's moments (``mixture_mean``,
``mixture_variance``) follow the law of total variance.

The prediction is batched over draws (:meth:`HierarchicalGP.conditional`): the ``S``
Cholesky factors and weights are computed once, when the model is built.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any, NoReturn

import torch
from botorch.exceptions.errors import UnsupportedError
from botorch.models.model import Model
from botorch.posteriors.fully_bayesian import MCMC_DIM, GaussianMixturePosterior
from torch import Tensor

from hbo._warnings import ConvergenceWarning, warn
from hbo.diagnostics.convergence import ConvergenceReport, convergence
from hbo.errors import NotReadyError
from hbo.surrogate.hierarchical_gp import HierarchicalGP
from hbo.surrogate.nuts import NUTSOptions, NUTSResult, run_nuts

#: Bulk and tail ESS the convergence report asks for. The draws are averaged in the
#: acquisition function, not reported as a tail probability: at ESS 100 the Monte Carlo
#: error of a posterior mean is 0.1 posterior sd (Vehtari et al. 2021, doi:10.1214/20-BA1221).
ESS_MIN = 100.0


class FullyBayesianHierarchicalGP(Model):
    """A HierarchicalGP averaged over posterior draws of its hyperparameters.

    Use it instead of the MAP fit when tasks have few observations, so that a point
    estimate of each ``tau`` would be shaky: acquisition averages over the draws.

    Args:
        model: The HierarchicalGP whose data, structure and output tasks are used (its
            own parameter values are not).
        draws: Parameter name (as in ``model.named_parameters()``) -> ``S x shape``
            draws, every sampled parameter included.
        result: The NUTS run the draws come from (for diagnostics and the pooling
            report), if any.
    """

    _is_fully_bayesian = True
    _is_ensemble = True

    def __init__(
        self, model: HierarchicalGP, draws: dict[str, Tensor], result: NUTSResult | None = None
    ) -> None:
        super().__init__()
        self.model = model
        self.draws = {k: v.detach() for k, v in draws.items()}
        self.result = result
        self.num_draws = next(iter(self.draws.values())).shape[0]
        self._params, self._L, self._w = self._per_draw()

    def for_each_draw(self, fn: Callable[[HierarchicalGP], Any]) -> list[Any]:
        """``[fn(model at draw s) for s in 0..S-1]`` (no gradients), on one replica."""
        replica = copy.deepcopy(self.model)
        params = dict(replica.named_parameters())
        out = []
        with torch.no_grad():
            for s in range(self.num_draws):
                for name, value in self.draws.items():
                    params[name].copy_(value[s])
                out.append(fn(replica))
        return out

    def _per_draw(self) -> tuple[dict[str, Any], Tensor, Tensor]:
        """Per-draw log hyperparameters (``S x T x ...``), Cholesky factors and weights."""
        def one(model: HierarchicalGP) -> tuple[dict[str, Tensor], Tensor, Tensor]:
            params, L, w = model._posterior_cache()  # theta: 1 x T x ..., copies
            return params["theta"], L, w

        per_draw = self.for_each_draw(one)
        theta = {g: torch.cat([d[0][g] for d in per_draw]) for g in per_draw[0][0]}
        out: dict[str, Any] = {"theta": theta, "constant": self.draws["constant"]}
        if self.model.shared_function:
            out["g_log_lengthscale"] = self.draws["g_log_lengthscale"]
        L = torch.stack([d[1] for d in per_draw])
        w = torch.stack([d[2] for d in per_draw])
        return out, L, w

    def per_draw_log_hyperparameters(self) -> dict[str, Tensor]:
        """Group -> ``S x T x ...`` per-task log hyperparameters ``m + tau z`` of each draw."""
        return self._params["theta"]

    @property
    def convergence(self) -> ConvergenceReport:
        """:func:`hbo.diagnostics.convergence` of the NUTS run (bulk/tail ESS >= ESS_MIN)."""
        if self.result is None:
            raise NotReadyError(
                "convergence: this ensemble was built from given draws, not from a NUTS run "
                "(fit_fully_bayesian runs NUTS and keeps its diagnostics)"
            )
        return convergence(self.result.idata, ess_min=ESS_MIN)

    def posterior(
        self,
        X: Tensor,
        output_indices: list[int] | None = None,
        observation_noise: bool | Tensor = False,
        posterior_transform: Any = None,
    ) -> GaussianMixturePosterior:
        """Mixture posterior at ``X``: distribution of batch shape ``batch x S``.

        Args:
            X: ``batch x q x d`` or ``batch x q x (d + 1)`` with the task column, as for
                :meth:`HierarchicalGP.posterior`.
            observation_noise: If True, add each task's noise variance of each draw; a
                tensor as for :meth:`HierarchicalGP.posterior` (the same for every draw).
        """
        feats, tasks, num_out = self.model._parse_inputs(X, output_indices)
        tasks = tasks.expand(feats.shape[:-1]).unsqueeze(-2)
        noise = self.model._point_noise(observation_noise, X, num_out)
        if isinstance(noise, Tensor):
            noise = noise.unsqueeze(-2)  # the same for every draw
        mean, cov = self.model.conditional(
            self._params, self._L, self._w, feats.unsqueeze(MCMC_DIM), tasks, noise
        )
        posterior = self.model._posterior_of(mean, cov, tasks, num_out)
        posterior = GaussianMixturePosterior(distribution=posterior.distribution)
        return posterior if posterior_transform is None else posterior_transform(posterior)

    def subset_output(self, idcs: list[int]) -> FullyBayesianHierarchicalGP:
        """The ensemble with the outputs ``output_tasks[i] for i in idcs`` (same draws)."""
        return FullyBayesianHierarchicalGP(self.model.subset_output(idcs), self.draws, self.result)

    def condition_on_observations(self, *args: Any, **kwargs: Any) -> NoReturn:
        """Not supported (nor ``fantasize``): raises BoTorch's ``UnsupportedError``.

        Conditioning each draw is exact (:meth:`HierarchicalGP.condition_on_observations`),
        but the fantasy batch would have to be threaded through the draws' dimension
        ``MCMC_DIM`` of every acquisition function; the MAP model supports it.
        """
        raise UnsupportedError(
            "FullyBayesianHierarchicalGP does not support condition_on_observations or "
            "fantasize (so no qKnowledgeGradient): use the MAP-fitted HierarchicalGP, e.g. "
            "hbo.Study(..., inference='map'), for look-ahead acquisition functions"
        )

    fantasize = condition_on_observations

    @property
    def num_outputs(self) -> int:
        return self.model.num_outputs

    @property
    def batch_shape(self) -> torch.Size:
        """``S``: the draws are the model's batch, as in BoTorch's fully Bayesian models."""
        return torch.Size([self.num_draws])


def fit_fully_bayesian(
    model: HierarchicalGP, options: NUTSOptions | None = None, seed: int = 0
) -> FullyBayesianHierarchicalGP:
    """Run NUTS on ``model`` (chains start at its current, normally MAP, parameters).

    Warns :class:`~hbo._warnings.ConvergenceWarning` when R-hat or divergences fail, with
    what to do about it. Returns the ensemble of the thinned draws.
    """
    options = options or NUTSOptions()
    result = run_nuts(model, options, seed)
    ensemble = FullyBayesianHierarchicalGP(model, result.thinned(), result)
    report = ensemble.convergence
    # ESS and E-BFMI are in the report; R-hat and divergences say the draws are wrong
    problems = [p for p in report.problems() if p.startswith("R-hat") or "divergent" in p]
    if problems:
        warn(
            "fully Bayesian HierarchicalGP: NUTS did not converge: " + "; ".join(problems)
            + f". Give it more warm-up and draws (now warmup={options.warmup}, "
            f"draws={options.draws}, chains={options.chains}; e.g. "
            f"nuts={{'warmup': {2 * options.warmup}, 'draws': {2 * options.draws}}}), "
            "raise target_accept (divergences), or use a stronger hyperprior (a smaller "
            "tau_scale: hbo.Study(..., hyperpriors={group: hbo.surrogate.Hyperprior(...)})) "
            "when few tasks leave tau weakly identified; "
            "study.diagnostics() has the full report",
            ConvergenceWarning,
        )
    return ensemble
