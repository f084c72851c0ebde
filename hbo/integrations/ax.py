"""hbo inside Ax: a generation strategy with :class:`~hbo.surrogate.HierarchicalGP` as surrogate.

Use with Ax's ``Client`` (ax-platform 1.x)::

    client = Client()
    client.configure_experiment(parameters=[RangeParameterConfig(...), ...])
    client.configure_optimization(objective="-loss")
    add_source_tasks(client, {"last_year": history_df}, target_task="this_year")
    client.set_generation_strategy(hbo_generation_strategy())
    trials = client.get_next_trials(max_trials=3)        # on the target task
    client.complete_trial(index, raw_data={"loss": 0.3})

The tasks are one Ax ``ChoiceParameter`` with ``is_task=True`` (as Ax models tasks
for ``MultiTaskGP``) whose ``target_value`` is the task being tuned; source tasks are
trials of the same experiment on the other task values, attached from other Ax
experiments or DataFrames by :func:`add_source_tasks`. The generation strategy is
Sobol on the target task, then BoTorch's modular generator with one ``HierarchicalGP``
per metric, fitted by MAP, and the acquisition Ax chooses for the optimization config,
on the target task: log noisy EI (qLogNEI) for one objective, with the outcome
constraints if any; log noisy expected hypervolume improvement (qLogNEHVI) for several
objectives (qLogNParEGO beyond four); the probability of feasibility while no observed
point is feasible. Pending and batch points are fantasized jointly.

Things to know:

* Outcome constraints and several objectives work:
  ``configure_optimization(objective="-loss", outcome_constraints=["mem <= 3"])`` or
  ``objective="-loss, -time"``. Each metric then has its own ``HierarchicalGP`` (a
  BoTorch ``ModelList``), and the sources must report every metric. A weighted sum
  of metrics as the objective (``objective="-loss - 0.1 * time"``) is refused with
  :class:`~hbo.integrations._ax_glue.UnsupportedOptimizationError` by
  ``add_source_tasks`` and by the first ``get_next_trials``, before any trial is made
  (BoTorch cannot scalarize a ``ModelList``'s posterior): report the sum as one
  metric. See :data:`~hbo.integrations._ax_glue.SUPPORTED_OPTIMIZATION`.
* Source-task evaluations are trials of the experiment (arm names ``"<task>_<i>"``),
  so Ax's ``summarize()`` lists them and ``get_best_parameterization
  (use_model_predictions=False)`` ranks them with the target's trials.
* Ax's model-based best point, diagnostics and ``compute_analyses`` cross-validate
  with the full fit's hyperparameters loaded into each fold's model (no refit, as
  Ax's own models); means and variances at many points cost no ``q x q`` covariance.
  ``experiments/ax_analyses_timing.py`` times ``compute_analyses`` against Ax's
  default strategy.
* Each refit starts from the previous fit's parameters, as ``hbo.Study`` does.
* ``client.save_to_json_file`` works; to load it (``Client.load_from_json_file``),
  ``import hbo.integrations.ax`` first: it registers hbo's classes with Ax's storage.
  Without it, loading fails with ``KeyError: 'hbo.integrations.ax.TargetTask'``.

Supported Ax parameters: see :data:`~hbo.integrations._ax_glue.SUPPORTED`; anything
else raises :class:`~hbo.integrations._ax_glue.UnsupportedParameterError` naming the
parameter.
"""

from __future__ import annotations

try:  # the extra first, so that its absence is said plainly
    import ax  # noqa: F401
except ImportError as exc:
    from hbo.integrations import missing_extra

    raise missing_extra("ax", "ax", __name__) from exc

from collections.abc import Mapping
from typing import Any

import pandas as pd
from ax.adapter.registry import Cont_X_trans, Generators
from ax.adapter.transforms.choice_encode import ChoiceToNumericChoice
from ax.adapter.transforms.int_to_float import IntToFloat
from ax.adapter.transforms.log import Log
from ax.adapter.transforms.logit import Logit
from ax.adapter.transforms.remove_fixed import RemoveFixed
from ax.adapter.transforms.standardize_y import StandardizeY
from ax.adapter.transforms.task_encode import TaskChoiceToIntTaskChoice
from ax.adapter.transforms.unit_x import UnitX
from ax.api.client import Client
from ax.core.experiment import Experiment
from ax.core.parameter import ChoiceParameter, ParameterType
from ax.generation_strategy.generation_node import GenerationStep
from ax.generation_strategy.generation_strategy import GenerationStrategy
from ax.generators.torch.botorch_modular.surrogate import SurrogateSpec
from ax.generators.torch.botorch_modular.utils import ModelConfig

