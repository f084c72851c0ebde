"""The normal-normal (meta-regression) model fitted for a given tau^2 estimator, as ``rma.uni``.

    y = X beta + u + e,   u ~ N(0, tau^2 I),   e ~ N(0, diag(v))

Given ``tau^2`` (:mod:`hbo.meta.tau2`), ``beta`` is the weighted least-squares estimate with
``w = 1 / (v + tau^2)`` and ``Var(beta) = (X' W X)^{-1}``. Tests and intervals use the normal
distribution (``test="z"``) or, for Knapp & Hartung (2003, doi:10.1002/sim.1482;
``test="knha"``), the t distribution with ``k - p`` degrees of freedom and
``Var(beta)`` multiplied by ``s^2 = sum w (y - X beta)^2 / (k - p)`` (metafor's default: no
truncation of ``s^2`` at 1; ``s^2 = 0`` if the weighted residual sum of squares is below
machine epsilon).

Heterogeneity: Cochran's ``Q = sum (y - X beta_FE)^2 / v`` with ``k - p`` degrees of
freedom; the typical within-study variance ``s^2 = (k - p) / tr(P)`` with ``P`` at
``w = 1 / v`` (Higgins & Thompson 2002, doi:10.1002/sim.1186; metafor's definition), and
``I^2 = 100 tau^2 / (tau^2 + s^2)``, ``H^2 = tau^2 / s^2 + 1``; for the FE model
``I^2 = 100 max(0, (Q - (k - p)) / Q)`` and ``H^2 = Q / (k - p)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from hbo.errors import InvalidArgumentError
from hbo.meta._projection import Projection
from hbo.meta.tau2 import Tau2Fit, estimate_tau2

TESTS = ("z", "knha")


@dataclass(frozen=True)
class ModelFit:
    """Coefficients (shape ``p``), their covariance (``p x p``) and heterogeneity statistics."""

    beta: np.ndarray
    vb: np.ndarray
    stat: np.ndarray
    pval: np.ndarray
    ci_lb: np.ndarray
    ci_ub: np.ndarray
    crit: float
    df: int | None
    tau2: Tau2Fit
    q: float
    q_df: int
    q_pvalue: float
    vt: float
    i2: float
    h2: float

    @property
    def se(self) -> np.ndarray:
        return np.sqrt(np.diag(self.vb))


def check_test(test: str) -> str:
    if test not in TESTS:
        raise InvalidArgumentError(
            f"test must be 'z' (normal) or 'knha' (Knapp-Hartung, t with k-1 df); got {test!r}."
        )
    return test


def fit_model(
    y: np.ndarray, v: np.ndarray, X: np.ndarray, method: str, test: str, level: float
) -> ModelFit:
    """Fit the model for validated ``y``, ``v`` (``k``), ``X`` (``k x p``)."""
    k, p = X.shape
    if test == "knha" and method == "FE":
        raise InvalidArgumentError(
            "test='knha' adjusts for the uncertainty in tau^2 and is for random-effects "
            "models; use test='z' with method='FE', or a random-effects method."
        )
    tau2 = estimate_tau2(y, v, X, method) if k > p else Tau2Fit(0.0, None)
    proj = Projection(y, X, 1 / (v + tau2.tau2), v)
    vb = proj.A.copy()
    df = None
    if test == "knha":
        df = k - p
        vb *= proj.rss / df if proj.rss > np.finfo(float).eps else 0.0
    se = np.sqrt(np.diag(vb))
    stat = proj.beta / se
    alpha = 1 - level
    if df is None:
        crit = float(stats.norm.ppf(1 - alpha / 2))
        pval = 2 * stats.norm.sf(np.abs(stat))
    else:
        crit = float(stats.t.ppf(1 - alpha / 2, df))
        pval = 2 * stats.t.sf(np.abs(stat), df)
    q, q_df, q_p, vt, i2, h2 = _heterogeneity(y, v, X, method, tau2.tau2)
    return ModelFit(proj.beta, vb, stat, pval, proj.beta - crit * se, proj.beta + crit * se,
                    crit, df, tau2, q, q_df, q_p, vt, i2, h2)


def _heterogeneity(
    y: np.ndarray, v: np.ndarray, X: np.ndarray, method: str, tau2: float
) -> tuple[float, int, float, float, float, float]:
    """``Q``, its df and p-value, typical variance ``s^2``, ``I^2`` (%) and ``H^2``."""
    k, p = X.shape
    if k == p:
        return 0.0, 0, 1.0, 0.0, 0.0, 1.0
    fe = Projection(y, X, 1 / v, v)
    q = max(0.0, fe.rss)
    q_p = float(stats.chi2.sf(q, k - p))
    vt = (k - p) / fe.tr_p
    if method == "FE":
        i2 = 100 * max(0.0, (q - (k - p)) / q) if q > 0 else 0.0
        h2 = q / (k - p)
    else:
        i2 = 100 * tau2 / (vt + tau2)
        h2 = tau2 / vt + 1
    return q, k - p, q_p, vt, i2, h2
