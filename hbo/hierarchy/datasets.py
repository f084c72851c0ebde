"""Data sets of the hierarchical-model literature, shipped with hbo (``hbo/data/``).

- :func:`load_rats`: the rat tumour experiments of BDA3 §5.1 (Table 5.1): in each of 71
  experiments, ``y`` of ``n`` female F344 laboratory rats in the control group developed an
  endometrial stromal polyp (Tarone 1982, "The use of historical control information in
  testing for a trend in proportions", *Biometrics* 38(1), doi:10.2307/2530286). The first
  70 are historical controls, the 71st (4 of 14) the current experiment. Transcribed from
  the copy in PyMC's example "Hierarchical Binomial Model: Rat Tumor Example"
  (https://github.com/pymc-devs/pymc-examples, file
  ``examples/generalized_linear_models/GLM-hierarchical-binomial-model.myst.md``, "rat
  data (BDA3, p. 102)"), itself from http://www.stat.columbia.edu/~gelman/book/data/rats.asc;
  totals 267 of 1739 (pooled rate 0.1535).
"""

from __future__ import annotations

from importlib import resources

import pandas as pd


def load_rats() -> pd.DataFrame:
    """The 71 rat tumour experiments: columns ``experiment`` (1..71), ``y`` (rats with a
    tumour) and ``n`` (rats in the control group); source in the module docstring."""
    with resources.files("hbo").joinpath("data", "rats.csv").open("r", encoding="utf-8") as fh:
        return pd.read_csv(fh)