from hbo._numbers import python_scalar
from hbo.acquisition import NUM_RESTARTS, RAW_SAMPLES
from hbo.errors import ArgumentTypeError, InvalidArgumentError, InvalidDataError, NotReadyError
from hbo.integrations._ax_glue import (
    SUPPORTED,
    SUPPORTED_OPTIMIZATION,
    TargetTask,
    TargetTaskLogNEI,
    UnsupportedOptimizationError,
    UnsupportedParameterError,
    check_optimization_config,
    check_search_space,
)
from hbo.surrogate import HierarchicalGP

__all__ = [
    "SUPPORTED",
    "SUPPORTED_OPTIMIZATION",
    "TargetTask",
    "TargetTaskLogNEI",
    "UnsupportedOptimizationError",
    "UnsupportedParameterError",
    "add_source_tasks",
    "hbo_generation_strategy",
]

#: Ax transforms in front of ``HierarchicalGP``: the model takes features in ``[0, 1]``
#: (``UnitX``; integers relaxed, then rounded), categorical codes ``0..k-1`` and integer
#: task labels. The model standardizes per task; ``StandardizeY`` only rescales.
MODEL_TRANSFORMS = [
    TargetTask,
    RemoveFixed,
    ChoiceToNumericChoice,
    TaskChoiceToIntTaskChoice,
    IntToFloat,
    Log,
    Logit,
    UnitX,
    StandardizeY,
]


def hbo_generation_strategy(
    num_sobol_trials: int = 5,
    *,
    seed: int | None = None,
    shared_function: bool | None = None,
    fit_options: Mapping[str, Any] | None = None,
) -> GenerationStrategy:
    """Sobol on the target task, then one ``HierarchicalGP`` per metric and Ax's acquisition.

    The acquisition is Ax's choice for the optimization config (qLogNEI, with outcome
    constraints; qLogNEHVI for several objectives), restricted to the target task: the
    task parameter is fixed to its ``target_value`` when generating, and only the
    target's observations are the baseline. Cross-validation folds reuse the fitted
    hyperparameters (``refit_on_cv=False``).

    Args:
        num_sobol_trials: Trials drawn by Sobol before the model takes over (at least 1);
            the model waits until that many are completed.
        seed: Seed of the Sobol sequence.
        shared_function: Passed to :class:`~hbo.surrogate.HierarchicalGP`.
        fit_options: Keywords of :meth:`HierarchicalGP.fit` (``maxiter``, ``max_attempts``).
    """
    if not isinstance(num_sobol_trials, int) or isinstance(num_sobol_trials, bool):
        raise ArgumentTypeError(f"num_sobol_trials must be an int, got {num_sobol_trials!r}")
    if num_sobol_trials < 1:
        raise InvalidArgumentError(f"num_sobol_trials must be >= 1, got {num_sobol_trials}")
    unknown = sorted(set(fit_options or {}) - {"maxiter", "max_attempts"})
    if unknown:
        raise InvalidArgumentError(
            f"fit_options: unknown keys {unknown}; HierarchicalGP.fit takes maxiter, max_attempts"
        )
    model_options = {} if shared_function is None else {"shared_function": shared_function}
    config = ModelConfig(
        botorch_model_class=HierarchicalGP,
        model_options=model_options,
        mll_options=dict(fit_options or {}),
        input_transform_classes=None,  # the model takes [0, 1] features from UnitX
        name="HierarchicalGP",
    )
    sobol = GenerationStep(
        generator=Generators.SOBOL,
        num_trials=num_sobol_trials,
        min_trials_observed=num_sobol_trials,
        generator_kwargs={
            "seed": seed,
            "transforms": [TargetTask, *Cont_X_trans, TaskChoiceToIntTaskChoice],
        },
    )
    model = GenerationStep(
        generator=Generators.BOTORCH_MODULAR,
        num_trials=-1,
        generator_kwargs={
            "surrogate_spec": SurrogateSpec(model_configs=[config]),
            "transforms": MODEL_TRANSFORMS,
            # No botorch_acqf_class: Ax chooses by the optimization config (qLogNEI, with
            # the outcome constraints if any; qLogNEHVI for several objectives; the
            # probability of feasibility while no observed point is feasible).
            # Cross-validation (Ax's best point, diagnostics, analyses) loads the full
            # fit's hyperparameters into each fold's model, as Ax does for its own GPs.
            "refit_on_cv": False,
            "default_model_gen_options": {
                "optimizer_kwargs": {"num_restarts": NUM_RESTARTS, "raw_samples": RAW_SAMPLES}
            },
        },
    )
    return GenerationStrategy(name="Sobol+HierarchicalGP", nodes=[sobol, model])


