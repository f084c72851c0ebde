"""What Ax needs to build, fit, use and store :class:`~hbo.surrogate.HierarchicalGP`
(registered on import).

Ax's modular BoTorch generator (``ax/generators/torch/botorch_modular/surrogate.py``)
builds a model through two dispatchers keyed by the model class, and this module
registers ``HierarchicalGP`` with both:

* ``submodel_input_constructor``: Ax's default drops ``task_feature`` for every class
  that is not a ``MultiTaskGP``; ours keeps it, targets the task parameter's
  ``target_value`` (``output_tasks``) and passes Ax's categorical columns as
  ``categorical_dims``. Without a task parameter a constant task column is appended
  (one task: the model is BoTorch's ``SingleTaskGP`` with hbo's priors).
* ``fit_botorch_model``: our MAP fit (:meth:`HierarchicalGP.fit`), not a marginal
  log likelihood; Ax's ``mll_options`` are the keywords of ``fit`` and nothing else.

With several outcomes (an objective and outcome constraints, or several objectives)
Ax builds one model per outcome through the same two dispatchers and puts them in a
BoTorch ``ModelList``; its own acquisition choice (qLogNEI with the constraints,
qLogNEHVI, ...) then works on that list. A cross-validation fold (``refit_on_cv=False``)
loads the full fit's ``state_dict`` into a model of the fold's data and does not call
``fit_botorch_model``: the model's data are buffers outside its ``state_dict``.

Three more pieces:

* :class:`TargetTask`, an Ax transform that fills the task parameter with its
  ``target_value`` wherever a point lacks it, so every generated trial runs on the
  target task (Ax passes ``fixed_features`` through each transform; Ax then also keeps
  only the target task's observed points as the acquisition's baseline), and rejects
  search spaces hbo cannot model, naming the parameter.
* :class:`TargetTaskLogNEI`: ``qLogNoisyExpectedImprovement`` (Ament et al. 2023,
  NeurIPS, "Unexpected improvements to expected improvement") whose baseline is cut to
  the target task's points. Generation strategies made before Ax's own choice was used
  name it; it is kept so that their JSON still loads and runs.
* Storage names (:func:`register_for_storage`): Ax's JSON stores a class by a name it
  looks up in its registries, which know hbo's classes only once this module is
  imported. The names are qualified (``"hbo.integrations.ax.TargetTask"``), so that
  loading a snapshot without importing hbo fails with an error naming the module to
  import; the bare names of earlier snapshots load too.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

import torch
from ax.adapter.transforms.base import Transform
from ax.core.observation import ObservationFeatures
from ax.core.optimization_config import OptimizationConfig
from ax.core.parameter import ChoiceParameter, DerivedParameter, FixedParameter, RangeParameter
from ax.core.search_space import SearchSpace, SearchSpaceDigest
from ax.generators.torch.botorch_modular.surrogate import Surrogate, submodel_input_constructor
from ax.generators.torch.botorch_modular.utils import ModelConfig, fit_botorch_model
from ax.storage.botorch_modular_registry import CLASS_TO_REGISTRY, CLASS_TO_REVERSE_REGISTRY
from ax.storage.transform_registry import REVERSE_TRANSFORM_REGISTRY, TRANSFORM_REGISTRY
from botorch.acquisition import AcquisitionFunction, qLogNoisyExpectedImprovement
from botorch.acquisition.input_constructors import (
    acqf_input_constructor,
    construct_inputs_qLogNEI,
)
from botorch.acquisition.objective import MCAcquisitionObjective, PosteriorTransform
from botorch.models.model import Model, ModelList
from botorch.sampling.base import MCSampler
from botorch.utils.datasets import MultiTaskDataset, SupervisedDataset
from torch import Tensor

from hbo.errors import InvalidArgumentError, InvalidSpaceError
from hbo.surrogate import HierarchicalGP

SUPPORTED = (
    "RangeParameter (float or int, linear or log scale), ChoiceParameter (ordered, or "
    "unordered with string/bool values), FixedParameter, and one ChoiceParameter with "
    "is_task=True"
)


class UnsupportedParameterError(InvalidSpaceError):
    """An Ax search space holds a parameter (or structure) hbo's surrogate cannot model."""


