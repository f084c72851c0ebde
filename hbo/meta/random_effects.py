"""Random-effects meta-analysis: ``random_effects(yi, vi, method="REML")``, as metafor's ``rma``.

    y_i = mu + u_i + e_i,   u_i ~ N(0, tau^2),   e_i ~ N(0, v_i),   i = 1..k

``tau^2`` by one of :data:`hbo.meta.tau2.METHODS`; ``mu`` is the inverse-variance weighted mean
with weights ``1 / (v_i + tau^2)``; Wald (``test="z"``), t (``test="t"``) or Knapp-Hartung
(``test="knha"``) inference (:mod:`hbo.meta._model`); Q-profile interval for ``tau^2``
(:mod:`hbo.meta.qprofile`); prediction interval ``mu +- crit sqrt(se^2 + tau^2)`` (metafor's
``predict``: the same critical value as the CI, normal or ``t_{k-1}``).

With ``mods`` the same call fits a meta-regression (mixed-effects model) and returns a
:class:`hbo.meta.MetaRegressionResult` (:mod:`hbo.meta.regression`).

The Bayesian counterpart of the same model is one call away:
``hbo.hierarchy.NormalHierarchy(yi, np.sqrt(vi), tau_prior="half_cauchy", tau_scale=0.5)``.

References: DerSimonian & Laird (1986), doi:10.1016/0197-2456(86)90046-2; Viechtbauer (2010),
*Conducting meta-analyses in R with the metafor package*, doi:10.18637/jss.v036.i03.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields

import numpy as np
import pandas as pd
from scipy import stats

from hbo.errors import InvalidArgumentError, InvalidDataError
from hbo.meta._format import pval_text
from hbo.meta._inputs import ArrayLike, as_vector, check_level, sampling_variances
from hbo.meta._model import check_test, fit_model, i2_percent
from hbo.meta.moderators import design_matrix
from hbo.meta.prediction import StudyLevelMethods, predict_rows
from hbo.meta.qprofile import q_profile_ci
from hbo.meta.regression import MetaRegressionResult, fit_meta_regression
from hbo.meta.tau2 import check_method, log_likelihood


@dataclass(frozen=True)
class RandomEffectsResult(StudyLevelMethods):
    """Result of :func:`random_effects`; every number metafor's ``rma`` prints, and more.

    ``zval`` is the test statistic of ``mu = 0`` (a t statistic with ``df`` degrees of
    freedom under ``test="t"`` and ``test="knha"``). ``i2`` is in percent. ``tau2_se`` is
    ``None`` for FE. ``loglik`` is the (restricted) log-likelihood for ML and REML, else ``None``.
    ``yi``, ``vi`` and ``labels`` are the data (shape ``k``), kept for
    :meth:`leave_one_out` and the plots.
    """

    method: str
    test: str
    level: float
    k: int
    mu: float
    se: float
    zval: float
    pval: float
    ci: tuple[float, float]
    df: int | None
    tau2: float
    tau2_se: float | None
    tau2_ci: tuple[float, float]
    tau: float
    tau_ci: tuple[float, float]
    i2: float
    i2_ci: tuple[float, float]
    h2: float
    h2_ci: tuple[float, float]
    q: float
    q_df: int
    q_pvalue: float
    pi: tuple[float, float]
    loglik: float | None
    iterations: int
    yi: np.ndarray = field(repr=False)
    vi: np.ndarray = field(repr=False)
    labels: tuple = field(repr=False)

    def to_dict(self) -> dict:
        """The estimates as a plain dict (no data arrays)."""
        return {f.name: getattr(self, f.name) for f in fields(self)
                if f.name not in ("yi", "vi", "labels")}

    # the model in the terms of a meta-regression with one column of ones (shared by
    # prediction, blup and influence)
    @property
    def X(self) -> np.ndarray:
        """The design: a ``k x 1`` column of ones."""
        return np.ones((self.k, 1))

    @property
    def beta(self) -> np.ndarray:
        return np.array([self.mu])

    @property
    def vb(self) -> np.ndarray:
        return np.array([[self.se**2]])

    @property
    def crit(self) -> float:
        """Critical value of the intervals (normal, or t with ``df`` degrees of freedom)."""
        q = 0.5 + self.level / 2
        return float(stats.norm.ppf(q) if self.df is None else stats.t.ppf(q, self.df))

    def predict(self, *, transf: Callable | None = None) -> pd.DataFrame:
        """The average effect with its CI and PI, as metafor's ``predict(res, transf=...)``:
        one row with ``pred``, ``se`` (without ``transf``), ``ci_lb``, ``ci_ub``, ``pi_lb``,
        ``pi_ub``."""
        return predict_rows(np.ones((1, 1)), self.beta, self.vb, self.tau2, self.crit, transf)

    def summary(self) -> str:
        """A readable report in the layout of metafor's ``print.rma.uni``."""
        pct = f"{100 * self.level:g}%"
        model = "Fixed-Effect" if self.method == "FE" else "Random-Effects"
        lines = [f"{model} Model (k = {self.k}; tau^2 estimator: {self.method})", ""]
        if self.method != "FE":
            se = "" if self.tau2_se is None else f" (SE = {self.tau2_se:.4f})"
            lines += [
                f"tau^2 (estimated amount of total heterogeneity): {self.tau2:.4f}{se}",
                f"tau (square root of estimated tau^2 value):      {self.tau:.4f}",
            ]
        lines += [
            f"I^2 (total heterogeneity / total variability):   {self.i2:.2f}%",
            f"H^2 (total variability / sampling variability):  {self.h2:.2f}",
            "",
            f"Test for Heterogeneity: Q(df = {self.q_df}) = {self.q:.4f}, "
            f"p-val {pval_text(self.q_pvalue)}",
        ]
        if self.method != "FE":
            lines.append(
                f"Q-profile {pct} CI: tau^2 [{self.tau2_ci[0]:.4f}, {self.tau2_ci[1]:.4f}], "
                f"I^2 [{self.i2_ci[0]:.2f}%, {self.i2_ci[1]:.2f}%]"
            )
        stat = "zval" if self.df is None else "tval"
        kind = "Knapp-Hartung, " if self.test == "knha" else ""
        df = "" if self.df is None else f"  ({kind}t with df = {self.df})"
        lines += [
            "",
            f"Model Results:{df}",
            "",
            f"{'estimate':>9} {'se':>8} {stat:>8} {'pval':>8} {'ci.lb':>8} {'ci.ub':>8} "
            f"{'pi.lb':>8} {'pi.ub':>8}",
            f"{self.mu:9.4f} {self.se:8.4f} {self.zval:8.4f} {pval_text(self.pval, eq=False):>8} "
            f"{self.ci[0]:8.4f} {self.ci[1]:8.4f} {self.pi[0]:8.4f} {self.pi[1]:8.4f}",
        ]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def leave_one_out(self) -> pd.DataFrame:
        """Refit without each study in turn, as metafor's ``leave1out``.

        Rows ``"-<label>"``; columns ``estimate``, ``se``, ``zval``, ``pval``, ``ci_lb``,
        ``ci_ub``, ``Q``, ``Qp``, ``tau2``, ``I2``, ``H2``. Needs ``k >= 3`` (each refit keeps
        at least 2 studies).
        """
        if self.k < 3:
            raise InvalidDataError(
                f"leave_one_out needs at least 3 studies; this fit has {self.k}."
            )
        rows = []
        for i in range(self.k):
            keep = np.arange(self.k) != i
            X = np.ones((self.k - 1, 1))
            fit = fit_model(self.yi[keep], self.vi[keep], X, self.method, self.test, self.level,
                            quiet=True)
            rows.append([fit.beta[0], fit.se[0], fit.stat[0], fit.pval[0], fit.ci_lb[0],
                         fit.ci_ub[0], fit.q, fit.q_pvalue, fit.tau2.tau2, fit.i2, fit.h2])
        columns = ["estimate", "se", "zval", "pval", "ci_lb", "ci_ub", "Q", "Qp", "tau2",
                   "I2", "H2"]
        return pd.DataFrame(rows, columns=columns, index=[f"-{lab}" for lab in self.labels])


