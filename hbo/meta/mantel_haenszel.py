"""Pooling 2x2 tables by Mantel-Haenszel (OR, RR, RD) and Peto's method, as metafor's ``rma.mh``
and ``rma.peto``.

Tables: ``ai``, ``bi`` events / non-events in group 1 (``n1 = ai + bi``), ``ci``, ``di`` in
group 2 (``n2 = ci + di``), ``N = n1 + n2``, ``x = ai + ci``, ``y = bi + di``. Sums run over
studies.

- Mantel-Haenszel odds ratio: ``OR = R / S``, ``R = sum ai di / N``, ``S = sum bi ci / N``;
  variance of ``log OR`` by Robins, Breslow & Greenland (1986, doi:10.2307/2531201):
  ``(sum P R_i / (2 R^2) + sum (P S_i + Q R_i) / (2 R S) + sum Q S_i / (2 S^2))`` with
  ``P = (ai + di) / N``, ``Q = (bi + ci) / N``.
- Mantel-Haenszel risk ratio: ``RR = sum ai n2 / N / sum ci n1 / N``; variance of ``log RR``
  ``sum (n1 n2 x / N^2 - ai ci / N) / (R S)`` (Greenland & Robins 1985).
- Mantel-Haenszel risk difference: ``RD = sum (ai n2 - ci n1) / N / sum n1 n2 / N`` with the
  variance of Sato, Greenland & Robins (1989, doi:10.2307/2531743), as metafor.
- Peto's odds ratio (Yusuf et al. 1985): ``log OR = sum (ai - E_i) / sum V_i``,
  ``E_i = x n1 / N``, ``V_i = x y n1 n2 / (N^2 (N - 1))``, variance ``1 / sum V_i``; its
  heterogeneity statistic ``Q = sum (ai - E_i)^2 / V_i - (sum (ai - E_i))^2 / sum V_i``.

For MH, Cochran's ``Q = sum (y_i - b)^2 / v_i`` uses the per-study effect sizes of
:mod:`hbo.meta.effect_sizes` (metafor's ``escalc`` with ``add = 1/2`` to tables with a zero
cell and studies without events in both groups left out); ``I^2 = 100 max(0, (Q - (k-1)) /
Q)``, ``H^2 = Q / (k-1)``. For the odds ratio, metafor also prints the
Cochran-Mantel-Haenszel test (with continuity correction,
``(|sum ai - n1 x / N| - 1/2)^2 / sum n1 n2 x y / (N^2 (N-1))``, chi-square 1 df) and
Tarone's test for heterogeneity (the Breslow-Day statistic with Tarone's correction, on the
tables whose expected count under the MH odds ratio is positive; chi-square ``k - 1`` df),
and so does :func:`mantel_haenszel`. The pooled tables themselves get no continuity
correction (metafor's default ``add = c(1/2, 0)``).

References: Mantel & Haenszel (1959), doi:10.1093/jnci/22.4.719; Tarone (1985),
doi:10.1093/biomet/72.1.91; Yusuf, Peto, Lewis, Collins & Sleight (1985),
doi:10.1016/s0033-0620(85)80003-7; Viechtbauer (2010), doi:10.18637/jss.v036.i03.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
from scipy import stats

from hbo.errors import InvalidArgumentError, InvalidDataError
from hbo.meta import effect_sizes
from hbo.meta._format import pval_text
from hbo.meta._inputs import ArrayLike, as_vector, check_level

MEASURES = {"OR": "log odds ratio", "RR": "log risk ratio", "RD": "risk difference"}


@dataclass(frozen=True)
class PooledTables:
    """Result of :func:`mantel_haenszel` or :func:`peto`: the common effect (log scale for OR
    and RR) with its test and interval, the heterogeneity statistics, and for the MH odds
    ratio the CMH and Tarone tests (else ``None``)."""

    method: str
    measure: str
    level: float
    k: int
    estimate: float
    se: float
    zval: float
    pval: float
    ci: tuple[float, float]
    q: float
    q_df: int
    q_pvalue: float
    i2: float
    h2: float
    cmh: float | None = None
    cmh_pvalue: float | None = None
    tarone: float | None = None
    tarone_df: int | None = None
    tarone_pvalue: float | None = None

    @property
    def exp(self) -> tuple[float, float, float] | None:
        """``(OR or RR, ci_lb, ci_ub)`` on the ratio scale; ``None`` for RD."""
        if self.measure == "RD":
            return None
        return math.exp(self.estimate), math.exp(self.ci[0]), math.exp(self.ci[1])

    def summary(self) -> str:
        """A readable report in the layout of metafor's ``print.rma.mh``."""
        lines = [f"Equal-Effects Model (k = {self.k}; {self.method})", "",
                 f"I^2 (total heterogeneity / total variability):  {self.i2:.2f}%",
                 f"H^2 (total variability / sampling variability): {self.h2:.2f}", "",
                 "Test for Heterogeneity:",
                 f"Q(df = {self.q_df}) = {self.q:.4f}, p-val {pval_text(self.q_pvalue)}", ""]
        scale = "" if self.measure == "RD" else " (log scale)"
        lines += [f"Model Results{scale}:", "",
                  f"{'estimate':>9} {'se':>8} {'zval':>9} {'pval':>8} {'ci.lb':>8} "
                  f"{'ci.ub':>8}",
                  f"{self.estimate:9.4f} {self.se:8.4f} {self.zval:9.4f} "
                  f"{pval_text(self.pval, eq=False):>8} {self.ci[0]:8.4f} {self.ci[1]:8.4f}"]
        if self.exp is not None:
            est, lo, hi = self.exp
            lines += ["", f"Model Results ({self.measure} scale):", "",
                      f"{'estimate':>9} {'ci.lb':>8} {'ci.ub':>8}",
                      f"{est:9.4f} {lo:8.4f} {hi:8.4f}"]
        if self.cmh is not None:
            lines += ["", f"Cochran-Mantel-Haenszel Test:    CMH = {self.cmh:.4f}, df = 1, "
                          f"p-val {pval_text(self.cmh_pvalue)}"]
        if self.tarone is not None:
            lines.append(f"Tarone's Test for Heterogeneity: X^2 = {self.tarone:.4f}, "
                         f"df = {self.tarone_df}, p-val {pval_text(self.tarone_pvalue)}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


def mantel_haenszel(
    ai: ArrayLike, bi: ArrayLike, ci: ArrayLike, di: ArrayLike, *, measure: str = "OR",
    level: float = 0.95,
) -> PooledTables:
    """Mantel-Haenszel common odds ratio, risk ratio or risk difference of ``k`` 2x2 tables.

    Args:
        ai, bi, ci, di: cell counts, shape ``k`` each (see the module docstring).
        measure: ``"OR"``, ``"RR"`` or ``"RD"``.
        level: coverage of the confidence interval, in (0, 1).

    Raises:
        InvalidArgumentError: unknown ``measure``, bad ``level``.
        InvalidDataError: negative, non-finite or mismatched counts, an empty group, or no
            events (no non-events) at all where the measure needs them.
    """
    if measure not in MEASURES:
        raise InvalidArgumentError(f"measure must be one of {tuple(MEASURES)}; got {measure!r}.")
    level = check_level(level)
    a, b, c, d = _tables(ai, bi, ci, di)
    n1, n2 = a + b, c + d
    N = n1 + n2
    if measure == "OR":
        R, S = np.sum(a * d / N), np.sum(b * c / N)
        _need(R > 0 and S > 0, "the MH odds ratio is 0 or infinite (sum ai di / N or "
              "sum bi ci / N is 0)")
        P, Q = (a + d) / N, (b + c) / N
        Ri, Si = a * d / N, b * c / N
        est = math.log(R / S)
        var = 0.5 * (np.sum(P * Ri) / R**2 + np.sum(P * Si + Q * Ri) / (R * S)
                     + np.sum(Q * Si) / S**2)
        es = effect_sizes.log_odds_ratio(a, b, c, d, drop00=True)
    elif measure == "RR":
        R, S = np.sum(a * n2 / N), np.sum(c * n1 / N)
        _need(np.sum(a) > 0 and np.sum(c) > 0, "a group has no events in any study, so the MH "
              "risk ratio is 0 or infinite")
        est = math.log(R / S)
        var = np.sum(n1 * n2 * (a + c) / N**2 - a * c / N) / (R * S)
        es = effect_sizes.log_risk_ratio(a, b, c, d, drop00=True)
    else:
        weight = np.sum(n1 * n2 / N)
        est = float(np.sum((a * n2 - c * n1) / N) / weight)
        var = (est * np.sum(c * (n1 / N) ** 2 - a * (n2 / N) ** 2 + n1 * n2 * (n2 - n1)
                            / (2 * N**2))
               + np.sum(a * (n2 - c) / N + c * (n1 - a) / N) / 2) / weight**2
        es = effect_sizes.risk_difference(a, b, c, d, drop00=True)
    q, q_df = _cochran_q(es.yi, es.vi, est)
    res = _pooled("Mantel-Haenszel", measure, level, a.size, est, float(var), q, q_df)
    if measure != "OR":
        return res
    cmh, tarone, tarone_df = _cmh_tarone(a, b, c, d, R / S)
    return replace(res, cmh=cmh, cmh_pvalue=float(stats.chi2.sf(cmh, 1)), tarone=tarone,
                   tarone_df=tarone_df, tarone_pvalue=(float(stats.chi2.sf(tarone, tarone_df))
                                                       if tarone_df else math.nan))


def peto(
    ai: ArrayLike, bi: ArrayLike, ci: ArrayLike, di: ArrayLike, *, level: float = 0.95,
) -> PooledTables:
    """Peto's one-step common log odds ratio of ``k`` 2x2 tables (metafor's ``rma.peto``).

    Raises:
        InvalidDataError: bad counts, or an outcome that never occurs in any table.
    """
    level = check_level(level)
    a, b, c, d = _tables(ai, bi, ci, di)
    n1, n2 = a + b, c + d
    N = n1 + n2
    x, y = a + c, b + d
    E = x * n1 / N
    with np.errstate(invalid="ignore", divide="ignore"):
        V = np.where(N > 1, x * y * (n1 / N) * (n2 / N) / (N - 1), 0.0)
    _need(np.sum(V) > 0, "one of the two outcomes never occurred in any table; Peto's method "
          "cannot be used")
    est = float(np.sum(a - E) / np.sum(V))
    pos = V > 0
    q = max(0.0, float(np.sum((a - E)[pos] ** 2 / V[pos]) - np.sum(a - E) ** 2 / np.sum(V)))
    return _pooled("Peto", "OR", level, a.size, est, float(1 / np.sum(V)), q, a.size - 1,
                   heterogeneous=int(pos.sum()) > 1)


def _tables(ai, bi, ci, di) -> tuple[np.ndarray, ...]:
    cells = [as_vector(name, x) for name, x in (("ai", ai), ("bi", bi), ("ci", ci), ("di", di))]
    if len({x.size for x in cells}) != 1:
        raise InvalidDataError(
            f"ai, bi, ci, di must have the same length; got {[x.size for x in cells]}."
        )
    for name, x in zip(("ai", "bi", "ci", "di"), cells, strict=True):
        if np.any(x < 0):
            raise InvalidDataError(f"{name} holds negative counts (study index "
                                   f"{np.flatnonzero(x < 0)[:5].tolist()}).")
    a, b, c, d = cells
    empty = np.flatnonzero((a + b == 0) | (c + d == 0))
    if empty.size:
        raise InvalidDataError(f"a group has no participants in study index "
                               f"{empty[:5].tolist()} (ai + bi or ci + di is 0).")
    return a, b, c, d


def _need(ok: bool, why: str) -> None:
    if not ok:
        raise InvalidDataError(f"{why}.")


def _cochran_q(yi: np.ndarray, vi: np.ndarray, est: float) -> tuple[float, int]:
    if yi.size < 2:
        return 0.0, 0
    return max(0.0, float(np.sum((yi - est) ** 2 / vi))), yi.size - 1


def _pooled(method, measure, level, k, est, var, q, q_df, heterogeneous=True) -> PooledTables:
    se = math.sqrt(var)
    z = est / se
    crit = float(stats.norm.ppf(0.5 + level / 2))
    if q_df > 0 and heterogeneous:
        q_p, i2, h2 = float(stats.chi2.sf(q, q_df)), max(0.0, 100 * (q - q_df) / q), q / q_df
    else:
        q_p, i2, h2 = 1.0, 0.0, 1.0
    return PooledTables(method, measure, level, k, est, se, z, float(2 * stats.norm.sf(abs(z))),
                        (est - crit * se, est + crit * se), q, q_df, q_p, i2, h2)


def _cmh_tarone(a, b, c, d, odds_ratio: float) -> tuple[float, float, int]:
    """The CMH statistic (continuity corrected) and Tarone's heterogeneity statistic."""
    n1, n2 = a + b, c + d
    N = n1 + n2
    x, y = a + c, b + d
    cmh = ((abs(np.sum(a - n1 / N * x)) - 0.5) ** 2
           / np.sum((n1 / N) * (n2 / N) * (x * (y / (N - 1)))))
    if odds_ratio == 1:
        n11 = n1 / N * x
    else:  # expected ai under the common odds ratio: the root of a quadratic in each table
        A = odds_ratio * (n1 + x) + (n2 - x)
        B = np.sqrt(A**2 - 4 * n1 * x * odds_ratio * (odds_ratio - 1))
        n11 = (A - B) / (2 * (odds_ratio - 1))
    pos = (n11 > 0) & (x > 0) & (y > 0)
    n11, n1p, xp, Np = n11[pos], n1[pos], x[pos], N[pos]
    n12, n21 = n1p - n11, xp - n11
    n22 = n11 - n1p - xp + Np
    var = 1 / (1 / n11 + 1 / n12 + 1 / n21 + 1 / n22)
    dev = a[pos] - n11
    bd = max(0.0, float(np.sum(dev**2 / var)))
    tarone = max(0.0, bd - float(np.sum(dev) ** 2 / np.sum(var)))
    return float(cmh), tarone, int(pos.sum()) - 1
