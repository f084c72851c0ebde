"""Predicted effects and best linear unbiased predictions, as metafor's ``predict`` and ``blup``.

For rows ``x`` of the design (``m x p``), with ``beta``, ``Var(beta)`` (Knapp-Hartung scaled
where the fit was) and the critical value ``crit`` of the fit (normal, or t with ``k - p``
df under ``test="t"``/``"knha"``):

    pred = x' beta,   se = sqrt(x' Var(beta) x),   CI = pred +- crit se,
    PI   = pred +- crit sqrt(se^2 + tau^2)                    (metafor's default predtype)

(the PI equals the CI when ``tau^2 = 0``, as in metafor). The best linear unbiased
prediction of study ``i``'s true effect (metafor's ``blup.rma.uni``) shrinks ``y_i`` toward
its fitted value with ``lambda_i = tau^2 / (tau^2 + v_i)``:

    pred_i = lambda_i y_i + (1 - lambda_i) x_i' beta,
    se_i^2 = lambda_i v_i + (1 - lambda_i)^2 x_i' Var(beta) x_i,   PI = pred_i +- crit se_i.

``transf`` (e.g. ``np.exp``) is applied to the predictions and bounds; the standard error is
then left out, as metafor does. The fit is any result with ``X``, ``beta``, ``vb``, ``tau2``,
``crit``, ``yi``, ``vi`` and ``labels`` (:class:`hbo.meta.RandomEffectsResult`,
:class:`hbo.meta.MetaRegressionResult`).

Reference: Viechtbauer (2010), doi:10.18637/jss.v036.i03; Raudenbush (2009), in *The
Handbook of Research Synthesis and Meta-Analysis*, 2nd ed., ch. 16.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from hbo.errors import ArgumentTypeError
from hbo.meta.case_deletion import Influence, influence


def predict_rows(
    X: np.ndarray, beta: np.ndarray, vb: np.ndarray, tau2: float, crit: float,
    transf: Callable | None = None, index: Sequence | None = None,
) -> pd.DataFrame:
    """Predictions for the rows of ``X`` (``m x p``): columns ``pred``, ``se`` (without
    ``transf``), ``ci_lb``, ``ci_ub``, ``pi_lb``, ``pi_ub``."""
    pred = X @ beta
    se = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", X, vb, X), 0.0))
    half_ci = crit * se
    half_pi = crit * np.sqrt(se**2 + tau2)
    out = {"pred": pred, "se": se, "ci_lb": pred - half_ci, "ci_ub": pred + half_ci,
           "pi_lb": pred - half_pi, "pi_ub": pred + half_pi}
    return _frame(out, transf, index)


def blup(res, transf: Callable | None = None) -> pd.DataFrame:
    """Best linear unbiased predictions of the studies' true effects (metafor's ``blup``).

    Returns a DataFrame indexed by the study labels with columns ``pred``, ``se`` (without
    ``transf``), ``pi_lb``, ``pi_ub``.
    """
    fitted = res.X @ res.beta
    lam = res.tau2 / (res.tau2 + res.vi)
    pred = lam * res.yi + (1 - lam) * fitted
    var_fit = np.einsum("ij,jk,ik->i", res.X, res.vb, res.X)
    se = np.sqrt(lam * res.vi + (1 - lam) ** 2 * var_fit)
    out = {"pred": pred, "se": se, "pi_lb": pred - res.crit * se, "pi_ub": pred + res.crit * se}
    return _frame(out, transf, res.labels)


def _frame(columns: dict, transf: Callable | None, index) -> pd.DataFrame:
    if transf is not None:
        if not callable(transf):
            raise ArgumentTypeError(f"transf must be a function such as np.exp; got {transf!r}.")
        columns = {name: np.asarray(transf(values), dtype=float)
                   for name, values in columns.items() if name != "se"}
    return pd.DataFrame(columns, index=None if index is None else list(index))


class StudyLevelMethods:
    """``blup`` and ``influence`` for a fitted model: one definition for both result classes
    (:class:`hbo.meta.RandomEffectsResult` and :class:`hbo.meta.MetaRegressionResult`)."""

    def blup(self, transf: Callable | None = None) -> pd.DataFrame:
        """Best linear unbiased predictions of the studies' true effects (:func:`blup`)."""
        return blup(self, transf)

    def influence(self) -> Influence:
        """Case deletion diagnostics (:func:`hbo.meta.case_deletion.influence`)."""
        return influence(self)
