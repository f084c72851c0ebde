r"""The hierarchical GP: per-task GPs whose kernel hyperparameters are partially pooled.

Model (DESIGN.md, "The hierarchical GP"), for tasks ``t = 1..T`` with outputs
standardized per task:

    f_t(x) = a_t g(x) + h_t(x)                          (a_t g only with a shared function)
    h_t ~ GP(c_t, s_t^2 k(x, x'; ell_t)),   g ~ GP(0, k(x, x'; ell_g))
    y = f_t(x) + eps,   eps ~ N(0, sigma_t^2)
    log ell_t[i] = m_ell[i] + tau_ell z_t[i]      log s_t^2     = m_s + tau_s z_s[t]
    log sigma_t^2 = m_sig + tau_sig z_sig[t]       log a_t^2    = m_a + tau_a z_a[t]
    z ~ N(0, 1),   m ~ Normal(loc, scale),   tau ~ HalfNormal(tau_scale)

with ``k`` a unit-variance correlation with ARD lengthscales (``kernel``, Matern-5/2 by
default; :mod:`hbo.surrogate.kernels`). The groups and their default hyperpriors are the
table :data:`~hbo.surrogate.priors.GROUP_SPECS`.

``tau -> 0`` gives one shared set of hyperparameters (complete pooling, as the data
kernel of BoTorch's ``MultiTaskGP``); ``tau -> inf`` gives independent GPs (no
pooling). The fit (MAP of the joint over ``m, log tau, z``) chooses ``tau``.

The shared function ``g`` pools *function values*: ``Cov(f_t(x), f_u(x')) =
a_t a_u k_g(x, x') + [t = u] s_t^2 k_t(x, x')``. Each task's loading ``a_t`` is itself
partially pooled, so a task whose data contradict the others (negative transfer)
can turn its share ``a_t^2 / (a_t^2 + s_t^2)`` down without turning it down for the
rest. (DESIGN.md writes one ``s_g`` for all tasks; ``tau_a = 0`` recovers it.)

When is ``g`` on? ``shared_function=None`` (default) switches it on whenever there are
two or more tasks and at most ``MAX_SHARED_POINTS`` observations: how much each task
then borrows is learned (``a_t``), so the data decide. Set it ``False`` for the
batched cost ``sum_t n_t^3`` (tasks independent given the hyperparameters, one
Cholesky per task, no ``N x N`` matrix); ``True`` costs one ``N x N`` Cholesky. Above
``MAX_SHARED_POINTS`` the Study's default proposer keeps ``g`` by hierarchical training
instead (:mod:`hbo.proposer.hierarchical_training`): the sources fitted once with ``g``'s
posterior through inducing inputs (:mod:`hbo.surrogate.source_posterior`), the target
each ask given them (:mod:`hbo.surrogate.target_gp`).

With one task there is nothing to pool: ``z`` and ``tau`` are dropped and the model
is BoTorch's ``SingleTaskGP`` with a scaled Matern-5/2 kernel (the default ``kernel``)
and the priors of :mod:`hbo.surrogate.priors`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from botorch.exceptions.errors import UnsupportedError
from botorch.models.model import FantasizeMixin, Model
from torch import Tensor, nn

from hbo.errors import InvalidArgumentError
from hbo.surrogate.constant_means import constant_solve
from hbo.surrogate.information import fisher_information
from hbo.surrogate.kernels import Kernel, resolve_kernel
from hbo.surrogate.linalg import robust_cholesky
from hbo.surrogate.prediction import Prediction
from hbo.surrogate.priors import (
    GROUP_SPEC,
    MIN_NOISE,
    Hyperprior,
    check_hyperpriors,
    half_normal_log_prob_of_log,
    model_groups,
    normal_log_prob,
)
from hbo.surrogate.training_data import (
    check_categorical,
    check_fixed_tau,
    split_inputs,
    task_standardization,
)

#: Largest number of observations for which ``shared_function=None`` switches ``g`` on.
MAX_SHARED_POINTS = 600
# prior sd of each task's constant mean in the fully Bayesian model (standardized units,
# where the data's own mean is 0): see hbo.surrogate.constant_means
CONSTANT_PRIOR_SCALE = 2.0


def one_hot(X: Tensor, categorical_dims: Mapping[int, int]) -> Tensor:
    """``... x d`` features -> ``... x D`` kernel inputs: each column ``j`` of
    ``categorical_dims`` (``{column: number of categories}``) one-hot, the others as they are."""
    if not categorical_dims:
        return X
    parts = []
    for j in range(X.shape[-1]):
        k = categorical_dims.get(j)
        col = X[..., j : j + 1]
        if k is None:
            parts.append(col)
        else:
            codes = torch.arange(k, dtype=X.dtype, device=X.device)
            parts.append((col.round() == codes).to(X.dtype))
    return torch.cat(parts, dim=-1)


class HierarchicalGP(Prediction, Model, FantasizeMixin):
    r"""Partially pooled per-task GPs (optionally plus a shared function), a BoTorch Model.

    Use it like BoTorch's ``MultiTaskGP`` when tasks are related but not identical:
    each task keeps its own GP, and how much they share is fitted. ``posterior(X)``
    returns a ``GPyTorchPosterior`` in the units of ``train_Y``, and
    ``condition_on_observations`` / ``fantasize`` condition it exactly at the fitted
    hyperparameters, so BoTorch's acquisition functions (look-ahead ones included) and
    optimizers take this model (``tests/surrogate/test_botorch_contract.py``).

    Args:
        train_X: ``n x (d + 1)`` training inputs; column ``task_feature`` holds integer
            task labels, the other ``d`` columns the features (``[0, 1]`` for numeric
            features, ``0 .. k-1`` codes for categorical ones).
        train_Y: ``n x 1`` observations.
        task_feature: Index of the task column in ``train_X``.
        output_tasks: Task labels whose outputs ``posterior`` returns for inputs without
            a task column (default: all tasks, in label order).
        categorical_dims: Feature column (after removing the task column) -> number of
            categories. These columns are one-hot encoded before the kernel.
        shared_function: Whether to include the shared function ``g`` (see module doc).
        fixed_tau: Fix ``tau`` of some groups instead of fitting it: a number for all
            groups, or ``{"lengthscale": 0.0, ...}``. ``0`` forces one shared value.
        hyperpriors: Replace the default :class:`~hbo.surrogate.priors.Hyperprior` of groups.
        standardize: Standardize each task's outputs (mean 0, sd 1, as BoTorch's
            ``Standardize``) before fitting; the default priors are stated in those
            units. ``False`` fits ``train_Y`` as given, for outputs already on that
            scale (simulation-based calibration, :mod:`hbo.surrogate.simulation`).
        kernel: The correlation ``k`` of every task's GP and of ``g``: a
            :class:`~hbo.surrogate.kernels.Kernel` or its name (``"matern52"``, the default,
            or ``"matern32"``; :func:`~hbo.surrogate.kernels.kernel_names` lists them).
    """

    #: No GPyTorch likelihood: each task's noise is a hyperparameter group. ``None`` tells
    #: BoTorch's ``Model.fantasize`` that the noise is fitted, not fixed.
    likelihood = None

    def __init__(
        self,
        train_X: Tensor,
        train_Y: Tensor,
        task_feature: int = -1,
        output_tasks: Sequence[int] | None = None,
        *,
        categorical_dims: Mapping[int, int] | None = None,
        shared_function: bool | None = None,
        fixed_tau: float | Mapping[str, float] | None = None,
        hyperpriors: Mapping[str, Hyperprior] | None = None,
        standardize: bool = True,
        kernel: str | Kernel = "matern52",
    ) -> None:
        super().__init__()
        X, labels, Y = split_inputs(train_X, train_Y, task_feature)
        self.train_inputs = (train_X,)
        self.train_targets = train_Y.squeeze(-1)
        self._task_feature = task_feature % train_X.shape[-1]
        self._categorical_dims = check_categorical(categorical_dims, X)
        self.task_labels: list[int] = sorted({int(v) for v in labels.tolist()})
        self.num_tasks = len(self.task_labels)
        self._output_tasks = self._task_indices(
            self.task_labels if output_tasks is None else list(output_tasks), "output_tasks"
        )
        tasks = self._task_indices(labels.long().tolist(), "train_X")
        order = torch.argsort(tasks, stable=True)
        tasks, X, Y = tasks[order], X[order], Y[order]
        # data, not parameters: kept out of state_dict, so a fitted state loads into a model
        # of other data (as Ax does across cross-validation folds), as in BoTorch's models
        self.register_buffer("_tasks", tasks, persistent=False)
        self.register_buffer("_Z", self.encode(X), persistent=False)
        counts = torch.bincount(tasks, minlength=self.num_tasks)
        self.register_buffer("_counts", counts, persistent=False)
        self._count_list: list[int] = counts.tolist()
        self._register_padding()
        if standardize:
            mean, std = task_standardization(Y, tasks, self.num_tasks)
        else:
            mean, std = Y.new_zeros(self.num_tasks), Y.new_ones(self.num_tasks)
        self.register_buffer("_y_mean", mean, persistent=False)
        self.register_buffer("_y_std", std, persistent=False)
        self.register_buffer("_y", (Y - mean[tasks]) / std[tasks], persistent=False)

        n = tasks.numel()
        if shared_function is None:
            shared_function = self.num_tasks >= 2 and n <= MAX_SHARED_POINTS
        elif shared_function and self.num_tasks < 2:
            raise InvalidArgumentError(
                "shared_function=True needs at least 2 tasks in train_X, got 1"
            )
        self.shared_function = bool(shared_function)
        self.hierarchical = self.num_tasks >= 2
        self.groups = model_groups(self.shared_function)
        self.kernel = resolve_kernel(kernel)
        self.hyperpriors = check_hyperpriors(hyperpriors)
        self.fixed_tau = check_fixed_tau(fixed_tau, self.groups)
        self._init_parameters()
        self._register_prior()
        self._cache: tuple[int, dict[str, Any], Tensor, Tensor] | None = None
        # (features, task indices, standardized values, noise variances) of the
        # observations added by condition_on_observations, batched: ``B x n' x d``, ``B x n'``
        self._conditioned_on: tuple[Tensor, Tensor, Tensor, Tensor] | None = None
        self.fit_jitter = 0.0
        #: the last MAP fit's inverse Hessian estimate (:class:`hbo.surrogate.fit.Curvature`),
        #: from which a refit of the same layout starts; None before a fit
        self.curvature = None

    # ------------------------------------------------------------------ set-up
    def _task_indices(self, labels: Sequence[int], argument: str) -> Tensor:
        index = {label: i for i, label in enumerate(self.task_labels)}
        unknown = sorted({int(v) for v in labels} - set(index))
        if unknown:
            raise InvalidArgumentError(
                f"{argument}: task labels {unknown} are not in train_X (tasks: {self.task_labels})"
            )
        return torch.tensor([index[int(v)] for v in labels], dtype=torch.long)

    def num_observations(self, task: int) -> int:
        """Number of training observations of task label ``task`` (0 if it has none)."""
        if task not in self.task_labels:
            return 0
        return int(self._counts[self.task_labels.index(task)])

    def encode(self, X: Tensor) -> Tensor:
        """``... x d`` features -> ``... x D`` kernel inputs (categorical columns one-hot)."""
        return one_hot(X, self._categorical_dims)

    def _init_parameters(self) -> None:
        D, T = self._Z.shape[-1], self.num_tasks
        shapes = {g: GROUP_SPEC[g].shape(D) for g in self.groups}
        self.m = nn.ParameterDict(
            {
                g: nn.Parameter(torch.full(shapes[g], self.hyperpriors[g].location(D)).double())
                for g in self.groups
            }
        )
        self.z = nn.ParameterDict()
        self.log_tau = nn.ParameterDict()
        if self.hierarchical:
            for g in self.groups:
                self.z[g] = nn.Parameter(torch.zeros((T, *shapes[g]), dtype=torch.double))
                if g not in self.fixed_tau:
                    tau0 = 0.5 * self.hyperpriors[g].tau_scale
                    self.log_tau[g] = nn.Parameter(torch.tensor(math.log(tau0)).double())
        # profiled out of the MAP fit (log_joint), drawn by NUTS: never a gradient's target
        self.constant = nn.Parameter(torch.zeros(T, dtype=torch.double), requires_grad=False)
        if self.shared_function:
            loc = self.hyperpriors["lengthscale"].location(D)
            self.g_log_lengthscale = nn.Parameter(torch.full((D,), loc).double())

    def initialize_from(self, other: HierarchicalGP) -> None:
        """Warm start: copy ``other``'s fitted parameters where they fit this model.

        Shared parameters are copied when their shapes agree; per-task ones (``z``,
        the constant mean) are matched by task label, new tasks keep their prior start.
        ``other``'s curvature goes along; :meth:`fit` uses it if the layouts agree.
        """
        self.curvature = getattr(other, "curvature", None)  # absent from older pickles
        index = {label: i for i, label in enumerate(other.task_labels)}
        common = [(i, index[label]) for i, label in enumerate(self.task_labels) if label in index]
        mine, theirs = [i for i, _ in common], [j for _, j in common]
        pairs = [(self.constant, other.constant, True)]
        for g in self.groups:
            if g in other.m:
                pairs.append((self.m[g], other.m[g], False))
            if g in self.log_tau and g in other.log_tau:
                pairs.append((self.log_tau[g], other.log_tau[g], False))
            if g in self.z and g in other.z:
                pairs.append((self.z[g], other.z[g], True))
        if self.shared_function and other.shared_function:
            pairs.append((self.g_log_lengthscale, other.g_log_lengthscale, False))
        with torch.no_grad():
            for target, source, per_task in pairs:
                if per_task and target.shape[1:] == source.shape[1:]:
                    target[mine] = source[theirs]
                elif not per_task and target.shape == source.shape:
                    target.copy_(source)

    # ------------------------------------------------------------------ hyperparameters
    def tau(self, group: str) -> Tensor:
        """Fitted (or fixed) spread ``tau`` of a group; 0 with a single task."""
        if not self.hierarchical:
            return torch.zeros((), dtype=torch.double)
        if group in self.fixed_tau:
            return torch.tensor(self.fixed_tau[group], dtype=torch.double)
        return self.log_tau[group].exp()

    def log_hyperparameters(self) -> dict[str, Tensor]:
        """Per-task log hyperparameters ``m + tau z``: ``T x D`` lengthscales, ``T`` others."""
        out = {}
        for g in self.groups:
            m = self.m[g]
            if self.hierarchical:
                out[g] = m + self.tau(g) * self.z[g]
            else:
                out[g] = m.expand(self.num_tasks, *m.shape)
        return out

    def log_prior(self) -> Tensor:
        """Log density of the hyperprior over the unconstrained parameters.

        ``m_g ~ N(loc_g, scale_g)`` (``g``'s log lengthscale as ``m`` of the lengthscale),
        ``z ~ N(0, 1)`` and ``log tau_g`` with ``tau_g ~ HalfNormal(tau_scale_g)``
        (:mod:`hbo.surrogate.priors`), each kind gathered into one vector whose locations
        and scales :meth:`_register_prior` laid out once: the MAP objective is evaluated
        hundreds of times per fit on tensors of a few elements, where a term per group
        and kind took 113 tensor operations and this takes about 30.
        """
        m = [self.m[g].reshape(-1) for g in self.groups]
        if self.shared_function:
            m.append(self.g_log_lengthscale)
        lp = normal_log_prob(torch.cat(m), self._prior_loc, self._prior_scale)
        if self.hierarchical:
            lp = lp + normal_log_prob(torch.cat([z.reshape(-1) for z in self.z.values()]), 0.0, 1.0)
        if len(self.log_tau):
            log_tau = torch.stack([self.log_tau[g] for g in self.groups if g in self.log_tau])
            lp = lp + half_normal_log_prob_of_log(log_tau, self._prior_tau_scale)
        return lp

    def _register_prior(self) -> None:
        """The hyperprior's locations and scales as vectors in :meth:`log_prior`'s order."""
        D = self._Z.shape[-1]
        loc, scale = [], []
        for g in (*self.groups, *(["lengthscale"] if self.shared_function else [])):
            prior, size = self.hyperpriors[g], math.prod(GROUP_SPEC[g].shape(D))
            loc += [prior.location(D)] * size
            scale += [prior.scale] * size
        tau_scale = [self.hyperpriors[g].tau_scale for g in self.groups if g in self.log_tau]
        for name, values in (("_prior_loc", loc), ("_prior_scale", scale),
                             ("_prior_tau_scale", tau_scale)):
            self.register_buffer(name, torch.tensor(values, dtype=torch.double), persistent=False)

    # ------------------------------------------------------------------ likelihood
    def _register_padding(self) -> None:
        """Data-only index tensors, computed once, so that the likelihood has no
        data-dependent shapes or Python scalars (it can then be traced, :mod:`hbo.surrogate.nuts`):
        each point's position within its task, the padded inputs and mask, the ``N x T``
        task indicator matrix, each padded position's row in the training order (``T x
        n_max``), the ``T x n_max x n_max`` mask of pairs of real points and the ``N x N``
        same-task mask."""
        T, n_max = self.num_tasks, max(self._count_list)
        starts = torch.cumsum(self._counts, 0) - self._counts
        pos = torch.arange(self._tasks.numel()) - starts[self._tasks]
        Zp = self._Z.new_zeros(T, n_max, self._Z.shape[-1])
        Zp[self._tasks, pos] = self._Z
        mask = torch.zeros(T, n_max, dtype=torch.bool)
        mask[self._tasks, pos] = True
        indicator = nn.functional.one_hot(self._tasks, T).to(self._Z.dtype)
        rows = torch.zeros(T, n_max, dtype=torch.long)  # padding reads row 0; masked where used
        rows[self._tasks, pos] = torch.arange(self._tasks.numel())
        pair = mask[:, :, None] & mask[:, None, :]
        same_task = self._tasks[:, None] == self._tasks[None, :]
        for name, value in (("_pos", pos), ("_Zp", Zp), ("_mask", mask), ("_H", indicator),
                            ("_padded_rows", rows), ("_pair", pair), ("_same_task", same_task)):
            self.register_buffer(name, value, persistent=False)

    def padded_inputs(self) -> tuple[Tensor, Tensor]:
        """Kernel inputs per task, zero-padded: ``T x n_max x D``, and the ``T x n_max`` mask
        of real points. Point ``i`` of task ``t`` in training order sits at ``[t, i]``."""
        return self._Zp, self._mask

    def log_likelihood(self, theta: Mapping[str, Tensor] | None = None) -> Tensor:
        """``log p(y | theta)`` of the standardized data, for per-task log hyperparameters."""
        theta = self.log_hyperparameters() if theta is None else theta
        return self._gaussian_log_density(*self._factor(theta))

    def _gaussian_log_density(self, L: Tensor, r: Tensor) -> Tensor:
        """``log N(r; 0, L L^T)`` (summed over the padded blocks without ``g``)."""
        alpha = torch.linalg.solve_triangular(L, r.unsqueeze(-1), upper=False).squeeze(-1)
        return self._log_normal(L, alpha.pow(2).sum())

    def _log_normal(self, L: Tensor, quadratic: Tensor) -> Tensor:
        """``log N`` of the ``N`` training residuals from their covariance's factor ``L``
        and their quadratic form ``r^T K^{-1} r``: ``-quadratic / 2 - log|L| - N/2 log 2 pi``."""
        logdet = L.diagonal(dim1=-2, dim2=-1).log().sum()
        return -0.5 * quadratic - logdet - 0.5 * self._tasks.numel() * math.log(2 * math.pi)

    def correlations(self, theta: Mapping[str, Tensor]) -> tuple[Tensor, Tensor | None]:
        """The kernel matrices of the likelihood, computed once per evaluation for it and
        for the Fisher information (:mod:`hbo.surrogate.information`): each task's
        correlations ``k(Z_t, Z_t; ell_t)`` (``T x n_max x n_max``, padded) and, with ``g``,
        ``k(Z, Z; ell_g)`` (``N x N``, training order), else None."""
        Zp = self._Zp
        within = self.kernel(Zp, Zp, theta["lengthscale"].exp()[:, None, None, :])
        if not self.shared_function:
            return within, None
        return within, self.kernel(self._Z, self._Z, self.g_log_lengthscale.exp())

    def _factor(
        self, theta: Mapping[str, Tensor], constant: Tensor | None = None,
        traceable: bool = False, correlations: tuple[Tensor, Tensor | None] | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Cholesky factor and residual ``y - c``: one ``N x N`` (with ``g``) or padded blocks.

        ``constant`` (``T``) replaces the model's constant means ``c`` if given. Without
        ``g`` the blocks are padded to ``n_max`` with an identity on the padding and a
        zero residual, which adds nothing to the quadratic form or the log det.
        ``traceable``: see :func:`robust_cholesky`. ``correlations``: those of
        :meth:`correlations` at ``theta``, if already computed.
        """
        within, shared = self.correlations(theta) if correlations is None else correlations
        mask = self._mask
        blocks = theta["outputscale"].exp()[:, None, None] * within
        noise = theta["noise"].exp() + MIN_NOISE
        resid = self._y - (self.constant if constant is None else constant)[self._tasks]
        if self.shared_function:
            # the block-diagonal N x N of the tasks' blocks, read from the padded ones
            K = blocks[self._tasks[:, None], self._pos[:, None], self._pos[None, :]]
            K = torch.where(self._same_task, K, torch.zeros_like(K))
            a = (0.5 * theta["shared_scale"][self._tasks]).exp()
            K = K + a[:, None] * a[None, :] * shared + torch.diag(noise[self._tasks])
            L, jitter = robust_cholesky(K, traceable)
        else:
            eye = torch.eye(blocks.shape[-1], dtype=blocks.dtype)
            diag = torch.where(mask, noise[:, None], torch.ones_like(noise)[:, None])
            K = torch.where(self._pair, blocks, torch.zeros_like(blocks)) + diag[:, :, None] * eye
            L, jitter = robust_cholesky(K, traceable)
            resid = resid.new_zeros(mask.shape).index_put((self._tasks, self._pos), resid)
        self.fit_jitter = max(self.fit_jitter, jitter)
        return L, resid

    def constant_marginal(
        self, theta: Mapping[str, Tensor] | None = None, *, traceable: bool = False
    ) -> tuple[Tensor, Tensor, Tensor]:
        r"""``log p(y | theta)`` with the constant means integrated out under their prior
        ``N(0, CONSTANT_PRIOR_SCALE^2 I)``, and their conditional ``N(c_hat, M^{-1})``
        (:mod:`hbo.surrogate.constant_means`: the fully Bayesian fit's likelihood).
        ``traceable``: see :func:`robust_cholesky`.

        Returns:
            The log density (scalar), ``c_hat`` (``T``) and the Cholesky factor of ``M``
            (``T x T``).
        """
        theta = self.log_hyperparameters() if theta is None else theta
        L, y = self._factor(theta, torch.zeros_like(self.constant), traceable)
        s = CONSTANT_PRIOR_SCALE
        quadratic, c_hat, L_M = constant_solve(self, L, y, 1.0 / s**2, traceable)
        log_density = (self._log_normal(L, quadratic) - L_M.diagonal().log().sum()
                       - self.num_tasks * math.log(s))
        return log_density, c_hat, L_M

    def log_joint(self) -> Tensor:
        r"""MAP objective over ``(m, log tau, z)``, the constant means profiled out.

        ``max_c log p(y | theta, c) + log p(m, log tau, z) - 1/2 sum_{g, t} log(1 + tau_g^2
        I_{g,t})``

        The constants ``c`` have a flat prior, so the maximum of this objective is the joint
        MAP of ``(theta, c)`` (:mod:`hbo.surrogate.constant_means`); :meth:`fit` sets
        :attr:`constant` to their estimate at it.

        The last term is the Laplace approximation of integrating each task's ``z`` out
        (its curvature is ``1 + tau^2 I`` with ``I`` the Fisher information of the task's
        data about ``log theta_t``, :mod:`hbo.surrogate.information`), applied to every group
        whose ``tau`` is fitted. Without it the joint mode of a non-centered model puts
        ``tau`` near its prior's scale whatever the data say, because ``z`` absorbs the
        spread; with it ``tau`` is the marginal MAP, as ``tau`` of the Eight Schools is the
        mode of ``p(log tau | y)``: small when tasks agree, large when they differ.
        """
        theta = self.log_hyperparameters()
        correlations = self.correlations(theta)
        L, y = self._factor(theta, torch.zeros_like(self.constant), correlations=correlations)
        value = self._log_normal(L, constant_solve(self, L, y, 0.0)[0]) + self.log_prior()
        if len(self.log_tau):
            info = fisher_information(self, theta, L, correlations)
            for g in self.log_tau:
                value = value - 0.5 * torch.log1p(self.tau(g) ** 2 * info[g]).sum()
        return value

    def fit(self, *, maxiter: int = 200, max_attempts: int = 3) -> HierarchicalGP:
        """Fit by MAP (L-BFGS-B); restarts from the prior on failure. Returns ``self``."""
        from hbo.surrogate.fit import fit_map

        if self._conditioned_on is not None:
            raise UnsupportedError(
                "fit: this model was conditioned on observations at fixed hyperparameters "
                "(condition_on_observations / fantasize); fit a HierarchicalGP of all the data"
            )
        fit_map(self, maxiter=maxiter, max_attempts=max_attempts)
        with torch.no_grad():  # the constants' estimate at the fitted theta (log_joint)
            L, y = self._factor(self.log_hyperparameters(), torch.zeros_like(self.constant))
            self.constant.copy_(constant_solve(self, L, y, 0.0)[1])
        return self