def check_search_space(search_space: SearchSpace) -> None:
    """Raise :class:`UnsupportedParameterError` naming the first parameter hbo cannot model."""
    tasks = [
        name
        for name, p in search_space.parameters.items()
        if isinstance(p, ChoiceParameter) and p.is_task
    ]
    if len(tasks) > 1:
        raise UnsupportedParameterError(
            f"task parameters {tasks}: hbo models one task parameter; supported: {SUPPORTED}"
        )
    for name, p in search_space.parameters.items():
        problem = None
        if isinstance(p, DerivedParameter):
            problem = "is a derived parameter"
        elif p.is_hierarchical:
            problem = "has dependent parameters (a conditional / hierarchical search space)"
        elif p.is_fidelity:
            problem = "is a fidelity parameter (multi-fidelity)"
        elif isinstance(p, ChoiceParameter) and not (p.is_task or p.is_ordered or not p.is_numeric):
            problem = "is an unordered numeric choice (make it ordered, or give string values)"
        elif not isinstance(p, RangeParameter | ChoiceParameter | FixedParameter):
            problem = f"is a {type(p).__name__}"
        if problem:
            raise UnsupportedParameterError(
                f"parameter {name!r} {problem}; hbo supports {SUPPORTED}"
            )


#: The optimization configs hbo's generation strategy optimizes.
SUPPORTED_OPTIMIZATION = (
    "one metric as the objective, or several objectives (objective='-loss, -time'), each "
    "with or without outcome constraints (outcome_constraints=['mem <= 3'])"
)


class UnsupportedOptimizationError(InvalidArgumentError):
    """An Ax optimization config hbo's generation strategy cannot optimize."""


def check_optimization_config(config: OptimizationConfig | None) -> None:
    """Raise :class:`UnsupportedOptimizationError` for an objective hbo cannot optimize.

    Each metric has its own ``HierarchicalGP`` (a BoTorch ``ModelList``). Ax optimizes a
    weighted sum of metrics through BoTorch's ``ScalarizedPosteriorTransform``, which
    cannot scalarize a ``ModelList``'s posterior at more than one point, so the first
    model-based trial would fail; this says so before the first trial. (Several
    objectives and outcome constraints act on posterior samples, which a ``ModelList``
    gives.)
    """
    if config is None:
        return
    objective = config.objective
    if objective.is_scalarized_objective:
        raise UnsupportedOptimizationError(
            f"objective {objective.expression!r} is a weighted sum of the metrics "
            f"{objective.metric_names}: hbo's generation strategy fits one HierarchicalGP "
            "per metric, and BoTorch cannot scalarize their joint posterior. Report the "
            "weighted sum as one metric, or make them several objectives; hbo supports "
            f"{SUPPORTED_OPTIMIZATION}"
        )


class TargetTask(Transform):
    """Put every generated point on the target task; reject unsupported search spaces
    and objectives (:func:`check_optimization_config`).

    Observation features without the task parameter (Ax's ``fixed_features`` at
    generation time) get its ``target_value``; observed points keep theirs. A no-op
    for experiments without a task parameter.
    """

    no_op_for_experiment_data = True

    def __init__(
        self, search_space: SearchSpace | None = None, adapter: Any = None, **kwargs: Any
    ) -> None:
        super().__init__(search_space=search_space, adapter=adapter, **kwargs)
        self.fill: dict[str, Any] = {}
        # Ax's Cast transform runs first and flattens a hierarchical search space, so the
        # check reads the experiment's own search space when there is one.
        experiment = getattr(adapter, "_experiment", None)
        if experiment is not None:
            check_search_space(experiment.search_space)
            check_optimization_config(experiment.optimization_config)
        if search_space is not None:
            check_search_space(search_space)
            self.fill = {
                name: p.target_value
                for name, p in search_space.parameters.items()
                if isinstance(p, ChoiceParameter) and p.is_task
            }

    def transform_observation_features(
        self, observation_features: list[ObservationFeatures]
    ) -> list[ObservationFeatures]:
        for obsf in observation_features:
            for name, value in self.fill.items():
                if obsf.parameters.get(name) is None:
                    obsf.parameters[name] = value
        return observation_features


