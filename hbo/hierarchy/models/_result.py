"""The result of a NUTS fit: its ArviZ InferenceData and the summaries read from it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import arviz as az
import numpy as np
import pandas as pd

from hbo.diagnostics.convergence import ConvergenceReport, convergence


@dataclass
class FitResult:
    """The NUTS run of a model: ``idata`` (ArviZ InferenceData) and its summaries.

    Attributes:
        idata: ``posterior`` (``chain x draw x ...``), ``sample_stats``,
            ``observed_data`` and, unless ``fit`` was told otherwise, ``log_likelihood``,
            ``posterior_predictive`` (``chain x draw x O`` per observed site), ``prior`` and
            ``prior_predictive`` (``1 x prior_draws x ...``).
        settings: the arguments of the ``fit`` call that produced it.
    """

    idata: az.InferenceData
    settings: dict[str, Any] = field(default_factory=dict)
    _report: ConvergenceReport | None = field(default=None, repr=False)

    def summary(
        self, var_names: list[str] | None = None, hdi_prob: float = 0.94
    ) -> pd.DataFrame:
        """ArviZ summary (``mean``, ``sd``, ``hdi_*``, ``mcse_*``, ``ess_*``, ``r_hat``)
        plus the equal-tailed ``2.5%``, ``50%``, ``97.5%`` quantiles; one row per scalar
        (``"theta[1]"``...)."""
        quantiles = {
            q: (lambda x, p=p: np.quantile(x, p))
            for q, p in (("2.5%", 0.025), ("50%", 0.5), ("97.5%", 0.975))
        }
        return az.summary(
            self.idata, var_names=var_names, hdi_prob=hdi_prob, stat_funcs=quantiles,
            round_to="none",
        )

    def convergence(self, **thresholds: Any) -> ConvergenceReport:
        """:func:`hbo.diagnostics.convergence` of this run (thresholds as keywords)."""
        if not thresholds and self._report is not None:
            return self._report
        return convergence(self.idata, **thresholds)

    def draws(self, name: str) -> np.ndarray:
        """Posterior draws of ``name`` with chains merged: shape ``(chains * draws, ...)``."""
        v = self.idata.posterior[name].values
        return v.reshape((-1, *v.shape[2:]))
