r"""Does a source show any function at all? A likelihood-ratio screen before pooling.

A source enters the hierarchical GP as evidence about functions: its fitted lengthscales,
outputscale and noise join the population the target's are drawn towards. A source whose
observations show no dependence on the inputs (an objective the hyperparameters did not
move, or values that lost their configurations) has no lengthscale to contribute, yet its
MAP fit reports one: ARD type-II maximum likelihood on 50 points of noise puts short
lengthscales on a few inputs, and pooled, such overfits agree with each other, ``tau`` is
small, and the target is drawn to lengthscales under which its GP forgets between its
points. On YAHPO Gym with each source's values shuffled, the target kept the sources'
short lengthscales even with 30 points of its own in 3 of 4 cases
(``experiments/negative_transfer_diagnosis.py``, ``results/negative_transfer_diagnosis.md``).

The screen compares, on the normal scores ``y`` of the source's own observations (``n`` of
them; see below), its MAP GP with the model of no function, a constant plus white noise at
its maximum likelihood (mean ``ybar``, variance ``s^2 = mean((y - ybar)^2)``):

    Lambda = 2 [log N(y; c, K_MAP) - log N(y; ybar, s^2 I)],

the likelihood-ratio statistic of the ``k = D + 1`` parameters the GP adds (``D``
lengthscales and the outputscale; ``D`` counts one-hot columns). The source is kept when
``Lambda > chi2_{1 - ALPHA / S}(k)`` (Wilks 1938), ``S`` the number of sources screened
together: the level is family-wise (Bonferroni), so that a history of many unrelated
sources lets through at most about ``ALPHA`` of them in all, not ``ALPHA`` of each. At 50
points the test was conservative: the null sits on the boundary (outputscale 0), where
``Lambda`` follows a mixture of ``chi2``'s with fewer degrees of freedom (Self & Liang 1987,
JASA 82:605), and the MAP's priors keep the gain below the maximum likelihood's; 20 shuffled
sources gained 0.2 to 4.7 nats (``Lambda/2``) against a bar of 7.8 (lcbench, ``k = 8``),
the 20 unshuffled ones 12 to 95. At 100 points it was not: on YAHPO with each source's
values shuffled, 20 sources x 100 points, 16 targets (seed 0), the per-source bar
``chi2_{0.95}`` let through 31 of 320 shuffled sources on lcbench and 15 of 320 on
rbv2_rpart, and hbo with that history had 1.67 [0.99, 2.92] times the regret of hbo
without history after 30 evaluations (``experiments/results/yahpo_benchmark.md``). The
family-wise bar (11.9 and 10.1 nats) lets through 4 and 3; real sources gained 28 to 253
nats there. At 5 x 50 it left out 2 of the 240 real lcbench sources of seeds 0-2 that the
per-source bar kept (gains 9.0 and 9.8 against 10.0), and none of rbv2_rpart's
(``experiments/results/source_screen_family_wise.md``).

Normal scores, not the values: both models of ``Lambda`` are Gaussian, and a tuning
objective's values are not (lcbench's accuracies bunch near the best with a long tail of
failed configurations; skewness down to -5). With no function, the null is then wrong: the
GP explains two neighbouring outliers by correlation, and the values of shuffled sources
passed more often than the level allows. Blom's normal scores ``Phi^-1((r - 3/8) /
(n + 1/4))`` of the ranks ``r`` are nearly exactly Gaussian under no function (a random
order of fixed normal quantiles), whatever the values' distribution, and a monotone
transform of the objective does not change them. On the benchmark's YAHPO histories
(``experiments/source_screen_calibration.py``, 16 targets x 3 seeds per scenario and
setting), shuffled histories with any source passed went from 21 of 192 on the values to 4
of 192 on normal scores (at most 5% are allowed; 6 of 48 to 3 of 48 on lcbench 20 x 100),
and real sources kept stayed 2,396 of 2,400: at 5 x 50, two lcbench sources with
skewed values now fall below the bar (gains 14.5 and 21.1 on values, 8.5 and 7.1 on scores,
bar 10.0) and the two the values had dropped are kept
(``experiments/results/source_screen_calibration.md``).

A source with fewer than ``MIN_POINTS_PER_PARAMETER * k`` observations is kept untested:
there the test cannot see a real function, and dropping a real, related source costs the
target its history. Measured: a noise-free quadratic plus a categorical offset observed at
12 Sobol points (``k = 6``, 2 points per parameter) gained 3.7 to 7.8 nats against a bar of
6.3 and was left out in 5 of 6 draws; Hartmann-6 sources of the transfer benchmark (30
random points, ``k = 7``, 4.3 per parameter) gained 2.6 to 11.6 against 7.0 and were left
out in 9 of 15, which made hbo's regret after 5 evaluations 1.67 [1.09, 2.69] times what it
was with them (``experiments/results/transfer_redesign_check_paired.md``); Hartmann-3
sources (30 points, ``k = 4``, 7.5 per parameter) gained 18 to 41 and lcbench's (50
points, ``k = 8``, 6.25 per parameter) 6 to 68, all but one of 80 kept. The target is never
screened.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from scipy import stats

from hbo.surrogate.hierarchical_gp import HierarchicalGP, one_hot
from hbo.surrogate.training_data import check_categorical

#: Family-wise level of the screen: of the sources screened together, one with no function
#: passes it at most this often.
ALPHA = 0.05
#: Observations per tested parameter (``k = D + 1``) below which a source is kept untested.
MIN_POINTS_PER_PARAMETER = 6


@dataclass(frozen=True)
class SourceScreen:
    """The screen of one source: the gain ``Lambda / 2`` (nats) and the bar it had to pass.

    ``gain`` and ``bar`` are None when the source had too few observations to test.
    """

    task: str
    n: int
    gain: float | None
    bar: float | None

    @property
    def kept(self) -> bool:
        return self.gain is None or self.gain > self.bar

    def __str__(self) -> str:
        if self.gain is None:
            return f"{self.task}: kept untested ({self.n} observations)"
        verdict = "kept" if self.kept else "left out: no function shown"
        return (f"{self.task}: {verdict} (GP log likelihood of the normal scores "
                f"{self.gain:.1f} nats above a constant plus noise; bar {self.bar:.1f}, "
                f"{self.n} observations)")


def left_out_lines(left_out: Sequence[SourceScreen]) -> list[str]:
    """The pooling reports' lines on the tasks the screen left out (none: no lines)."""
    if not left_out:
        return []
    return ["", "Left out of the model: their own observations show no function "
            "(a constant plus noise fits them about as well; hbo.surrogate.source_screening)",
            *[f"  {screen}" for screen in left_out]]


