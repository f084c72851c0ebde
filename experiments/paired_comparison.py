r"""Two benchmark arms compared run for run, and the non-inferiority test of one against the other.

Regrets are compared on the log scale: for the runs of arms ``a`` and ``b`` on the same
family and seed, ``d = log10(r_b / r_a)`` at a checkpoint (regrets floored at 1e-12), so
that ``10^mean(d)`` is the geometric-mean regret ratio and runs whose regrets differ by
orders of magnitude weigh alike.

**Non-inferiority** ("``b`` is at least as good as ``a``"): equality cannot be shown, only
that ``b`` is not worse than ``a`` by more than a margin ``delta`` (log10 units). The margin
is set by the fixed-fraction method of non-inferiority trials (FDA, *Non-Inferiority
Clinical Trials to Establish Effectiveness*, 2016, section IV): ``a``'s own effect over a
control ``c`` (for hbo: the target-alone GP, i.e. what the history buys),

    M1 = min over families f of the lower one-sided 95% t bound of mean_i log10(r_c / r_a),

and ``delta = (1 - preserve) M1``: ``b`` must keep at least ``preserve`` (default 90%) of
``a``'s gain, on the log scale, in the family where that gain is smallest. The families'
mean differences ``dbar_f`` (variance ``s_f^2 / n_f``) are pooled by inverse-variance
weights (the fixed-effect model of :func:`hbo.meta.random_effects`: inference about these
families, which is the question), with the random-effects model (REML, Knapp-Hartung) as a
sensitivity analysis. ``b`` is non-inferior at a checkpoint when the pooled upper one-sided
95% bound is below ``delta``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from scipy import stats

#: Share of the reference arm's gain over the control that the other arm must keep.
PRESERVE = 0.9
#: Regrets are floored here before taking logs (a regret can reach 0).
REGRET_FLOOR = 1e-12

Regrets = Mapping[tuple[str, str, int], np.ndarray]  # (family, arm, seed) -> best-so-far regret


def at(curve: np.ndarray, k: int) -> float:
    """The best-so-far regret after ``k`` evaluations; NaN for a run shorter than ``k``."""
    return float(curve[k - 1]) if len(curve) >= k else np.nan


def arm_table(runs_by_arm: Mapping[str, Sequence[Mapping]], curve, checkpoints: Sequence[int],
              timed_from: int) -> list[str]:
    """Markdown rows, one per arm with runs: its runs, the median [IQR] of regret at each
    checkpoint (runs shorter than it left out), and the median seconds per ask from ask
    ``timed_from`` on (``-`` without timed asks). ``curve(run)`` is a run's regret curve;
    ``runs_by_arm`` maps the row's label to the runs (each with ``ask_seconds``)."""
    head = ("| arm | runs | " + " | ".join(f"@{k} median [IQR]" for k in checkpoints)
            + " | s / ask |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for label, runs in runs_by_arm.items():
        if not runs:
            continue
        cells = []
        for k in checkpoints:
            v = np.array([at(curve(r), k) for r in runs])
            q = np.percentile(v[~np.isnan(v)], [25, 50, 75]) if (~np.isnan(v)).any() else None
            cells.append("-" if q is None else f"{q[1]:.3g} [{q[0]:.3g}, {q[2]:.3g}]")
        asks = [s for r in runs for s in r["ask_seconds"][timed_from:]]
        seconds = f"{np.median(asks):.3g}" if asks else "-"
        lines.append(f"| {label} | {len(runs)} | " + " | ".join(cells) + f" | {seconds} |")
    return lines


def log10_ratio(b: float, a: float) -> float:
    """``log10(b / a)`` of two regrets, each floored at ``REGRET_FLOOR``."""
    return float(np.log10(max(b, REGRET_FLOOR) / max(a, REGRET_FLOOR)))


def paired_log_ratios(regret: Regrets, family: str, arm_a: str, arm_b: str, k: int) -> list[float]:
    """``log10(r_b / r_a)`` after ``k`` evaluations, one per seed both arms reached ``k`` on."""
    d = []
    for (f, arm, seed), a in sorted(regret.items()):
        b = regret.get((f, arm_b, seed))
        if f == family and arm == arm_a and b is not None and min(len(a), len(b)) >= k:
            d.append(log10_ratio(b[k - 1], a[k - 1]))
    return d


def bootstrap_interval(d: Sequence[float], rng: np.random.Generator) -> tuple[float, float]:
    """90% percentile-bootstrap interval of the mean of ``d`` (20,000 resamples)."""
    boot = rng.choice(np.asarray(d), (20000, len(d))).mean(axis=1)
    lo, hi = np.quantile(boot, [0.05, 0.95])
    return float(lo), float(hi)


def paired_row(label: str, d: Sequence[float], rng: np.random.Generator) -> str:
    """One table row of paired ``log10`` regret ratios ``d`` (``b`` against ``a``): pairs,
    ``b <= a`` count, mean with a 90% bootstrap interval, its power of ten (the
    geometric-mean ratio) and the Wilcoxon signed-rank p. ``label`` fills the leading cells."""
    if len(d) < 2:
        return f"| {label} | {len(d)} | - | - | - | - |"
    d = np.asarray(d)
    lo, hi = bootstrap_interval(d, rng)
    p = stats.wilcoxon(d).pvalue if np.any(d != 0) else 1.0
    return (f"| {label} | {len(d)} | {int((d <= 0).sum())} | "
            f"{d.mean():+.3f} [{lo:+.3f}, {hi:+.3f}] | "
            f"{10 ** d.mean():.3g} [{10 ** lo:.3g}, {10 ** hi:.3g}] | {p:.2f} |")


def paired_table(regret: Regrets, families: Sequence[str], arm_a: str, arm_b: str,
                 checkpoints: Sequence[int] = (5, 10, 25)) -> str:
    """``arm_b`` against ``arm_a`` per family and pooled over the families (pairs weighted
    alike), at each checkpoint some pair of runs reached: rows of :func:`paired_row`."""
    rng = np.random.default_rng(0)
    lines = [f"Paired by seed, {arm_b} against {arm_a}:", "",
             f"| family | evaluations | pairs | {arm_b} <= {arm_a} | mean log10 ratio [90%] "
             "| geometric-mean ratio [90%] | Wilcoxon p |", "|---|---|---|---|---|---|---|"]
    for k in checkpoints:
        per_family = {f: paired_log_ratios(regret, f, arm_a, arm_b, k) for f in families}
        if not any(per_family.values()):
            continue
        for family, d in per_family.items():
            lines.append(paired_row(f"{family} | {k}", d, rng))
        lines.append(paired_row(f"pooled | {k}", sum(per_family.values(), []), rng))
    return "\n".join(lines) + "\n"


def margin(regret: Regrets, families: Sequence[str], arm_a: str, control: str, k: int,
           preserve: float = PRESERVE) -> tuple[float, str]:
    """``delta = (1 - preserve) M1`` in log10 units, and the family that sets ``M1`` (module
    docstring). Raises ``ValueError`` when a family lacks two pairs of ``arm_a`` and
    ``control``, or when ``arm_a`` does not beat the control there (no gain to keep)."""
    bounds = {}
    for family in families:
        e = np.asarray(paired_log_ratios(regret, family, arm_a, control, k))  # log10(r_c / r_a)
        if len(e) < 2:
            raise ValueError(f"{family}: {len(e)} pairs of {arm_a} and {control} at {k}")
        bounds[family] = e.mean() - stats.t.ppf(0.95, len(e) - 1) * e.std(ddof=1) / np.sqrt(len(e))
    family = min(bounds, key=bounds.get)
    if bounds[family] <= 0:
        raise ValueError(f"{family}: {arm_a} is not shown better than {control} at {k} "
                         f"(lower bound {bounds[family]:+.3f}); no margin can be set")
    return (1 - preserve) * bounds[family], family


def non_inferiority(regret: Regrets, families: Sequence[str], arm_a: str, arm_b: str,
                    control: str, checkpoints: Sequence[int] = (5, 10),
                    preserve: float = PRESERVE) -> str:
    """Is ``arm_b`` at least as good as ``arm_a``? The margin, the pooled estimates and the
    verdict at each checkpoint, as a Markdown table (module docstring)."""
    from hbo.meta import random_effects

    lines = [f"Non-inferiority of {arm_b} against {arm_a}: margin = {1 - preserve:.0%} of "
             f"{arm_a}'s log10 gain over {control} (lower 95% bound, weakest family); families "
             "pooled by inverse variance (fixed effect; random effects REML + Knapp-Hartung "
             "beside it):", "",
             "| evaluations | pairs | margin (ratio) [set by] | fixed effect: ratio [90%] | "
             "random effects: ratio [90%], I^2 | non-inferior |",
             "|---|---|---|---|---|---|"]
    for k in checkpoints:
        samples = [np.asarray(paired_log_ratios(regret, f, arm_a, arm_b, k)) for f in families]
        if any(len(d) < 2 for d in samples):
            continue
        try:
            delta, weakest = margin(regret, families, arm_a, control, k, preserve)
        except ValueError as reason:  # the runs stay readable above: say why, do not fail
            lines.append(f"| {k} | {sum(map(len, samples))} | no margin: {reason} | | | |")
            continue
        yi = [d.mean() for d in samples]
        vi = [d.var(ddof=1) / len(d) for d in samples]
        fixed = random_effects(yi, vi, method="FE", level=0.9, labels=families)
        rand = random_effects(yi, vi, method="REML", test="knha", level=0.9, labels=families)
        verdict = "yes" if fixed.ci[1] < delta else "not shown"
        lines.append(
            f"| {k} | {sum(map(len, samples))} | {10 ** delta:.3g} [{weakest}] | "
            f"{10 ** fixed.mu:.3g} [{10 ** fixed.ci[0]:.3g}, {10 ** fixed.ci[1]:.3g}] | "
            f"{10 ** rand.mu:.3g} [{10 ** rand.ci[0]:.3g}, {10 ** rand.ci[1]:.3g}], "
            f"{rand.i2:.0f}% | {verdict} |"
        )
    return "\n".join(lines) + "\n"
