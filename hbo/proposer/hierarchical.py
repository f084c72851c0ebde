"""The default proposer: Expected Improvement on the hierarchical GP of every task's results.

:class:`HierarchicalProposer` proposes the task's Sobol points until it has ``n_initial``
results (with history, by default one point, where the shared function the other tasks
give is best: :mod:`hbo.proposer.history_start`), then maximizes Expected Improvement on
the :class:`~hbo.surrogate.HierarchicalGP` fitted (MAP or NUTS) to the task's results and to
those of every other task the source screen keeps (:mod:`hbo.surrogate.source_screening`),
with the shared-function choice of :mod:`hbo.surrogate.shared_choice`. Fits are cached
while the trials are unchanged, and each starts from the last.

A study of several outcomes (objectives and outcome constraints, :mod:`hbo.study.outcomes`)
gets one such surrogate per outcome, each fitted as the objective's is (its own source
screen, shared-function choice, warm starts and cache, on the trials that have the
outcome), combined in BoTorch's ``ModelListGP`` for the acquisition of
:func:`hbo.acquisition.build_outcome_acquisition`: the expected hypervolume improvement
for several objectives, constrained noisy Expected Improvement for one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import torch
from botorch.models import ModelListGP

from hbo import acquisition
from hbo._warnings import ModelFittingWarning, warn
from hbo.errors import InvalidArgumentError, ModelFittingError, NotReadyError
from hbo.proposer.base import (
    Proposer,
    distinct_points,
    sobol_points,
    taken_points,
    trials_before,
)
from hbo.proposer.hierarchical_training import (
    TRAINING,
    HierarchicalTraining,
    history_key,
    uses_hierarchical_training,
)
from hbo.proposer.history_start import history_start
from hbo.surrogate import HierarchicalGP, Hyperprior
from hbo.surrogate.kernels import Kernel, resolve_kernel
from hbo.surrogate.nuts_options import NUTSOptions
from hbo.surrogate.output_warping import OutputWarp, choose_warp
from hbo.surrogate.priors import check_hyperpriors
from hbo.surrogate.shared_choice import SharedFunctionChoice, fit_surrogate
from hbo.surrogate.source_screening import SourceScreen, screen_source
from hbo.surrogate.target_gp import TargetGP
from hbo.surrogate.training_data import task_standardization
from hbo.trial import Trial, TrialState

if TYPE_CHECKING:  # the fully Bayesian modules load pyro and ArviZ: imported where used
    from hbo.diagnostics import ConvergenceReport
    from hbo.study import Study
    from hbo.surrogate.fully_bayesian import FullyBayesianHierarchicalGP

INFERENCE = ("map", "nuts")
#: Space-filling points whose predicted outcomes place the hypervolume's reference point
#: (:func:`hbo.acquisition.build_outcome_acquisition`).
REFERENCE_SAMPLES = 512


class HierarchicalProposer(Proposer):
    """Expected Improvement on the hierarchical GP fitted to every task's results.

    Args:
        n_initial: Number of Sobol points on a task before the model takes over.
            Default: 1 when other tasks already hold ``max(5, d + 1)`` observations
            (the model is usable from history), else ``max(5, d + 1)``. With history, by
            default, that one point is where the shared function the other tasks give is
            best (:mod:`hbo.proposer.history_start`), not a Sobol point.
        shared_function: Whether the surrogate includes the shared function ``g``
            (:class:`~hbo.surrogate.HierarchicalGP`). None (default): when the model would
            include it, it is kept until the model without it predicts the target's own
            observations clearly better (leave-one-out, by ``LOO_MARGIN`` nats of
            :mod:`hbo.surrogate.shared_choice`); :meth:`pooling` says which was used.
        inference: ``"map"`` (default): the surrogate's hyperparameters at their MAP
            estimate. ``"nuts"``: fully Bayesian; NUTS draws of ``(m, tau, z)`` form an
            ensemble and Expected Improvement is averaged over them
            (:mod:`hbo.surrogate.fully_bayesian`). The shared function ``g`` is chosen first
            as in MAP mode (leave-one-out at the MAP fits, which also start the chains);
            NUTS then samples the chosen model. :meth:`diagnostics` reports convergence.
        nuts: NUTS settings for ``inference="nuts"``: a dict with any of ``warmup``,
            ``draws``, ``chains``, ``thinning``, ``target_accept``, ``max_tree_depth``,
            ``progress``, or a :class:`~hbo.surrogate.nuts_options.NUTSOptions`.
        hyperpriors: Replace the surrogate's default hyperprior of some groups: a dict
            of group (``"lengthscale"``, ``"outputscale"``, ``"noise"``,
            ``"shared_scale"``) -> :class:`~hbo.surrogate.Hyperprior` (:mod:`hbo.surrogate.priors`),
            e.g. ``{"shared_scale": Hyperprior(loc=0.0, scale=3.0, tau_scale=0.3)}`` (the
            default loc and scale) for a stronger pull of the tasks towards each other.
        kernel: The surrogate's correlation kernel: a name (``"matern52"``, the default,
            ``"matern32"``) or a :class:`~hbo.surrogate.kernels.Kernel`
            (:mod:`hbo.surrogate.kernels`).
        training: ``"auto"`` (default): the exact joint model while the other tasks hold
            at most ``MAX_SHARED_POINTS`` observations, hierarchical training above (the
            sources fitted once per history, the target each ask given them, with the
            shared function at any history size: :mod:`hbo.proposer.hierarchical_training`).
            ``"joint"``: always the exact joint model (above ``MAX_SHARED_POINTS`` without
            ``g`` unless ``shared_function=True``). ``"hierarchical"``: hierarchical
            training whenever there are two or more other tasks (MAP only); with one other
            task both fit the exact joint model.
        screen_sources: Leave out of the surrogate each other task whose own observations
            show no function (a likelihood-ratio test against a constant plus noise,
            :mod:`hbo.surrogate.source_screening`): its fitted lengthscales would be an
            overfit to noise, and pooled they would be the target's. ``False`` pools every
            task.
        output_warping: With one outcome, fit the surrogate to the tasks' values through
            a Yeo-Johnson transform whose exponent the history's evidence chooses, the
            identity included (:mod:`hbo.surrogate.output_warping`: a long tail of bad
            configurations no longer flattens the top; off by default, as it gave no clear
            gain on YAHPO); :meth:`~hbo.Study.pooling` reports the choice.
            Several outcomes are never warped (the hypervolume and the constraints' bounds
            are in the outcomes' own units).

    The last fitted surrogate is :attr:`model`; fits are reused while the study's
    completed trials are unchanged, and each fit starts from the previous one.
    """

    def __init__(
        self,
        *,
        n_initial: int | None = None,
        shared_function: bool | None = None,
        inference: str = "map",
        nuts: NUTSOptions | Mapping[str, Any] | None = None,
        hyperpriors: Mapping[str, Hyperprior] | None = None,
        kernel: str | Kernel = "matern52",
        screen_sources: bool = True,
        training: str = "auto",
        output_warping: bool = False,
    ) -> None:
        if n_initial is not None and (
            not isinstance(n_initial, int) or isinstance(n_initial, bool) or n_initial < 1
        ):
            raise InvalidArgumentError(f"n_initial must be a positive int, got {n_initial!r}")
        if shared_function is not None and not isinstance(shared_function, bool):
            raise InvalidArgumentError(
                f"shared_function must be True, False or None, got {shared_function!r}"
            )
        if inference not in INFERENCE:
            raise InvalidArgumentError(f"inference must be one of {INFERENCE}, got {inference!r}")
        if not isinstance(screen_sources, bool):
            raise InvalidArgumentError(
                f"screen_sources must be True or False, got {screen_sources!r}"
            )
        if not isinstance(output_warping, bool):
            raise InvalidArgumentError(
                f"output_warping must be True or False, got {output_warping!r}"
            )
        if training not in TRAINING:
            raise InvalidArgumentError(f"training must be one of {TRAINING}, got {training!r}")
        if training == "hierarchical" and inference != "map":
            raise InvalidArgumentError('training="hierarchical" fits by MAP: use inference="map"')
        if nuts is not None and inference != "nuts":
            raise InvalidArgumentError('nuts options are used only with inference="nuts"')
        self.n_initial = n_initial
        self.shared_function = shared_function
        self.inference = inference
        self.nuts = NUTSOptions.from_value(nuts)
        self.hyperpriors = check_hyperpriors(hyperpriors)
        self.kernel = resolve_kernel(kernel)
        self.screen_sources = screen_sources
        self.training = training
        self.output_warping = output_warping
        # (history key, the output warping chosen from that history)
        self._warp: tuple[tuple, OutputWarp] | None = None
        # outcome -> hierarchical training's cached sources and target fits
        self._hierarchical: dict[str, HierarchicalTraining] = {}
        self._screens: dict[tuple[int, str, str], tuple[tuple[int, ...], SourceScreen]] = {}
        #: the surrogate last fitted for the study's first outcome (its objective), and its
        #: shared-function choice; ``shared_choices``: every outcome's, by name
        self.model: HierarchicalGP | FullyBayesianHierarchicalGP | TargetGP | None = None
        self.shared_choice: SharedFunctionChoice | None = None
        self.shared_choices: dict[str, SharedFunctionChoice | None] = {}
        # outcome -> (trials key, model, the target's centre and scale in the model's units)
        self._models: dict[str, tuple[tuple[Any, ...], Any, tuple[float, float]]] = {}
        self._fitted: dict[str, dict[bool, HierarchicalGP]] = {}  # warm starts, by outcome
        # outcome -> the model the shared-function choice did not keep (None: no choice)
        self._alternatives: dict[str, HierarchicalGP | TargetGP | None] = {}

    def __repr__(self) -> str:
        return (f"HierarchicalProposer(n_initial={self.n_initial!r}, "
                f"shared_function={self.shared_function!r}, inference={self.inference!r}, "
                f"kernel={self.kernel.name!r}, training={self.training!r})")

    def initial_points(self, study: Study, task: str) -> int:
        """Sobol points on ``task`` before the model takes over (see ``n_initial``)."""
        if self.n_initial is not None:
            return self.n_initial
        usable = max(5, study.space.dim + 1)
        done = self.pooled_trials(study, task)
        return 1 if sum(t.task != task for t in done) >= usable else usable

    def source_screens(
        self, study: Study, task: str, outcome: str | None = None
    ) -> list[SourceScreen]:
        """The screen of every other task with results of ``outcome`` (default: the study's
        first), empty with ``screen_sources=False``, each computed once per set of its
        trials."""
        if not self.screen_sources:
            return []
        outcome = study.outcomes[0] if outcome is None else outcome
        done = _measured(study, outcome)
        screens = []
        sources = list(dict.fromkeys(t.task for t in done if t.task != task))
        for source in sources:
            trials = [t for t in done if t.task == source]
            key = (tuple(t.id for t in trials), len(sources))
            cached = self._screens.get((id(study), source, outcome))
            if cached is None or cached[0] != key:
                X = study.space.encode([t.params for t in trials])
                Y = torch.tensor([[t.values[outcome]] for t in trials], dtype=torch.double)
                result = screen_source(source, X, Y,
                                       categorical_dims=study.space.categorical_dims(),
                                       num_sources=len(sources),
                                       hyperpriors=self.hyperpriors, kernel=self.kernel)
                cached = self._screens[(id(study), source, outcome)] = (key, result)
            screens.append(cached[1])
        return screens

    def pooled_trials(
        self, study: Study, task: str, outcome: str | None = None
    ) -> list[Trial]:
        """The completed trials the surrogate of ``outcome`` (default: the first) on ``task``
        is fitted to: those with the outcome of the task and of every other task the screen
        keeps."""
        left_out = {s.task for s in self.source_screens(study, task, outcome) if not s.kept}
        done = _measured(study, study.outcomes[0] if outcome is None else outcome)
        return [t for t in done if t.task not in left_out]

    def propose(
        self, study: Study, task: str, q: int, seed: int, before: int | None = None
    ) -> torch.Tensor:
        """Sobol points until ``task`` has ``n_initial`` results (with every outcome: a
        history row may lack some), then the model's.

        A surrogate that cannot be fitted (every restart of the optimizer failed) does
        not end a long loop: as Ax's Sobol fallback does, the ask goes on with the task's
        Sobol points and a :class:`~hbo.ModelFittingWarning`, and the next ask tries
        again with one more observation.
        """
        done = _with_every_outcome(study, study.storage.get_trials(task, [TrialState.COMPLETE]))
        if len(done) < self.initial_points(study, task):
            X = sobol_points(study, task, q, before)
            if self.n_initial is None and not trials_before(study, task, before):
                try:
                    start = history_start(self, study, task)
                except ModelFittingError as exc:
                    warn(f"ask: the sources' shared function could not be fitted ({exc}); "
                         f"starting {task!r} at a quasi-random point instead",
                         ModelFittingWarning)
                    start = None
                X = X if start is None else torch.cat([start, X[: q - 1]])
            return distinct_points(study, X, task, before)
        try:
            X = self._improvement(study, task, q, seed, before)
        except ModelFittingError as exc:
            warn(
                f"ask: the surrogate could not be fitted on {task!r} ({exc}); proposing "
                f"{q} quasi-random point(s) instead. The next ask refits. If this recurs, "
                "look for duplicated or extreme objective values, or set hyperpriors",
                ModelFittingWarning,
            )
            X = sobol_points(study, task, q, before)
        return distinct_points(study, X, task, before)

    def _improvement(
        self, study: Study, task: str, q: int, seed: int, before: int | None
    ) -> torch.Tensor:
        """Maximize the acquisition on ``task``: Expected Improvement of the one outcome, or
        that of several outcomes (:func:`hbo.acquisition.build_outcome_acquisition`).

        An exhausted acquisition (one outcome): when the model kept by the shared-function
        choice puts its best point on a trial of ``task`` (it sees no improvement anywhere
        new, as when the target was sampled only where the sources' function is high and
        the model is sure of it), the point is that of the model the choice did not keep.
        Only if that repeats a trial too does :func:`~hbo.proposer.base.distinct_points` put
        a Sobol point in its place. On YAHPO lcbench 34539 with 20 x 100 history (seed 0),
        18 of 30 asks had been Sobol points for that reason; with the other model none was
        (best 0.786 against 0.729; ``experiments/results/exhausted_acquisition.md``).
        """
        encode = study.space.encode
        done = study.storage.get_trials(task, [TrialState.COMPLETE])
        observed = encode([t.params for t in done])
        # pending: being evaluated (or failed: not to be retried blindly); WAITING (enqueued,
        # not yet handed out) trials are not, as Study.ask hands them out before proposing
        busy = trials_before(study, task, before, [TrialState.RUNNING, TrialState.FAILED])
        pending = encode([t.params for t in busy]) if busy else None
        if len(study.outcomes) == 1:
            model = self.fit(study, task)
            X = acquisition.optimize(
                acquisition.build_acquisition(model, observed, pending, q, seed), study.space, q
            )
            alternative = self._alternatives.get(study.outcomes[0])
            if alternative is not None:  # the task's trials are read only when it may serve
                taken = taken_points(study, task, before)
                if any(tuple(row) in taken for row in X.tolist()):
                    X = acquisition.optimize(
                        acquisition.build_acquisition(alternative, observed, pending, q, seed),
                        study.space, q,
                    )
            return X
        models = [self.fit(study, task, name) for name in study.outcomes]
        # in each model's units: its centre and scale on the target (oriented for maximizing)
        units = {name: self._models[name][2] for name in study.outcomes}
        # (propose counted n_initial >= 1 of them on the task)
        full = _with_every_outcome(study, done)
        Y = torch.tensor([[(_sign(study, name) * t.values[name] - units[name][0])
                           / units[name][1] for name in study.outcomes] for t in full],
                         dtype=torch.double)
        feasible = torch.tensor([study.is_feasible(t) for t in full], dtype=torch.bool)
        constraints = [
            (study.outcomes.index(c.name), c.op,
             (c.bound - units[c.name][0]) / units[c.name][1])
            for c in study.constraints
        ]
        acqf = acquisition.build_outcome_acquisition(
            ModelListGP(*models), len(study.objectives), constraints, observed, Y, feasible,
            pending, seed, X_reference=study.space.sobol(REFERENCE_SAMPLES, seed=seed),
        )
        return acquisition.optimize(acqf, study.space, q)

    def fit(
        self, study: Study, task: str, outcome: str | None = None
    ) -> HierarchicalGP | FullyBayesianHierarchicalGP | TargetGP:
        """Fit (or reuse) the surrogate of ``outcome`` (default: the study's first) on the
        completed trials of ``task`` and of the other tasks the screen keeps
        (:meth:`source_screens`) that have it, with output on ``task``, oriented for
        maximization (a minimized objective negated; a constrained outcome as it is)."""
        outcome = study.outcomes[0] if outcome is None else outcome
        done = self.pooled_trials(study, task, outcome)
        tasks = study.tasks
        key = (id(study), tasks.index(task), *(t.id for t in done))
        cached = self._models.get(outcome)
        if cached is not None and key == cached[0]:
            return cached[1]
        label = {name: i for i, name in enumerate(tasks)}
        X, labels, Y, (mean, std) = self.training_data(study, task, outcome, done)
        index = labels[:, 0].long()
        n_target = int((index == label[task]).sum())
        n_tasks = len({t.task for t in done})
        if uses_hierarchical_training(self, n_target, len(done) - n_target, n_tasks - 1):
            training = self.hierarchical_training(outcome)
            model, self.shared_choices[outcome] = training.fit(self, study, task, done, X, Y)
            fitted = training.targets
        else:
            model = self._fit_joint(study, task, outcome, X, labels, Y, label[task])
            fitted = self._fitted[outcome]
        choice = self.shared_choices[outcome]
        made = choice is not None and choice.loo_with is not None
        self._alternatives[outcome] = fitted.get(not choice.used) if made else None
        units = (float(mean[label[task]]), float(std[label[task]]))
        self._models[outcome] = (key, model, units)
        if outcome == study.outcomes[0]:
            self.model, self.shared_choice = model, self.shared_choices[outcome]
        return model

    def training_data(
        self, study: Study, task: str, outcome: str, done: list[Trial]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """The surrogate's data of ``done``: ``n x d`` features, ``n x 1`` task labels (the
        study's task order), ``n x 1`` values of ``outcome`` oriented for maximization,
        warped (:meth:`warps_outputs`), each task centred and all in the target's standard
        units, and the per-task ``(mean, std)`` of :func:`task_standardization` that did it.

        One scale for all (the model standardizes each task again, to the same result:
        task_standardization is equivariant): the posterior the acquisition reads is then
        O(1) whatever the objective's size (GPyTorch raises variances below 1e-10 to 1e-10,
        the whole variance of an objective of size 1e-5).
        """
        tasks = study.tasks
        label = {name: i for i, name in enumerate(tasks)}
        X = study.space.encode([t.params for t in done])
        labels = torch.tensor([[float(label[t.task])] for t in done], dtype=torch.double)
        sign = _sign(study, outcome)
        Y = torch.tensor([[sign * t.values[outcome]] for t in done], dtype=torch.double)
        index = labels[:, 0].long()
        if self.warps_outputs(study):
            warp = self._output_warp(study, task, done, X, Y[:, 0], index)
            Y[:, 0] = warp.apply(Y[:, 0], index, len(tasks))
        mean, std = task_standardization(Y, index, len(tasks))
        return X, labels, (Y - mean[index, None]) / std[label[task]], (mean, std)

    def _output_warp(
        self, study: Study, task: str, done: list[Trial], X: torch.Tensor, y: torch.Tensor,
        index: torch.Tensor,
    ) -> OutputWarp:
        """The output warping chosen from the history of ``task`` (the other tasks' rows of
        ``done``; ``X``: ``n x d``, ``y`` and ``index``: ``n``), cached while it is unchanged
        (:mod:`hbo.surrogate.output_warping`)."""
        target = study.tasks.index(task)
        key = history_key(study, task, done)
        if self._warp is None or self._warp[0] != key:
            other = index != target
            labels = index[other]
            labels = labels - (labels > target).long()  # 0 .. (number of tasks - 2)
            warp = choose_warp(X[other], y[other], labels, len(study.tasks) - 1,
                               self.history_model(study))
            self._warp = (key, warp)
        return self._warp[1]

    @property
    def output_warp(self) -> OutputWarp | None:
        """The output warping last chosen (:mod:`hbo.surrogate.output_warping`), if any."""
        return None if self._warp is None else self._warp[1]

    def warps_outputs(self, study: Study) -> bool:
        """Whether ``study``'s values are warped: ``output_warping`` and one outcome."""
        return self.output_warping and len(study.outcomes) == 1

    def history_model(
        self, study: Study
    ) -> Callable[[torch.Tensor, torch.Tensor, torch.Tensor, bool], HierarchicalGP]:
        """``build(X, labels, y, shared)``: an unfitted :class:`HierarchicalGP` of the
        history's ``n x d`` features, ``n x 1`` labels and ``n x 1`` values, already
        standardized, with ``g`` when ``shared``; this proposer's kernel and hyperpriors."""

        def build(X: torch.Tensor, labels: torch.Tensor, y: torch.Tensor,
                  shared: bool) -> HierarchicalGP:
            return HierarchicalGP(
                torch.cat([X, labels], -1), y, task_feature=-1,
                categorical_dims=study.space.categorical_dims(), shared_function=shared,
                hyperpriors=self.hyperpriors, kernel=self.kernel, standardize=False,
            )

        return build

    def _fit_joint(
        self, study: Study, task: str, outcome: str, X: torch.Tensor, labels: torch.Tensor,
        Y: torch.Tensor, target: int,
    ) -> HierarchicalGP | FullyBayesianHierarchicalGP:
        """The exact joint model of every pooled task (``X``: ``n x d``, ``labels`` and
        ``Y``: ``n x 1``), with the shared-function choice, by MAP or NUTS."""

        def build(shared_function: bool | None) -> HierarchicalGP:
            return HierarchicalGP(
                torch.cat([X, labels], dim=-1),
                Y,
                task_feature=-1,
                output_tasks=[target],
                categorical_dims=study.space.categorical_dims(),
                shared_function=shared_function,
                hyperpriors=self.hyperpriors,
                kernel=self.kernel,
            )

        model, self.shared_choices[outcome], self._fitted[outcome] = fit_surrogate(
            build, target, self._fitted.get(outcome, {}), self.shared_function
        )
        if self.inference == "nuts":  # chains start at the MAP fit of the chosen model
            from hbo.surrogate.fully_bayesian import fit_fully_bayesian

            seed = int(torch.randint(2**31 - 1, ()))  # from the caller's seeded RNG
            model = fit_fully_bayesian(model, self.nuts, seed)
        return model

    def hierarchical_training(self, outcome: str) -> HierarchicalTraining:
        """Hierarchical training's cache of ``outcome``: stage A's sources, the target's fits."""
        return self._hierarchical.setdefault(outcome, HierarchicalTraining())

    def stage_a_task_names(self, outcome: str) -> list[str]:
        """The tasks of ``outcome``'s cached stage A of hierarchical training, in their label
        order: the sources, then the target once stage A was fitted with it."""
        return list(self._hierarchical[outcome].task_names)

    def diagnostics(self) -> ConvergenceReport:
        """Convergence of the last NUTS run (``inference="nuts"``): R-hat, ESS, divergences."""
        if self.inference != "nuts":
            raise InvalidArgumentError(
                'diagnostics() reports on NUTS; this study uses inference="map" (create it '
                'with hbo.Study(..., inference="nuts"))'
            )
        if self.model is None:
            raise NotReadyError(
                "no NUTS fit yet: call study.ask() once the model is in use, or "
                "study.pooling(), first"
            )
        return self.model.convergence


def _measured(study: Study, outcome: str) -> list[Trial]:
    """The study's completed trials that have ``outcome`` (a history row may lack it)."""
    done = study.storage.get_trials(states=[TrialState.COMPLETE])
    return [t for t in done if outcome in t.values]


def _with_every_outcome(study: Study, trials: list[Trial]) -> list[Trial]:
    """The ``trials`` that have every outcome of the study (a history row may lack some)."""
    return [t for t in trials if set(study.outcomes) <= set(t.values)]


def _sign(study: Study, outcome: str) -> float:
    """-1 for a minimized objective, else 1: the surrogates model outcomes to maximize."""
    return -1.0 if study.objectives.get(outcome) == "minimize" else 1.0