def normal_scores(Y: torch.Tensor) -> torch.Tensor:
    """Blom's normal scores of ``Y`` (``n x 1``): ``Phi^-1((r - 3/8) / (n + 1/4))``, ``r`` the
    values' ranks (ties share their mean rank). Blom (1958), *Statistical Estimates and
    Transformed Beta-Variables*; the rank-based inverse normal transform."""
    n = Y.shape[0]
    ranks = torch.as_tensor(stats.rankdata(Y[:, 0].tolist()), dtype=Y.dtype)
    return torch.as_tensor(stats.norm.ppf(((ranks - 0.375) / (n + 0.25)).numpy()),
                           dtype=Y.dtype).unsqueeze(-1)


def function_gain(
    X: torch.Tensor,
    Y: torch.Tensor,
    *,
    categorical_dims: Mapping[int, int] | None = None,
    **model_options,
) -> float:
    """``Lambda / 2`` (nats) of ``Y`` (``n x 1``, not constant) at ``X`` (``n x d``) as given:
    the log likelihood of the MAP GP (fitted alone, ``model_options`` as in the pool) above
    that of a constant plus white noise at its maximum likelihood."""
    n = Y.shape[0]
    labels = torch.zeros(n, 1, dtype=X.dtype)
    model = HierarchicalGP(torch.cat([X, labels], -1), Y, categorical_dims=categorical_dims,
                           **model_options)
    model.fit()
    y = model._y
    variance = float((y - y.mean()).pow(2).mean())
    with torch.no_grad():
        gp = float(model.log_likelihood())
    return gp + 0.5 * n * (math.log(2 * math.pi * variance) + 1.0)


def screen_source(
    task: str,
    X: torch.Tensor,
    Y: torch.Tensor,
    *,
    categorical_dims: Mapping[int, int] | None = None,
    num_sources: int = 1,
    **model_options,
) -> SourceScreen:
    """Screen one source: ``X`` (``n x d`` features), ``Y`` (``n x 1``) its observations,
    one of ``num_sources`` screened together (the bar is family-wise over them), on the
    normal scores of ``Y``.

    ``model_options`` (``hyperpriors``, ``kernel``) are those of the hierarchical GP, so
    that the source is fitted alone as it would be in the pool.
    """
    n = Y.shape[0]
    # D + 1: the kernel's inputs (a categorical column one-hot) and the outputscale
    k = one_hot(X[:1], check_categorical(categorical_dims, X)).shape[-1] + 1
    if n < MIN_POINTS_PER_PARAMETER * k:
        return SourceScreen(task, n, None, None)
    bar = 0.5 * float(stats.chi2.ppf(1 - ALPHA / max(1, num_sources), k))
    if bool((Y.std() == 0).item()):  # a constant source shows no function
        return SourceScreen(task, n, 0.0, bar)
    gain = function_gain(X, normal_scores(Y), categorical_dims=categorical_dims,
                         **model_options)
    return SourceScreen(task, n, gain, bar)