class TargetTaskLogNEI(qLogNoisyExpectedImprovement):
    """``qLogNoisyExpectedImprovement`` with the target task's points as baseline.

    :func:`~hbo.integrations.ax.hbo_generation_strategy` leaves the choice of acquisition
    to Ax (whose baseline is then the target task's points already); strategies saved
    before name this class, which takes one ``HierarchicalGP`` or a ``ModelList`` of
    them (an objective with outcome constraints).
    """


@acqf_input_constructor(TargetTaskLogNEI)
def _construct_target_task_lognei(
    model: Model,
    training_data: SupervisedDataset | dict[str, SupervisedDataset],
    objective: MCAcquisitionObjective | None = None,
    posterior_transform: PosteriorTransform | None = None,
    X_pending: Tensor | None = None,
    sampler: MCSampler | None = None,
    X_baseline: Tensor | None = None,
    constraints: list[Callable[[Tensor], Tensor]] | None = None,
    eta: Tensor | float = 1e-3,
) -> dict[str, Any]:
    """BoTorch's qLogNEI inputs, with ``X_baseline`` cut to the rows on the target task.

    (BoTorch checks a constructor's keywords by name, hence the explicit signature.)

    Args:
        model: A ``HierarchicalGP``, or a ``ModelList`` of them (one per outcome).
        X_baseline: ``n x (d + 1)`` observed points with the task column (Ax's
            ``X_observed``); default: the training inputs.
    """
    members = list(model.models) if isinstance(model, ModelList) else [model]
    if not members or not all(isinstance(m, HierarchicalGP) for m in members):
        kinds = sorted({type(m).__name__ for m in members}) or [type(model).__name__]
        raise InvalidArgumentError(
            f"TargetTaskLogNEI needs an hbo HierarchicalGP or a ModelList of them, got {kinds}"
        )
    if len(members) > 1 and posterior_transform is not None:
        raise UnsupportedOptimizationError(
            "this generation strategy names TargetTaskLogNEI (saved by an earlier hbo), "
            "which optimizes one objective, with or without outcome constraints; for "
            "several objectives, set hbo_generation_strategy() again (Ax then chooses the "
            f"acquisition). hbo supports {SUPPORTED_OPTIMIZATION}"
        )
    first = members[0]
    if X_baseline is None:
        dataset = training_data
        if isinstance(dataset, dict):
            dataset = next(iter(dataset.values()))
        X_baseline = dataset.X
    if X_baseline.shape[-1] == first.train_inputs[0].shape[-1]:
        target = first.task_labels[int(first._output_tasks[0])]
        X_baseline = X_baseline[X_baseline[..., first._task_feature] == target]
    return construct_inputs_qLogNEI(
        model=model,
        training_data=training_data,
        objective=objective,
        posterior_transform=posterior_transform,
        X_pending=X_pending,
        sampler=sampler,
        X_baseline=X_baseline,
        constraints=constraints,
        eta=eta,
    )


#: ``id`` of the training inputs -> (a reference to them, the model Ax fitted before on
#: the same outcome). Ax builds the model (from the input constructor's keywords), then
#: fits it (``fit_botorch_model``),
#: with no hook in between; the fit finds the previous model through the ``train_X``
#: object the model keeps, and starts from its parameters (as ``hbo.Study`` does).
_WARM_STARTS: dict[int, tuple[weakref.ref[Tensor], HierarchicalGP]] = {}


