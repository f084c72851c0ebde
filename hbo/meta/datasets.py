"""Datasets shipped with hbo for the meta-analysis examples and tests (no downloads).

``bcg()``: 13 trials of the BCG vaccine against tuberculosis, from Colditz, Brewer, Berkey,
Wilson, Burdick, Fineberg & Mosteller (1994), Efficacy of BCG vaccine in the prevention of
tuberculosis: meta-analysis of the published literature, *JAMA* 271(9), 698-702,
doi:10.1001/jama.1994.03510330076038; as distributed in R's metafor/metadat (``dat.bcg``).
"""

from __future__ import annotations

from importlib import resources

import pandas as pd


def bcg() -> pd.DataFrame:
    """The BCG vaccine trials (Colditz et al. 1994; metafor's ``dat.bcg``), 13 rows.

    Columns: ``trial``, ``author``, ``year``, ``tpos``/``tneg`` (TB positive / negative,
    vaccinated), ``cpos``/``cneg`` (same, not vaccinated), ``ablat`` (absolute latitude),
    ``alloc`` (random, alternate, systematic).
    """
    with resources.files("hbo").joinpath("data", "bcg.csv").open("r", encoding="utf-8") as fh:
        return pd.read_csv(fh)
