"""Begg & Mazumdar's rank correlation test for funnel-plot asymmetry, as metafor's ``ranktest``.

With the fixed-effect estimate ``theta = sum w y / sum w`` (``w = 1 / v``) and its variance
``1 / sum w``, the standardized deviates

    y*_i = (y_i - theta) / sqrt(v*_i),      v*_i = v_i - 1 / sum w,

are correlated with the variances ``v_i`` by Kendall's tau (tau-b). The p-value is exact
(the permutation distribution of Kendall's statistic) when there are no ties, as R's
``cor.test(..., method="kendall", exact=TRUE)`` that metafor calls; with ties it is the normal
approximation with the tie-corrected variance, as R then falls back to.

Reference: Begg & Mazumdar (1994), *Operating characteristics of a rank correlation test for
publication bias*, Biometrics 50(4), 1088-1101, doi:10.2307/2533446.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from hbo.errors import InvalidArgumentError, InvalidDataError
from hbo.meta._inputs import ArrayLike, as_vector, sampling_variances


@dataclass(frozen=True)
class RankTest:
    """Kendall's tau between the standardized effects and their variances, and its p-value."""

    tau: float
    pval: float
    exact: bool

    def __str__(self) -> str:
        return ("Rank Correlation Test for Funnel Plot Asymmetry\n\n"
                f"Kendall's tau = {self.tau:.4f}, p = {self.pval:.4f}"
                + ("" if self.exact else " (normal approximation: tied values)"))


def ranktest(yi, vi: ArrayLike | None = None, *, sei: ArrayLike | None = None) -> RankTest:
    """Begg & Mazumdar's test of ``k >= 3`` studies: ``yi`` and ``vi`` (or ``sei``), or a fit of
    :func:`hbo.meta.random_effects` without moderators (its data are used).

    Raises:
        InvalidArgumentError: a meta-regression fit, or ``vi``/``sei`` beside a fit.
        InvalidDataError: bad data, fewer than 3 studies.
    """
    if hasattr(yi, "yi"):
        if vi is not None or sei is not None:
            raise InvalidArgumentError("ranktest(res) takes the data from res; vi and sei "
                                       "cannot be given with it.")
        if getattr(yi, "p", 1) != 1:
            raise InvalidArgumentError("ranktest is for models without moderators (as metafor).")
        y, v = yi.yi, yi.vi
    else:
        y = as_vector("yi", yi)
        v = sampling_variances(y, vi, sei)
    if y.size < 3:
        raise InvalidDataError(f"yi holds {y.size} studies; the rank test needs at least 3.")
    w = 1 / v
    theta = float(np.sum(w * y) / np.sum(w))
    v_star = v - 1 / np.sum(w)
    y_star = (y - theta) / np.sqrt(v_star)
    ties = np.unique(y_star).size < y.size or np.unique(v).size < v.size
    result = stats.kendalltau(y_star, v, method="asymptotic" if ties else "exact")
    return RankTest(float(result.statistic), float(result.pvalue), not ties)
