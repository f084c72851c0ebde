r"""How much the tasks shared, from the posterior draws of a fully Bayesian hierarchical GP.

The posterior counterpart of :mod:`hbo.surrogate.pooling` (the MAP report): every quantity
is computed per NUTS draw ``s`` and summarized by its posterior median and central 90%
interval (5% and 95% quantiles over draws).

* ``tau`` of each hyperparameter group and the shared value ``exp(m)``;
* per task and hyperparameter, ``theta_t = exp(m + tau z_t)`` and its *shrinkage*

      B_t(s) = 1 / (1 + tau_s^2 I_t(theta_s)),

  the Eight Schools factor ``sigma_j^2 / (sigma_j^2 + tau^2)`` with the Fisher
  information ``I_t`` of task ``t``'s data about ``log theta_t`` in place of
  ``1 / sigma_j^2`` (:mod:`hbo.surrogate.information`), at each draw: 0 = the task's own
  data decide, 1 = fully pooled;
* with the shared function ``g``, each task's function-level share
  ``a_t^2 / (a_t^2 + s_t^2)`` per draw.

Negative transfer: when the target's share concentrates near 0 (its 95% quantile below
:data:`NEGATIVE_TRANSFER_SHARE`), the sources' function values carry almost nothing into
the target's predictions, and the report says so in words.

Plots (:mod:`hbo.surrogate.posterior_pooling_plots`): posteriors of every ``tau`` with their
Half-Normal priors, the per-task shrinkage forest, and the funnel of ``log tau`` against
the target's ``z``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from matplotlib.figure import Figure

from hbo.surrogate.information import fisher_information
from hbo.surrogate.output_warping import OutputWarp
from hbo.surrogate.pooling import hyperparameter_names
from hbo.surrogate.priors import GROUP_SPEC
from hbo.surrogate.shared_choice import SharedFunctionChoice
from hbo.surrogate.source_screening import SourceScreen, left_out_lines

#: The target's share is "near 0" when its posterior 95% quantile is below this.
NEGATIVE_TRANSFER_SHARE = 0.1
#: Central posterior interval of the report.
INTERVAL = (0.05, 0.95)


def _summary(draws: np.ndarray) -> tuple[float, float, float]:
    """Median and 90% interval of draws (first axis)."""
    lo, med, hi = np.quantile(draws, [INTERVAL[0], 0.5, INTERVAL[1]], axis=0)
    return float(med), float(lo), float(hi)


def _fmt(med: float, lo: float, hi: float) -> str:
    return f"{med:.3g} [{lo:.3g}, {hi:.3g}]"


@dataclass
class PosteriorPoolingReport:
    """Posterior pooling of a :class:`~hbo.surrogate.fully_bayesian.FullyBayesianHierarchicalGP`.

    Attributes:
        groups: One row per group: ``shared_value`` (median of ``exp(m)``, geometric mean
            over inputs for the lengthscale) with ``shared_value_5%`` / ``_95%``,
            ``tau`` (median) with ``tau_5%`` / ``tau_95%``, and what the group means.
        tasks: One row per (task, hyperparameter): ``value`` and ``shrinkage`` (medians)
            with their ``_5%`` / ``_95%`` quantiles, and ``group``.
        function_share: Per task ``share`` (median), ``share_5%``, ``share_95%``; None
            without ``g``.
        tau_draws: Group -> ``S`` draws of tau (for the plots).
        log_tau_z: Group -> ``(log tau draws, target z draws)`` for the funnel plot (the
            first input's ``z`` for the lengthscale), and whether each draw diverged.
        target: The task suggestions are made for.
        shared_choice: Whether ``g`` was kept (:mod:`hbo.surrogate.shared_choice`).
        left_out: The other tasks left out of the model because their own observations
            showed no function (:mod:`hbo.surrogate.source_screening`).
        output_warp: The output warping of the values the model was fitted to
            (:mod:`hbo.surrogate.output_warping`), when the study warps them.
        tau_scales: Group -> Half-Normal scale of tau's prior.
    """

    groups: pd.DataFrame
    tasks: pd.DataFrame
    function_share: pd.DataFrame | None
    tau_draws: dict[str, np.ndarray]
    log_tau_z: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]
    tau_scales: dict[str, float]
    target: str | None = None
    shared_choice: SharedFunctionChoice | None = None
    left_out: tuple[SourceScreen, ...] = ()
    output_warp: OutputWarp | None = None

    @classmethod
    def from_ensemble(
        cls,
        ensemble,
        task_names: Sequence[str],
        feature_names: Sequence[str] | None = None,
        target: str | None = None,
        shared_choice: SharedFunctionChoice | None = None,
        left_out: Sequence[SourceScreen] = (),
        output_warp: OutputWarp | None = None,
    ) -> PosteriorPoolingReport:
        """Build the report from the draws of a fully Bayesian model."""
        model = ensemble.model
        theta = {g: v.numpy() for g, v in ensemble.per_draw_log_hyperparameters().items()}
        info = _information_per_draw(ensemble)
        D = theta["lengthscale"].shape[-1]
        target_index = list(task_names).index(target) if target in task_names else 0
        group_rows, task_rows, tau_draws, funnels = [], [], {}, {}
        for g in model.groups:
            m = ensemble.draws[f"m.{g}"].numpy().reshape(ensemble.num_draws, -1).mean(-1)
            if f"log_tau.{g}" in ensemble.draws:
                log_tau = ensemble.draws[f"log_tau.{g}"].numpy()
            else:  # fixed tau, or one task (tau = 0: nothing to pool)
                log_tau = np.full(ensemble.num_draws, np.log(max(float(model.tau(g)), 1e-300)))
            tau = np.exp(log_tau) if model.hierarchical else np.zeros(ensemble.num_draws)
            tau_draws[g] = tau
            if model.hierarchical:
                funnels[g] = _funnel_draws(ensemble, g, target_index, log_tau)
            med, lo, hi = _summary(np.exp(m))
            t_med, t_lo, t_hi = _summary(tau)
            group_rows.append({
                "group": g, "shared_value": med, "shared_value_5%": lo, "shared_value_95%": hi,
                "tau": t_med, "tau_5%": t_lo, "tau_95%": t_hi, "meaning": GROUP_SPEC[g].meaning,
            })
            value = theta[g].reshape(ensemble.num_draws, model.num_tasks, -1)
            shrink = 1.0 / (1.0 + tau[:, None, None] ** 2 * info[g].reshape(value.shape))
            if not model.hierarchical:  # one task: its own estimate, as the MAP report
                shrink = np.zeros_like(shrink)
            names = hyperparameter_names(g, feature_names, D)
            for t, task in enumerate(task_names):
                for j, name in enumerate(names):
                    v, v_lo, v_hi = _summary(np.exp(value[:, t, j]))
                    b, b_lo, b_hi = _summary(shrink[:, t, j])
                    task_rows.append({
                        "task": task, "hyperparameter": name, "group": g,
                        "value": v, "value_5%": v_lo, "value_95%": v_hi,
                        "shrinkage": b, "shrinkage_5%": b_lo, "shrinkage_95%": b_hi,
                    })
        share = None
        if model.shared_function:
            a2, s2 = np.exp(theta["shared_scale"]), np.exp(theta["outputscale"])
            draws = a2 / (a2 + s2)  # S x T
            share = pd.DataFrame(
                [_summary(draws[:, t]) for t in range(model.num_tasks)],
                index=list(task_names), columns=["share", "share_5%", "share_95%"],
            )
        return cls(
            groups=pd.DataFrame(group_rows).set_index("group"),
            tasks=pd.DataFrame(task_rows).set_index(["task", "hyperparameter"]),
            function_share=share,
            tau_draws=tau_draws,
            log_tau_z=funnels,
            tau_scales={g: model.hyperpriors[g].tau_scale for g in model.groups},
            target=target,
            shared_choice=shared_choice,
            left_out=tuple(left_out),
            output_warp=output_warp,
        )

    @property
    def negative_transfer(self) -> bool:
        """True when the target's function-level share concentrates near 0."""
        if self.function_share is None or self.target not in self.function_share.index:
            return False
        return bool(self.function_share.loc[self.target, "share_95%"] < NEGATIVE_TRANSFER_SHARE)

    def to_frame(self) -> pd.DataFrame:
        """One row per (task, hyperparameter) with the group's tau interval and the share."""
        cols = ["shared_value", "tau", "tau_5%", "tau_95%"]
        frame = self.tasks.reset_index().join(self.groups[cols], on="group")
        if self.function_share is not None:
            frame = frame.join(
                self.function_share.rename(columns=lambda c: "function_" + c), on="task"
            )
        return frame

    def __str__(self) -> str:
        tasks = list(dict.fromkeys(self.tasks.index.get_level_values("task")))
        target = f" (target: {self.target})" if self.target else ""
        n = len(next(iter(self.tau_draws.values())))
        groups = pd.DataFrame({
            "shared value": [_fmt(*r) for r in self.groups[
                ["shared_value", "shared_value_5%", "shared_value_95%"]].itertuples(index=False)],
            "tau": [_fmt(*r) for r in self.groups[["tau", "tau_5%", "tau_95%"]].itertuples(
                index=False)],
            "meaning": self.groups["meaning"],
        }, index=self.groups.index)
        cells = self.tasks.apply(
            lambda r: f"{r['value']:.3g} (B {r['shrinkage']:.2f} "
            f"[{r['shrinkage_5%']:.2f}, {r['shrinkage_95%']:.2f}])", axis=1,
        )
        order = list(dict.fromkeys(self.tasks.index.get_level_values("hyperparameter")))
        lines = [
            f"Posterior pooling across {len(tasks)} task(s){target}: medians [90% intervals] "
            f"over {n} NUTS draws",
            *(["one task: nothing to pool; each hyperparameter is the task's own"]
              if len(tasks) == 1 else []),
            "",
            "Spread between tasks, per hyperparameter group (tau on the log scale: 0 = one "
            "shared value, large = every task its own)",
            groups.to_string(),
            "",
            "Per task: median value (posterior shrinkage B toward the shared value: "
            "0 = own estimate, 1 = fully pooled)",
            cells.unstack("hyperparameter").loc[tasks, order].to_string(),
        ]
        if self.function_share is not None:
            share = self.function_share.apply(lambda r: _fmt(*r), axis=1)
            lines += [
                "",
                "Function-level share a_t^2 / (a_t^2 + s_t^2) (0 = borrows nothing from "
                "the others' observations, 1 = the same function)",
                share.to_string(),
            ]
            if self.negative_transfer:
                hi = self.function_share.loc[self.target, "share_95%"]
                lines += [
                    "",
                    f"Negative transfer: the sources are not helping {self.target!r}. The "
                    f"posterior of its function-level share concentrates near 0 (95% "
                    f"quantile {hi:.2f}): the other tasks' observations carry almost nothing "
                    "into its predictions; only hyperparameters are shared.",
                ]
        if self.shared_choice is not None:
            lines += ["", str(self.shared_choice)]
        lines += left_out_lines(self.left_out)
        if self.output_warp is not None:
            lines += ["", str(self.output_warp)]
        return "\n".join(lines)

    def plot_tau(self, path: str | os.PathLike | None = None) -> Figure:
        """Posterior of each group's tau (histogram) with its Half-Normal prior."""
        from hbo.surrogate.posterior_pooling_plots import tau_figure

        return _saved(tau_figure(self), path)

    def plot_shrinkage(self, path: str | os.PathLike | None = None) -> Figure:
        """Per-task values with 90% intervals against the shared value, and shrinkage B."""
        from hbo.surrogate.posterior_pooling_plots import shrinkage_figure

        return _saved(shrinkage_figure(self), path)

    def plot_funnel(self, path: str | os.PathLike | None = None) -> Figure:
        """``log tau`` against the target's ``z`` for each group, divergent draws in red."""
        from hbo.surrogate.posterior_pooling_plots import funnel_figure

        return _saved(funnel_figure(self), path)


def _saved(fig: Figure, path: str | os.PathLike | None) -> Figure:
    if path is not None:
        fig.savefig(path, format="png", dpi=120)
    return fig


def _information_per_draw(ensemble) -> dict[str, np.ndarray]:
    """Group -> ``S x T x ...`` Fisher information of each task's data, at each draw."""
    per_draw = ensemble.for_each_draw(
        lambda model: fisher_information(model, model.log_hyperparameters(),
                                         model._posterior_cache()[1])
    )
    return {g: torch.stack([i[g] for i in per_draw]).numpy() for g in per_draw[0]}


def _funnel_draws(
    ensemble, group: str, task: int, log_tau: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(log tau, z of task [first input], diverged)`` over every post-warm-up draw.

    Without a NUTS run (an ensemble built from given draws) or with a fixed tau: the kept
    draws, none marked divergent; ``log_tau`` is then the kept draws'.
    """
    T = ensemble.model.num_tasks
    if ensemble.result is None or f"log_tau.{group}" not in ensemble.result.samples:
        z = ensemble.draws[f"z.{group}"].numpy().reshape(len(log_tau), T, -1)[:, task, 0]
        return log_tau, z, np.zeros(len(log_tau), dtype=bool)
    samples = ensemble.result.samples
    all_log_tau = samples[f"log_tau.{group}"].numpy().reshape(-1)
    z = samples[f"z.{group}"].numpy().reshape(len(all_log_tau), T, -1)[:, task, 0]
    diverging = ensemble.result.idata.sample_stats["diverging"].values.astype(bool)
    return all_log_tau, z, diverging.reshape(-1)
