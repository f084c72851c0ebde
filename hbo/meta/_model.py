"""The normal-normal (meta-regression) model fitted for a given tau^2 estimator, as ``rma.uni``.

    y = X beta + u + e,   u ~ N(0, tau^2 I),   e ~ N(0, diag(v))

Given ``tau^2`` (:mod:`hbo.meta.tau2`), ``beta`` is the weighted least-squares estimate with
``w = 1 / (v + tau^2)`` and ``Var(beta) = (X' W X)^{-1}``. Tests and intervals use, as
metafor's ``test`` argument:

- ``"z"``: the normal distribution;
- ``"t"``: the t distribution with ``k - p`` degrees of freedom, ``Var(beta)`` unchanged;
- ``"knha"`` (Knapp & Hartung 2003, doi:10.1002/sim.1482): the t distribution with
  ``k - p`` degrees of freedom and ``Var(beta)`` multiplied by
  ``s^2 = sum w (y - X beta)^2 / (k - p)`` (metafor's default: no truncation of ``s^2`` at 1;
  ``s^2 = 0`` if the weighted residual sum of squares is below machine epsilon). With
  ``method="FE"`` metafor applies the same scaling and warns that the method is meant for
  random-effects models; so does hbo (:class:`hbo._warnings.NumericalWarning`).

Omnibus test of the coefficients ``btt`` (``m`` of them; metafor's ``QM``): the Wald statistic
``QM = b' Var(b)^{-1} b`` over ``b = beta[btt]``, chi-square with ``m`` df under ``"z"``; under
``"t"`` and ``"knha"`` ``QM / m`` is referred to ``F(m, k - p)``.

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

from hbo._warnings import NumericalWarning, warn
from hbo.errors import InvalidArgumentError
from hbo.meta._projection import Projection
from hbo.meta.tau2 import Tau2Fit, estimate_tau2

TESTS = ("z", "t", "knha")


@dataclass(frozen=True)
class ModelFit:
    """Coefficients (shape ``p``), their covariance (``p x p``) and heterogeneity statistics.

    ``s2w`` is the Knapp-Hartung factor ``vb`` was scaled by (1 unless ``test="knha"``);
    ``qm`` the omnibus statistic of the coefficients ``btt`` (an F value under ``"t"`` and
    ``"knha"``), ``qm_df`` its ``(m, k - p)`` (``(m, None)`` under ``"z"``).
    """

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
    s2w: float = 1.0
    btt: tuple[int, ...] = ()
    qm: float = float("nan")
    qm_df: tuple[int, int | None] = (0, None)
    qm_pvalue: float = float("nan")

    @property
    def se(self) -> np.ndarray:
        return np.sqrt(np.diag(self.vb))


def check_test(test: str) -> str:
    if test not in TESTS:
        raise InvalidArgumentError(
            "test must be 'z' (normal), 't' (t with k-p df) or 'knha' (Knapp-Hartung: t with "
            f"k-p df and the variance scaled by the residual dispersion); got {test!r}."
        )
    return test


def fit_model(
    y: np.ndarray, v: np.ndarray, X: np.ndarray, method: str, test: str, level: float,
    btt: tuple[int, ...] | None = None, *, tau2: Tau2Fit | None = None, quiet: bool = False,
) -> ModelFit:
    """Fit the model for validated ``y``, ``v`` (``k``), ``X`` (``k x p``, full column rank).

    ``btt``: the coefficients the omnibus test ``QM`` covers (default: all). ``tau2``: a
    given estimate instead of ``method``'s (as metafor's ``tau2=``). ``quiet``: no warning for
    ``method="FE"`` with ``test="knha"`` (for refits of a model already warned about).
    """
    k, p = X.shape
    if test == "knha" and method == "FE" and not quiet:
        warn("test='knha' adjusts for the uncertainty in tau^2 and is meant for random-effects "
             "models; with method='FE' it scales Var(beta) by the residual dispersion, as "
             "metafor does.", NumericalWarning)
    if tau2 is None:
        tau2 = estimate_tau2(y, v, X, method) if k > p else Tau2Fit(0.0, None)
    proj = Projection(y, X, 1 / (v + tau2.tau2), v)
    vb = proj.A.copy()
    df, s2w = None, 1.0
    if test in ("t", "knha"):
        df = k - p
    if test == "knha":
        s2w = proj.rss / df if proj.rss > np.finfo(float).eps else 0.0
        vb *= s2w
    se = np.sqrt(np.diag(vb))
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = proj.beta / se
    alpha = 1 - level
    if df is None:
        crit = float(stats.norm.ppf(1 - alpha / 2))
        pval = 2 * stats.norm.sf(np.abs(stat))
    else:
        crit = float(stats.t.ppf(1 - alpha / 2, df)) if df > 0 else float("nan")
        pval = 2 * stats.t.sf(np.abs(stat), df) if df > 0 else np.full(p, np.nan)
    btt = tuple(range(p)) if btt is None else tuple(btt)
    qm, qm_df, qm_p = _omnibus(proj.beta, vb, btt, df)
    q, q_df, q_p, vt, i2, h2 = _heterogeneity(y, v, X, method, tau2.tau2)
    return ModelFit(proj.beta, vb, stat, pval, proj.beta - crit * se, proj.beta + crit * se,
                    crit, df, tau2, q, q_df, q_p, vt, i2, h2, s2w, btt, qm, qm_df, qm_p)


def _omnibus(
    beta: np.ndarray, vb: np.ndarray, btt: tuple[int, ...], df: int | None
) -> tuple[float, tuple[int, int | None], float]:
    """Wald ``QM`` of ``beta[btt] = 0`` (``QM / m`` with the F reference under t tests)."""
    m = len(btt)
    b, V = beta[list(btt)], vb[np.ix_(btt, btt)]
    try:
        qm = float(b @ np.linalg.solve(V, b))
    except np.linalg.LinAlgError:  # a singular Var(b) (s^2 = 0 under knha): as metafor, NA
        return float("nan"), (m, df), float("nan")
    if df is None:
        return qm, (m, None), float(stats.chi2.sf(qm, m))
    qm /= m
    return qm, (m, df), float(stats.f.sf(qm, m, df)) if df > 0 else float("nan")


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


def i2_percent(tau2: float, vt: float) -> float:
    """``I^2 = 100 tau^2 / (tau^2 + s^2)`` for a tau^2 value and the typical variance ``s^2``."""
    return 100 * tau2 / (vt + tau2) if vt + tau2 > 0 else float("nan")
