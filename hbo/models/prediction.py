r"""Prediction of the hierarchical GP: its posterior, GP conditionals and leave-one-out.

:class:`Prediction` holds the methods of :class:`~hbo.models.HierarchicalGP` that use a
fitted covariance (its Cholesky factor, cached) rather than fit it: the GP conditional
(Rasmussen & Williams 2006, eqs. 2.25-2.26), evaluated for a batch of parameter sets at
once (the draws of :class:`~hbo.models.FullyBayesianHierarchicalGP`), BoTorch's
``posterior`` in the units of ``train_Y``, and the closed-form leave-one-out density.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from botorch.posteriors.gpytorch import GPyTorchPosterior
from gpytorch.distributions import MultitaskMultivariateNormal, MultivariateNormal
from linear_operator.operators import DenseLinearOperator
from torch import Tensor

from hbo.errors import InvalidDataError
from hbo.models.linalg import solve_lower
from hbo.models.priors import MIN_NOISE
from hbo.models.training_data import drop_column


class Prediction:
    """Posterior methods of :class:`~hbo.models.HierarchicalGP` (a mixin: it reads the
    model's training buffers, :attr:`kernel` and ``_factor``)."""

    def _posterior_cache(self) -> tuple[Tensor, Tensor]:
        """``(L, w)``: ``K = L L^T``, ``w = K^{-1}(y - c)``; recomputed when parameters change.

        With ``g``: ``N x N`` and ``N``. Without: per-task padded blocks ``T x n_max x n_max``
        and ``T x n_max`` (zero on the padding), so no ``N x N`` matrix is ever formed.
        """
        version = sum(p._version for p in self.parameters())
        if self._cache is None or self._cache[0] != version:
            with torch.no_grad():
                L, r = self._factor(self.log_hyperparameters())
                w = torch.cholesky_solve(r.unsqueeze(-1), L).squeeze(-1)
            self._cache = (version, L, w)
        return self._cache[1], self._cache[2]

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
        L, w = self._posterior_cache()
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
        self, X: Tensor, tasks: Tensor, observation_noise: bool = False
    ) -> tuple[Tensor, Tensor]:
        """Joint posterior of ``f_{tasks}(X)`` in standardized units.

        Args:
            X: ``batch x n x d`` features (no task column).
            tasks: ``batch x n`` (or ``n``) task *indices* (0..T-1).

        Returns:
            ``batch x n`` mean and ``batch x n x n`` covariance.
        """
        params = {
            "theta": {k: v.detach().unsqueeze(0) for k, v in self.log_hyperparameters().items()},
            "constant": self.constant.detach().unsqueeze(0),
        }
        if self.shared_function:
            params["g_log_lengthscale"] = self.g_log_lengthscale.detach().unsqueeze(0)
        L, w = self._posterior_cache()
        Xs = X.unsqueeze(-3)
        tasks = tasks.expand(X.shape[:-1]).unsqueeze(-2)
        mean, cov = self.conditional(params, L.unsqueeze(0), w.unsqueeze(0), Xs, tasks,
                                     observation_noise)
        return mean.squeeze(-2), cov.squeeze(-3)

    def conditional(
        self,
        params: Mapping[str, Any],
        L: Tensor,
        w: Tensor,
        X: Tensor,
        tasks: Tensor,
        observation_noise: bool = False,
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
        same_ref = tasks.unsqueeze(-1) == t_ref
        cross = s2_rows * self.kernel(Zs, Z_ref, ell_rows) * same_ref
        same = tasks.unsqueeze(-1) == tasks.unsqueeze(-2)
        prior = s2_rows * self.kernel(Zs, Zs, ell_rows) * same
        if self.shared_function:
            a = (0.5 * theta["shared_scale"]).exp()
            ell_g = params["g_log_lengthscale"].exp()[:, None, None, :]
            a_rows = rows(a).unsqueeze(-1)
            cross = cross + a_rows * a[:, t_ref].unsqueeze(-2) * self.kernel(Zs, Z_ref, ell_g)
            prior = prior + a_rows * a_rows.transpose(-1, -2) * self.kernel(Zs, Zs, ell_g)
        mean = rows(params["constant"]) + (cross @ w_ref.unsqueeze(-1)).squeeze(-1)
        V = solve_lower(L_ref, cross.transpose(-1, -2))
        cov = prior - V.transpose(-1, -2) @ V
        if observation_noise:
            noise = rows(theta["noise"]).exp() + MIN_NOISE
            cov = cov + torch.diag_embed(noise)
        return mean, cov

    def _parse_inputs(
        self, X: Tensor, output_indices: list[int] | None
    ) -> tuple[Tensor, Tensor, int]:
        """``posterior``'s ``X`` -> features, task indices and the number of outputs.

        Features are ``batch x n x d``, with ``n = q`` (task column given) or
        ``num_out * q`` in task-major blocks of ``q``; tasks are ``batch x n`` or ``n``.
        """
        d = self.train_inputs[0].shape[-1] - 1
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
        tasks = tasks.expand(mean.shape)
        std = self._y_std[tasks]
        mean = mean * std + self._y_mean[tasks]
        cov = cov * std.unsqueeze(-1) * std.unsqueeze(-2)
        cov = cov + 1e-10 * torch.diag_embed(std.pow(2))  # numerical floor for sampling
        cov = DenseLinearOperator(cov)  # lazy: factored (with jitter if needed) only to sample
        if num_out == 1:
            return GPyTorchPosterior(MultivariateNormal(mean, cov))
        q = mean.shape[-1] // num_out
        mean = mean.reshape(*mean.shape[:-1], num_out, q).transpose(-1, -2)
        return GPyTorchPosterior(MultitaskMultivariateNormal(mean, cov, interleaved=False))

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
                (one output, each point on its own task).
            observation_noise: If True, add each task's noise variance.
        """
        feats, tasks, num_out = self._parse_inputs(X, output_indices)
        mean, cov = self.predict_standardized(feats, tasks, bool(observation_noise))
        posterior = self._posterior_of(mean, cov, tasks, num_out)
        return posterior if posterior_transform is None else posterior_transform(posterior)

    @property
    def num_outputs(self) -> int:
        return len(self._output_tasks)

    @property
    def batch_shape(self) -> torch.Size:
        return torch.Size()
