"""Raw per-group observations: group summaries and the REML fit of the one-way random-effects model.

Model (the frequentist LME, e.g. statsmodels ``MixedLM`` with a random intercept):
``x_ij = mu + u_j + e_ij``, ``u_j ~ N(0, tau^2)``, ``e_ij ~ N(0, sigma_e^2)``, ``i = 1..n_j``.
The data reduce to the group means ``xbar_j``, sizes ``n_j`` and the within-group sum of
squares ``W = sum_ij (x_ij - xbar_j)^2`` (``N - J`` degrees of freedom). With
``d_j = tau^2 + sigma_e^2 / n_j``, ``|sigma_e^2 I + tau^2 11'| = sigma_e^(2(n_j-1)) n_j d_j``
gives the restricted log-likelihood, up to a constant,

    l_R = -1/2 [ (N - J) log sigma_e^2 + W / sigma_e^2 + sum_j log d_j
                 + sum_j (xbar_j - mu_hat)^2 / d_j + log sum_j 1/d_j ],

``mu_hat = sum_j (xbar_j / d_j) / sum_j (1 / d_j)`` (Searle, Casella, McCulloch 1992,
*Variance Components*, §6.6). The hierarchical model then uses the group means with
``sigma_j = s_pooled / sqrt(n_j)``, ``s_pooled^2 = W / (N - J)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize

from hbo.errors import InvalidDataError


@dataclass(frozen=True)
class GroupSummary:
    """Per-group ``labels``, sizes ``n``, ``means`` (each shape ``J``) and the within-group
    sum of squares ``within_ss`` of raw observations."""

    labels: list
    n: np.ndarray
    means: np.ndarray
    within_ss: float

    @property
    def pooled_sd(self) -> float:
        """Pooled within-group standard deviation ``sqrt(W / (N - J))``."""
        return float(np.sqrt(self.within_ss / (self.n.sum() - len(self.n))))


@dataclass(frozen=True)
class RemlFit:
    """REML estimates of the one-way random-effects model: ``mu``, ``tau``, ``sigma_e``."""

    mu: float
    tau: float
    sigma_e: float


def summarize_groups(values: np.ndarray, groups: np.ndarray) -> GroupSummary:
    """Sizes, means and within-group sum of squares of ``values`` (``N``) by ``groups`` (``N``)."""
    values = np.asarray(values, dtype=float)
    groups = np.asarray(groups)
    if values.ndim != 1 or groups.shape != values.shape:
        raise InvalidDataError(
            f"values and groups must be 1-D of the same length; got shapes {values.shape} "
            f"and {groups.shape}."
        )
    if not np.all(np.isfinite(values)):
        raise InvalidDataError("values contains NaN or infinite entries.")
    labels, index = np.unique(groups, return_inverse=True)
    n = np.bincount(index).astype(float)
    means = np.bincount(index, weights=values) / n
    within = float(np.sum((values - means[index]) ** 2))
    if len(labels) < 2:
        raise InvalidDataError(f"groups must hold at least 2 distinct groups; got {len(labels)}.")
    if n.sum() - len(labels) < 1 or within <= 0:
        raise InvalidDataError(
            "values must vary within at least one group (some group needs 2 or more distinct "
            "observations) to estimate the within-group standard deviation."
        )
    return GroupSummary(labels=labels.tolist(), n=n, means=means, within_ss=within)


def reml_one_way(summary: GroupSummary) -> RemlFit:
    """Maximize the module docstring's ``l_R`` over ``tau^2 >= 0`` and ``sigma_e^2 > 0``."""
    n, xbar = summary.n, summary.means
    df_within = n.sum() - len(n)
    s2 = summary.within_ss / df_within
    scale = max(s2, float(np.var(xbar)), 1e-300)

    def objective(params: np.ndarray) -> float:
        tau2, log_s2 = params[0] * scale, params[1]
        sig2 = np.exp(log_s2) * scale
        d = tau2 + sig2 / n
        w = 1.0 / d
        mu = np.sum(w * xbar) / np.sum(w)
        return 0.5 * float(
            df_within * np.log(sig2) + summary.within_ss / sig2 + np.sum(np.log(d))
            + np.sum(w * (xbar - mu) ** 2) + np.log(np.sum(w))
        )

    start = np.array([max(float(np.var(xbar, ddof=1)) - s2 * np.mean(1 / n), 0.0) / scale,
                      np.log(s2 / scale)])
    best = minimize(objective, start, method="L-BFGS-B", bounds=[(0.0, None), (None, None)],
                    options={"ftol": 1e-15, "gtol": 1e-10, "maxiter": 500})
    tau2, sig2 = best.x[0] * scale, np.exp(best.x[1]) * scale
    w = 1.0 / (tau2 + sig2 / n)
    return RemlFit(mu=float(np.sum(w * xbar) / np.sum(w)), tau=float(np.sqrt(tau2)),
                   sigma_e=float(np.sqrt(sig2)))
