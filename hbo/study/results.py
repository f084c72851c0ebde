"""What a study has found: the best trial, the Pareto front and its hypervolume, the trials
as a table, and the surrogate's pooling and convergence reports.

:class:`StudyResults` holds the read-only half of :class:`hbo.Study` (which derives from
it), so that the façade's module stays one sitting long; it reads the study's storage,
outcomes (:mod:`hbo.study.outcomes`) and proposer, and changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd
from botorch.utils.sampling import manual_seed

from hbo.errors import InvalidArgumentError, NotReadyError
from hbo.proposer import HierarchicalProposer, Proposer
from hbo.space import SearchSpace
from hbo.storage import Storage
from hbo.study.frame import trials_frame
from hbo.study.outcomes import OutcomeConstraint, Outcomes
from hbo.surrogate.pooling import PoolingReport
from hbo.surrogate.target_gp import TargetGP
from hbo.trial import Trial, TrialState

if TYPE_CHECKING:  # the fully Bayesian modules load pyro and ArviZ: imported where used
    from hbo.diagnostics import ConvergenceReport
    from hbo.surrogate.posterior_pooling import PosteriorPoolingReport


class StudyResults:
    """The results of a :class:`hbo.Study` (see there)."""

    space: SearchSpace
    task: str
    seed: int
    storage: Storage
    proposer: Proposer
    direction: str
    _outcomes: Outcomes

    @property
    def objectives(self) -> dict[str, str]:
        """Objective name -> ``"minimize"`` or ``"maximize"``, in order."""
        return dict(self._outcomes.objectives)

    @property
    def constraints(self) -> list[OutcomeConstraint]:
        """The outcome constraints (:class:`~hbo.study.outcomes.OutcomeConstraint`)."""
        return list(self._outcomes.constraints)

    @property
    def outcomes(self) -> list[str]:
        """Every outcome a trial is told: the objectives, then the constrained outcomes."""
        return self._outcomes.names

    def is_feasible(self, trial: Trial) -> bool:
        """Whether ``trial`` is complete with every outcome and meets every constraint."""
        return trial.values is not None and self._outcomes.feasible(trial.values)

    @property
    def tasks(self) -> list[str]:
        """Every task the study knows: the target first, then in order of appearance."""
        names = [self.task] + [t.task for t in self.storage.get_trials()]
        return list(dict.fromkeys(names))

    @property
    def best_params(self) -> dict[str, Any]:
        """The parameters of :attr:`best`."""
        return self.best.params

    @property
    def best_value(self) -> float:
        """The objective value of :attr:`best`."""
        return self.best.value

    @property
    def best(self) -> Trial:
        """The best completed trial on the target task that meets every constraint (a
        study with one objective; with several, see :meth:`pareto_front`)."""
        if len(self.objectives) > 1:
            raise InvalidArgumentError(
                f"best is defined for one objective; this study has {self.objectives}: "
                "use study.pareto_front() (the feasible non-dominated trials)"
            )
        done = self.storage.get_trials(self.task, [TrialState.COMPLETE])
        if not done:
            raise NotReadyError(
                f"no completed trial on task {self.task!r} yet: call study.tell(trial, value) "
                "after study.ask()"
            )
        feasible = [t for t in done if self.is_feasible(t)]
        if not feasible:
            raise NotReadyError(
                f"none of the {len(done)} completed trial(s) on task {self.task!r} is "
                f"feasible: each violates a constraint of {[str(c) for c in self.constraints]}"
                " (or, added as history, lacks an outcome)"
            )
        pick = min if self.direction == "minimize" else max
        return pick(feasible, key=lambda t: t.value)

    def pareto_front(self) -> list[Trial]:
        """The Pareto front: the completed target trials that meet every constraint and
        that no other such trial dominates (no worse in every objective, better in one), in
        id order. With one objective, the best trial(s)."""
        done = self.storage.get_trials(self.task, [TrialState.COMPLETE])
        return self._outcomes.pareto_front(done)

    def hypervolume(self, reference_point: Mapping[str, float] | Sequence[float]) -> float:
        """The hypervolume dominated by the feasible completed target trials and bounded
        by ``reference_point`` (objective -> value, or a sequence in objective order, in
        the objectives' own units and directions: a point worse than every trial of
        interest). 0 while no feasible trial beats the reference point in every objective."""
        if len(self.objectives) < 2:
            raise InvalidArgumentError(
                f"hypervolume needs several objectives; this study has {self.objectives} "
                "(see study.best)"
            )
        done = self.storage.get_trials(self.task, [TrialState.COMPLETE])
        return self._outcomes.hypervolume(done, reference_point)

    def trials_dataframe(self) -> pd.DataFrame:
        """One row per trial, every task: id, task, origin, state, value (one objective),
        ``values_<name>`` per outcome (several outcomes), parameters, start, end and
        duration, user attributes (:mod:`hbo.study.frame`)."""
        outcomes = None if self._outcomes.single else self.outcomes
        return trials_frame(self.space, self.storage.get_trials(), outcomes,
                            value=len(self.objectives) == 1)

    def pooling(self, outcome: str | None = None) -> PoolingReport | PosteriorPoolingReport:
        """How much the tasks shared, from the surrogate of ``outcome`` (default: the
        first objective) fitted to all completed trials that have it.

        With ``inference="nuts"``, a
        :class:`~hbo.surrogate.posterior_pooling.PosteriorPoolingReport` of the posterior
        draws (medians and 90% intervals).
        """
        proposer = self._hierarchical("pooling()")
        outcome = self.outcomes[0] if outcome is None else outcome
        if outcome not in self.outcomes:
            raise InvalidArgumentError(
                f"pooling: unknown outcome {outcome!r}; this study's outcomes are "
                f"{self.outcomes}"
            )
        done = [t for t in self.storage.get_trials(states=[TrialState.COMPLETE])
                if outcome in t.values]
        if not done:
            raise NotReadyError(
                "pooling() needs completed trials: call study.add_history or study.tell first"
            )
        # before the target's first result, the report covers the tasks with data
        has_target = any(t.task == self.task for t in done)
        focus = self.task if has_target else done[0].task
        with manual_seed(self.seed):
            model = proposer.fit(self, focus, outcome)
        if proposer.inference == "nuts":
            from hbo.surrogate.posterior_pooling import PosteriorPoolingReport

            report = PosteriorPoolingReport.from_ensemble
        else:
            report = PoolingReport.from_model
        left_out = [s for s in proposer.source_screens(self, focus, outcome) if not s.kept]
        choice = proposer.shared_choices.get(outcome) if has_target else None
        extra = {}
        if proposer.warps_outputs(self):
            extra["output_warp"] = proposer.output_warp
        if isinstance(model, TargetGP):  # hierarchical training: the report of stage A
            extra["approximation"] = model.describe()
            tasks = proposer.stage_a_task_names(outcome)
            model = model.sources.model_for(model.shared_function)
        else:
            base = getattr(model, "model", model)
            tasks = [self.tasks[label] for label in base.task_labels]
        return report(
            model, tasks, self.space.feature_names(), target=self.task if has_target else None,
            shared_choice=choice, left_out=left_out, **extra,
        )

    def diagnostics(self) -> ConvergenceReport:
        """Convergence of the last NUTS run (``inference="nuts"``): R-hat, ESS, divergences."""
        return self._hierarchical("diagnostics()").diagnostics()

    def _hierarchical(self, method: str) -> HierarchicalProposer:
        if not isinstance(self.proposer, HierarchicalProposer):
            raise InvalidArgumentError(
                f"{method} reports on the hierarchical surrogate; this study's proposer is "
                f"{self.proposer!r}"
            )
        return self.proposer
