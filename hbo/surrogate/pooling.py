r"""How much the tasks of a fitted HierarchicalGP shared: the GP's Eight Schools table.

For each hyperparameter group the report gives the shared value ``exp(m)`` and the
spread ``tau`` of the per-task log-values. For each task and hyperparameter
``theta_t`` (on the log scale) it gives the fitted value and its *shrinkage*
toward the shared value, defined as in the normal hierarchical model:

    B_t = v_t / (v_t + tau^2),    v_t = 1 / I_t,

with ``I_t`` the Fisher information of task ``t``'s data about ``log theta_t``
(:mod:`hbo.surrogate.information`). ``v_t`` is the variance of the task's own estimate of
``log theta_t`` (a Laplace approximation), exactly as
``sigma_j^2`` in ``B_j = sigma_j^2 / (sigma_j^2 + tau^2)`` for the Eight Schools.
``B = 0``: the task's own data decide (no pooling); ``B = 1``: fully pooled (the
data say nothing about this hyperparameter, or ``tau = 0``).

With a shared function the report adds each task's function-level share
``a_t^2 / (a_t^2 + s_t^2)``: the fraction of the task's signal variance that is the
shared function (0 = the task borrows nothing from the others' function values).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
import torch

from hbo.surrogate.information import shrinkage
from hbo.surrogate.output_warping import OutputWarp
from hbo.surrogate.priors import GROUP_SPEC
from hbo.surrogate.shared_choice import SharedFunctionChoice
from hbo.surrogate.source_screening import SourceScreen, left_out_lines


def hyperparameter_names(
    group: str, feature_names: Sequence[str] | None, dim: int
) -> list[str]:
    """Row names of a group in the per-task table: ``<group>[<feature>]`` for a group with
    one value per input, the lengthscale (features named ``0 .. dim-1`` when no names are
    given), else the group's name."""
    if not GROUP_SPEC[group].per_input:
        return [group]
    features = list(feature_names) if feature_names is not None else [str(i) for i in range(dim)]
    return [f"{group}[{f}]" for f in features]


