"""Meta-regression (mixed-effects model): ``random_effects(yi, vi, mods=...)``, as metafor's
``rma(yi, vi, mods=...)``.

    y_i = x_i' beta + u_i + e_i,   u_i ~ N(0, tau^2),   e_i ~ N(0, v_i),   i = 1..k,

``X`` (``k x p``) from :mod:`hbo.meta.moderators`. The residual heterogeneity ``tau^2`` is
estimated by any of :data:`hbo.meta.tau2.METHODS` (each generalizes to ``p`` columns as in
metafor's ``rma.uni``: DL, HE, HS, SJ, PM, EB, ML, REML and FE); ``beta`` by weighted least
squares with ``w = 1 / (v + tau^2)``; inference and the omnibus test ``QM`` of the
coefficients ``btt`` (default: all but the intercept) as :mod:`hbo.meta._model`.

Residual heterogeneity: ``QE = sum (y - X beta_FE)^2 / v`` with ``k - p`` df; the Q-profile
CI of ``tau^2`` (:mod:`hbo.meta.qprofile`); ``I^2 = 100 tau^2 / (tau^2 + s^2)`` and
``H^2 = tau^2 / s^2 + 1`` with the typical variance ``s^2 = (k - p) / tr(P)`` (metafor);
pseudo-R^2 ``max(0, (tau2_RE - tau^2) / tau2_RE)`` in percent, with ``tau2_RE`` from the
intercept-only model by the same method (Raudenbush 2009); for ``method="FE"``, the adjusted
R^2 of the weighted regression, as metafor. R^2 is reported only when the model contains the
intercept-only model (the intercept lies in the column space of ``X``) and has a moderator.
Every step costs ``O(k p^2)`` (no ``k x k`` matrix; :mod:`hbo.meta._projection`).

References: Raudenbush (2009), *Analyzing effect sizes: random-effects models*, in The
Handbook of Research Synthesis and Meta-Analysis, 2nd ed.; Viechtbauer (2010),
doi:10.18637/jss.v036.i03; Thompson & Higgins (2002), doi:10.1002/sim.1187.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields

import numpy as np
import pandas as pd

from hbo._numbers import is_integer
from hbo.errors import InvalidArgumentError
from hbo.meta._format import pval_text
from hbo.meta._model import fit_model, i2_percent
from hbo.meta.moderators import Design
from hbo.meta.prediction import StudyLevelMethods, predict_rows
from hbo.meta.qprofile import q_profile_ci
from hbo.meta.tau2 import log_likelihood

_DATA = ("yi", "vi", "X", "labels", "design")


@dataclass(frozen=True)
class MetaRegressionResult(StudyLevelMethods):
    """Result of :func:`hbo.meta.random_effects` with ``mods``: every number metafor's
    ``rma(yi, vi, mods=...)`` prints.

    Coefficient arrays (``beta``, ``se``, ``stat``, ``pval``, ``ci_lb``, ``ci_ub``) have shape
    ``p`` in the order of ``names``; ``vb`` is ``p x p``. ``stat`` is a z statistic, or a t
    with ``df = k - p`` under ``test="t"``/``"knha"``. ``qm`` tests the coefficients ``btt``
    (0-based): a chi-square with ``qm_df[0]`` df, or an F with ``qm_df`` under t tests.
    ``i2``, ``r2`` are in percent; ``r2`` is ``None`` where metafor prints none (see the module
    docstring). ``tau2_se`` is ``None`` for FE; ``loglik`` is the (restricted)
    log-likelihood for ML and REML, else ``None``.
    """

    method: str
    test: str
    level: float
    k: int
    p: int
    names: tuple[str, ...]
    beta: np.ndarray
    vb: np.ndarray
    se: np.ndarray
    stat: np.ndarray
    pval: np.ndarray
    ci_lb: np.ndarray
    ci_ub: np.ndarray
    crit: float
    df: int | None
    btt: tuple[int, ...]
    qm: float
    qm_df: tuple[int, int | None]
    qm_pvalue: float
    tau2: float
    tau2_se: float | None
    tau2_ci: tuple[float, float]
    tau: float
    i2: float
    i2_ci: tuple[float, float]
    h2: float
    h2_ci: tuple[float, float]
    r2: float | None
    qe: float
    qe_df: int
    qe_pvalue: float
    loglik: float | None
    iterations: int
    yi: np.ndarray = field(repr=False)
    vi: np.ndarray = field(repr=False)
    X: np.ndarray = field(repr=False)
    labels: tuple = field(repr=False)
    design: Design = field(repr=False)

    @property
    def coefficients(self) -> pd.DataFrame:
        """The coefficient table: ``estimate``, ``se``, ``zval`` (or ``tval``), ``pval``,
        ``ci_lb``, ``ci_ub``, one row per name."""
        stat = "zval" if self.df is None else "tval"
        return pd.DataFrame({"estimate": self.beta, "se": self.se, stat: self.stat,
                             "pval": self.pval, "ci_lb": self.ci_lb, "ci_ub": self.ci_ub},
                            index=list(self.names))

    def to_dict(self) -> dict:
        """The estimates as a plain dict (no data arrays)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name not in _DATA}

    def predict(
        self, newmods=None, *, transf: Callable | None = None, intercept: bool | None = None,
    ) -> pd.DataFrame:
        """Predicted average effects with CI and PI, as metafor's ``predict.rma``.

        Args:
            newmods: moderator values of new studies (see :meth:`Design.rows`: a matrix
                without or with the intercept column, a vector, or a DataFrame for a formula
                fit); ``None``: the fitted values of the ``k`` studies.
            transf: applied to predictions and bounds (e.g. ``np.exp``); drops ``se``.
            intercept: False leaves the intercept out of ``newmods`` rows without it.

        Returns:
            DataFrame with ``pred``, ``se``, ``ci_lb``, ``ci_ub``, ``pi_lb``, ``pi_ub``.
        """
        if newmods is None:
            X, index = self.X, self.labels
        else:
            X = self.design.rows(newmods, intercept)
            index = newmods.index if isinstance(newmods, pd.DataFrame) else None
        return predict_rows(X, self.beta, self.vb, self.tau2, self.crit, transf, index)

    def summary(self) -> str:
        """A readable report in the layout of metafor's ``print.rma.uni``."""
        fixed = self.method == "FE"
        model = ("Fixed-Effects with Moderators Model" if fixed else "Mixed-Effects Model")
        est = "" if fixed else f"; tau^2 estimator: {self.method}"
        lines = [f"{model} (k = {self.k}{est})", ""]
        if not fixed:
            se = "" if self.tau2_se is None else f" (SE = {self.tau2_se:.4f})"
            lines += [
                f"tau^2 (estimated amount of residual heterogeneity):     {self.tau2:.4f}{se}",
                f"tau (square root of estimated tau^2 value):             {self.tau:.4f}",
            ]
        lines += [
            f"I^2 (residual heterogeneity / unaccounted variability): {self.i2:.2f}%",
            f"H^2 (unaccounted variability / sampling variability):   {self.h2:.2f}",
        ]
        if self.r2 is not None:
            lines.append(f"R^2 (amount of heterogeneity accounted for):            "
                         f"{self.r2:.2f}%")
        lines += ["", "Test for Residual Heterogeneity:",
                  f"QE(df = {self.qe_df}) = {self.qe:.4f}, p-val {pval_text(self.qe_pvalue)}"]
        if not fixed:
            pct = f"{100 * self.level:g}%"
            lines.append(f"Q-profile {pct} CI: tau^2 [{self.tau2_ci[0]:.4f}, "
                         f"{self.tau2_ci[1]:.4f}], I^2 [{self.i2_ci[0]:.2f}%, "
                         f"{self.i2_ci[1]:.2f}%]")
        coefs = _ranges([b + 1 for b in self.btt])
        lines += ["", f"Test of Moderators (coefficient{'s' if len(self.btt) > 1 else ''} "
                      f"{coefs}):"]
        if self.df is None:
            lines.append(f"QM(df = {self.qm_df[0]}) = {self.qm:.4f}, "
                         f"p-val {pval_text(self.qm_pvalue)}")
        else:
            lines.append(f"F(df1 = {self.qm_df[0]}, df2 = {self.qm_df[1]}) = {self.qm:.4f}, "
                         f"p-val {pval_text(self.qm_pvalue)}")
        stat = "zval" if self.df is None else "tval"
        width = max(len(n) for n in self.names)
        cells = [[f"{x:.4f}" for x in row] for row in
                 zip(self.beta, self.se, self.stat, self.ci_lb, self.ci_ub, strict=True)]
        w = max(8, *(len(c) for row in cells for c in row))
        head = (f"{'':{width}} {'estimate':>{w}} {'se':>{w}} {stat:>{w}} {'pval':>8} "
                f"{'ci.lb':>{w}} {'ci.ub':>{w}}")
        lines += ["", "Model Results:", "", head]
        for name, row, p in zip(self.names, cells, self.pval, strict=True):
            b, s, z, lo, hi = row
            lines.append(f"{name:{width}} {b:>{w}} {s:>{w}} {z:>{w}} "
                         f"{pval_text(p, eq=False):>8} {lo:>{w}} {hi:>{w}}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


def check_btt(btt, design: Design) -> tuple[int, ...]:
    """The 0-based coefficient indices of the omnibus test: ``btt`` (ints or names), or by
    default every coefficient but the intercept (all of them without one)."""
    p, names = design.p, design.names
    if btt is None:
        return tuple(range(int(design.intercept), p)) or tuple(range(p))
    items = [btt] if isinstance(btt, str) or is_integer(btt) else list(btt)
    out = []
    for item in items:
        if isinstance(item, str) and item in names:
            out.append(names.index(item))
        elif is_integer(item) and 0 <= item < p:
            out.append(int(item))
        else:
            raise InvalidArgumentError(
                f"btt must name coefficients by 0-based index (0..{p - 1}) or by name "
                f"({', '.join(names)}); got {item!r}."
            )
    if not out or len(set(out)) != len(out):
        raise InvalidArgumentError(f"btt must list distinct coefficients; got {btt!r}.")
    return tuple(sorted(out))


def fit_meta_regression(
    y: np.ndarray, v: np.ndarray, design: Design, method: str, test: str, level: float,
    labels: Sequence, btt=None,
) -> MetaRegressionResult:
    """Fit the mixed-effects model for validated ``y``, ``v`` (shape ``k``) and ``design``."""
    X = design.X
    k, p = X.shape
    btt = check_btt(btt, design)
    fit = fit_model(y, v, X, method, test, level, btt)
    tau2 = fit.tau2.tau2
    tau2_ci = q_profile_ci(y, v, X, level)
    loglik = (log_likelihood(y, v, X, tau2, method == "REML")
              if method in ("ML", "REML") else None)
    return MetaRegressionResult(
        method=method, test=test, level=level, k=k, p=p, names=design.names, beta=fit.beta,
        vb=fit.vb, se=fit.se, stat=fit.stat, pval=fit.pval, ci_lb=fit.ci_lb, ci_ub=fit.ci_ub,
        crit=fit.crit, df=fit.df, btt=btt, qm=fit.qm, qm_df=fit.qm_df,
        qm_pvalue=fit.qm_pvalue, tau2=tau2, tau2_se=fit.tau2.se, tau2_ci=tau2_ci,
        tau=math.sqrt(tau2), i2=fit.i2, i2_ci=tuple(i2_percent(t, fit.vt) for t in tau2_ci),
        h2=fit.h2, h2_ci=tuple(t / fit.vt + 1 for t in tau2_ci),
        r2=_pseudo_r2(y, v, X, method, test, level, tau2, fit.q), qe=fit.q, qe_df=fit.q_df,
        qe_pvalue=fit.q_pvalue, loglik=loglik, iterations=fit.tau2.iterations, yi=y, vi=v,
        X=X, labels=tuple(labels), design=design,
    )


def _pseudo_r2(
    y: np.ndarray, v: np.ndarray, X: np.ndarray, method: str, test: str, level: float,
    tau2: float, qe: float,
) -> float | None:
    """metafor's R^2 (percent), or ``None`` when the model does not nest the intercept-only
    model or has no moderator."""
    k, p = X.shape
    ones = np.ones(k)
    coef = np.linalg.lstsq(X, ones, rcond=None)[0]
    if p < 2 or np.linalg.norm(X @ coef - ones) > 1e-8 * math.sqrt(k):
        return None
    base = fit_model(y, v, ones[:, None], method, test, level, quiet=True)
    if method == "FE":  # adjusted R^2 of the weighted regression (lm(yi ~ X, weights = 1/vi))
        tss = base.q
        if tss <= 0:
            return 0.0
        return max(0.0, 100 * (1 - (qe / tss) * (k - 1) / (k - p)))
    tau2_re = base.tau2.tau2
    if tau2_re <= 0:
        return 0.0
    return max(0.0, 100 * (tau2_re - tau2) / tau2_re)


def _ranges(indices: list[int]) -> str:
    """``[2, 3, 5]`` as metafor writes it: ``"2:3,5"``."""
    parts, start = [], indices[0]
    for a, b in zip(indices, [*indices[1:], None], strict=True):
        if b != a + 1:
            parts.append(str(start) if start == a else f"{start}:{a}")
            start = b
    return ",".join(parts)
