"""Duval & Tweedie's trim and fill, as metafor's ``trimfill.rma.uni``.

For a fit of the model without moderators (same tau^2 estimator throughout):

1. Side: unless given, the missing studies are taken to lie on the ``"right"`` when the slope
   of the meta-regression of ``y`` on ``sqrt(v)`` (same estimator) is negative, else on the
   ``"left"``. The right side is handled by flipping the sign of ``y``.
2. Iterate from ``k0 = 0``: fit the model to the ``k - k0`` smallest effects (trimming the
   ``k0`` most extreme on the chosen side), centre all ``y`` at that estimate, rank
   ``|y - b|`` (ties by position) and sign the ranks; then

   - ``L0``: ``k0 = (4 S_r - k (k + 1)) / (2k - 1)``, ``S_r`` the sum of the positive signed
     ranks, with ``se(k0) = 4 sqrt(Var(S_r)) / (2k - 1)``,
     ``Var(S_r) = (k(k+1)(2k+1) + 10 k0^3 + 27 k0^2 + 17 k0 - 18 k k0^2 - 18 k k0
     + 6 k^2 k0) / 24``;
   - ``R0``: ``k0 = k - r* - 1``, ``r*`` the largest absolute rank among the negative
     deviations (the length of the rightmost run, less one), ``se(k0) = sqrt(2 max(0, k0)
     + 2)``, and the test of "no missing studies" ``p = 0.5^(k0 + 1)``;

   rounded (half to even, as R) and floored at 0, until ``k0`` repeats (at most 100 steps).
3. Fill: the ``k0`` most extreme studies mirrored about the last estimate,
   ``2 b - y_i`` with their ``v_i``, and the model refitted to the ``k + k0`` studies.
   The refit keeps the original fit's ``test`` and ``level`` (metafor's refit passes only
   the estimator, so a Knapp-Hartung fit's filled model is reported with z tests there).

References: Duval & Tweedie (2000), doi:10.1111/j.0006-341x.2000.00455.x and
doi:10.1080/01621459.2000.10473905; Duval (2005), in *Publication bias in meta-analysis*.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

from hbo.errors import InvalidArgumentError, InvalidDataError, ModelFittingError
from hbo.meta._model import fit_model
from hbo.meta.random_effects import RandomEffectsResult, random_effects

ESTIMATORS = ("L0", "R0")
MAXITER = 100


@dataclass(frozen=True)
class TrimFill:
    """Result of :func:`trimfill`: the estimated number of missing studies ``k0`` (with its
    standard error, and for ``R0`` the p-value of "none missing"), the side, and ``fit``, the
    model refitted to the observed and filled studies (``filled`` marks the latter)."""

    k0: int
    se_k0: float
    side: str
    estimator: str
    p_k0: float | None
    fit: RandomEffectsResult
    filled: np.ndarray

    def summary(self) -> str:
        lines = [f"Estimated number of missing studies on the {self.side} side: {self.k0} "
                 f"(SE = {self.se_k0:.4f})"]
        if self.p_k0 is not None:
            lines.append(f"Test of H0: no missing studies on the {self.side} side:      "
                         f"p-val = {self.p_k0:.4f}")
        return "\n".join(lines) + "\n\n" + self.fit.summary()

    def __str__(self) -> str:
        return self.summary()


def trimfill(res: RandomEffectsResult, *, side: str | None = None,
             estimator: str = "L0") -> TrimFill:
    """Trim and fill for a fit of :func:`hbo.meta.random_effects` without moderators.

    Args:
        res: the fit whose data, tau^2 estimator, test and level are used.
        side: ``"left"`` or ``"right"``: where studies are missing; estimated if ``None``.
        estimator: ``"L0"`` (default) or ``"R0"``.

    Raises:
        InvalidArgumentError: a meta-regression, unknown ``side`` or ``estimator``.
        InvalidDataError: fewer than 3 studies.
        ModelFittingError: the iteration did not settle in 100 steps.
    """
    if not isinstance(res, RandomEffectsResult):
        raise InvalidArgumentError(
            "trimfill needs a fit of random_effects without moderators (as metafor); got "
            f"{type(res).__name__}."
        )
    if estimator not in ESTIMATORS:
        raise InvalidArgumentError(f"estimator must be one of {ESTIMATORS}; got {estimator!r}.")
    if side not in (None, "left", "right"):
        raise InvalidArgumentError(f"side must be 'left', 'right' or None (estimated); got "
                                   f"{side!r}.")
    if res.k < 3:
        raise InvalidDataError(f"trim and fill needs at least 3 studies; this fit has {res.k}.")
    y, v = res.yi, res.vi
    if side is None:
        X = np.column_stack([np.ones(res.k), np.sqrt(v)])
        slope = fit_model(y, v, X, res.method, "z", res.level, quiet=True).beta[1]
        side = "right" if slope < 0 else "left"
    sign = -1.0 if side == "right" else 1.0
    order = np.argsort(sign * y, kind="stable")
    ys, vs = sign * y[order], v[order]
    k = ys.size
    k0, previous, beta, se_k0 = 0, -1, math.nan, math.nan
    for _ in range(MAXITER):
        if k0 == previous:
            break
        previous = k0
        beta = _estimate(ys[: k - k0], vs[: k - k0], res)
        centred = ys - beta
        ranks = stats.rankdata(np.abs(centred), method="ordinal")
        signed = np.sign(centred) * ranks
        k0_raw, se_k0 = _k0(signed, k, estimator)
        k0 = max(0, round(k0_raw))
        se_k0 = max(0.0, se_k0)
    else:
        raise ModelFittingError(f"trim and fill did not settle in {MAXITER} steps.")
    filled_y = sign * (2 * beta - ys[k - k0:])
    fill_v = vs[k - k0:]
    labels = (*res.labels, *(f"Filled {j + 1}" for j in range(k0)))
    fit = random_effects(np.concatenate([y, filled_y]), np.concatenate([v, fill_v]),
                         method=res.method, test=res.test, level=res.level, labels=labels)
    return TrimFill(k0, float(se_k0), side, estimator,
                    0.5 ** (k0 + 1) if estimator == "R0" else None, fit,
                    np.r_[np.zeros(k, bool), np.ones(k0, bool)])


def _estimate(y: np.ndarray, v: np.ndarray, res: RandomEffectsResult) -> float:
    method = res.method if y.size >= 2 else "FE"
    return float(fit_model(y, v, np.ones((y.size, 1)), method, "z", res.level,
                           quiet=True).beta[0])


def _k0(signed: np.ndarray, k: int, estimator: str) -> tuple[float, float]:
    if estimator == "R0":
        negative = -signed[signed < 0]
        k0 = k - (negative.max() if negative.size else 0) - 1
        return float(k0), math.sqrt(2 * max(0.0, k0) + 2)
    s_r = float(signed[signed > 0].sum())
    k0 = (4 * s_r - k * (k + 1)) / (2 * k - 1)
    var_sr = (k * (k + 1) * (2 * k + 1) + 10 * k0**3 + 27 * k0**2 + 17 * k0 - 18 * k * k0**2
              - 18 * k * k0 + 6 * k**2 * k0) / 24
    return k0, 4 * math.sqrt(max(var_sr, 0.0)) / (2 * k - 1)