@dataclass
class PoolingReport:
    """Pooling of a fitted :class:`~hbo.surrogate.HierarchicalGP`.

    Attributes:
        groups: One row per hyperparameter group: ``shared_value`` (``exp(m)``; one
            column per input for the lengthscale is summarized by its geometric
            mean), ``tau``.
        tasks: One row per (task, hyperparameter): ``value`` and ``shrinkage``.
        function_share: Per task ``a_t^2 / (a_t^2 + s_t^2)``, or None without ``g``.
        target: The task suggestions are made for, if any.
        shared_choice: Whether ``g`` was kept for the target, and why
            (:mod:`hbo.surrogate.shared_choice`), when that was decided by the data.
        left_out: The other tasks left out of the model because their own observations
            showed no function (:mod:`hbo.surrogate.source_screening`).
        output_warp: The output warping of the values the model was fitted to
            (:mod:`hbo.surrogate.output_warping`), when the study warps them.
        approximation: Which approximation of the exact joint model is in use, if any
            (hierarchical training, :mod:`hbo.surrogate.target_gp`; the tables are then
            the sources' fit, and this line gives the target's values).
    """

    groups: pd.DataFrame
    tasks: pd.DataFrame
    function_share: pd.Series | None
    target: str | None = None
    shared_choice: SharedFunctionChoice | None = None
    left_out: tuple[SourceScreen, ...] = ()
    output_warp: OutputWarp | None = None
    approximation: str | None = None

    @classmethod
    def from_model(
        cls,
        model,
        task_names: Sequence[str],
        feature_names: Sequence[str] | None = None,
        target: str | None = None,
        shared_choice: SharedFunctionChoice | None = None,
        left_out: Sequence[SourceScreen] = (),
        output_warp: OutputWarp | None = None,
        approximation: str | None = None,
    ) -> PoolingReport:
        """Build the report from a fitted model (task names in the model's label order)."""
        with torch.no_grad():
            theta = {g: v.detach() for g, v in model.log_hyperparameters().items()}
        shrinkage_of = shrinkage(model)
        D = theta["lengthscale"].shape[-1]
        group_rows, task_rows = [], []
        for g in model.groups:
            tau = float(model.tau(g).detach())
            m = model.m[g].detach()
            group_rows.append(
                {
                    "group": g,
                    "shared_value": float(m.mean().exp()),
                    "tau": tau,
                    "meaning": GROUP_SPEC[g].meaning,
                }
            )
            value = theta[g].reshape(model.num_tasks, -1)
            names = hyperparameter_names(g, feature_names, D)
            shrink = shrinkage_of[g].reshape(model.num_tasks, -1)
            for t, task in enumerate(task_names):
                for j, name in enumerate(names):
                    task_rows.append(
                        {
                            "task": task,
                            "hyperparameter": name,
                            "group": g,
                            "value": float(value[t, j].exp()),
                            "shrinkage": float(shrink[t, j]),
                        }
                    )
        share = None
        if model.shared_function:
            a2, s2 = theta["shared_scale"].exp(), theta["outputscale"].exp()
            share = pd.Series((a2 / (a2 + s2)).tolist(), index=list(task_names), name="share")
        return cls(
            groups=pd.DataFrame(group_rows).set_index("group"),
            tasks=pd.DataFrame(task_rows).set_index(["task", "hyperparameter"]),
            function_share=share,
            target=target,
            shared_choice=shared_choice,
            left_out=tuple(left_out),
            output_warp=output_warp,
            approximation=approximation,
        )

    def to_frame(self) -> pd.DataFrame:
        """One row per (task, hyperparameter) with the group's ``tau`` and the share."""
        frame = self.tasks.reset_index().join(self.groups[["shared_value", "tau"]], on="group")
        if self.function_share is not None:
            frame["function_share"] = frame["task"].map(self.function_share)
        return frame

    def __str__(self) -> str:
        n_tasks = self.tasks.index.get_level_values("task").nunique()
        target = f" (target: {self.target})" if self.target else ""
        lines = [f"Pooling across {n_tasks} task(s){target}"]
        if n_tasks == 1:
            lines.append("one task: nothing to pool; each hyperparameter is the task's own")
        lines += [
            "",
            "Spread between tasks, per hyperparameter group (tau on the log scale: "
            "0 = one shared value,",
            "large = every task its own; tau = 0.7 means tasks differ by a factor of "
            "about 2 at one sd)",
            self.groups.to_string(float_format=lambda v: f"{v:.3g}"),
            "",
            "Per task: fitted value (shrinkage toward the shared value: 0 = own estimate, "
            "1 = fully pooled)",
        ]
        cells = self.tasks.apply(lambda r: f"{r['value']:.3g} ({r['shrinkage']:.2f})", axis=1)
        order = list(dict.fromkeys(self.tasks.index.get_level_values("hyperparameter")))
        tasks = list(dict.fromkeys(self.tasks.index.get_level_values("task")))
        lines.append(cells.unstack("hyperparameter").loc[tasks, order].to_string())
        if self.function_share is not None:
            lines += [
                "",
                "Function-level share a_t^2 / (a_t^2 + s_t^2): how much of each task's signal "
                "is the function shared by all tasks",
                "(0 = borrows nothing from the others' observations, 1 = the same function)",
                self.function_share.to_frame().T.to_string(float_format=lambda v: f"{v:.2f}"),
            ]
        if self.shared_choice is not None:
            lines += ["", str(self.shared_choice)]
        lines += left_out_lines(self.left_out)
        if self.output_warp is not None:
            lines += ["", str(self.output_warp)]
        if self.approximation is not None:
            lines += ["", self.approximation]
        return "\n".join(lines)
