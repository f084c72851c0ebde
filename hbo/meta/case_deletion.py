"""Case deletion diagnostics of a (mixed-effects) meta-analysis, as metafor's ``influence.rma.uni``.

Each study ``i`` is left out in turn and the model refitted with the same tau^2 estimator and
test (``beta_(-i)``, ``Var_(-i)(beta)``, ``tau2_(-i)``, ``QE_(-i)``, and the Knapp-Hartung
factor ``s2_(-i)``, 1 unless ``test="knha"``). With ``w = 1 / (v + tau^2)`` and
``A = (X' W X)^{-1}`` of the full fit (Viechtbauer & Cheung 2010, doi:10.1002/jrsm.11):

- ``rstudent``: externally standardized residual
  ``(y_i - x_i' beta_(-i)) / sqrt(s2_(-i) (v_i + tau2_(-i)) + x_i' Var_(-i)(beta) x_i)``;
- ``hat``: leverage ``w_i x_i' A x_i``; ``weight``: ``100 w_i / sum w``;
- ``dffits``: ``x_i' (beta - beta_(-i)) / sqrt(s2_(-i) hat_i (tau2_(-i) + v_i))``;
- ``cook_d``: ``(beta - beta_(-i))' Var(beta)^{-1} (beta - beta_(-i))``;
- ``cov_r``: ``det Var_(-i)(beta) / det Var(beta)``;
- ``dfbetas``: ``(beta - beta_(-i)) / sqrt(s2_(-i) diag (X' W_(-i) X)^{-1})``, with
  ``W_(-i) = diag(1 / (v + tau2_(-i)))`` over all ``k`` studies;
- ``tau2_del``, ``qe_del``: ``tau2_(-i)`` and ``QE_(-i)``.

A study is flagged influential (metafor's ``*``) when ``|dffits| > 3 sqrt(p / (k - p))``,
``P(chi2_p <= cook_d) > 0.5``, ``hat > 3 p / k`` or any ``|dfbetas| > 1``. A refit that is
impossible (the rest of the design loses rank, or fewer than ``p + 1`` studies remain) gives
a row of NaN, as metafor's ``NA``. Cost: ``k`` refits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from hbo.errors import InvalidDataError, ModelFittingError
from hbo.meta._model import fit_model

COLUMNS = ("rstudent", "dffits", "cook_d", "cov_r", "tau2_del", "qe_del", "hat", "weight")


@dataclass(frozen=True)
class Influence:
    """Result of :func:`influence`: ``table`` (one row per study, :data:`COLUMNS` and the
    boolean ``influential``) and ``dfbetas`` (one column per coefficient)."""

    table: pd.DataFrame
    dfbetas: pd.DataFrame

    @property
    def influential(self) -> np.ndarray:
        return self.table["influential"].to_numpy()

    def __str__(self) -> str:
        shown = self.table.copy()
        shown["influential"] = np.where(shown["influential"], "*", "")
        with pd.option_context("display.width", 200, "display.max_columns", None):
            return (shown.to_string(float_format=lambda x: f"{x:.4f}") + "\n\n"
                    + self.dfbetas.to_string(float_format=lambda x: f"{x:.4f}"))


def influence(res) -> Influence:
    """Leave-one-out influence diagnostics of a fit of :func:`hbo.meta.random_effects`
    (with or without ``mods``); see the module docstring for the definitions.

    Raises:
        InvalidDataError: fewer than ``p + 2`` studies (no refit would keep ``k - p >= 1``).
    """
    y, v, X = res.yi, res.vi, res.X
    k, p = X.shape
    if k < p + 2:
        raise InvalidDataError(
            f"influence needs at least {p + 2} studies for {p} coefficient(s); this fit has {k}."
        )
    w = 1 / (v + res.tau2)
    A = np.linalg.inv(X.T @ (w[:, None] * X))
    hat = w * np.einsum("ij,jk,ik->i", X, A, X)
    weight = 100 * w / w.sum()
    vb_inv = np.linalg.inv(res.vb) if np.all(np.isfinite(res.vb)) else np.full((p, p), np.nan)
    det_vb = np.linalg.det(res.vb)
    rows = np.full((k, 6), np.nan)  # rstudent, dffits, cook_d, cov_r, tau2_del, qe_del
    dfbetas = np.full((k, p), np.nan)
    for i in range(k):
        keep = np.arange(k) != i
        fit = _refit(y[keep], v[keep], X[keep], res)
        if fit is None:
            continue
        t2 = fit.tau2.tau2
        xi = X[i]
        delpred, vdelpred = xi @ fit.beta, xi @ fit.vb @ xi
        dfb = res.beta - fit.beta
        W_del = 1 / (v + t2)
        vb_del = np.linalg.inv(X.T @ (W_del[:, None] * X))
        with np.errstate(divide="ignore", invalid="ignore"):
            rows[i] = [
                (y[i] - delpred) / np.sqrt(v[i] * fit.s2w + vdelpred + t2 * fit.s2w),
                (xi @ res.beta - delpred) / np.sqrt(fit.s2w * hat[i] * (t2 + v[i])),
                dfb @ vb_inv @ dfb,
                np.linalg.det(fit.vb) / det_vb,
                t2,
                fit.q,
            ]
            dfbetas[i] = dfb / np.sqrt(fit.s2w * np.diag(vb_del))
    table = pd.DataFrame(np.column_stack([rows, hat, weight]), columns=list(COLUMNS),
                         index=list(res.labels))
    with np.errstate(invalid="ignore"):
        flagged = ((np.abs(table["dffits"]) > 3 * np.sqrt(p / (k - p)))
                   | (stats.chi2.cdf(table["cook_d"], p) > 0.5)
                   | (table["hat"] > 3 * p / k)
                   | (np.abs(dfbetas) > 1).any(axis=1))
    table["influential"] = flagged.to_numpy(dtype=bool)
    names = getattr(res, "names", ("intrcpt",))
    return Influence(table, pd.DataFrame(dfbetas, columns=list(names), index=list(res.labels)))


def _refit(y: np.ndarray, v: np.ndarray, X: np.ndarray, res):
    """The fit without one study, or ``None`` where it cannot be made (as metafor's NA)."""
    scale = np.max(np.abs(X), axis=0)
    scale[scale == 0] = 1.0
    if X.shape[0] <= X.shape[1] or np.linalg.matrix_rank(X / scale) < X.shape[1]:
        return None
    try:
        return fit_model(y, v, X, res.method, res.test, res.level, quiet=True)
    except (InvalidDataError, ModelFittingError):
        return None
