r"""Hierarchical training, stage B: the target's GP given the cached sources.

With the sources fitted once (:mod:`hbo.surrogate.source_posterior`: their
hyperparameters, ``m, tau`` of every group, and ``g``'s posterior given all their
points), the target ``T`` of the hierarchical GP is, a priori given the sources' data
``y_S``,

    f_T(x) = c_T + a_T g(x) + h_T(x),   g | y_S ~ GP(mu_g, C_g),   h_T ~ GP(0, s_T^2 k_T),
    y_T = f_T(X_T) + eps,   eps ~ N(0, sigma_T^2 I),
    log theta_T = m + tau z_T,   z_T ~ N(0, I)   (theta_T: ell_T, s_T^2, sigma_T^2, a_T^2),

so ``y_T | y_S ~ N(c_T + a_T mu_g(X_T), a_T^2 C_g(X_T, X_T) + s_T^2 k_T + sigma_T^2 I)``.
This is the exact joint model's conditional of the target given the sources at the same
hyperparameters (:func:`~hbo.surrogate.linalg.condition_gaussian` of the joint Gaussian;
``tests/surrogate/test_target_gp.py`` checks it against
:class:`~hbo.surrogate.HierarchicalGP` with every source input inducing). :meth:`TargetGP.fit`
maximizes ``log p(y_T | y_S, z_T, c_T, kappa_T) + log N(z_T; 0, I)`` plus the prior of
``log kappa_T`` (the target's scale, below) and the pooling's terms in ``m, tau``
(re-estimated with the target, :mod:`hbo.surrogate.source_hierarchy`) over ``(z_T, c_T,
log kappa_T, m, log tau)``: an ``n_T x n_T`` factorization per evaluation, whatever the
number of source tasks or points.

**The target's scale.** Each source is standardized by its history, evaluations spread over
the space (random ones, on YAHPO); the target by the points the optimizer chose, which
cluster where the target is good, so the same function comes in other units. The scale
groups, whose values are in the units of the outputs, are therefore pooled up to one free
factor of the target's:

    log theta_T[q] = m_q + tau_q z_T[q] + log kappa_T   (q: s_T^2, a_T^2, sigma_T^2),
    log kappa_T ~ N(0, TARGET_SCALE_PRIOR_SD^2),

so that what is pooled is what does not depend on units: the function-level share
``a_T^2 / (a_T^2 + s_T^2)`` and the signal-to-noise ratio. Without it, a loading whose
``tau`` the sources fit near 0 (they are alike: 0.02 on YAHPO lcbench) fixed ``a_T`` in
the target's units; the target's data, near the top, fitted as a shift of ``a_T g``, and
the model was sure that nothing beat the best seen where the truth was 4 sds higher
(``experiments/results/yahpo_20x100_diagnosis.md``). Measured on YAHPO, history 20 x 100,
16 targets x 2 seeds per scenario, paired with ``kappa_T = 1``
(``experiments/results/target_scale.md``): the regret after 30 evaluations 0.77 [0.43, 1.34]
times on lcbench and 0.65 [0.42, 0.97] on rbv2_rpart (90% intervals), after 10 0.94 and
1.10, both within [0.73, 1.25]; the median after 30 on lcbench 0.092 against 0.123. With
5 x 50 history under forced hierarchical training (16 pairs each) it was inconclusive: 0.76
[0.25, 2.33] and 2.01 [0.61, 6.84] after 30 (``results/hierarchical_training_cost.md``).
``tests/surrogate/test_target_gp.py`` checks that the same data in other units give the
same predictions (with ``kappa_T = 1`` they differed by up to 7.5 sds).

What stays fixed at stage A's values, the approximation against the exact joint MAP:
the sources' hyperparameters and ``g``'s lengthscale, and the sources' Fisher information
in the Laplace term. Stage A fits them with the target's data as they were at its last
refit (:mod:`hbo.proposer.hierarchical_training`: from 2 target points on, again each
time they grow by a quarter); when it did, the target starts at stage A's fit of it.
``m`` and ``tau`` are re-estimated with the target as task ``S + 1``
(:mod:`hbo.surrogate.source_hierarchy`). What this cost while stage A saw the sources
only: at the same 5 x 50 history, where the exact joint model still fits, hierarchical
training had 1.02 [0.72, 1.39] times its regret after 30 evaluations on YAHPO lcbench and
1.49 [1.04, 2.08] on rbv2_rpart (16 targets x 3 seeds each; after 10, 1.02 and 0.89), at
a third of the seconds per ask; with ``m, tau`` held at stage A's it had been 1.18 and
1.64 (``experiments/results/target_pooling.md``).
Without ``g`` (``shared=False``,
the alternative of the leave-one-out choice) the target is its own GP under the hyperprior
of the sources' model without ``g`` (:attr:`SourcePosterior.own_model`), as the joint
path's alternative is a model of its own.

The posterior is BoTorch's ``GPyTorchPosterior`` of ``f_T`` in the units of ``train_Y``
(R&W 2006, eqs. 2.25-2.26, with the prior above given the sources).
"""

