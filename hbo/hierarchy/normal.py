"""The normal hierarchical model in exact full Bayes (no MCMC).

    y_j | theta_j ~ N(theta_j, sigma_j^2)      (sigma_j known)
    theta_j | mu, tau ~ N(mu, tau^2),          j = 1..J
    mu ~ flat or N(m0, s0^2),   tau ~ p(tau)

``p(tau | y) ∝ p(tau) p(y | tau)`` with the ``mu`` integral done analytically (BDA3 §5.4,
eq. 5.21) is normalized by adaptive Gauss-Legendre quadrature in ``log tau``
(:mod:`hbo.hierarchy._quadrature`); ``mu | tau, y`` and ``theta_j | tau, y`` are normal
(:mod:`hbo.hierarchy._conjugate`), so every posterior marginal is a mixture of normals over
the quadrature nodes and its moments and quantiles are exact up to the quadrature tolerance
(``1e-10`` relative). :meth:`NormalHierarchyPosterior.sample` gives exact independent draws
by inverting the CDF of ``p(tau | y)`` and then drawing ``mu`` and ``theta`` conditionally.

References: Gelman et al. (2013), *Bayesian Data Analysis*, 3rd ed., §5.4-5.5 (Eight
Schools); Rubin (1981), Estimation in parallel randomized experiments, *J. Educ. Stat.* 6(4),
doi:10.3102/10769986006004377.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from hbo.errors import InvalidArgumentError, InvalidDataError
from hbo.hierarchy._conjugate import (
    GroupData,
    log_marginal,
    mu_given_tau,
    shrinkage,
    theta_given_tau,
)
from hbo.hierarchy._mixture import mixture_moments, mixture_quantiles
from hbo.hierarchy._quadrature import LogScaleQuadrature, density_mode, log_scale_quadrature
from hbo.hierarchy._raw import RemlFit, reml_one_way, summarize_groups
from hbo.hierarchy._tau_prior import LogDensity, make_tau_prior, posterior_tail_exponent

if TYPE_CHECKING:
    from arviz import InferenceData

PROBS = (0.025, 0.25, 0.5, 0.75, 0.975)
_GROUP_CHUNK = 2000


class NormalHierarchy:
    """Normal hierarchical model for ``J >= 2`` group estimates with known standard errors.

    Use it for Eight-Schools-type data (one estimate and standard error per group, e.g. a
    random-effects meta-analysis, where ``NormalHierarchy(yi, np.sqrt(vi))`` is the Bayesian
    counterpart of ``hbo.meta.random_effects``), or build it from raw observations with
    :meth:`from_observations`.

    Args:
        y: group estimates, shape ``J``.
        sigma: their standard errors, shape ``J``, all positive.
        tau_prior: ``"uniform"`` (BDA3's flat prior, improper unless ``tau_scale`` bounds
            it), ``"half_normal"``, ``"half_cauchy"``, ``"exponential"`` (these three need
            ``tau_scale``) or a callable unnormalized log-density of ``tau``.
        tau_scale: scale of the named prior (upper bound for ``"uniform"``).
        mu_prior: ``None`` for a flat prior on ``mu``, or ``(loc, scale)`` of a normal prior.
        labels: optional group names, length ``J`` (default ``1..J``).
    """

    def __init__(
        self,
        y: Sequence[float] | np.ndarray,
        sigma: Sequence[float] | np.ndarray,
        *,
        tau_prior: str | LogDensity = "uniform",
        tau_scale: float | None = None,
        mu_prior: tuple[float, float] | None = None,
        labels: Sequence | None = None,
    ) -> None:
        self.y = _vector("y", y)
        self.sigma = _vector("sigma", sigma)
        if self.sigma.shape != self.y.shape:
            raise InvalidDataError(
                f"y and sigma must have the same length; got {len(self.y)} and {len(self.sigma)}."
            )
        if len(self.y) < 2:
            raise InvalidDataError(f"y must hold at least 2 groups (for tau); got {len(self.y)}.")
        if np.any(self.sigma <= 0):
            raise InvalidDataError("sigma must be positive (standard errors); got a value <= 0.")
        self.labels = list(range(1, len(self.y) + 1)) if labels is None else list(labels)
        if len(self.labels) != len(self.y):
            raise InvalidDataError(f"labels needs {len(self.y)} entries, not {len(self.labels)}.")
        self.tau_prior = make_tau_prior(tau_prior, tau_scale)
        self.mu_prior = check_mu_prior(mu_prior)
        self.n: np.ndarray | None = None
        self.reml: RemlFit | None = None

    @classmethod
    def from_observations(
        cls, values: Sequence[float] | np.ndarray, groups: Sequence | np.ndarray, **kwargs
    ) -> NormalHierarchy:
        """Build the model from raw observations ``values`` (``N``) labelled by ``groups`` (``N``).

        ``y_j`` is the group mean and ``sigma_j = s_pooled / sqrt(n_j)`` with the pooled
        within-group standard deviation. The REML fit of the one-way random-effects model
        (what ``statsmodels.MixedLM`` reports) is kept in ``.reml`` and shown by ``summary()``.
        Keyword arguments (priors) go to the constructor; the labels are the sorted distinct
        ``groups``.
        """
        if "labels" in kwargs:
            raise InvalidArgumentError(
                "labels cannot be given with raw observations: the groups label them."
            )
        summary = summarize_groups(values, groups)
        model = cls(summary.means, summary.pooled_sd / np.sqrt(summary.n),
                    labels=summary.labels, **kwargs)
        model.n = summary.n
        model.reml = reml_one_way(summary)
        return model

    def fit(self) -> NormalHierarchyPosterior:
        """Compute ``p(tau | y)`` and the conditional normals; raises ``ImproperPosteriorError``."""
        data = GroupData(self.y, self.sigma**2, self.mu_prior)
        scale = float(np.sqrt(np.mean(data.var) + np.var(self.y)))
        tail = posterior_tail_exponent(self.tau_prior, len(self.y), self.mu_prior is None, scale)

        def log_post(tau: np.ndarray) -> np.ndarray:
            return self.tau_prior.log_density(tau) + log_marginal(data, tau)

        upper = self.tau_prior.upper
        quad = log_scale_quadrature(log_post, scale, upper=upper, tail=tail)
        return NormalHierarchyPosterior(self, data, quad, tail,
                                        tau_mode=density_mode(log_post, quad, upper))


class NormalHierarchyPosterior:
    """Exact posterior of ``(mu, tau, theta)``; made by :meth:`NormalHierarchy.fit`."""

    def __init__(
        self,
        model: NormalHierarchy,
        data: GroupData,
        quad: LogScaleQuadrature,
        tail: float,
        tau_mode: float,
    ) -> None:
        self.model = model
        self._data = data
        self._quad = quad
        self._tail = tail  # p(tau | y) ~ tau^tail at infinity
        self._mu_hat, self._v_mu = mu_given_tau(data, quad.tau)
        #: posterior mode of ``tau`` (0 when ``p(tau | y)`` is largest at the boundary)
        self.tau_mode = tau_mode

    def summary(self, probs: Sequence[float] = PROBS) -> pd.DataFrame:
        """Posterior mean, sd and quantiles of ``mu``, ``tau``, ``theta[1..J]``.

        Rows ``"mu"``, ``"tau"``, ``"theta[1]"``..``"theta[J]"``; columns ``"mean"``,
        ``"sd"`` and one per probability (``"2.5%"``, ...). A moment that does not exist
        (heavy tail of ``p(tau | y)``) is reported as ``inf`` (mean of ``tau``, a sd) or ``nan``
        (mean of ``mu``). For a model built from raw observations a ``"reml"`` column holds
        the REML estimates of ``mu`` and ``tau`` and the BLUPs of ``theta``.
        """
        probs = np.atleast_1d(np.asarray(probs, dtype=float))
        if probs.ndim != 1 or not np.all((probs > 0) & (probs < 1)):
            raise InvalidArgumentError(
                f"probs must be a 1-D sequence of probabilities in (0, 1); got {probs!r}."
            )
        w = self._quad.weights
        means, variances = self._mu_hat[:, None], self._v_mu[:, None]
        mu_mean, mu_sd = mixture_moments(w, means, variances)
        rows = [np.concatenate([[mu_mean[0], mu_sd[0]],
                                mixture_quantiles(w, means, variances, probs)[0]])]
        tau = self._quad.tau
        tau_mean = float(w @ tau)
        tau_sd = float(np.sqrt(max(w @ tau**2 - tau_mean**2, 0.0)))
        rows.append(np.concatenate([[tau_mean if self._tail < -2 else np.inf,
                                     tau_sd if self._tail < -3 else np.inf],
                                    self._quad.quantile(probs)]))
        if self.model.mu_prior is None and not self._tail < -3:
            rows[0][1] = np.inf
            rows[0][0] = rows[0][0] if self._tail < -2 else np.nan
        for groups in _group_chunks(len(self.model.y)):
            m, v = theta_given_tau(self._data, tau, self._mu_hat, self._v_mu, groups)
            mean, sd = mixture_moments(w, m, v)
            rows.extend(np.column_stack([mean, sd, mixture_quantiles(w, m, v, probs)]))
        index = ["mu", "tau"] + [f"theta[{j}]" for j in range(1, len(self.model.y) + 1)]
        columns = ["mean", "sd"] + [f"{100 * p:g}%" for p in probs]
        table = pd.DataFrame(np.array(rows), index=index, columns=columns)
        if self.model.reml is not None:
            table["reml"] = self._reml_column()
        return table

    def shrinkage(self) -> pd.DataFrame:
        """Per group: ``y``, ``sigma``, ``B_mean = E[B_j | y]``, ``B_at_mode`` (``B_j`` at the
        posterior mode of ``tau``) and the partially pooled estimate
        ``theta_mean = E[theta_j | y]``, with ``B_j = sigma_j^2 / (sigma_j^2 + tau^2)``."""
        w = self._quad.weights
        b_mean = np.concatenate([w @ shrinkage(self._sub(g), self._quad.tau)
                                 for g in _group_chunks(len(self.model.y))])
        b_mode = shrinkage(self._data, np.array([self.tau_mode]))[0]
        return pd.DataFrame(
            {"y": self.model.y, "sigma": self.model.sigma, "B_mean": b_mean,
             "B_at_mode": b_mode, "theta_mean": self._theta_moments()[0]},
            index=pd.Index(self.model.labels, name="group"),
        )

    def pooling_table(self) -> pd.DataFrame:
        """Complete, no and partial pooling side by side per group (estimate and sd).

        Complete pooling: ``mu | tau = 0, y`` under the model's prior on ``mu`` (with a flat
        prior, the precision-weighted mean of ``y`` and ``(sum_j 1/sigma_j^2)^(-1/2)``); no
        pooling: ``y_j`` and ``sigma_j`` (``tau = inf``); partial pooling: posterior mean and
        sd of ``theta_j``. With raw observations a column ``n`` gives the group sizes.
        """
        pooled, pooled_var = mu_given_tau(self._data, np.zeros(1))
        theta_mean, theta_sd = self._theta_moments()
        table = pd.DataFrame(
            {"no_pooling": self.model.y, "no_pooling_sd": self.model.sigma,
             "partial_pooling": theta_mean, "partial_pooling_sd": theta_sd,
             "complete_pooling": pooled[0], "complete_pooling_sd": np.sqrt(pooled_var[0])},
            index=pd.Index(self.model.labels, name="group"),
        )
        if self.model.n is not None:
            table.insert(0, "n", self.model.n.astype(int))
        return table

    def tau_posterior(self) -> pd.DataFrame:
        """``p(tau | y)`` on the adaptive grid: columns ``tau`` (increasing), ``density``
        (normalized) and ``weight`` (quadrature probability of the node; sums to 1)."""
        q = self._quad
        return pd.DataFrame({"tau": q.tau, "density": q.density, "weight": q.weights})

    def mu_mean(self) -> float:
        """``E[mu | y]``."""
        return float(self._quad.weights @ self._mu_hat)

    def sample(
        self, n: int, seed: int | np.random.Generator | None = None
    ) -> dict[str, np.ndarray]:
        """``n`` exact independent draws: ``{"mu": (n,), "tau": (n,), "theta": (n, J)}``.

        ``tau`` by inverting the CDF of ``p(tau | y)``, then ``mu | tau, y`` and
        ``theta | mu, tau, y`` from their normal conditionals.
        """
        if not (isinstance(n, int | np.integer) and n >= 1):
            raise InvalidArgumentError(f"n must be a positive integer; got {n!r}.")
        rng = np.random.default_rng(seed)
        tau = self._quad.quantile(rng.uniform(size=n))
        mu_hat, v_mu = mu_given_tau(self._data, tau)
        mu = mu_hat + np.sqrt(v_mu) * rng.standard_normal(n)
        b = shrinkage(self._data, tau)
        mean = (1.0 - b) * self.model.y + b * mu[:, None]
        theta = mean + np.sqrt((1.0 - b) * self._data.var) * rng.standard_normal(b.shape)
        return {"mu": mu, "tau": tau, "theta": theta}

    def to_inference_data(
        self, draws: int = 4000, seed: int | None = 0, *, prior_draws: int | None = None
    ) -> InferenceData:
        """:meth:`sample` as ArviZ InferenceData, with the groups a NUTS fit of the same model
        (:class:`hbo.hierarchy.models.EightSchools`) carries, so ``az.loo``, ``az.waic``,
        ``az.compare`` and ``az.plot_ppc`` take either.

        Groups: ``posterior`` (``mu``, ``tau``, ``theta``; one chain of ``draws``
        independent draws), ``log_likelihood`` (``y``: ``log N(y_j; theta_j, sigma_j^2)`` per
        draw and group), ``posterior_predictive`` (``y``: ``y_rep_j = theta_j + sigma_j e``,
        ``e ~ N(0, 1)``, BDA3 §6.3), ``observed_data`` (``y``), and ``prior`` /
        ``prior_predictive`` (``prior_draws`` draws of ``mu``, ``tau``, ``theta`` and ``y``;
        ``None``: 1000 where both priors can be drawn from, a normal ``mu_prior`` and a named
        tau prior with a scale, else none); dimension ``group``, labelled by the model's
        labels. No ``sample_stats``: the draws are independent, not a Markov chain.
        """
        import arviz as az  # on demand: the exact model itself needs no ArviZ

        model = self.model
        proper = model.mu_prior is not None and model.tau_prior.samplable
        if prior_draws is None:
            prior_draws = 1000 if proper else 0
        if not (isinstance(prior_draws, int | np.integer) and not isinstance(prior_draws, bool)
                and prior_draws >= 0):
            raise InvalidArgumentError(f"prior_draws must be an integer >= 0; got {prior_draws!r}.")
        if prior_draws and not proper:
            raise InvalidArgumentError(
                "prior draws need a normal mu_prior and a named tau prior with tau_scale; "
                f"this model has mu_prior={model.mu_prior!r}, tau prior {model.tau_prior.name!r}."
            )
        rng = np.random.default_rng(seed)
        post = self.sample(draws, seed=rng)
        groups = {"posterior": {k: v[None] for k, v in post.items()},
                  "log_likelihood": {"y": _log_likelihood(model, post["theta"])[None]},
                  "posterior_predictive": {"y": _replicate(model, post["theta"], rng)[None]}}
        if prior_draws:
            loc, scale = model.mu_prior
            tau = model.tau_prior.sample(prior_draws, rng)
            mu = rng.normal(loc, scale, prior_draws)
            theta = mu[:, None] + tau[:, None] * rng.standard_normal((prior_draws, len(model.y)))
            groups["prior"] = {"mu": mu[None], "tau": tau[None], "theta": theta[None]}
            groups["prior_predictive"] = {"y": _replicate(model, theta, rng)[None]}
        return az.from_dict(**groups, observed_data={"y": model.y},
                            coords={"group": model.labels},
                            dims={"theta": ["group"], "y": ["group"]})

    def _theta_moments(self) -> tuple[np.ndarray, np.ndarray]:
        parts = [mixture_moments(self._quad.weights, *theta_given_tau(
            self._data, self._quad.tau, self._mu_hat, self._v_mu, g))
            for g in _group_chunks(len(self.model.y))]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    def _sub(self, groups: slice) -> GroupData:
        return GroupData(self._data.y[groups], self._data.var[groups], self._data.mu_prior)

    def _reml_column(self) -> np.ndarray:
        """REML ``mu``, ``tau`` and the BLUPs ``(1 - b_j) y_j + b_j mu`` with the REML
        ``b_j = (sigma_e^2 / n_j) / (sigma_e^2 / n_j + tau^2)`` (the REML ``sigma_e``, not
        the pooled sd that sets ``sigma_j``, as statsmodels' ``MixedLM`` predicts them)."""
        reml = self.model.reml
        var = reml.sigma_e**2 / self.model.n
        b = var / (var + reml.tau**2)
        blup = (1.0 - b) * self.model.y + b * reml.mu
        return np.concatenate([[reml.mu, reml.tau], blup])


def _log_likelihood(model: NormalHierarchy, theta: np.ndarray) -> np.ndarray:
    """``log N(y_j; theta_j, sigma_j^2)`` per draw of ``theta`` (``S x J``)."""
    z = (model.y - theta) / model.sigma
    return -0.5 * np.log(2.0 * np.pi * model.sigma**2) - 0.5 * z**2


def _replicate(model: NormalHierarchy, theta: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``y_rep = theta + sigma e``, ``e ~ N(0, 1)``, per draw of ``theta`` (``S x J``)."""
    return theta + model.sigma * rng.standard_normal(theta.shape)


def _vector(name: str, values) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise InvalidDataError(f"{name} must be a 1-D array of numbers.") from exc
    if arr.ndim != 1:
        raise InvalidDataError(f"{name} must be 1-D; got shape {arr.shape}.")
    if not np.all(np.isfinite(arr)):
        raise InvalidDataError(f"{name} contains NaN or infinite entries.")
    return arr


def check_mu_prior(mu_prior) -> tuple[float, float] | None:
    """``None`` (flat) or a ``(loc, scale)`` pair with finite loc and finite scale > 0."""
    if mu_prior is None:
        return None
    try:
        loc, scale = (float(v) for v in mu_prior)
    except (TypeError, ValueError) as exc:
        raise InvalidArgumentError(
            f"mu_prior must be None (flat) or a (loc, scale) pair; got {mu_prior!r}."
        ) from exc
    if not (np.isfinite(loc) and np.isfinite(scale) and scale > 0):
        raise InvalidArgumentError(
            f"mu_prior scale must be positive and finite (and loc finite); got {mu_prior!r}."
        )
    return loc, scale


def _group_chunks(n_groups: int) -> list[slice]:
    return [slice(s, s + _GROUP_CHUNK) for s in range(0, n_groups, _GROUP_CHUNK)]
