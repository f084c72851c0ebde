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
One ``lam`` serves every task with at least ``MIN_POINTS`` values, not all equal (tasks
with fewer are left as they are): one exponent keeps the tasks' values comparable, which
is what the pooling borrows, and the target's few points, chosen where the search went, do
not set their own (with an exponent of its own per task, chosen for normality, the
target's came from 3-5 points in the transfer families' first asks, and the regret after 5
evaluations there was 1.8 times that without warping, against 1.4 with one).

The exponent is chosen by the evidence, as warped GPs learn their warping (Snelson,
Ghahramani & Rasmussen 2004): the marginal likelihood of the model without ``g`` fitted to
the warped values, with the Jacobian that makes it a density of the values themselves,

    log p(z | lam) = log p(u | theta_hat(lam)) + sum_i log psi'(z_i; lam) - sum_t n_t log sd_t(lam),

``u`` the warped values re-standardized per task (``sd_t(lam)`` their scale) and
``log psi'(z; lam) = (lam - 1) sign(z) log(1 + |z|)``. Exponents ``EXPONENTS`` are tried
from 1 (the identity) up while the evidence grows, and the best is used when it beats the
identity by ``EVIDENCE_MARGIN`` nats; else the values are left as they are. The evidence
comes from the history, the other tasks' values, never the target's: a tuning history's
evaluations are the spread of the values a problem has, the target's are where the search
went (near the best, and too few to tell a tail from a trend), and so the exponent stays the
same while the target is tuned, as do the cached sources of hierarchical training. At most
``MAX_CHOICE_POINTS`` history values are used (:func:`stratified_subsample`; each task's
best and worst kept), so that the choice costs a few fits of a few hundred points once per
history.

Only ``lam >= 1`` is tried: values oriented for maximization, ``lam < 1`` would compress
the top, where Expected Improvement must tell configurations apart. The synthetic families
of ``experiments/transfer_benchmark.py`` show both sides. Hartmann's values (negated) are
near 0 almost everywhere with a peak at the optimum, a long tail of *good* values: the
evidence preferred ``lam`` near 0 by 40 to 100 nats, and warping them by a normal fit's
``lam`` (-0.7 to 0.2) made the regret after 10 evaluations 7.2 [2.1, 25] times larger on
Hartmann-3 (3 seeds). Branin's evidence preferred the identity by 46 to 60 nats over the
normal fit's ``lam`` (1.8 to 1.9), whose warping made the regret after 5 evaluations 3.4
times larger. With the rule, every Branin, Hartmann-3 and Hartmann-6 history of 10 seeds
keeps its values (``lam = 1.25`` below the identity's evidence in 29 of 30, by 19 to 35
nats on Hartmann) and 3 of 10 of the unrelated family's are warped (1.25 or 1.5). On
YAHPO's lcbench (a long tail of bad values; 20 sources x 100 evaluations, 24 histories) it
chose 1.25 in 14, 1.5 in 4 and the identity in 6, where a normal fit's exponent is 1.1 to
1.7: the evidence asks for less warping than normality. What that did to the regret is in
``experiments/results/output_warping_choice.md``: no clear gain, so warping stays off by
default.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from scipy import stats
from torch import Tensor

from hbo.surrogate.hierarchical_gp import HierarchicalGP
from hbo.surrogate.source_posterior import stratified_subsample

#: Values a task needs before they are warped.
MIN_POINTS = 3
#: Exponents tried, in order, while the evidence grows (1: the identity).
EXPONENTS = (1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0)
#: Nats by which the best exponent's evidence must beat the identity's.
EVIDENCE_MARGIN = 2.0
#: History values the choice is made from, at most.
MAX_CHOICE_POINTS = 500


def yeo_johnson(z: np.ndarray, lam: float) -> np.ndarray:
    """``psi(z; lam)`` of the module doc (``scipy.stats.yeojohnson`` at a given ``lam``)."""
    return stats.yeojohnson(z, lmbda=lam)


def log_derivative(z: np.ndarray, lam: float) -> np.ndarray:
    """``log psi'(z; lam) = (lam - 1) sign(z) log(1 + |z|)``, the Jacobian of the module doc."""
    return (lam - 1.0) * np.sign(z) * np.log1p(np.abs(z))


