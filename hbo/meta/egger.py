"""Egger's regression test for funnel-plot asymmetry, as metafor's ``regtest`` (sei predictor).

Two variants, both regressing the effect sizes on their standard errors,
``y_i = b0 + b1 sei_i + error``, and testing ``b1 = 0``:

- ``model="rma"`` (metafor's default): the mixed-effects meta-regression
  ``y_i = b0 + b1 sei_i + u_i + e_i``, ``u_i ~ N(0, tau^2)``, ``e_i ~ N(0, v_i)``, with the
  tau^2 estimator and test (``"z"`` or ``"knha"``) of the meta-analysis; the statistic is a z
  (or t with ``k - 2`` df).
- ``model="lm"``: the classical Egger test (Egger, Davey Smith, Schneider & Minder 1997,
  doi:10.1136/bmj.315.7109.629): weighted least squares with weights ``1 / v_i`` and a
  multiplicative dispersion ``sigma^2 = RSS / (k - 2)``; the statistic is a t with ``k - 2`` df.

The intercept ``b0`` is the "limit estimate" of the effect as ``sei -> 0`` (reported with its
confidence interval), as metafor prints it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from hbo.errors import InvalidArgumentError, InvalidDataError
from hbo.meta._inputs import ArrayLike, as_vector, check_level, sampling_variances
from hbo.meta._model import check_test, fit_model
from hbo.meta._projection import Projection
from hbo.meta.random_effects import RandomEffectsResult
from hbo.meta.tau2 import check_method

#: Largest ``RSS / sum(y^2 / v)`` that is rounding noise: residuals of about ``|y| eps``
#: give a ratio of about ``eps^2 = 5e-32``; 1e-20 is far above that and far below any real
#: scatter.
_EPS = 1e-20

MODELS = {
    "rma": "mixed-effects meta-regression model",
    "lm": "weighted regression with multiplicative dispersion (classical Egger test)",
}


@dataclass(frozen=True)
class EggerTest:
    """Result of :func:`egger_test`: the asymmetry statistic and the limit estimate.

    ``stat`` is a z statistic (``df is None``) or a t statistic with ``df`` degrees of
    freedom; ``limit_estimate`` is the intercept ``b0`` and ``limit_ci`` its interval.
    """

    model: str
    description: str
    stat: float
    df: int | None
    pval: float
    limit_estimate: float
    limit_ci: tuple[float, float]

    def __str__(self) -> str:
        kind = "z" if self.df is None else "t"
        df = "" if self.df is None else f", df = {self.df}"
        return (
            "Regression Test for Funnel Plot Asymmetry\n\n"
            f"Model:     {self.description}\nPredictor: standard error\n\n"
            f"Test for Funnel Plot Asymmetry: {kind} = {self.stat:.4f}{df}, p = {self.pval:.4f}\n"
            f"Limit Estimate (as sei -> 0):   b = {self.limit_estimate:.4f} "
            f"(CI: {self.limit_ci[0]:.4f}, {self.limit_ci[1]:.4f})"
        )


def egger_test(
    yi: ArrayLike | RandomEffectsResult,
    vi: ArrayLike | None = None,
    *,
    sei: ArrayLike | None = None,
    model: str = "rma",
    method: str | None = None,
    test: str | None = None,
    level: float | None = None,
) -> EggerTest:
    """Regression test for funnel-plot asymmetry with the standard error as predictor.

    Args:
        yi: effect sizes (shape ``k``), or a :class:`RandomEffectsResult` whose data,
            ``method``, ``test`` and ``level`` are then used (``vi``, ``sei``, ``method``,
            ``test`` and ``level`` must then be left out).
        vi: sampling variances (shape ``k``), or give ``sei``.
        sei: standard errors (shape ``k``).
        model: ``"rma"`` (metafor's default, mixed-effects meta-regression) or ``"lm"``
            (the classical Egger test).
        method, test, level: as :func:`hbo.meta.random_effects`, defaults ``"REML"``,
            ``"z"`` and ``0.95`` (``method`` and ``test`` for ``model="rma"`` only; ``level``
            also sets the interval of the limit estimate).

    Raises:
        InvalidArgumentError: unknown ``model``, ``method`` or ``test``, bad ``level``, or
            arguments given beside a :class:`RandomEffectsResult`.
        InvalidDataError: bad data (as :func:`hbo.meta.random_effects`), fewer than 3
            studies, equal standard errors, or, where the variance is estimated from the
            residuals (``model="lm"`` or ``test="knha"``), residuals that are all 0.
    """
    if model not in MODELS:
        raise InvalidArgumentError(f"model must be one of {tuple(MODELS)}; got {model!r}.")
    if isinstance(yi, RandomEffectsResult):
        given = [name for name, value in (("vi", vi), ("sei", sei), ("method", method),
                                          ("test", test), ("level", level)) if value is not None]
        if given:
            raise InvalidArgumentError(
                f"egger_test(res) takes the data, method, test and level from the "
                f"RandomEffectsResult res, so {', '.join(given)} cannot be given with it; "
                "refit res with the settings you want, or pass the arrays yi and vi (or sei)."
            )
        y, v = yi.yi, yi.vi
        method, test, level = yi.method, yi.test, yi.level
    else:
        y = as_vector("yi", yi)
        v = sampling_variances(y, vi, sei)
        method = check_method("REML" if method is None else method)
        test = check_test("z" if test is None else test)
        level = check_level(0.95 if level is None else level)
    if y.size < 3:
        raise InvalidDataError(f"yi holds {y.size} studies; the Egger test needs at least 3.")
    se = np.sqrt(v)
    if np.ptp(se) == 0:
        raise InvalidDataError("all standard errors are equal: the Egger regression has no slope.")
    # the predictor in units of its median: the statistic of b1 and the intercept b0 do not
    # depend on that unit, and X' W X is then well-scaled whatever the unit of yi
    X = np.column_stack([np.ones_like(y), se / np.median(se)])
    proj = Projection(y, X, 1 / v, v)
    if (model == "lm" or test == "knha") and proj.rss <= _EPS * float(np.sum(y**2 / v)):
        raise InvalidDataError(
            "the residuals of the Egger regression are 0 (the effect sizes are identical, or "
            "lie exactly on a line in their standard errors): its dispersion is 0 and the "
            f"test (model={model!r}, test={test!r}) is undefined."
        )
    if model == "rma":
        fit = fit_model(y, v, X, method, test, level)
        return EggerTest(model, MODELS[model], float(fit.stat[1]), fit.df, float(fit.pval[1]),
                         float(fit.beta[0]), (float(fit.ci_lb[0]), float(fit.ci_ub[0])))
    df = y.size - 2
    se_b = np.sqrt(np.diag(proj.A) * proj.rss / df)
    t = proj.beta / se_b
    crit = stats.t.ppf(1 - (1 - level) / 2, df)
    b0 = float(proj.beta[0])
    return EggerTest(model, MODELS[model], float(t[1]), df, float(2 * stats.t.sf(abs(t[1]), df)),
                     b0, (b0 - crit * float(se_b[0]), b0 + crit * float(se_b[0])))
