r"""Output warping: each task's values through its own Yeo-Johnson transform before the GP.

Why: the values of a tuning problem are skewed. Most configurations are mediocre, some
diverge or fail to learn (a long tail of bad values), few come near the best. A GP with a
stationary kernel and Gaussian noise, fitted to such values, spends its variance on the
tail: the differences among good configurations, which decide where the optimum is, look
like small wiggles on a plateau, and a surrogate that pools tasks borrows that plateau from
the history, where each source's random evaluations are mostly tail. HEBO (Cowen-Rivers et
al. 2022, "HEBO: Pushing the limits of sample-efficient hyper-parameter optimisation", JAIR
74) found tuning problems' values skewed and heteroscedastic and fits its GP to power-
transformed (Box-Cox or Yeo-Johnson) values; warped GPs (Snelson, Ghahramani & Rasmussen
2004, "Warped Gaussian processes", NeurIPS) learn such a transform instead.

The transform (Yeo & Johnson 2000, "A new family of power transformations to improve
normality or symmetry", Biometrika 87:954) is applied to each task's values ``y``
(oriented for maximization) after standardizing them, ``z = (y - mean) / sd``:

    psi(z; lam) = ((z + 1)^lam - 1) / lam                 z >= 0, lam != 0
                  log(z + 1)                              z >= 0, lam = 0
                  -((1 - z)^(2 - lam) - 1) / (2 - lam)    z < 0,  lam != 2
                  -log(1 - z)                             z < 0,  lam = 2

with ``lam`` the maximum-likelihood value for a normal ``psi(z)``
(``scipy.stats.yeojohnson_normmax``). ``psi`` is increasing, so the order of the values
and the maximizer are kept, and Expected Improvement of the warped target still looks for
its best configuration; ``lam > 1`` (a long tail of bad values) spreads the top apart.
Each task has its own ``lam`` (sources evaluated at random and a target evaluated where
the search went differ in shape), fitted on every ask; a task with fewer than
``MIN_POINTS`` values, or all equal, is left as it is.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import stats
from torch import Tensor

#: Values a task needs before they are warped.
MIN_POINTS = 3


def yeo_johnson(z: np.ndarray, lam: float) -> np.ndarray:
    """``psi(z; lam)`` of the module doc (``scipy.stats.yeojohnson`` at a given ``lam``)."""
    return stats.yeojohnson(z, lmbda=lam)


def warp_tasks(Y: Tensor, tasks: Tensor, num_tasks: int) -> tuple[Tensor, Tensor]:
    """Each task's values standardized and Yeo-Johnson warped (module doc).

    Args:
        Y: ``n`` values (oriented for maximization).
        tasks: ``n`` task labels ``0 .. num_tasks - 1``.
        num_tasks: Number of tasks.

    Returns:
        The ``n`` warped values, and the ``num_tasks`` exponents ``lam`` (NaN for a task left
        as it is).
    """
    out = Y.clone()
    lams = torch.full((num_tasks,), float("nan"), dtype=torch.double)
    for t in range(num_tasks):
        rows = tasks == t
        y = Y[rows].detach().double().numpy()
        if y.size < MIN_POINTS or y.std() == 0:
            continue
        z = (y - y.mean()) / y.std()
        lam = float(stats.yeojohnson_normmax(z))
        out[rows] = torch.as_tensor(yeo_johnson(z, lam), dtype=Y.dtype)
        lams[t] = lam
    return out, lams
