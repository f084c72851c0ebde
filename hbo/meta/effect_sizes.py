"""Effect sizes and sampling variances per study, as metafor's ``escalc`` (``vtype="LS"``).

From 2x2 tables (``ai``, ``bi``: events / non-events in group 1; ``ci``, ``di``: in group 2;
``n1 = ai + bi``, ``n2 = ci + di``, ``p1 = ai / n1``, ``p2 = ci / n2``):

- log risk ratio ``log(p1 / p2)``, ``v = 1/ai - 1/n1 + 1/ci - 1/n2``;
- log odds ratio ``log(ai di / (bi ci))``, ``v = 1/ai + 1/bi + 1/ci + 1/di``;
- risk difference ``p1 - p2``, ``v = p1 (1 - p1) / n1 + p2 (1 - p2) / n2``.

Continuity correction as ``escalc``: ``add`` (default 1/2) is added to every cell of
``to="only0"`` (default) studies with a zero cell, of every study (``"all"``), of every study
if any has a zero cell (``"if0all"``), or of none (``"none"``). ``drop00=True`` drops studies
with no events (or only events) in both groups before that. A zero cell that makes the
estimate or its variance undefined with no correction asked for is an error naming ``add``
and ``to``.

From means, standard deviations and group sizes (``m1, sd1, n1``; ``m2, sd2, n2``):

- mean difference ``m1 - m2``, ``v = sd1^2/n1 + sd2^2/n2``;
- standardized mean difference, Hedges' g: ``g = c(m) d`` with
  ``d = (m1 - m2) / s_pooled``, ``s_pooled^2 = ((n1-1) sd1^2 + (n2-1) sd2^2) / m``,
  ``m = n1 + n2 - 2`` and the exact small-sample correction
  ``c(m) = Gamma(m/2) / (sqrt(m/2) Gamma((m-1)/2))`` (Hedges 1981,
  doi:10.3102/10769986006002107), ``v = 1/n1 + 1/n2 + g^2 / (2 (n1 + n2))``
  (Hedges & Olkin 1985, eq. 15; metafor's default ``vtype="LS"``).

Every function returns an :class:`EffectSizes` (``yi``, ``vi``, ``sei``, and ``kept``, the
mask of studies that were not dropped).

Reference: Viechtbauer (2010), doi:10.18637/jss.v036.i03; metafor ``escalc``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import gammaln

from hbo._numbers import is_real
from hbo.errors import InvalidArgumentError, InvalidDataError
from hbo.meta._inputs import ArrayLike, as_vector

TO_OPTIONS = ("only0", "all", "if0all", "none")

# Why vi = 0 and what to do, for the 2x2-table measures and for the mean-based ones.
_TABLE_ZERO_VI = ("0% or 100% events in both groups; use a continuity correction (add > 0 "
                  "with to='only0') or drop00=True, or leave those studies out")
_MEANS_ZERO_VI = ("sd1i and sd2i are both 0; supply the studies' standard deviations, or "
                  "leave those studies out")


@dataclass(frozen=True)
class EffectSizes:
    """Per-study effect sizes ``yi`` and sampling variances ``vi`` (shape ``k``).

    ``kept`` (shape: the number of input studies) marks the studies that ``drop00`` kept.
    """

    yi: np.ndarray
    vi: np.ndarray
    kept: np.ndarray

    @property
    def sei(self) -> np.ndarray:
        """Standard errors ``sqrt(vi)``."""
        return np.sqrt(self.vi)


def log_risk_ratio(ai: ArrayLike, bi: ArrayLike, ci: ArrayLike, di: ArrayLike, *,
                   add: float = 0.5, to: str = "only0", drop00: bool = False) -> EffectSizes:
    """Log risk ratios of 2x2 tables (``k`` studies each); see the module docstring."""
    a, b, c, d, kept = _tables(ai, bi, ci, di, add, to, drop00)
    n1, n2 = a + b, c + d
    _require_positive({"ai": a, "ci": c}, "log risk ratio")
    return _result(np.log(a / n1) - np.log(c / n2), 1 / a - 1 / n1 + 1 / c - 1 / n2, kept,
                   _TABLE_ZERO_VI)


def log_odds_ratio(ai: ArrayLike, bi: ArrayLike, ci: ArrayLike, di: ArrayLike, *,
                   add: float = 0.5, to: str = "only0", drop00: bool = False) -> EffectSizes:
    """Log odds ratios of 2x2 tables (``k`` studies each); see the module docstring."""
    a, b, c, d, kept = _tables(ai, bi, ci, di, add, to, drop00)
    _require_positive({"ai": a, "bi": b, "ci": c, "di": d}, "log odds ratio")
    return _result(np.log(a * d / (b * c)), 1 / a + 1 / b + 1 / c + 1 / d, kept,
                   _TABLE_ZERO_VI)


def risk_difference(ai: ArrayLike, bi: ArrayLike, ci: ArrayLike, di: ArrayLike, *,
                    add: float = 0.5, to: str = "only0", drop00: bool = False) -> EffectSizes:
    """Risk differences of 2x2 tables (``k`` studies each); see the module docstring."""
    a, b, c, d, kept = _tables(ai, bi, ci, di, add, to, drop00)
    n1, n2 = a + b, c + d
    p1, p2 = a / n1, c / n2
    return _result(p1 - p2, p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2, kept, _TABLE_ZERO_VI)


def mean_difference(m1i: ArrayLike, sd1i: ArrayLike, n1i: ArrayLike,
                    m2i: ArrayLike, sd2i: ArrayLike, n2i: ArrayLike) -> EffectSizes:
    """Raw mean differences ``m1 - m2`` (``k`` studies each); see the module docstring."""
    m1, s1, n1, m2, s2, n2 = _means(m1i, sd1i, n1i, m2i, sd2i, n2i)
    return _result(m1 - m2, s1**2 / n1 + s2**2 / n2, np.ones(m1.size, dtype=bool),
                   _MEANS_ZERO_VI)


def hedges_g(m1i: ArrayLike, sd1i: ArrayLike, n1i: ArrayLike,
             m2i: ArrayLike, sd2i: ArrayLike, n2i: ArrayLike) -> EffectSizes:
    """Standardized mean differences with Hedges' exact correction; see the module docstring."""
    m1, s1, n1, m2, s2, n2 = _means(m1i, sd1i, n1i, m2i, sd2i, n2i)
    m = n1 + n2 - 2
    if np.any(m <= 1):
        raise InvalidDataError("n1i + n2i must exceed 3 for Hedges' correction in every study.")
    sp = np.sqrt(((n1 - 1) * s1**2 + (n2 - 1) * s2**2) / m)
    if np.any(sp <= 0):
        raise InvalidDataError("sd1i and sd2i are both 0 in some study: the SMD is undefined.")
    g = small_sample_correction(m) * (m1 - m2) / sp
    return _result(g, 1 / n1 + 1 / n2 + g**2 / (2 * (n1 + n2)), np.ones(g.size, dtype=bool),
                   _MEANS_ZERO_VI)


