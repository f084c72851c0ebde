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
(oriented for maximization) after standardizing them, ``z_t = (y_t - mean_t) / sd_t``:

    psi(z; lam) = ((z + 1)^lam - 1) / lam                 z >= 0, lam != 0
                  log(z + 1)                              z >= 0, lam = 0
                  -((1 - z)^(2 - lam) - 1) / (2 - lam)    z < 0,  lam != 2
                  -log(1 - z)                             z < 0,  lam = 2

``psi`` is increasing, so the order of each task's values and its maximizer are kept, and
Expected Improvement of the warped target still looks for its best configuration;
``lam > 1`` (a long tail of bad values) spreads the top apart, ``lam = 1`` is the identity.
One ``lam`` serves every task: the maximum of the summed Yeo-Johnson log-likelihoods of
the tasks with at least ``MIN_POINTS`` values, not all equal (``scipy.stats.yeojohnson_llf``
of each task's ``z_t``; searched in ``LAMBDA_BOUNDS``). One exponent keeps the tasks'
values comparable, which is what the pooling borrows, and the target's few points,
chosen where the search went, do not set their own (with an exponent of its own per task,
the target's came from 3-5 points in the transfer families' first asks, and the regret
after 5 evaluations there was 1.8 times that without warping, against 1.4 with one).

When it helps, measured (``experiments/yahpo_benchmark.py``, arm ``hbo_warped``;
``experiments/results/output_warping.md``, ``results/yahpo_20x100_diagnosis.md``): on
YAHPO's lcbench with 20 sources x 100 random evaluations, where the sources agree on what
is bad and not on where the best is, the regret after 20 evaluations without warping was
2.29 [1.19, 4.41] times that with it (24 runs), with 5 sources x 50 1.80 [0.60, 5.75] on
lcbench and 1.69 [0.47, 5.98] on rbv2_rpart (16 runs each). When it does not: on the
smooth synthetic families of ``experiments/transfer_benchmark.py`` (Branin, Hartmann-3
and -6 shifted per task), whose raw values a GP fits well, warping made the regret after
10 evaluations 3.3 times larger (12 runs; only the unrelated family gained). So it is off
by default (:class:`~hbo.proposer.HierarchicalProposer` ``output_warping``); choosing
``lam`` (and ``lam = 1``) by the warped GP's own marginal likelihood, Jacobian included
(Snelson et al. 2004), is the principled way to decide per problem, not yet done.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import optimize, stats
from torch import Tensor

#: Values a task needs before they are warped.
MIN_POINTS = 3
#: Range searched for the exponent.
LAMBDA_BOUNDS = (-3.0, 5.0)


def yeo_johnson(z: np.ndarray, lam: float) -> np.ndarray:
    """``psi(z; lam)`` of the module doc (``scipy.stats.yeojohnson`` at a given ``lam``)."""
    return stats.yeojohnson(z, lmbda=lam)


def warp_tasks(Y: Tensor, tasks: Tensor, num_tasks: int) -> tuple[Tensor, float]:
    """Each task's values standardized and Yeo-Johnson warped with one exponent (module doc).

    Args:
        Y: ``n`` values (oriented for maximization).
        tasks: ``n`` task labels ``0 .. num_tasks - 1``.
        num_tasks: Number of tasks.

    Returns:
        The ``n`` warped values, and the exponent ``lam`` (NaN when no task was warped).
    """
    z = {}
    for t in range(num_tasks):
        y = Y[tasks == t].detach().double().numpy()
        if y.size >= MIN_POINTS and y.std() > 0:
            z[t] = (y - y.mean()) / y.std()
    if not z:
        return Y.clone(), float("nan")
    lam = optimize.minimize_scalar(
        lambda lam: -sum(stats.yeojohnson_llf(lam, v) for v in z.values()),
        bounds=LAMBDA_BOUNDS, method="bounded",
    ).x
    out = Y.clone()
    for t, v in z.items():
        out[tasks == t] = torch.as_tensor(yeo_johnson(v, lam), dtype=Y.dtype)
    return out, float(lam)