from __future__ import annotations

import math

import torch
from botorch.models.model import Model
from botorch.optim.closures.core import ForwardBackwardClosure
from botorch.optim.core import scipy_minimize
from botorch.posteriors.gpytorch import GPyTorchPosterior
from gpytorch.distributions import MultivariateNormal
from linear_operator.operators import DenseLinearOperator
from torch import Tensor, nn

from hbo.errors import InvalidDataError, ModelFittingError
from hbo.surrogate.fit import FTOL, PRIOR_BOX_SDS
from hbo.surrogate.information import gaussian_information
from hbo.surrogate.linalg import robust_cholesky
from hbo.surrogate.priors import GROUP_SPEC, MIN_NOISE, model_groups
from hbo.surrogate.source_posterior import SourcePosterior

#: Groups in the units of the outputs, which the target's scale ``kappa_T`` multiplies.
SCALE_GROUPS = ("outputscale", "shared_scale", "noise")
#: Prior sd of ``log kappa_T`` (module doc): a factor of ``e^2`` either way at one sd.
TARGET_SCALE_PRIOR_SD = 2.0


class TargetGP(Model):
    """The target task's GP given cached sources (module doc); a single-output BoTorch Model.

    Args:
        sources: Stage A (:func:`~hbo.surrogate.source_posterior.fit_sources`).
        train_X: ``n x d`` features of the target's observations (no task column).
        train_Y: ``n x 1`` observations.
        y_mean: The target's standardization: mean ...
        y_std: ... and standard deviation (as :func:`task_standardization` gives it from
            all tasks' data; the sources were standardized alike).
        shared: Include ``a_T g`` (else the target's own GP under the pooled prior).
    """

    likelihood = None

    def __init__(
        self,
        sources: SourcePosterior,
        train_X: Tensor,
        train_Y: Tensor,
        y_mean: float,
        y_std: float,
        *,
        shared: bool = True,
    ) -> None:
        super().__init__()
        if train_X.dim() != 2 or train_Y.shape != (train_X.shape[0], 1) or not len(train_X):
            raise InvalidDataError(
                f"train_X must be n x d and train_Y n x 1 with n >= 1, got "
                f"{tuple(train_X.shape)} and {tuple(train_Y.shape)}"
            )
        self.sources = sources
        self.shared_function = bool(shared)
        self.groups = model_groups(self.shared_function)
        self.train_inputs = (train_X,)
        self.train_targets = train_Y.squeeze(-1)
        self._y_mean, self._y_std = float(y_mean), float(y_std)
        self.hierarchy = sources.hierarchy(self.shared_function)
        Z = sources.model.encode(train_X.double())
        self._Z = Z
        self._y = (train_Y.double().squeeze(-1) - self._y_mean) / self._y_std
        if self.shared_function:
            self._WV = sources.whiten(Z)
            self._g_mean = sources.g_mean(self._WV[0])
            self._g_cov = sources.g_covariance(Z, Z, self._WV, self._WV)
        D = Z.shape[-1]
        self.z = nn.ParameterDict({
            g: nn.Parameter(torch.zeros(GROUP_SPEC[g].shape(D), dtype=torch.double))
            for g in self.groups
        })
        self.constant = nn.Parameter(torch.zeros((), dtype=torch.double))
        self.log_scale = nn.Parameter(torch.zeros((), dtype=torch.double))
        # the pooling re-estimated with the target (source_hierarchy), from stage A's
        h = self.hierarchy
        self.m = nn.ParameterDict({g: nn.Parameter(h.m[g].clone()) for g in h.refitted})
        self.log_tau = nn.ParameterDict({g: nn.Parameter(h.tau[g].log()) for g in h.refitted})
        if sources.num_target_points and self.shared_function:
            # stage A's model with g fitted the target (its last task): start there (the
            # model without g sees the sources only)
            fitted = sources.model
            with torch.no_grad():
                self.constant.copy_(fitted.constant[-1])
                for g in self.groups:
                    if g in fitted.z:
                        self.z[g].copy_(fitted.z[g][-1])
        self._cache: tuple[int, Tensor, Tensor] | None = None

    # ------------------------------------------------------------------ hyperparameters
    def pooling(self) -> dict[str, tuple[Tensor, Tensor]]:
        """Group -> ``(m, tau)``: re-estimated with the target where stage A fitted ``tau``
        (:mod:`hbo.surrogate.source_hierarchy`), stage A's otherwise."""
        h = self.hierarchy
        return {g: (self.m[g], self.log_tau[g].exp()) if g in self.m else (h.m[g], h.tau[g])
                for g in self.groups}

    def log_hyperparameters(self) -> dict[str, Tensor]:
        """The target's log hyperparameters ``m + tau z_T``, plus ``log kappa_T`` for the
        ``SCALE_GROUPS`` (``D`` lengthscales, scalars)."""
        return {g: m + tau * self.z[g] + (self.log_scale if g in SCALE_GROUPS else 0.0)
                for g, (m, tau) in self.pooling().items()}

    def initialize_from(self, other: TargetGP) -> None:
        """Warm start: copy ``other``'s ``z_T``, ``m`` and ``log tau`` (where groups agree;
        a model of the other kind pools under other hyperpriors), constant and scale."""
        with torch.no_grad():
            self.constant.copy_(other.constant)
            self.log_scale.copy_(other.log_scale)
            for g in self.groups:
                if g in other.z and other.z[g].shape == self.z[g].shape:
                    self.z[g].copy_(other.z[g])
            if other.shared_function == self.shared_function:
                for g in self.m:
                    if g in other.m:
                        self.m[g].copy_(other.m[g])
                        self.log_tau[g].copy_(other.log_tau[g])

    def describe(self) -> str:
        """The approximation in use and the target's fitted values, for the pooling report."""
        with torch.no_grad():
            theta = {g: v.exp() for g, v in self.log_hyperparameters().items()}
        values = ", ".join(f"{g} {float(v.prod() ** (1 / v.numel())):.3g}"
                           for g, v in theta.items())
        share = ""
        if self.shared_function:
            a2, s2 = theta["shared_scale"], theta["outputscale"]
            share = f"; function-level share {float(a2 / (a2 + s2)):.2f}"
        spread = ", ".join(f"{g} {float(tau.detach().exp()):.3g}"
                           for g, tau in self.log_tau.items())
        spread = f"; spread tau with the target: {spread}" if spread else ""
        return (f"{self.sources.describe()}.\nTarget ({self.train_targets.numel()} "
                f"observations): {values}{share}; scale against the sources' units "
                f"{float(self.log_scale.detach().exp()):.3g}{spread}")

    # ------------------------------------------------------------------ likelihood
    def _covariance_terms(self, theta: dict[str, Tensor]) -> dict[str, Tensor]:
        """The terms of ``Cov[y_T | y_S]`` (``n x n``) by the group that scales each: each
        is its own derivative in that group's log hyperparameter (``d(s^2 k)/d log s^2 =
        s^2 k``); their sum plus ``MIN_NOISE I`` is the covariance."""
        terms = {
            "outputscale": theta["outputscale"].exp()
            * self.kernel(self._Z, self._Z, theta["lengthscale"].exp()),
            "noise": theta["noise"].exp() * torch.eye(len(self._y), dtype=self._y.dtype),
        }
        if self.shared_function:
            terms["shared_scale"] = theta["shared_scale"].exp() * self._g_cov
        return terms

    def _factor(self, theta: dict[str, Tensor] | None = None,
                terms: dict[str, Tensor] | None = None) -> tuple[Tensor, Tensor]:
        """Cholesky factor of ``Cov[y_T | y_S]`` and the residual ``y_T - E[y_T | y_S]``
        (``terms``: :meth:`_covariance_terms` of ``theta``, when already computed)."""
        theta = self.log_hyperparameters() if theta is None else theta
        terms = self._covariance_terms(theta) if terms is None else terms
        K = sum(terms.values())
        K = K + MIN_NOISE * torch.eye(len(self._y), dtype=K.dtype)
        resid = self._y - self.constant
        if self.shared_function:
            resid = resid - theta["shared_scale"].exp().sqrt() * self._g_mean
        L, _ = robust_cholesky(K)
        return L, resid

    @property
    def kernel(self):
        return self.sources.kernel

    def information(self, theta: dict[str, Tensor], L: Tensor,
                    terms: dict[str, Tensor] | None = None) -> dict[str, Tensor]:
        """Fisher information of the target's data, given the sources, about each of its log
        hyperparameters (shaped as ``m``): ``1/2 tr(P D P D)`` with ``P = Cov[y_T | y_S]^{-1}``
        (:func:`~hbo.surrogate.information.gaussian_information`), for the loading plus the
        mean's term ``dmu^T P dmu``, ``dmu = a_T mu_g / 2``, as ``E[y_T | y_S]`` moves with it.

        ``P`` is the target's block of the joint model's ``K^{-1}`` (the Schur complement),
        so the groups other than the loading have the joint model's information
        (:func:`~hbo.surrogate.information.fisher_information`); for the loading this is the
        information of the joint model, where that function counts the target's block only.
        ``L`` is the factor of :meth:`_factor`; ``terms`` as there.
        """
        P = torch.cholesky_inverse(L)
        terms = self._covariance_terms(theta) if terms is None else terms
        s2, ell = theta["outputscale"].exp(), theta["lengthscale"].exp()
        derivatives = {**terms, "lengthscale": (
            s2 * self.kernel.log_lengthscale_grad(self._Z, self._Z, ell)).permute(2, 0, 1)}
        info = {g: gaussian_information(P, D) for g, D in derivatives.items()}
        if self.shared_function:
            dmu = 0.5 * theta["shared_scale"].exp().sqrt() * self._g_mean
            info["shared_scale"] = info["shared_scale"] + dmu @ P @ dmu
        return info

    def log_likelihood(self) -> Tensor:
        """``log p(y_T | y_S, theta_T, c_T)`` (standardized units)."""
        return self._log_likelihood(*self._factor())

    @staticmethod
    def _log_likelihood(L: Tensor, r: Tensor) -> Tensor:
        alpha = torch.linalg.solve_triangular(L, r.unsqueeze(-1), upper=False).squeeze(-1)
        return (-0.5 * alpha.pow(2).sum() - L.diagonal().log().sum()
                - 0.5 * r.numel() * math.log(2 * math.pi))

    def log_joint(self) -> Tensor:
        """``log p(y_T | y_S, theta_T, c_T) + log N(z_T; 0, I) + log N(log kappa_T; 0,
        TARGET_SCALE_PRIOR_SD^2)`` plus the pooling's terms in ``m, tau``
        (:meth:`SourceHierarchy.log_density`), standardized units."""
        theta = self.log_hyperparameters()
        terms = self._covariance_terms(theta)  # the covariance's and the information's
        L, r = self._factor(theta, terms)
        value = self._log_likelihood(L, r)
        for z in self.z.values():
            value = value - 0.5 * z.pow(2).sum()
        value = value - 0.5 * (self.log_scale / TARGET_SCALE_PRIOR_SD).pow(2)
        if self.m:
            value = value + self.hierarchy.log_density(self.m, self.log_tau,
                                                       self.information(theta, L, terms))
        return value

    def fit(self, *, maxiter: int = 200) -> TargetGP:
        """MAP of ``(z_T, c_T, log kappa_T)`` and of the re-estimated ``m, log tau`` by
        L-BFGS-B from the current values (a warm start), within ``PRIOR_BOX_SDS`` prior sds;
        one restart from the prior (stage A's pooling) on failure. Returns ``self``."""
        n, errors = self._y.numel(), []
        params = dict(self.named_parameters())
        box = {f"z.{g}": (-PRIOR_BOX_SDS, PRIOR_BOX_SDS) for g in self.groups}
        box["log_scale"] = (-PRIOR_BOX_SDS * TARGET_SCALE_PRIOR_SD,
                            PRIOR_BOX_SDS * TARGET_SCALE_PRIOR_SD)
        box.update(self.hierarchy.box())
        for attempt in range(2):
            if attempt:
                with torch.no_grad():
                    for p in params.values():
                        p.zero_()
                    for g in self.m:  # stage A's pooling
                        self.m[g].copy_(self.hierarchy.m[g])
                        self.log_tau[g].copy_(self.hierarchy.tau[g].log())
            try:
                closure = ForwardBackwardClosure(lambda: -self.log_joint() / n, params)
                scipy_minimize(closure, params, bounds=box,
                               options={"maxiter": maxiter, "ftol": FTOL})
                with torch.no_grad():
                    loss = float(-self.log_joint())
            except (ModelFittingError, RuntimeError) as exc:
                errors.append(str(exc))
                continue
            if math.isfinite(loss):
                self._cache = None
                return self
            errors.append("non-finite objective")
        raise ModelFittingError(f"TargetGP could not be fitted: {errors}")

    # ------------------------------------------------------------------ prediction
    def _posterior_cache(self) -> tuple[Tensor, Tensor]:
        version = sum(p._version for p in self.parameters())
        if self._cache is None or self._cache[0] != version:
            with torch.no_grad():
                L, r = self._factor()
                w = torch.cholesky_solve(r.unsqueeze(-1), L).squeeze(-1)
            self._cache = (version, L, w)
        return self._cache[1], self._cache[2]

    def loo_log_density(self) -> Tensor:
        """Leave-one-out log predictive density of the target's observations given the
        sources and its other observations (R&W 2006, eqs. 5.10-5.12), standardized units."""
        L, w = self._posterior_cache()
        var = 1.0 / torch.cholesky_inverse(L).diagonal()
        return (-0.5 * (torch.log(2 * math.pi * var) + w.pow(2) * var)).sum()

    def predict_standardized(
        self, X: Tensor, observation_noise: bool = False
    ) -> tuple[Tensor, Tensor]:
        """``batch x n`` mean and ``batch x n x n`` covariance of ``f_T(X)`` (standardized)
        given the sources and the target's data; ``X`` is ``batch x n x d``."""
        theta = {g: v.detach() for g, v in self.log_hyperparameters().items()}
        L, w = self._posterior_cache()
        Zs = self.sources.model.encode(X)
        s2, ell = theta["outputscale"].exp(), theta["lengthscale"].exp()
        cross = s2 * self.kernel(Zs, self._Z, ell)
        prior = s2 * self.kernel(Zs, Zs, ell)
        mean = self.constant.detach().expand(Zs.shape[:-1])
        if self.shared_function:
            a2 = theta["shared_scale"].exp()
            WV = self.sources.whiten(Zs)
            cross = cross + a2 * self.sources.g_covariance(Zs, self._Z, WV, self._WV)
            prior = prior + a2 * self.sources.g_covariance(Zs, Zs, WV, WV)
            mean = mean + a2.sqrt() * self.sources.g_mean(WV[0])
        mean = mean + cross @ w
        V = torch.linalg.solve_triangular(L, cross.transpose(-1, -2), upper=False)
        cov = prior - V.transpose(-1, -2) @ V
        if observation_noise:
            noise = theta["noise"].exp() + MIN_NOISE
            cov = cov + noise * torch.eye(cov.shape[-1], dtype=cov.dtype)
        return mean, cov

    def posterior(
        self,
        X: Tensor,
        output_indices: list[int] | None = None,
        observation_noise: bool = False,
        posterior_transform=None,
        **kwargs,
    ) -> GPyTorchPosterior:
        """Posterior of ``f_T`` at ``batch x q x d`` features, in the units of ``train_Y``."""
        if kwargs or posterior_transform is not None or output_indices not in (None, [0]):
            raise InvalidDataError(
                "TargetGP.posterior takes X and observation_noise only (one output)"
            )
        if X.shape[-1] != self.train_inputs[0].shape[-1]:
            d = self.train_inputs[0].shape[-1]
            raise InvalidDataError(f"X must have {d} feature columns, got {tuple(X.shape)}")
        mean, cov = self.predict_standardized(X, bool(observation_noise))
        std = self._y_std
        mean = mean * std + self._y_mean
        cov = cov * std**2 + 1e-10 * std**2 * torch.eye(cov.shape[-1], dtype=cov.dtype)
        return GPyTorchPosterior(MultivariateNormal(mean, DenseLinearOperator(cov)))

    @property
    def num_outputs(self) -> int:
        return 1

    @property
    def batch_shape(self) -> torch.Size:
        return torch.Size()
