r"""Prediction of the hierarchical GP: its posterior, GP conditionals and leave-one-out.

:class:`Prediction` holds the methods of :class:`~hbo.surrogate.HierarchicalGP` that use a
fitted covariance (its Cholesky factor, cached) rather than fit it: the GP conditional
(Rasmussen & Williams 2006, eqs. 2.25-2.26), evaluated for a batch of parameter sets at
once (the draws of :class:`~hbo.surrogate.FullyBayesianHierarchicalGP`), BoTorch's
``posterior`` in the units of ``train_Y`` (whose means and variances need no joint
covariance, :mod:`hbo.surrogate.marginal_posterior`), the closed-form leave-one-out
density, and BoTorch's ``condition_on_observations`` (hence ``fantasize``): the posterior
given the training data, conditioned on the new observations at the same hyperparameters.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from typing import Any, Self

import torch
from botorch.exceptions.errors import UnsupportedError
from botorch.posteriors.gpytorch import GPyTorchPosterior
from gpytorch.distributions import MultitaskMultivariateNormal, MultivariateNormal
from linear_operator.operators import DenseLinearOperator
from torch import Tensor

from hbo.errors import InvalidDataError
from hbo.surrogate.linalg import condition_gaussian, solve_lower
from hbo.surrogate.marginal_posterior import MarginalFirstPosterior
from hbo.surrogate.priors import MIN_NOISE
from hbo.surrogate.training_data import drop_column


def _cat_points(a: Tensor, b: Tensor, trailing: int) -> Tensor:
    """``a`` and ``b`` broadcast over their batch dimensions (all but the last
    ``trailing``) and concatenated along the points, dimension ``-trailing``."""
    batch = torch.broadcast_shapes(a.shape[:-trailing], b.shape[:-trailing])
    parts = [v.expand(*batch, *v.shape[-trailing:]) for v in (a, b)]
    return torch.cat(parts, -trailing)


def _task_major(values: Tensor, q: int) -> Tensor:
    """``batch x q x m`` values per point and output (``q`` may be 1 and broadcast) ->
    ``batch x (m q)``, output-major as the inputs of :meth:`Prediction._parse_inputs`."""
    values = values.expand(*values.shape[:-2], q, values.shape[-1])
    return values.transpose(-1, -2).flatten(-2)


class Prediction:
    """Posterior methods of :class:`~hbo.surrogate.HierarchicalGP` (a mixin: it reads the
    model's training buffers, :attr:`kernel` and ``_factor``)."""

    def _posterior_cache(self) -> tuple[dict[str, Any], Tensor, Tensor]:
        """``(params, L, w)``: :meth:`conditional`'s ``params`` for this model's own
        parameters (a batch of ``S = 1``, detached), ``K = L L^T`` and ``w = K^{-1}(y - c)``;
        recomputed when parameters change, not at each of an acquisition optimizer's calls.

        With ``g``: ``N x N`` and ``N``. Without: per-task padded blocks ``T x n_max x n_max``
        and ``T x n_max`` (zero on the padding), so no ``N x N`` matrix is ever formed.
        """
        version = sum(p._version for p in self.parameters())
        if self._cache is None or self._cache[0] != version:
            with torch.no_grad():
                theta = self.log_hyperparameters()
                L, r = self._factor(theta)
                w = torch.cholesky_solve(r.unsqueeze(-1), L).squeeze(-1)
                # copies: with one task the values are views of the parameters
                params = {"theta": {k: v.unsqueeze(0).clone() for k, v in theta.items()},
                          "constant": self.constant.detach().unsqueeze(0).clone()}
                if self.shared_function:
                    params["g_log_lengthscale"] = self.g_log_lengthscale.detach()[None].clone()
            self._cache = (version, params, L, w)
        return self._cache[1:]

    def loo_log_density(self, task: int) -> Tensor:
        r"""Leave-one-out log predictive density of one task's observations.

        For each observation ``i`` of task ``task`` (a label of ``train_X``), the density of
        ``y_i`` under the model conditioned on every other observation (all tasks), at the
        fitted hyperparameters, summed over ``i``. In closed form (Rasmussen & Williams
        2006, eqs. 5.10-5.12): with ``w = K^{-1}(y - c)``,

            y_i - mu_{-i} = w_i / [K^{-1}]_ii,      sigma_{-i}^2 = 1 / [K^{-1}]_ii.

        Standardized units (per task, the same in any model of the same data), so the
        values of two models of the same data can be compared. Returns a scalar.
        """
        t = self._task_indices([task], "task").item()
        _, L, w = self._posterior_cache()
        if self.shared_function:
            rows = self._tasks == t
            K_inv_diag = torch.cholesky_inverse(L).diagonal()[rows]
            w = w[rows]
        else:
            n = int(self._counts[t])
            K_inv_diag = torch.cholesky_inverse(L[t, :n, :n]).diagonal()
            w = w[t, :n]
        var = 1.0 / K_inv_diag
        return (-0.5 * (torch.log(2 * math.pi * var) + w.pow(2) * var)).sum()  # (w var)^2 / var

    def _reference(
        self, tasks: Tensor, L: Tensor, w: Tensor
    ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Training inputs, task indices, Cholesky factor and weights that ``tasks`` depend on.

        ``L`` and ``w`` are :meth:`_posterior_cache`'s, with a leading batch of ``S`` draws
        (``S = 1`` for this model's own parameters). With ``g`` every training point
        matters. Without ``g`` the tasks are independent given the hyperparameters: only the
        blocks of the tasks asked for are assembled (one block when predicting for one
        task, the usual case).
        """
        if self.shared_function:
            return self._Z, self._tasks, L, w
        wanted = tasks.unique().tolist()
        counts = self._count_list
        ref = torch.isin(self._tasks, tasks.unique())
        sizes = [counts[t] for t in wanted]
        L_ref = L.new_zeros(L.shape[0], sum(sizes), sum(sizes))
        start = 0
        for t, n in zip(wanted, sizes, strict=True):
            L_ref[:, start : start + n, start : start + n] = L[:, t, :n, :n]
            start += n
        w_ref = torch.cat([w[:, t, :n] for t, n in zip(wanted, sizes, strict=True)], dim=-1)
        return self._Z[ref], self._tasks[ref], L_ref, w_ref

    def predict_standardized(
        self, X: Tensor, tasks: Tensor, observation_noise: bool | Tensor = False
    ) -> tuple[Tensor, Tensor]:
        """Joint posterior of ``f_{tasks}(X)`` in standardized units.

        Args:
            X: ``batch x n x d`` features (no task column).
            tasks: ``batch x n`` (or ``n``) task *indices* (0..T-1).
            observation_noise: True adds each task's noise variance; a ``batch x n``
                tensor adds these (standardized) variances.

        Returns:
            ``batch x n`` mean and ``batch x n x n`` covariance, given the training data
            and the observations the model was conditioned on
            (:meth:`condition_on_observations`).
        """
        if self._conditioned_on is None:
            return self._predict_fitted(X, tasks, observation_noise)
        X_new, t_new, y_new, noise_new = self._conditioned_on
        if not isinstance(observation_noise, Tensor):
            noise = self.task_noise()[tasks]
            observation_noise = noise if observation_noise else torch.zeros_like(noise)
        mean, cov = self._predict_fitted(
            _cat_points(X, X_new, 2),
            _cat_points(tasks, t_new, 1),
            _cat_points(observation_noise, noise_new, 1),
        )
        return condition_gaussian(mean, cov, y_new)

    def _predict_fitted(
        self, X: Tensor, tasks: Tensor, observation_noise: bool | Tensor, diagonal: bool = False
    ) -> tuple[Tensor, Tensor]:
        """:meth:`predict_standardized` given the training data only (``diagonal``: the
        ``batch x n`` variances instead of the covariance)."""
        params, L, w = self._posterior_cache()
        Xs = X.unsqueeze(-3)
        tasks = tasks.expand(X.shape[:-1]).unsqueeze(-2)
        if isinstance(observation_noise, Tensor):
            observation_noise = observation_noise.unsqueeze(-2)
        mean, cov = self.conditional(params, L.unsqueeze(0), w.unsqueeze(0), Xs, tasks,
                                     observation_noise, diagonal)
        return mean.squeeze(-2), cov.squeeze(-2 if diagonal else -3)

    def task_noise(self) -> Tensor:
        """Each task's fitted noise variance ``sigma_t^2`` (standardized units, ``T``)."""
        return self.log_hyperparameters()["noise"].detach().exp() + MIN_NOISE

    def conditional(
        self,
        params: Mapping[str, Any],
        L: Tensor,
        w: Tensor,
        X: Tensor,
        tasks: Tensor,
        observation_noise: bool | Tensor = False,
        diagonal: bool = False,
    ) -> tuple[Tensor, Tensor]:
        r"""GP conditional of ``f_{tasks}(X)`` for a batch of ``S`` parameter sets at once.

        The formulas are the usual ones (Rasmussen & Williams 2006, eq. 2.25-2.26),

            mean = c_t + K_*^T w,   cov = K_** - V^T V,   V = L^{-1} K_*,

        evaluated for every parameter set ``s`` in one batched pass (the ``S`` draws of a
        fully Bayesian fit, or ``S = 1`` for this model's own parameters).

        Args:
            params: ``{"theta": group -> S x T x ... per-task log hyperparameters,
                "constant": S x T, "g_log_lengthscale": S x D (with g)}``.
            L: ``S x ...`` Cholesky factors of :meth:`_posterior_cache` for each set.
            w: ``S x ...`` weights ``K^{-1}(y - c)`` for each set.
            X: ``batch x S x n x d`` features (``S`` may be 1 and broadcast).
            tasks: ``batch x S x n`` task indices (``S`` may be 1 and broadcast).
            observation_noise: True adds each task's noise variance (of each set); a
                tensor broadcastable to ``batch x S x n`` adds these (standardized) variances.
            diagonal: Return the ``batch x S x n`` variances instead of the covariance:
                ``O(n N^2)`` for ``N`` reference points, where the covariance costs
                ``O(n^2 N)`` and ``n^2`` memory.

        Returns:
            ``batch x S x n`` mean and ``batch x S x n x n`` covariance (standardized).
        """
        theta = params["theta"]
        S = params["constant"].shape[0]
        Zs = self.encode(X)
        tasks = tasks.expand(*Zs.shape[:-3], S, Zs.shape[-2])
        Z_ref, t_ref, L_ref, w_ref = self._reference(tasks, L, w)
        draw = torch.arange(S).unsqueeze(-1)  # S x 1: row s of each parameter for set s

        def rows(value: Tensor) -> Tensor:  # S x T x ... -> batch x S x n x ...
            return value[draw, tasks]

        ell_rows = rows(theta["lengthscale"]).exp().unsqueeze(-2)
        s2_rows = rows(theta["outputscale"]).exp().unsqueeze(-1)
        N = t_ref.shape[-1]
        if diagonal:
            columns, t_columns = Z_ref, t_ref
        else:  # the points' own covariance from the same kernel evaluations as the cross terms
            columns = torch.cat([Z_ref.expand(*Zs.shape[:-2], *Z_ref.shape), Zs], dim=-2)
            t_columns = torch.cat([t_ref.expand(*tasks.shape[:-1], N), tasks], dim=-1)
        K = (s2_rows * self.kernel(Zs, columns, ell_rows)
             * (tasks.unsqueeze(-1) == t_columns.unsqueeze(-2)))
        if self.shared_function:
            a = (0.5 * theta["shared_scale"]).exp()
            ell_g = params["g_log_lengthscale"].exp()[:, None, None, :]
            a_rows = rows(a).unsqueeze(-1)
            K = K + a_rows * a[draw, t_columns].unsqueeze(-2) * self.kernel(Zs, columns, ell_g)
        cross = K[..., :N]
        mean = rows(params["constant"]) + (cross @ w_ref.unsqueeze(-1)).squeeze(-1)
        V = solve_lower(L_ref, cross.transpose(-1, -2))
        if isinstance(observation_noise, Tensor):
            extra = observation_noise.expand(mean.shape)
        elif observation_noise:
            extra = rows(theta["noise"]).exp() + MIN_NOISE
        else:
            extra = None
        if diagonal:  # the kernels are correlations: 1 on coincident inputs
            prior = s2_rows.squeeze(-1)
            if self.shared_function:
                prior = prior + a_rows.squeeze(-1).pow(2)
            cov = torch.clamp_min(prior - V.pow(2).sum(-2), 0.0)
            return mean, cov if extra is None else cov + extra
        prior = K[..., N:]
        cov = prior - V.transpose(-1, -2) @ V
        if extra is not None:
            cov = cov + torch.diag_embed(extra)
        return mean, cov

    def _parse_inputs(
        self, X: Tensor, output_indices: list[int] | None
    ) -> tuple[Tensor, Tensor, int]:
        """``posterior``'s ``X`` -> features, task indices and the number of outputs.

        Features are ``batch x n x d``, with ``n = q`` (task column given) or
        ``num_out * q`` in task-major blocks of ``q``; tasks are ``batch x n`` or ``n``.
        """
        d = self.train_inputs[0].shape[-1] - 1
        if X.dtype != self._Z.dtype or X.device != self._Z.device:
            raise UnsupportedError(
                f"HierarchicalGP computes in {self._Z.dtype} on {self._Z.device}, got X of "
                f"{X.dtype} on {X.device}: pass X with the dtype and device of the training data"
            )
        if X.shape[-1] == d + 1:
            feats, labels = drop_column(X, self._task_feature)
            tasks = self._task_indices(labels.reshape(-1).long().tolist(), "X")
            return feats, tasks.reshape(labels.shape), 1
        if X.shape[-1] == d:
            outputs = self._output_tasks
            if output_indices is not None:
                outputs = outputs[list(output_indices)]
            num_out, q = len(outputs), X.shape[-2]
            feats = X.repeat(*([1] * (X.dim() - 2)), num_out, 1)  # task-major blocks of q
            return feats, outputs.repeat_interleave(q), num_out
        raise InvalidDataError(
            f"X must have {d} feature columns (or {d + 1} with the task "
            f"column), got shape {tuple(X.shape)}"
        )

    def _posterior_of(
        self, mean: Tensor, cov: Tensor, tasks: Tensor, num_out: int
    ) -> GPyTorchPosterior:
        """Standardized ``... x n`` mean and covariance -> posterior in ``train_Y`` units."""
        return GPyTorchPosterior(self._distribution_of(mean, cov, tasks, num_out))

    def _distribution_of(
        self, mean: Tensor, cov: Tensor, tasks: Tensor, num_out: int
    ) -> MultivariateNormal:
        """Standardized ``... x n`` mean and covariance -> the normal in ``train_Y`` units
        (a ``MultitaskMultivariateNormal`` with ``num_out > 1`` outputs)."""
        tasks = tasks.expand(mean.shape)
        std = self._y_std[tasks]
        mean = mean * std + self._y_mean[tasks]
        cov = cov * std.unsqueeze(-1) * std.unsqueeze(-2)
        cov = cov + 1e-10 * torch.diag_embed(std.pow(2))  # numerical floor for sampling
        cov = DenseLinearOperator(cov)  # lazy: factored (with jitter if needed) only to sample
        if num_out == 1:
            return MultivariateNormal(mean, cov)
        q = mean.shape[-1] // num_out
        mean = mean.reshape(*mean.shape[:-1], num_out, q).transpose(-1, -2)
        return MultitaskMultivariateNormal(mean, cov, interleaved=False)

    def _marginals_of(
        self, mean: Tensor, var: Tensor, tasks: Tensor, num_out: int
    ) -> tuple[Tensor, Tensor]:
        """Standardized ``... x n`` means and variances -> ``... x q x num_out`` in
        ``train_Y`` units, as ``mean`` / ``variance`` of :meth:`_distribution_of`'s."""
        tasks = tasks.expand(mean.shape)
        std = self._y_std[tasks]
        mean = mean * std + self._y_mean[tasks]
        var = (var + 1e-10) * std.pow(2)
        q = mean.shape[-1] // num_out
        return tuple(v.reshape(*v.shape[:-1], num_out, q).transpose(-1, -2) for v in (mean, var))

    def _point_noise(
        self, observation_noise: bool | Tensor, X: Tensor, num_out: int
    ) -> bool | Tensor:
        """BoTorch's ``observation_noise`` -> a bool, or ``batch x n`` variances per point.

        A tensor is ``batch x q x m`` (or ``batch x 1 x m``) noise variances in the
        model's standardized units (BoTorch's "outcome-transformed space"), put in the
        task-major order of :meth:`_parse_inputs`.
        """
        if not isinstance(observation_noise, Tensor):
            return bool(observation_noise)
        return _task_major(observation_noise.expand(*observation_noise.shape[:-2], -1, num_out),
                           X.shape[-2])

    def posterior(
        self,
        X: Tensor,
        output_indices: list[int] | None = None,
        observation_noise: bool | Tensor = False,
        posterior_transform: Any = None,
    ) -> GPyTorchPosterior:
        """Posterior of the outputs at ``X``, in the units of ``train_Y``.

        Args:
            X: ``batch x q x d`` (outputs for ``output_tasks``, or the subset
                ``output_indices``) or ``batch x q x (d + 1)`` with the task column
                (one output, each point on its own task). ``torch.double``.
            observation_noise: True adds each task's noise variance; a ``batch x q x m``
                tensor adds these variances, in standardized units (as BoTorch's models
                take them in the outcome-transformed space).
            posterior_transform: Applied to the posterior before it is returned.

        Returns:
            A :class:`~hbo.surrogate.marginal_posterior.MarginalFirstPosterior`: its
            ``mean`` and ``variance`` cost ``O(q)`` memory, the ``q x q`` joint is formed
            when sampled.
        """
        feats, tasks, num_out = self._parse_inputs(X, output_indices)
        noise = self._point_noise(observation_noise, X, num_out)

        def joint() -> MultivariateNormal:
            return self._distribution_of(*self.predict_standardized(feats, tasks, noise),
                                         tasks, num_out)

        def marginals() -> tuple[Tensor, Tensor]:
            if self._conditioned_on is not None:  # fantasy models: small q, read the joint
                distribution = joint()
                mean, var = distribution.mean, distribution.variance
                return (mean, var) if num_out > 1 else (mean.unsqueeze(-1), var.unsqueeze(-1))
            mean, var = self._predict_fitted(feats, tasks, noise, diagonal=True)
            return self._marginals_of(mean, var, tasks, num_out)

        posterior = MarginalFirstPosterior(joint, marginals, num_out > 1, feats)
        return posterior if posterior_transform is None else posterior_transform(posterior)

    def condition_on_observations(
        self, X: Tensor, Y: Tensor, noise: Tensor | None = None, **kwargs: Any
    ) -> Self:
        r"""This model conditioned on observations ``(X, Y)`` at the same hyperparameters.

        Exact GP conditioning, as BoTorch's ``SingleTaskGP.condition_on_observations``
        (and hence ``Model.fantasize``): with ``D`` the training data and ``D' = (X', y')``
        the new observations (standardized as the training data, ``y' = f(X') + eps'``,
        ``eps' ~ N(0, N')``), the joint posterior of ``[f(X_*); f(X')]`` given ``D`` is
        conditioned on ``y'`` (:func:`~hbo.surrogate.linalg.condition_gaussian`),

            f(X_*) | D, D' ~ N(mu_* + S_*' A^{-1}(y' - mu'),  S_** - S_*' A^{-1} S_'*),
            A = S_'' + N',

        with ``mu, S`` the posterior given ``D``. This is the GP posterior given the union
        ``D u D'`` at the same hyperparameters, constant means and standardization (a
        Gaussian conditioned in two steps); nothing is refitted.

        Args:
            X: ``batch x n' x d`` (the outputs of ``output_tasks``) or ``batch x n' x
                (d + 1)`` with the task column, as :meth:`posterior` takes them.
            Y: ``batch' x batch x n' x m`` observations in the units of ``train_Y``
                (``m`` outputs, 1 with the task column); ``batch'`` is, for instance,
                ``fantasize``'s ``num_fantasies``.
            noise: Noise variances of ``Y`` (its shape, standardized units as BoTorch's
                outcome-transformed space); default each task's fitted noise.

        Returns:
            A model of batch shape ``batch' x batch`` (broadcast with this model's, when it
            is itself conditioned: the observations are then added to the earlier ones).
        """
        if kwargs:
            raise UnsupportedError(
                f"HierarchicalGP.condition_on_observations: unsupported arguments {sorted(kwargs)}"
            )
        feats, tasks, num_out = self._parse_inputs(X, None)
        if Y.shape[-1] != num_out or Y.shape[-2] != X.shape[-2]:
            raise InvalidDataError(
                f"Y must be ... x {X.shape[-2]} x {num_out} for X of shape {tuple(X.shape)}, "
                f"got {tuple(Y.shape)}"
            )
        y = (_task_major(Y, X.shape[-2]) - self._y_mean[tasks]) / self._y_std[tasks]
        var = self.task_noise()[tasks] if noise is None else _task_major(noise, X.shape[-2])
        batch = torch.broadcast_shapes(feats.shape[:-2], y.shape[:-1], var.shape[:-1])
        n = feats.shape[-2]
        new = (feats.expand(*batch, n, feats.shape[-1]),
               *(v.expand(*batch, n) for v in (tasks, y, var)))
        if self._conditioned_on is not None:
            new = tuple(
                _cat_points(a, b, k)
                for a, b, k in zip(self._conditioned_on, new, (2, 1, 1, 1), strict=True)
            )
        return self._copy_with(_conditioned_on=new)

    def subset_output(self, idcs: list[int]) -> Self:
        """This model with the outputs ``output_tasks[i] for i in idcs`` (inputs without a
        task column); the same parameters and data."""
        return self._copy_with(_output_tasks=self._output_tasks[list(idcs)])

    def _copy_with(self, **attributes: Any) -> Self:
        """A deep copy of this model with ``attributes`` replaced. The observations it was
        conditioned on are shared, not copied: a ``fantasize`` carries the gradient to
        ``X`` through them (and ``deepcopy`` refuses tensors that are not graph leaves)."""
        memo = {id(t): t for t in self._conditioned_on or ()}
        model = copy.deepcopy(self, memo)
        for name, value in attributes.items():
            setattr(model, name, value)
        return model

    @property
    def num_outputs(self) -> int:
        return len(self._output_tasks)

    @property
    def batch_shape(self) -> torch.Size:
        """Empty, or the batch of the observations conditioned on (``fantasize``'s
        ``num_fantasies x batch``)."""
        if self._conditioned_on is None:
            return torch.Size()
        return self._conditioned_on[2].shape[:-1]
