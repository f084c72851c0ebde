"""Estimators of the between-study variance ``tau^2`` of the random-effects model, as metafor.

Model: ``y_i = x_i' beta + u_i + e_i``, ``u_i ~ N(0, tau^2)``, ``e_i ~ N(0, v_i)`` with known
``v_i``, ``i = 1..k``, ``p`` columns in ``X`` (``p = 1``: intercept only). With ``P`` the
residual projector of the weighted fit (:mod:`hbo.meta._projection`) and ``RSS = y' P y``:

- ``DL``   DerSimonian & Laird (1986), ``w = 1/v``: ``(RSS - (k - p)) / tr(P)``.
- ``HE``   Hedges (1983), unweighted (``w = 1``): ``(RSS - tr(P V)) / (k - p)``.
- ``HS``   Hunter & Schmidt (2004), ``w = 1/v``: ``(RSS - k) / sum w``.
- ``SJ``   Sidik & Jonkman (2005), one step from ``tau0^2 = mean((y - ybar)^2)`` with
  ``w = 1/(v + tau0^2)``: ``tau0^2 RSS / (k - p)`` (always > 0).
- ``PM``   Paule & Mandel (1982): the root of ``RSS(tau^2) = k - p`` with
  ``w = 1/(v + tau^2)``; ``RSS`` decreases in ``tau^2``, so a bracketed Brent root find
  (tolerance ``1e-12``) finds it, and ``tau^2 = 0`` when ``RSS(0) < k - p``.
- ``EB``   Morris (1983) empirical Bayes. metafor iterates
  ``tau^2 += (RSS k/(k-p) - k) / sum w``, whose fixed point solves ``RSS(tau^2) = k - p``:
  the PM equation, so EB is solved by the same bracketed root find.
- ``ML``, ``REML``: Fisher scoring from the HE estimate (as metafor), step
  ``(y'PPy - sum w) / sum w^2`` (ML) or ``(y'PPy - tr P) / tr(PP)`` (REML), projected onto
  ``tau^2 >= 0`` (a step past 0 lands on 0, where a negative score ends the iteration;
  metafor halves such steps, which reaches 0 only in the limit); converged when the step is
  below ``1e-10 max(1, tau^2)`` (metafor: ``1e-5``), at most 1000 steps. A step over the
  root of the score (its sign changes) ends in Brent's method between the two iterates:
  near ``tau^2 = 0`` the expected information can be half the curvature, and the plain
  iteration then swings around the root for more than 1000 steps (``k = 7``, REML
  0.0087: iterates 0.0174, 0.0003, 0.0172, 0.0005, ...). As metafor, if the
  log-likelihood at ``tau^2 = 0`` is higher than at the fixed point, ``tau^2 = 0``.
- ``FE``   fixed (common) effect: ``tau^2 = 0``.

Every solver works in the unit of the median ``v_i`` (:func:`estimate_tau2`), so its
tolerances are relative to the data's. Moment estimators are truncated at 0. Standard
errors are metafor's (``rma.uni``):
DL ``sqrt(2(k-p) + 4 t tr P + 2 t^2 tr PP) / tr P``; HE
``sqrt(2 tr(PVPV) + 4 t tr PV + 2 t^2 (k-p)) / (k-p)``; HS
``sqrt(2(k-p) + 4 t tr P + 2 t^2 tr PP) / sum w``; SJ
``tau0^2 sqrt(2 tr PVPV + 4 t tr PPV + 2 t^2 tr PP) / (k-p)``; ML ``sqrt(2 / sum w^2)``;
REML ``sqrt(2 / tr PP)`` (Fisher information); PM and EB ``sqrt(2 k^2 / (k-p)) / sum w``.

References: Viechtbauer (2005), doi:10.3102/10769986030003261; Veroniki et al. (2016),
doi:10.1002/jrsm.1164; Viechtbauer (2010), doi:10.18637/jss.v036.i03.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq

from hbo._warnings import NumericalWarning, warn
from hbo.errors import InvalidArgumentError, ModelFittingError
from hbo.meta._projection import Projection

METHODS = ("REML", "DL", "PM", "ML", "EB", "HE", "SJ", "HS", "FE")
FISHER_TOL = 1e-10
FISHER_MAXITER = 1000
ROOT_XTOL = 1e-12


@dataclass(frozen=True)
class Tau2Fit:
    """A tau^2 estimate, its standard error (``None`` for FE) and the solver's iterations."""

    tau2: float
    se: float | None
    iterations: int = 0