@submodel_input_constructor.register(HierarchicalGP)
def _hierarchical_gp_inputs(
    botorch_model_class: type[Model],
    model_config: ModelConfig,
    dataset: SupervisedDataset,
    search_space_digest: SearchSpaceDigest,
    surrogate: Surrogate,
) -> dict[str, Any]:
    """``HierarchicalGP`` keywords from Ax's dataset and search space digest.

    With a task parameter, ``dataset`` is a ``MultiTaskDataset`` whose ``X`` is
    ``n x (d + 1)`` with the task column at ``task_feature_index``; without one, a
    column of zeros is appended (a single task). The previous model fitted by this
    surrogate, if any, is kept for the fit's warm start (:data:`_WARM_STARTS`).
    """
    digest = search_space_digest
    if isinstance(dataset, MultiTaskDataset) and dataset.task_feature_index is not None:
        X, task = dataset.X, dataset.task_feature_index % dataset.X.shape[-1]
        target = int(digest.target_values[digest.task_features[0]])
        output_tasks = [target]
    else:
        X = torch.cat([dataset.X, torch.zeros_like(dataset.X[:, :1])], dim=-1)
        task, output_tasks = X.shape[-1] - 1, [0]
    previous = surrogate._submodels.get(tuple(dataset.outcome_names))
    if isinstance(previous, HierarchicalGP):
        _WARM_STARTS.clear()  # at most one model waits to be fitted
        _WARM_STARTS[id(X)] = (weakref.ref(X), previous)
    features = [j for j in range(X.shape[-1]) if j != task]
    position = {column: i for i, column in enumerate(features)}
    categorical = {
        position[j]: len(digest.discrete_choices[j]) for j in digest.categorical_features
    }
    return {
        "train_X": X,
        "train_Y": dataset.Y,
        "task_feature": task,
        "output_tasks": output_tasks,
        "categorical_dims": categorical,
        **model_config.model_options,
    }


@fit_botorch_model.register(HierarchicalGP)
def _fit_hierarchical_gp(
    model: HierarchicalGP, mll_class: Any = None, mll_options: dict[str, Any] | None = None
) -> None:
    """MAP fit; ``mll_options`` are :meth:`HierarchicalGP.fit`'s keywords (``mll_class`` unused)."""
    options = dict(mll_options or {})
    unknown = sorted(set(options) - {"maxiter", "max_attempts"})
    if unknown:
        raise InvalidArgumentError(
            f"fit options {unknown} are unknown; HierarchicalGP.fit takes maxiter, max_attempts"
        )
    X = model.train_inputs[0]
    ref, previous = _WARM_STARTS.pop(id(X), (None, None))
    if ref is not None and ref() is X:
        model.initialize_from(previous)
    model.fit(**options)


#: Prefix of the names Ax's JSON stores for hbo's classes: the module whose import
#: registers them.
STORAGE_PREFIX = "hbo.integrations.ax."


def register_for_storage() -> None:
    """Register hbo's transform, model and acquisition in Ax's storage registries.

    New snapshots name them ``STORAGE_PREFIX + class name``; the bare class names
    (snapshots written before) load as well. Ax stores a transform by its class's
    ``__name__``, so :class:`TargetTask` carries the qualified name.
    """
    TargetTask.__name__ = STORAGE_PREFIX + "TargetTask"
    TRANSFORM_REGISTRY.add(TargetTask)
    REVERSE_TRANSFORM_REGISTRY.update({TargetTask.__name__: TargetTask, "TargetTask": TargetTask})
    for base, cls in ((Model, HierarchicalGP), (AcquisitionFunction, TargetTaskLogNEI)):
        CLASS_TO_REGISTRY[base][cls] = STORAGE_PREFIX + cls.__name__
        CLASS_TO_REVERSE_REGISTRY[base].update(
            {STORAGE_PREFIX + cls.__name__: cls, cls.__name__: cls}
        )


register_for_storage()
