r"""Hierarchical training, stage A: the sources fitted once, and the posterior of ``g`` they give.

The exact joint model (:class:`~hbo.surrogate.HierarchicalGP` with the shared function
``g``) factors one ``N x N`` matrix per likelihood evaluation, ``N`` all observations of
all tasks: affordable up to ``MAX_SHARED_POINTS``, not for a history of thousands. While a
target is tuned the sources' data do not change, so the sources' part of the model is
fitted once per change of the history and cached (this module), and each ask fits only
the target given it (:mod:`hbo.surrogate.target_gp`), at a cost independent of the
number of source tasks and points.

Stage A (:func:`fit_sources`):

1. Hyperparameters: the exact joint model with ``g`` is MAP-fitted to a subsample of
   the sources, at most ``SOURCE_FIT_POINTS`` points, stratified per source (each source
   keeps points evenly spaced in the order of its values, so its range is kept, the best
   and the worst). This gives ``m, tau`` of every group, each source's ``theta_s`` and
   constant ``c_s``, and ``g``'s lengthscale. (The approximation: the hyperparameters see
   the subsample only; the function values below see every point.) The groups of this
   model mean the residual ``h_t`` around ``a_t g``: its outputscale and lengthscales, a
   prior far too small and too rough for a target that must be its own GP (on YAHPO
   lcbench, 20 sources x 100 points, a target without ``g`` under that prior had 2 to 5
   times the regret of the joint model without ``g``:
   ``experiments/results/yahpo_hierarchical.md``).
   So the model without ``g`` is fitted as well (:func:`fit_own_model`, ``own=True``): its
   ``m, tau`` are the hyperprior of a target without ``g``, the alternative of the
   leave-one-out choice, as the joint path fits that alternative as a model of its own.
   Without ``g`` the sources are independent given ``m, tau`` and the likelihood is
   block-diagonal (``sum_s n_s^3``), so this model is fitted to *every* source point, up
   to ``OWN_FIT_COST``: each source's ``theta_s`` from its own 100 points, not 15. Fitted
   to the 300-point subsample, its hyperprior was far from the full fit's (on the Levy-7
   family of ``experiments/history_scaling.py`` at 20 x 100, ``m`` of the log lengthscales
   -0.7 against -0.3, ``tau`` of the noise 0.50 against 0.18). On YAHPO lcbench 20 x 100
   (48 runs, paired) the fit to every point gave a target without ``g`` 0.52 [0.29, 0.93]
   times the regret after 30 evaluations that the fit to the subsample gave, and the default
   (the choice of ``g`` from 10 target points on) 0.74 [0.50, 1.07] times
   (``experiments/results/own_all_20x100.md``). It sees the sources only:
   their data do not change while the target is tuned, so it is fitted once per history,
   and stage B re-estimates its ``m, tau`` with the target
   (:mod:`hbo.surrogate.source_hierarchy`).
2. ``g``'s posterior given *every* source point, at those hyperparameters, through ``M``
   inducing inputs ``U`` (the subsample's distinct inputs) in the partially independent
   training conditional (PITC; Snelson & Ghahramani 2007, "Local and global sparse
   Gaussian process approximations"; Quinonero-Candela & Rasmussen 2005): with
   ``v = L_UU^{-1} g(U) ~ N(0, I)`` (whitened, ``L_UU L_UU^T = K_UU``) and ``W_s =
   L_UU^{-1} K_{U s}`` (``M x n_s``), each source's observations are

       y_s - c_s = a_s W_s^T v + e_s,   e_s ~ N(0, B_s),
       B_s = a_s^2 (K_ss - W_s^T W_s) + s_s^2 k_s(X_s, X_s) + sigma_s^2 I,

   independent across sources given ``v``: within a source the covariance is exact, only
   the covariance between sources passes through ``U``. Then ``v | y ~ N(mu_v, Sigma_v)``
   with ``Sigma_v^{-1} = I + sum_s a_s^2 W_s B_s^{-1} W_s^T`` and ``mu_v = Sigma_v
   sum_s a_s W_s B_s^{-1} (y_s - c_s)``: ``sum_s n_s^2 M`` for ``S`` sources, no
   ``N x N`` matrix. With ``U`` all source inputs this is exact (``K_ss = W_s^T W_s``).

The cache keeps ``L_UU``, ``mu_v`` and the Cholesky factor ``L_P`` of ``Sigma_v^{-1}``, so
that ``g``'s posterior given the sources is, at any inputs, with ``W_x = L_UU^{-1} k(U, x)``
and ``V_x = L_P^{-1} W_x``,

    E[g(x) | y_S] = W_x^T mu_v,
    Cov[g(x), g(x') | y_S] = [k(x, x') - W_x^T W_x'] + V_x^T V_x'

(the Nystrom residual, exact within a block, plus ``P Sigma_u P^T``): two triangular
solves per point, ``O(M^2)``, whatever the number of sources. Why this form and not one
``M x M`` matrix ``Lambda = L_UU^{-T} (Sigma_v - I) L_UU^{-1}`` (``Cov = k + k_U Lambda
k_U^T``, one product per point): with long lengthscales of ``g`` ``K_UU`` is nearly
singular, ``Lambda``'s entries grow as its inverse, and ``k + k_U Lambda k_U^T``
cancelled to errors of 1e-4 that loadings ``a^2`` of several thousand (a smooth family,
Branin in 2-D) turned into a kernel matrix no jitter repaired; the whitened solves keep
each term of order 1.

**The target in stage A** (``target=``). The hyperparameters of step 1 may be fitted with
the target's observations as one more task, the last: ``g``'s lengthscale and the
sources' loadings are then those of the function the target shares with the sources,
not only of the one the sources share among themselves (which may be none; the
measurement is in :mod:`hbo.proposer.hierarchical_training`). ``g``'s posterior in step
2 still comes from the sources' points only: stage B conditions on the target's data, and
they would count twice. The target's row of the stage-A model is stage B's start, and is
left out of the sources' side of stage B's pooling (:meth:`SourcePosterior.hierarchy`),
which adds the target with its own terms.

ScaML-GP (Tighineanu et al., AISTATS 2024) conditions a target on independently
fitted source posteriors in the same spirit; here the sources stay one hierarchical
model (pooled hyperparameters, one ``g``), fitted once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import torch
from torch import Tensor

from hbo.errors import InvalidArgumentError
from hbo.surrogate.hierarchical_gp import HierarchicalGP
from hbo.surrogate.kernels import Kernel
from hbo.surrogate.linalg import robust_cholesky
from hbo.surrogate.priors import MIN_NOISE
from hbo.surrogate.source_hierarchy import SourceHierarchy

#: Most source points the stage-A hyperparameter fit (exact, with ``g``) sees.
SOURCE_FIT_POINTS = 300
#: Largest ``sum_s n_s^3`` of the fit without ``g`` (each evaluation factors and differentiates
#: one ``n_s x n_s`` block per source, with its Fisher information per hyperparameter): every
#: point of 20 sources x 100, about 20 s cold on one thread; beyond, each source keeps at most
#: ``(OWN_FIT_COST / S)^(1/3)`` points (74 of 50 sources, 58 of 100).
OWN_FIT_COST = 20 * 100**3


@dataclass(frozen=True)
class SourcePosterior:
    """The sources' part of the model, fitted once: ``g``'s posterior and the hyperpriors.

    Attributes:
        model: The stage-A :class:`~hbo.surrogate.HierarchicalGP` (the subsample's exact
            fit, standardized units); its sources' hyperparameters, ``m``, ``tau`` (the
            start of stage B's re-estimate with the target, :meth:`hierarchy`), hyperpriors
            and kernel are the target's prior, its :meth:`~HierarchicalGP.encode` the
            input encoding.
        inducing: ``M x D`` inducing inputs ``U`` (encoded).
        g_lengthscale: ``D`` lengthscales of ``g``.
        L_UU: ``M x M`` Cholesky factor of ``k(U, U)``.
        L_P: ``M x M`` Cholesky factor of ``Sigma_v^{-1}``.
        mu_v: ``M`` posterior mean of the whitened ``v = L_UU^{-1} g(U)``.
        num_points: Source observations ``g``'s posterior was computed from.
        num_fit_points: Of those, the subsample the hyperparameters were fitted to.
        own_model: The sources' model without ``g`` (:func:`fit_own_model`: their points,
            not the target's): the hyperprior of a target without ``g`` (None: not fitted,
            no such target).
        num_target_points: The target's observations in the hyperparameter fit (its last
            task; 0: the sources' alone); ``g``'s posterior never sees them.
    """

    model: HierarchicalGP
    inducing: Tensor
    g_lengthscale: Tensor
    L_UU: Tensor
    L_P: Tensor
    mu_v: Tensor
    num_points: int
    num_fit_points: int
    own_model: HierarchicalGP | None = None
    num_target_points: int = 0

    @property
    def num_sources(self) -> int:
        """Source tasks: the stage-A model's tasks, less the target when it saw it."""
        return self.model.num_tasks - (1 if self.num_target_points else 0)

    @property
    def kernel(self) -> Kernel:
        return self.model.kernel

    def model_for(self, shared: bool) -> HierarchicalGP:
        """The stage-A model whose hyperprior a target with ``g`` (``shared``) or without
        it takes.

        Raises:
            InvalidArgumentError: without ``g``, and stage A fitted with ``own=False``.
        """
        if shared:
            return self.model
        if self.own_model is None:
            raise InvalidArgumentError(
                "a target without the shared function needs the sources' model without it: "
                "fit_sources(..., own=True)"
            )
        return self.own_model

    def hierarchy(self, shared: bool) -> SourceHierarchy:
        """The sources' side of the pooling of a target with ``g`` (``shared``) or without
        it (:mod:`hbo.surrogate.source_hierarchy`), computed once per stage A."""
        if shared not in self._hierarchies:
            self._hierarchies[shared] = SourceHierarchy.of(self.model_for(shared),
                                                           self.num_sources)
        return self._hierarchies[shared]

    @cached_property
    def _hierarchies(self) -> dict[bool, SourceHierarchy]:
        return {}  # filled by hierarchy(), each kind when first asked for

    def whiten(self, Z: Tensor) -> tuple[Tensor, Tensor]:
        """``W = L_UU^{-1} k(U, Z)`` and ``V = L_P^{-1} W``, each ``... x M x n`` for
        ``... x n x D`` encoded inputs (the batch folded into the columns of one solve)."""
        K = self.kernel(self.inducing, Z, self.g_lengthscale)  # ... x M x n
        M = K.shape[-2]
        cols = K.movedim(-2, 0).reshape(M, -1)
        W = torch.linalg.solve_triangular(self.L_UU, cols, upper=False)
        V = torch.linalg.solve_triangular(self.L_P, W, upper=False)

        def back(A: Tensor) -> Tensor:
            return A.reshape(M, *K.shape[:-2], K.shape[-1]).movedim(0, -2)

        return back(W), back(V)

    def g_mean(self, W: Tensor) -> Tensor:
        """``E[g(Z) | y_S]``, ``... x n``, from ``W`` of :meth:`whiten`."""
        return (W * self.mu_v.unsqueeze(-1)).sum(-2)

    def g_covariance(self, Z1: Tensor, Z2: Tensor, WV1: tuple[Tensor, Tensor],
                     WV2: tuple[Tensor, Tensor]) -> Tensor:
        """``Cov[g(Z1), g(Z2) | y_S]``, ``... x n1 x n2``, from :meth:`whiten` of each."""
        (W1, V1), (W2, V2) = WV1, WV2
        residual = self.kernel(Z1, Z2, self.g_lengthscale) - W1.transpose(-1, -2) @ W2
        return residual + V1.transpose(-1, -2) @ V2

    def describe(self) -> str:
        """One line for the pooling report: which approximation is in use."""
        target = (f" and the target's {self.num_target_points}" if self.num_target_points
                  else "")
        own = ("" if self.own_model is None else f"; without it on "
               f"{self.own_model.train_targets.numel()}")
        return (
            f"hierarchical training: sources fitted once (hyperparameters on "
            f"{self.num_fit_points} of {self.num_points} source points{target} with the "
            f"shared function{own}; the shared function's "
            f"posterior from all {self.num_points} through {self.inducing.shape[0]} inducing "
            "inputs, PITC); the target is refitted each ask given the cached sources"
        )


