"""Weighted least squares of ``y`` on ``X`` and the traces of its residual projector ``P``.

Every tau^2 estimator of the normal-normal random-effects model is written with

    P = W - W X (X' W X)^{-1} X' W,        W = diag(w),  V = diag(v)

(Viechtbauer 2005, doi:10.3102/10769986030003261; metafor's ``rma.uni``): ``y' P y`` is the
weighted residual sum of squares (Cochran's Q when ``w = 1 / v``), and the estimators and
their standard errors need ``tr(P)``, ``tr(P P)``, ``tr(P V)``, ``tr(P P V)`` and
``tr(P V P V)``. Forming the ``k x k`` matrix ``P`` costs ``O(k^2)`` memory, which rules out
``k = 100,000``; expanding the products instead leaves only ``p x p`` matrices
``G(d) = X' diag(d) X`` (``p`` = number of columns of ``X``, 1 or 2 here):

    tr(P)     = sum w     - tr(A G(w^2))
    tr(PP)    = sum w^2   - 2 tr(A G(w^3))     + tr(A G(w^2) A G(w^2))
    tr(PV)    = sum w v   - tr(A G(w^2 v))
    tr(PPV)   = sum w^2 v - 2 tr(A G(w^3 v))   + tr(A G(w^2) A G(w^2 v))
    tr(PVPV)  = sum w^2v^2 - 2 tr(A G(w^3 v^2)) + tr(A G(w^2 v) A G(w^2 v))

with ``A = G(w)^{-1}`` (each line follows from the cyclic property of the trace). All of it is
``O(k p^2)`` vectorized numpy.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np


class Projection:
    """Weighted least-squares fit of ``y`` (shape ``k``) on ``X`` (``k x p``) with weights ``w``.

    Args:
        y: outcomes, shape ``k``.
        X: design matrix, shape ``k x p`` with ``p < k`` and full column rank.
        w: positive weights, shape ``k``.
        v: sampling variances, shape ``k`` (only the ``V`` traces use them).
    """

    def __init__(self, y: np.ndarray, X: np.ndarray, w: np.ndarray, v: np.ndarray) -> None:
        self.y, self.X, self.w, self.v = y, X, w, v
        # intercept only (the random-effects model): G(d) = sum d, with no BLAS call
        self._intercept = X.shape[1] == 1 and bool(np.all(X == 1.0))
        self.A = np.linalg.inv(self._gram(w))  # (X' W X)^{-1}, p x p
        if self._intercept:
            self.beta = self.A[0] * float(np.dot(w, y))
            self.resid = y - self.beta[0]
        else:
            self.beta = self.A @ (X.T @ (w * y))
            self.resid = y - X @ self.beta

    def _gram(self, d: np.ndarray) -> np.ndarray:
        """``G(d) = X' diag(d) X``, shape ``p x p``."""
        if self._intercept:
            return np.array([[float(np.sum(d))]])
        return self.X.T @ (d[:, None] * self.X)

    def _tr(self, d: np.ndarray) -> float:
        """``tr(A G(d))``."""
        return float(np.sum(self.A * self._gram(d)))

    def _tr2(self, d1: np.ndarray, d2: np.ndarray) -> float:
        """``tr(A G(d1) A G(d2))``."""
        return float(np.trace(self.A @ self._gram(d1) @ self.A @ self._gram(d2)))

    @cached_property
    def rss(self) -> float:
        """``y' P y = sum w (y - X beta)^2``."""
        return float(np.sum(self.w * self.resid**2))

    @cached_property
    def ypy2(self) -> float:
        """``y' P P y = sum (w (y - X beta))^2`` (``P y = W (y - X beta)``)."""
        return float(np.sum((self.w * self.resid) ** 2))

    @cached_property
    def tr_p(self) -> float:
        return float(np.sum(self.w)) - self._tr(self.w**2)

    @cached_property
    def tr_pp(self) -> float:
        w2 = self.w**2
        return float(np.sum(w2)) - 2 * self._tr(w2 * self.w) + self._tr2(w2, w2)

    @cached_property
    def tr_pv(self) -> float:
        return float(np.sum(self.w * self.v)) - self._tr(self.w**2 * self.v)

    @cached_property
    def tr_ppv(self) -> float:
        w2, w2v = self.w**2, self.w**2 * self.v
        return float(np.sum(w2v)) - 2 * self._tr(w2v * self.w) + self._tr2(w2, w2v)

    @cached_property
    def tr_pvpv(self) -> float:
        w2v = self.w**2 * self.v
        return float(np.sum(w2v * self.v)) - 2 * self._tr(w2v * self.w * self.v) + self._tr2(
            w2v, w2v
        )