def add_source_tasks(
    client: Client,
    sources: Mapping[str, Experiment | pd.DataFrame],
    *,
    target_task: str = "target",
    task_parameter: str = "task",
) -> dict[str, list[int]]:
    """Make the experiment multi-task and attach the sources' results as completed trials.

    Adds ``ChoiceParameter(task_parameter, values=[target_task, *sources], is_task=True,
    target_value=target_task)`` to the experiment's search space, then, for each
    source, one completed trial per evaluation with ``task_parameter`` set to the
    source's name (arm names ``"<source>_<i>"``). Call it after
    ``configure_experiment`` / ``configure_optimization`` and before any trial.

    Args:
        client: An Ax ``Client`` with experiment and optimization configured.
        sources: Task name -> an Ax ``Experiment`` (its completed trials' arms and
            the objective metric's means), or a DataFrame with one column per
            parameter and one per objective metric.
        target_task: Name of the task being tuned.
        task_parameter: Name of the task parameter.

    Returns:
        Source name -> indices of the attached trials.
    """
    experiment = client._experiment
    if experiment.optimization_config is None:
        raise NotReadyError("add_source_tasks: call client.configure_optimization first")
    if experiment.trials:
        raise NotReadyError(
            "add_source_tasks: the experiment already has trials; attach source tasks "
            "before client.get_next_trials"
        )
    if not isinstance(sources, Mapping) or not sources:
        raise ArgumentTypeError("sources must be a non-empty dict: task name -> data")
    names = [target_task, *sources]
    if len(set(names)) != len(names) or not all(isinstance(n, str) and n for n in names):
        raise InvalidArgumentError(f"task names must be distinct non-empty strings, got {names}")
    if task_parameter in experiment.search_space.parameters:
        raise InvalidArgumentError(
            f"task_parameter {task_parameter!r} is already a parameter of the experiment"
        )
    check_search_space(experiment.search_space)
    check_optimization_config(experiment.optimization_config)
    metrics = sorted(experiment.optimization_config.metric_names)
    rows = {name: _source_rows(name, data, experiment, metrics) for name, data in sources.items()}
    experiment.search_space.add_parameters(
        [
            ChoiceParameter(
                task_parameter,
                ParameterType.STRING,
                values=names,
                is_ordered=False,
                is_task=True,
                target_value=target_task,
                sort_values=False,
            )
        ]
    )
    attached: dict[str, list[int]] = {}
    for name, records in rows.items():
        attached[name] = []
        for i, (params, values) in enumerate(records):
            index = client.attach_trial({**params, task_parameter: name}, arm_name=f"{name}_{i}")
            client.complete_trial(index, raw_data=values)
            attached[name].append(index)
    return attached


def _source_rows(
    name: str, data: Experiment | pd.DataFrame, experiment: Experiment, metrics: list[str]
) -> list[tuple[dict[str, Any], dict[str, float]]]:
    """``(parameters, {metric: value})`` per evaluation of a source, validated."""
    parameters = list(experiment.search_space.parameters)
    if isinstance(data, Experiment):
        frame = data.lookup_data().df
        wide = frame.pivot_table(index="arm_name", columns="metric_name", values="mean")
        arms = {arm.name: arm.parameters for arm in data.arms_by_name.values()}
        data = pd.DataFrame([{**arms[a], **row} for a, row in wide.to_dict("index").items()])
    if not isinstance(data, pd.DataFrame):
        raise ArgumentTypeError(
            f"sources[{name!r}] must be an Ax Experiment or a DataFrame, got {type(data).__name__}"
        )
    missing = [c for c in parameters + metrics if c not in data.columns]
    if missing:
        raise InvalidDataError(
            f"sources[{name!r}] lacks columns {missing}; it needs the parameters "
            f"{parameters} and the metrics {metrics}"
        )
    if data.empty or data[metrics].isna().any().any():
        raise InvalidDataError(
            f"sources[{name!r}] must have at least one row and no missing metric values"
        )
    out = []
    for record in data[parameters + metrics].to_dict("records"):
        params = {p: python_scalar(record[p]) for p in parameters}
        try:
            experiment.search_space.validate_membership(params)
        except ValueError as exc:
            raise InvalidDataError(f"sources[{name!r}]: {exc}") from exc
        out.append((params, {m: float(record[m]) for m in metrics}))
    return out