def stratified_subsample(tasks: Tensor, y: Tensor, num_tasks: int, budget: int) -> Tensor:
    """Indices of at most ``budget`` points, ``max(2, budget // num_tasks)`` per task
    (:func:`per_task_subsample`); all points when they fit. Deterministic."""
    if tasks.numel() <= budget:
        return torch.arange(tasks.numel())
    return per_task_subsample(tasks, y, num_tasks, max(2, budget // num_tasks))


def per_task_subsample(tasks: Tensor, y: Tensor, num_tasks: int, per_task: int) -> Tensor:
    """Sorted indices of at most ``per_task`` points of each task, evenly spaced in the order
    of its values (its best and worst kept). Deterministic."""
    keep = []
    for t in range(num_tasks):
        idx = (tasks == t).nonzero().squeeze(-1)
        if idx.numel() > per_task:
            order = idx[torch.argsort(y[idx], stable=True)]
            idx = order[torch.linspace(0, idx.numel() - 1, per_task).round().long()]
        keep.append(idx)
    return torch.cat(keep).sort().values


def g_posterior(
    model: HierarchicalGP, Z: Tensor, tasks: Tensor, y: Tensor, inducing: Tensor
) -> tuple[Tensor, Tensor, Tensor]:
    r"""``(L_UU, L_P, mu_v)`` of ``g``'s PITC posterior given every source point (module doc).

    Args:
        model: A fitted HierarchicalGP with ``g``, whose task indices ``tasks`` refer to.
        Z: ``N x D`` encoded inputs of every source point.
        tasks: ``N`` task indices (of ``model``).
        y: ``N`` standardized values.
        inducing: ``M x D`` inducing inputs.
    """
    kernel, ell_g = model.kernel, model.g_log_lengthscale.detach().exp()
    with torch.no_grad():
        theta = {g: v.detach() for g, v in model.log_hyperparameters().items()}
        L_UU, _ = robust_cholesky(kernel(inducing, inducing, ell_g))
        T, M = model.num_tasks, inducing.shape[0]
        counts = torch.bincount(tasks, minlength=T)
        n_max = int(counts.max())
        order = torch.argsort(tasks, stable=True)
        tasks, Z, y = tasks[order], Z[order], y[order]
        pos = torch.arange(tasks.numel()) - (torch.cumsum(counts, 0) - counts)[tasks]
        mask = torch.zeros(T, n_max, dtype=torch.bool)
        mask[tasks, pos] = True
        Zp = Z.new_zeros(T, n_max, Z.shape[-1])
        Zp[tasks, pos] = Z
        W = torch.linalg.solve_triangular(L_UU, kernel(inducing, Zp, ell_g), upper=False)
        a2 = theta["shared_scale"].exp()[:, None, None]
        s2 = theta["outputscale"].exp()[:, None, None]
        ell = theta["lengthscale"].exp()[:, None, None, :]
        pair = mask[:, :, None] & mask[:, None, :]
        B = a2 * (kernel(Zp, Zp, ell_g) - W.transpose(-1, -2) @ W) + s2 * kernel(Zp, Zp, ell)
        noise = theta["noise"].exp() + MIN_NOISE
        diag = torch.where(mask, noise[:, None], torch.ones_like(noise)[:, None])
        B = torch.where(pair, B, torch.zeros_like(B)) + torch.diag_embed(diag)
        L_B, _ = robust_cholesky(B)
        W = W * mask[:, None, :]
        R = torch.linalg.solve_triangular(L_B, W.transpose(-1, -2), upper=False)  # T x n x M
        resid = y - model.constant.detach()[tasks]
        r = resid.new_zeros(T, n_max).index_put((tasks, pos), resid)
        r = torch.linalg.solve_triangular(L_B, r.unsqueeze(-1), upper=False)  # T x n x 1
        precision = torch.eye(M, dtype=Z.dtype) + (a2 * R.transpose(-1, -2) @ R).sum(0)
        b = (a2.sqrt() * R.transpose(-1, -2) @ r).sum(0)  # M x 1
        L_P, _ = robust_cholesky(precision)
        mu_v = torch.cholesky_solve(b, L_P).squeeze(-1)
    return L_UU, L_P, mu_v


def fit_sources(
    build: Callable[[Tensor, Tensor, Tensor, bool], HierarchicalGP],
    X: Tensor,
    tasks: Tensor,
    y: Tensor,
    num_tasks: int,
    warm: SourcePosterior | None = None,
    inducing: Tensor | None = None,
    fit_points: int = SOURCE_FIT_POINTS,
    own: bool | HierarchicalGP = True,
    target: tuple[Tensor, Tensor] | None = None,
) -> SourcePosterior:
    """Stage A: fit the sources' hyperparameters on a subsample, then ``g``'s posterior.

    Args:
        build: ``build(X_sub, labels_sub, y_sub, shared)`` returns an unfitted
            HierarchicalGP of standardized data (``standardize=False``), with ``g`` if
            ``shared``: ``n x d`` features, ``n x 1`` task labels, ``n x 1`` values.
        X: ``N x d`` features of every source point.
        tasks: ``N`` task labels, ``0 .. num_tasks - 1`` (each present).
        y: ``N`` values, standardized per task.
        num_tasks: Number of source tasks.
        warm: A previous stage A (same tasks) to start the fits from.
        inducing: ``M x D`` encoded inducing inputs (default: the subsample's distinct inputs).
        fit_points: Size of the hyperparameter subsample.
        own: Also fit the model without ``g`` (the hyperprior of a target without it,
            :func:`fit_own_model`), or that model already fitted to these sources.
        target: ``(X_T, y_T)``, the target's ``n_T x d`` features and ``n_T`` values
            (standardized alike): a task of the hyperparameter fits, labelled
            ``num_tasks``, and not of ``g``'s posterior (module doc, "The target in stage A").
    """
    keep = stratified_subsample(tasks, y, num_tasks, fit_points)
    X_fit, tasks_fit, y_fit = X[keep], tasks[keep], y[keep]
    if target is not None:
        X_fit, y_fit = torch.cat([X_fit, target[0]]), torch.cat([y_fit, target[1]])
        tasks_fit = torch.cat([tasks_fit, torch.full((len(target[1]),), num_tasks)])
    subsample = (X_fit, tasks_fit[:, None].to(X.dtype), y_fit[:, None])
    model = _fit(build(*subsample, True), warm.model if warm else None)
    own_model = own if isinstance(own, HierarchicalGP) else None
    if own is True:
        own_model = fit_own_model(build, X, tasks, y, num_tasks,
                                  warm.own_model if warm else None)
    Z = model.encode(X)
    if inducing is None:
        inducing = torch.unique(Z[keep], dim=0)
    L_UU, L_P, mu_v = g_posterior(model, Z, tasks, y, inducing)
    return SourcePosterior(
        model=model,
        inducing=inducing,
        g_lengthscale=model.g_log_lengthscale.detach().exp(),
        L_UU=L_UU,
        L_P=L_P,
        mu_v=mu_v,
        num_points=int(tasks.numel()),
        num_fit_points=int(keep.numel()),
        own_model=own_model,
        num_target_points=0 if target is None else len(target[1]),
    )


def fit_own_model(
    build: Callable[[Tensor, Tensor, Tensor, bool], HierarchicalGP],
    X: Tensor,
    tasks: Tensor,
    y: Tensor,
    num_tasks: int,
    warm: HierarchicalGP | None = None,
) -> HierarchicalGP:
    """The sources' model without ``g``, fitted to every point up to ``OWN_FIT_COST``
    (module doc, step 1); arguments as :func:`fit_sources`' (``warm``: a model without ``g``
    of the same tasks to start from)."""
    per_source = max(2, round((OWN_FIT_COST / num_tasks) ** (1 / 3)))
    keep = per_task_subsample(tasks, y, num_tasks, per_source)
    data = (X[keep], tasks[keep, None].to(X.dtype), y[keep, None])
    return _fit(build(*data, False), warm)


def _fit(model: HierarchicalGP, warm: HierarchicalGP | None) -> HierarchicalGP:
    """Fit ``model`` from ``warm``'s parameters, by L-BFGS-B: not from ``warm``'s curvature
    (BFGS, :mod:`hbo.surrogate.fit`). Stage A's refits from it were measured on YAHPO at
    20 x 100 (48 lcbench and 32 rbv2_rpart runs, paired with the same code without it): the
    same regret through 15 evaluations, then 1.26 [1.01, 1.65] and 1.83 [1.07, 3.24] times
    it after 20 and 30 on rbv2_rpart and 1.53 [0.99, 2.38] after 30 on lcbench
    (``experiments/results/refit_curvature_rpart_20x100.md``, ``refit_curvature_20x100.md``).
    Why is not known; these fits are once per history or on a schedule, not per ask."""
    if warm is not None:
        model.initialize_from(warm)
        model.curvature = None
    return model.fit()