def random_effects(
    yi: ArrayLike,
    vi: ArrayLike | None = None,
    *,
    sei: ArrayLike | None = None,
    method: str = "REML",
    test: str = "z",
    level: float = 0.95,
    labels: Sequence | None = None,
    mods=None,
    data: pd.DataFrame | None = None,
    intercept: bool = True,
    btt=None,
) -> RandomEffectsResult | MetaRegressionResult:
    """Random-effects (or, with ``method="FE"``, fixed-effect) meta-analysis of ``k`` studies,
    or with ``mods`` a meta-regression.

    Example (metafor's ``rma(yi, vi, mods = ~ ablat + year, data=dat)``)::

        d = datasets.bcg()
        es = effect_sizes.log_risk_ratio(d.tpos, d.tneg, d.cpos, d.cneg)
        res = random_effects(es.yi, es.vi, mods="~ ablat + year", data=d)
        print(res.summary()); res.predict([[10, 1950], [60, 1950]], transf=np.exp)

    Args:
        yi: observed effect sizes, shape ``k``.
        vi: their sampling variances, shape ``k``, all in ``[V_MIN, 1 / V_MIN]``, about
            ``[1.5e-154, 6.7e153]`` (:data:`hbo.meta._inputs.V_MIN`; or give ``sei``).
        sei: their standard errors, shape ``k``, whose squares lie in that range (instead
            of ``vi``).
        method: tau^2 estimator: ``"REML"`` (default), ``"DL"``, ``"PM"``, ``"ML"``,
            ``"EB"``, ``"HE"``, ``"SJ"``, ``"HS"`` or ``"FE"`` (tau^2 = 0).
        test: ``"z"`` (normal), ``"t"`` (t with ``k - p`` df) or ``"knha"`` (Knapp-Hartung: t
            with ``k - p`` df and the variance scaled by the residual dispersion; with
            ``method="FE"`` allowed with a warning, as metafor).
        level: coverage of the confidence and prediction intervals, in (0, 1).
        labels: study names, length ``k`` (default ``1..k``).
        mods: moderators (:mod:`hbo.meta.moderators`): ``None`` (the random-effects model), a
            ``k x p'`` matrix, vector or numeric DataFrame, or a formula such as
            ``"~ ablat + year"`` over the columns of ``data``.
        data: the DataFrame (``k`` rows) a formula ``mods`` refers to.
        intercept: add an intercept column to a matrix ``mods`` (default True; a formula
            drops it with ``- 1``).
        btt: coefficients (0-based indices or names) of the omnibus test ``QM``; default all
            but the intercept.

    Returns:
        :class:`RandomEffectsResult` without ``mods``, :class:`MetaRegressionResult` with.

    Raises:
        InvalidDataError: NaN/inf, non-positive variances or variances outside the range
            above, mismatched lengths, fewer than 2 studies when tau^2 is estimated.
        InvalidArgumentError: unknown ``method`` or ``test``, bad ``level``, both or neither
            of ``vi`` and ``sei``; a malformed formula or ``btt``.
        InvalidDataError (with ``mods``): wrong shape, NaN moderators, a formula column not in
            ``data``, linearly dependent moderators, ``p >= k`` coefficients.
    """
    y = as_vector("yi", yi)
    v = sampling_variances(y, vi, sei)
    method, test, level = check_method(method), check_test(test), check_level(level)
    k = y.size
    if k < 2 and method != "FE":
        raise InvalidDataError(
            f"yi holds {k} study; estimating tau^2 (method={method!r}) needs at least 2. "
            "Use method='FE' for a single study."
        )
    labels = tuple(range(1, k + 1)) if labels is None else tuple(labels)
    if len(labels) != k:
        raise InvalidDataError(f"labels has {len(labels)} entries for {k} studies.")
    if mods is not None:
        design = design_matrix(mods, data, k, intercept)
        return fit_meta_regression(y, v, design, method, test, level, labels, btt)
    extra = [name for name, value in (("data", data), ("btt", btt)) if value is not None]
    if extra or intercept is not True:
        raise InvalidArgumentError(
            f"{', '.join(extra) or 'intercept'} applies to a meta-regression only; pass mods "
            "(a matrix, or a formula over data) as well, or leave it out."
        )
    X = np.ones((k, 1))
    fit = fit_model(y, v, X, method, test, level)
    tau2 = fit.tau2.tau2
    tau2_ci = q_profile_ci(y, v, X, level) if k >= 2 else (math.nan, math.nan)
    pi_half = fit.crit * math.sqrt(fit.se[0] ** 2 + tau2)
    mu = float(fit.beta[0])
    loglik = (log_likelihood(y, v, X, tau2, method == "REML")
              if method in ("ML", "REML") else None)
    return RandomEffectsResult(
        method=method, test=test, level=level, k=k, mu=mu, se=float(fit.se[0]),
        zval=float(fit.stat[0]), pval=float(fit.pval[0]),
        ci=(float(fit.ci_lb[0]), float(fit.ci_ub[0])), df=fit.df,
        tau2=tau2, tau2_se=fit.tau2.se, tau2_ci=tau2_ci, tau=math.sqrt(tau2),
        tau_ci=(math.sqrt(tau2_ci[0]), math.sqrt(tau2_ci[1])),
        i2=fit.i2, i2_ci=tuple(i2_percent(t, fit.vt) for t in tau2_ci), h2=fit.h2,
        h2_ci=tuple(t / fit.vt + 1 if fit.vt > 0 else math.nan for t in tau2_ci),
        q=fit.q, q_df=fit.q_df, q_pvalue=fit.q_pvalue, pi=(mu - pi_half, mu + pi_half),
        loglik=loglik, iterations=fit.tau2.iterations, yi=y, vi=v, labels=labels,
    )