def check_method(method: str) -> str:
    """``method`` upper-cased if it names an estimator, else :class:`InvalidArgumentError`."""
    if not isinstance(method, str) or method.upper() not in METHODS:
        raise InvalidArgumentError(f"method must be one of {METHODS}, got {method!r}.")
    return method.upper()


def estimate_tau2(y: np.ndarray, v: np.ndarray, X: np.ndarray, method: str) -> Tau2Fit:
    """Estimate ``tau^2`` by ``method`` (one of :data:`METHODS`) for ``y``, ``v`` (``k``), ``X``
    (``k x p``); inputs are assumed validated (finite, ``v > 0``, ``k > p``).

    The solvers run on the data in :func:`in_variance_unit` and the estimate is scaled
    back, so their tolerances are relative to the data's units.
    """
    method = check_method(method)
    if method == "FE":
        return Tau2Fit(0.0, None)
    y, v, s = in_variance_unit(y, v)
    if method in ("PM", "EB"):
        fit = _paule_mandel(y, v, X)
    elif method in ("ML", "REML"):
        fit = _fisher_scoring(y, v, X, method)
    else:
        fit = _MOMENT[method](y, v, X)
    return Tau2Fit(fit.tau2 * s, fit.se * s, fit.iterations)


def in_variance_unit(y: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """``y / sqrt(s)``, ``v / s`` and ``s``, the median sampling variance: the unit the
    solvers work in (``y`` in other units, ``y c`` and ``v c^2``, gives ``tau^2 c^2`` to
    rounding); a variance found from them is ``s`` times theirs."""
    s = float(np.median(v))
    return y / math.sqrt(s), v / s, s


def _dl(y: np.ndarray, v: np.ndarray, X: np.ndarray) -> Tau2Fit:
    k, p = X.shape
    proj = Projection(y, X, 1 / v, v)
    t = max(0.0, (proj.rss - (k - p)) / proj.tr_p)
    se = math.sqrt(2 * (k - p) + 4 * t * proj.tr_p + 2 * t**2 * proj.tr_pp) / proj.tr_p
    return Tau2Fit(t, se)


def _he(y: np.ndarray, v: np.ndarray, X: np.ndarray) -> Tau2Fit:
    k, p = X.shape
    proj = Projection(y, X, np.ones_like(v), v)
    t = max(0.0, (proj.rss - proj.tr_pv) / (k - p))
    se = math.sqrt(2 * proj.tr_pvpv + 4 * t * proj.tr_pv + 2 * t**2 * (k - p)) / (k - p)
    return Tau2Fit(t, se)


def _hs(y: np.ndarray, v: np.ndarray, X: np.ndarray) -> Tau2Fit:
    k, p = X.shape
    proj = Projection(y, X, 1 / v, v)
    sum_w = float(np.sum(proj.w))
    t = max(0.0, (proj.rss - k) / sum_w)
    se = math.sqrt(2 * (k - p) + 4 * t * proj.tr_p + 2 * t**2 * proj.tr_pp) / sum_w
    return Tau2Fit(t, se)


def _sj(y: np.ndarray, v: np.ndarray, X: np.ndarray) -> Tau2Fit:
    k, p = X.shape
    t0 = float(np.mean((y - y.mean()) ** 2))  # metafor: var(y) (k-1)/k
    proj = Projection(y, X, 1 / (v + t0), v)
    t = t0 * proj.rss / (k - p)
    se = t0 / (k - p) * math.sqrt(2 * proj.tr_pvpv + 4 * t * proj.tr_ppv + 2 * t**2 * proj.tr_pp)
    return Tau2Fit(t, se)


_MOMENT = {"DL": _dl, "HE": _he, "HS": _hs, "SJ": _sj}


def generalized_q(y: np.ndarray, v: np.ndarray, X: np.ndarray, tau2: float) -> float:
    """``Q(tau^2) = sum (y - X beta(tau^2))^2 / (v + tau^2)``, decreasing in ``tau^2``."""
    return Projection(y, X, 1 / (v + tau2), v).rss


def upper_bracket(y: np.ndarray, v: np.ndarray, X: np.ndarray, target: float) -> float:
    """A ``tau^2`` where ``Q(tau^2) < target`` (doubling from ``max(var(y), mean v)``)."""
    hi = max(float(np.var(y)), float(np.mean(v)), 1e-8)
    for _ in range(200):
        if generalized_q(y, v, X, hi) < target:
            return hi
        hi *= 2
    raise ModelFittingError(f"Q(tau^2) stays above {target:g} for every tau^2 up to {hi:g}.")


def _paule_mandel(y: np.ndarray, v: np.ndarray, X: np.ndarray) -> Tau2Fit:
    k, p = X.shape
    target = k - p
    if generalized_q(y, v, X, 0.0) <= target:
        t = 0.0
    else:
        hi = upper_bracket(y, v, X, target)
        t = brentq(lambda t2: generalized_q(y, v, X, t2) - target, 0.0, hi,
                   xtol=ROOT_XTOL, rtol=4 * np.finfo(float).eps)
    sum_w = float(np.sum(1 / (v + t)))
    return Tau2Fit(t, math.sqrt(2 * k**2 / (k - p)) / sum_w)


def log_likelihood(y: np.ndarray, v: np.ndarray, X: np.ndarray, tau2: float, reml: bool) -> float:
    """Log-likelihood (``reml=False``) or restricted log-likelihood at ``tau^2``, as metafor."""
    k, p = X.shape
    proj = Projection(y, X, 1 / (v + tau2), v)
    ll = -0.5 * np.sum(np.log(v + tau2)) - 0.5 * proj.rss
    if reml:
        return float(ll - 0.5 * (k - p) * math.log(2 * math.pi)
                     + 0.5 * np.linalg.slogdet(proj.A)[1])
    return float(ll - 0.5 * k * math.log(2 * math.pi))


def _fisher_scoring(y: np.ndarray, v: np.ndarray, X: np.ndarray, method: str) -> Tau2Fit:
    reml = method == "REML"

    def score_and_information(t: float) -> tuple[float, float]:
        """Twice the score of ``tau^2`` and twice its expected information."""
        proj = Projection(y, X, 1 / (v + t), v)
        if reml:
            return proj.ypy2 - proj.tr_p, proj.tr_pp
        return proj.ypy2 - float(np.sum(proj.w)), float(np.sum(proj.w**2))

    t = _he(y, v, X).tau2
    score, information = score_and_information(t)
    for iterations in range(1, FISHER_MAXITER + 1):
        step = max(score / information, -t)  # onto tau^2 >= 0; from 0 a negative step stops
        previous, t = t, t + step
        if abs(step) <= FISHER_TOL * max(1.0, t):
            break
        last_score, (score, information) = score, score_and_information(t)
        if score * last_score < 0:  # stepped over the root: close in on it by bisection
            t, calls = _score_root(lambda u: score_and_information(u)[0], previous, t)
            iterations += calls
            break
    else:
        raise ModelFittingError(
            f"Fisher scoring for {method} did not converge in {FISHER_MAXITER} steps "
            f"(last tau^2 = {t:g}); try method='PM' or 'DL'."
        )
    if t > FISHER_TOL and (log_likelihood(y, v, X, 0.0, reml)
                           > log_likelihood(y, v, X, t, reml) + 1e-8):
        warn(f"{method}: the likelihood is higher at tau^2 = 0 than at the Fisher-scoring "
             f"fixed point {t:g}; reporting tau^2 = 0.", NumericalWarning)
        t = 0.0
    proj = Projection(y, X, 1 / (v + t), v)
    se = math.sqrt(2 / proj.tr_pp) if reml else math.sqrt(2 / np.sum(proj.w**2))
    return Tau2Fit(t, se, iterations)


def _score_root(score, a: float, b: float) -> tuple[float, int]:
    """The root of ``score`` between two iterates where it changes sign, and its calls."""
    root, result = brentq(score, min(a, b), max(a, b), xtol=FISHER_TOL,
                          rtol=FISHER_TOL, full_output=True)
    return root, result.function_calls
