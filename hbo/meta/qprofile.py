"""Q-profile confidence interval for ``tau^2`` (Viechtbauer 2007, doi:10.1002/sim.2514).

The generalized Q statistic ``Q(tau^2) = sum (y_i - mu(tau^2))^2 / (v_i + tau^2)``, with
``mu(tau^2)`` the inverse-variance weighted mean, follows a chi-square distribution with
``k - p`` degrees of freedom at the true ``tau^2`` and decreases monotonically in ``tau^2``.
The ``1 - alpha`` interval collects the ``tau^2 >= 0`` where ``Q(tau^2)`` lies between the
``alpha/2`` and ``1 - alpha/2`` chi-square quantiles:

    lower: Q(tau2_lo) = chi2_{k-p, 1-alpha/2}     (0 if Q(0) is already below it)
    upper: Q(tau2_hi) = chi2_{k-p, alpha/2}       (0 if Q(0) is already below it)

Both bounds are found by Brent's method on a bracket that doubles until ``Q`` drops below the
target (tolerance ``1e-12``, in the unit of the median ``v_i``), so there is no upper cap
(metafor stops at 100). When
``Q(0) < chi2_{k-p, alpha/2}`` the interval is empty in metafor's terms ("null set"); it is
then reported as ``(0, 0)``. The interval does not depend on the tau^2 estimator.
"""

from __future__ import annotations

import numpy as np
from scipy import stats
from scipy.optimize import brentq

from hbo.meta.tau2 import ROOT_XTOL, generalized_q, in_variance_unit, upper_bracket


def q_profile_ci(
    y: np.ndarray, v: np.ndarray, X: np.ndarray, level: float
) -> tuple[float, float]:
    """``(lower, upper)`` Q-profile confidence bounds for ``tau^2`` at coverage ``level``.

    Args:
        y: outcomes, shape ``k``.
        v: sampling variances, shape ``k``, all > 0.
        X: design matrix, ``k x p``.
        level: coverage in (0, 1), e.g. 0.95.
    """
    k, p = X.shape
    alpha = 1 - level
    y, v, unit = in_variance_unit(y, v)  # tolerances relative to the data's units
    q0 = generalized_q(y, v, X, 0.0)

    def bound(target: float) -> float:
        if q0 <= target:
            return 0.0
        hi = upper_bracket(y, v, X, target)
        return brentq(lambda t2: generalized_q(y, v, X, t2) - target, 0.0, hi,
                      xtol=ROOT_XTOL, rtol=4 * np.finfo(float).eps)

    lower = bound(float(stats.chi2.ppf(1 - alpha / 2, k - p)))
    upper = bound(float(stats.chi2.ppf(alpha / 2, k - p)))
    return lower * unit, upper * unit