@dataclass(frozen=True)
class OutputWarp:
    """The exponent in use and the evidence for it.

    ``lam``: the Yeo-Johnson exponent (1: values not warped). ``evidence``: each exponent
    tried -> its log evidence minus the identity's (nats, over ``n_points`` history values);
    empty when the history had too few values to choose from.
    """

    lam: float = 1.0
    evidence: dict[float, float] = field(default_factory=dict)
    n_points: int = 0

    def apply(self, Y: Tensor, tasks: Tensor, num_tasks: int) -> Tensor:
        """Each task's ``n`` values (``Y``, labels ``tasks`` in ``0 .. num_tasks - 1``)
        standardized and warped by ``lam``; tasks with fewer than ``MIN_POINTS`` values, or
        all equal, as they are; ``Y`` itself when ``lam`` is 1."""
        if self.lam == 1.0:
            return Y
        out = Y.clone()
        for t, z in _standardized(Y, tasks, num_tasks).items():
            out[tasks == t] = torch.as_tensor(yeo_johnson(z, self.lam), dtype=Y.dtype)
        return out

    def __str__(self) -> str:
        if not self.evidence:
            return "output warping: none (too few history values to choose an exponent)"
        best = max(self.evidence, key=self.evidence.get)
        tried = ", ".join(f"{lam:g}: {e:+.1f}" for lam, e in self.evidence.items())
        verdict = (f"Yeo-Johnson exponent {self.lam:g}" if self.lam != 1.0 else
                   f"none (the best exponent, {best:g}, gains less than "
                   f"{EVIDENCE_MARGIN:g} nats)")
        return (f"output warping: {verdict}; log evidence over the identity from "
                f"{self.n_points} history values: {tried}")


def choose_warp(
    X: Tensor, Y: Tensor, tasks: Tensor, num_tasks: int,
    build: Callable[[Tensor, Tensor, Tensor, bool], HierarchicalGP],
) -> OutputWarp:
    """The exponent of the history's values by the evidence (module doc).

    Args:
        X: ``n x d`` features of the history (the other tasks' observations).
        Y: ``n`` values, oriented for maximization.
        tasks: ``n`` task labels ``0 .. num_tasks - 1``.
        num_tasks: Number of tasks.
        build: ``build(X, labels, u, shared)`` -> an unfitted :class:`HierarchicalGP` of
            ``n' x d`` features, ``n' x 1`` labels and ``n' x 1`` standardized values, with
            ``g`` when ``shared`` (called with False).

    Returns:
        The choice; the identity, with no evidence, when no task has ``MIN_POINTS``
        distinct values.
    """
    keep = stratified_subsample(tasks, Y, num_tasks, MAX_CHOICE_POINTS)
    X, Y, tasks = X[keep], Y[keep], tasks[keep]
    z = _standardized(Y, tasks, num_tasks)
    if not z:
        return OutputWarp()
    rows = torch.cat([(tasks == t).nonzero().squeeze(-1) for t in z])
    labels = tasks[rows].double().unsqueeze(-1)
    log_evidence, model = {}, None
    for lam in EXPONENTS:
        u, log_jacobian = [], 0.0
        for v in z.values():
            w = yeo_johnson(v, lam)
            u.append((w - w.mean()) / w.std())
            log_jacobian += float(log_derivative(v, lam).sum()) - v.size * math.log(w.std())
        fitted = build(X[rows], labels, torch.as_tensor(np.concatenate(u)).unsqueeze(-1),
                       False)
        if model is not None:
            fitted.initialize_from(model)
        model = fitted.fit()
        with torch.no_grad():
            log_evidence[lam] = float(model.log_likelihood()) + log_jacobian
        if len(log_evidence) > 1 and log_evidence[lam] < max(log_evidence.values()):
            break
    evidence = {lam: e - log_evidence[1.0] for lam, e in log_evidence.items()}
    best = max(evidence, key=evidence.get)
    return OutputWarp(best if evidence[best] > EVIDENCE_MARGIN else 1.0, evidence,
                      int(rows.numel()))


def _standardized(Y: Tensor, tasks: Tensor, num_tasks: int) -> dict[int, np.ndarray]:
    """Task -> its values standardized (``z_t``), for tasks with ``MIN_POINTS`` values, not
    all equal."""
    z = {}
    for t in range(num_tasks):
        y = Y[tasks == t].detach().double().numpy()
        if y.size >= MIN_POINTS and y.std() > 0:
            z[t] = (y - y.mean()) / y.std()
    return z