standardized_mean_difference = hedges_g


def small_sample_correction(m: np.ndarray) -> np.ndarray:
    """``c(m) = Gamma(m/2) / (sqrt(m/2) Gamma((m-1)/2))``, via log-gamma (no overflow)."""
    m = np.asarray(m, dtype=float)
    return np.exp(gammaln(m / 2) - 0.5 * np.log(m / 2) - gammaln((m - 1) / 2))


def _result(yi: np.ndarray, vi: np.ndarray, kept: np.ndarray, zero_vi: str) -> EffectSizes:
    """The dataclass, after checking that every sampling variance is positive (``zero_vi``
    says why one may be 0 for this measure, and what to do)."""
    bad = np.flatnonzero(~(vi > 0))
    if bad.size:
        raise InvalidDataError(f"vi = 0 in studies {bad[:5].tolist()} ({zero_vi}).")
    return EffectSizes(np.asarray(yi, dtype=float), np.asarray(vi, dtype=float), kept)


def _counts(**arrays: ArrayLike) -> list[np.ndarray]:
    out = [as_vector(name, values) for name, values in arrays.items()]
    names = list(arrays)
    for name, arr in zip(names[1:], out[1:], strict=True):
        if arr.size != out[0].size:
            raise InvalidDataError(
                f"{names[0]} and {name} must have the same length; "
                f"got {out[0].size} and {arr.size}."
            )
    return out


def _tables(ai: ArrayLike, bi: ArrayLike, ci: ArrayLike, di: ArrayLike, add: float, to: str,
            drop00: bool) -> tuple[np.ndarray, ...]:
    """Validated, filtered (``drop00``) and continuity-corrected cell counts, and the mask."""
    cells = _counts(ai=ai, bi=bi, ci=ci, di=di)
    for name, arr in zip(("ai", "bi", "ci", "di"), cells, strict=True):
        if np.any(arr < 0):
            raise InvalidDataError(f"{name} holds negative counts; cell counts must be >= 0.")
    if to not in TO_OPTIONS:
        raise InvalidArgumentError(f"to must be one of {TO_OPTIONS}; got {to!r}.")
    if not is_real(add) or not add >= 0 or not np.isfinite(add):
        raise InvalidArgumentError(f"add must be a finite number >= 0; got {add!r}.")
    a, b, c, d = cells
    kept = np.ones(a.size, dtype=bool)
    if drop00:
        kept = ~(((a == 0) & (c == 0)) | ((b == 0) & (d == 0)))
        if not kept.any():
            raise InvalidDataError("drop00=True dropped every study (no events in any table).")
        a, b, c, d = a[kept], b[kept], c[kept], d[kept]
    if np.any((a + b == 0) | (c + d == 0)):
        raise InvalidDataError("a group has no participants (ai + bi == 0 or ci + di == 0).")
    zero = (a == 0) | (b == 0) | (c == 0) | (d == 0)
    if to == "all" or (to == "if0all" and zero.any()):
        corrected = np.ones(a.size, dtype=bool)
    elif to == "only0":
        corrected = zero
    else:
        corrected = np.zeros(a.size, dtype=bool)
    shift = np.where(corrected, float(add), 0.0)
    return a + shift, b + shift, c + shift, d + shift, kept


def _require_positive(cells: dict[str, np.ndarray], measure: str) -> None:
    for name, arr in cells.items():
        bad = np.flatnonzero(arr <= 0)
        if bad.size:
            raise InvalidDataError(
                f"{measure}: {name} is 0 in studies {bad[:5].tolist()} and no continuity "
                "correction applies (add=0 or to='none'); pass add=0.5 with to='only0' "
                "(metafor's default) or drop00=True."
            )


def _means(*arrays: ArrayLike) -> list[np.ndarray]:
    names = ("m1i", "sd1i", "n1i", "m2i", "sd2i", "n2i")
    out = _counts(**dict(zip(names, arrays, strict=True)))
    for name, arr in zip(names, out, strict=True):
        if name.startswith("sd") and np.any(arr < 0):
            raise InvalidDataError(f"{name} holds negative standard deviations.")
        if name.startswith("n") and np.any(arr <= 0):
            raise InvalidDataError(f"{name} holds group sizes <= 0.")
    return out
