"""hbo inside Ax's Client: the loop, the fitted model, the search space, JSON, bad input.

One module-scoped Ax loop (Branin target, a shifted Branin source attached as history)
is shared by the tests that inspect it: each fit costs seconds.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

pytest.importorskip("ax")

from ax.adapter.cross_validation import cross_validate  # noqa: E402
from ax.api.client import Client  # noqa: E402
from ax.api.configs import ChoiceParameterConfig, RangeParameterConfig  # noqa: E402
from ax.core.parameter import ChoiceParameter, ParameterType, RangeParameter  # noqa: E402
from ax.core.search_space import SearchSpace  # noqa: E402
from ax.core.trial_status import TrialStatus  # noqa: E402
from botorch.acquisition import qLogNoisyExpectedImprovement  # noqa: E402
from botorch.acquisition.objective import ScalarizedPosteriorTransform  # noqa: E402
from botorch.models import SingleTaskGP  # noqa: E402
from botorch.models.model import ModelList  # noqa: E402
from botorch.test_functions import Branin  # noqa: E402
from botorch.utils.datasets import SupervisedDataset  # noqa: E402

from hbo.errors import (  # noqa: E402
    ArgumentTypeError,
    InvalidArgumentError,
    InvalidDataError,
    NotReadyError,
)
from hbo.integrations._ax_glue import (  # noqa: E402
    _construct_target_task_lognei,
    _hierarchical_gp_inputs,
    check_search_space,
)
from hbo.integrations.ax import (  # noqa: E402
    TargetTaskLogNEI,
    UnsupportedOptimizationError,
    UnsupportedParameterError,
    add_source_tasks,
    hbo_generation_strategy,
)
from hbo.surrogate import HierarchicalGP  # noqa: E402

# Ax's own calls into its deprecated APIs (e.g. Client.configure_optimization calls
# Experiment.add_tracking_metric): not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:ax.*")

BRANIN = Branin()
LEVELS = {"a": 0.0, "b": 5.0, "c": 10.0}


def objective(params, shift=0.0):
    """Branin in (x1 + shift, x2), plus a categorical offset and a small integer term."""
    x = torch.tensor([[params["x1"] + shift, params["x2"]]], dtype=torch.double)
    return float(BRANIN(x)) + LEVELS[params["kind"]] + 0.1 * params["n"]


PARAMETERS = [
    RangeParameterConfig(name="x1", parameter_type="float", bounds=(-5.0, 10.0)),
    RangeParameterConfig(name="x2", parameter_type="float", bounds=(0.0, 15.0)),
    ChoiceParameterConfig(
        name="kind", values=["a", "b", "c"], parameter_type="str", is_ordered=False
    ),
    RangeParameterConfig(name="n", parameter_type="int", bounds=(1, 4)),
]


def new_client(name="target_exp"):
    client = Client(random_seed=0)
    client.configure_experiment(parameters=PARAMETERS, name=name)
    client.configure_optimization(objective="-loss")
    return client


def history(n=12, seed=1):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "x1": rng.uniform(-5, 10, n),
            "x2": rng.uniform(0, 15, n),
            "kind": rng.choice(["a", "b", "c"], n),
            "n": rng.integers(1, 5, n),
        }
    )
    frame["loss"] = [objective(r, shift=0.5) for r in frame.to_dict("records")]
    return frame


@pytest.fixture(scope="module")
def loop():
    """Sobol (3 trials, the second failed, so a 4th is drawn), 2 model trials, a batch of 3."""
    client = new_client()
    attached = add_source_tasks(client, {"source": history()}, target_task="target")
    client.set_generation_strategy(hbo_generation_strategy(num_sobol_trials=3, seed=0))
    batches, nodes, failed = [], [], None
    for size in (1, 1, 1, 1, 1, 1, 3):
        trials = client.get_next_trials(max_trials=size)
        batches.append(trials)
        nodes.append(client._generation_strategy.current_node_name)
        for index, params in trials.items():
            if failed is None:
                failed = index
                client.mark_trial_failed(index)
            else:
                client.complete_trial(index, raw_data={"loss": objective(params)})
    return client, attached, batches, nodes, failed


def test_loop_runs_sobol_then_hbo_with_a_failed_trial_and_a_batch(loop):
    client, attached, batches, nodes, failed = loop
    trials = client._experiment.trials
    assert len(attached["source"]) == 12
    assert [len(b) for b in batches] == [1, 1, 1, 1, 1, 1, 3]
    assert len(set().union(*batches)) == 9  # 9 distinct new trials
    assert trials[failed].status == TrialStatus.FAILED
    new = [i for b in batches for i in b]
    assert all(trials[i].status == TrialStatus.COMPLETED for i in new if i != failed)
    # the failed Sobol trial is replaced: 4 Sobol trials, then the model
    assert nodes[:4] == ["GenerationStep_0_Sobol"] * 4
    assert nodes[4:] == ["GenerationStep_1_BoTorch"] * 3
    batch = list(batches[-1].values())
    assert len({tuple(sorted(p.items())) for p in batch}) == 3  # the batch is distinct


def test_ax_fitted_hbo_model_on_all_completed_trials(loop):
    client = loop[0]
    adapter = client._generation_strategy._curr.generator_spec_to_gen_from.fitted_adapter
    model = adapter.generator.surrogate.model
    assert isinstance(model, HierarchicalGP)
    assert model.num_tasks == 2 and model.hierarchical
    # fitted before the batch: 12 source + 6 target trials of which 1 failed
    assert model.train_inputs[0].shape == (17, 5)
    target = model.task_labels[int(model._output_tasks[0])]
    assert (model.train_inputs[0][:, model._task_feature] == target).sum() == 5
    acqf = adapter.generator._acquisition.acqf
    assert type(acqf) is qLogNoisyExpectedImprovement  # Ax's choice for one objective
    # the noisy-EI baseline holds target-task points only (not the source's incumbent)
    assert (acqf.X_baseline[:, model._task_feature] == target).all()


def test_suggestions_respect_the_search_space_and_target_task(loop):
    for batch in loop[2]:
        for params in batch.values():
            assert -5.0 <= params["x1"] <= 10.0 and 0.0 <= params["x2"] <= 15.0
            assert params["kind"] in LEVELS
            assert isinstance(params["n"], int) and 1 <= params["n"] <= 4
            assert params["task"] == "target"


def test_client_json_round_trip(loop, tmp_path):
    client = loop[0]
    path = tmp_path / "snapshot.json"
    client.save_to_json_file(str(path))
    loaded = Client.load_from_json_file(str(path))
    before, after = client._experiment, loaded._experiment
    assert after.search_space == before.search_space
    assert after.search_space.parameters["task"].is_task
    assert {i: t.status for i, t in after.trials.items()} == {
        i: t.status for i, t in before.trials.items()
    }
    assert {i: t.arm.parameters for i, t in after.trials.items()} == {
        i: t.arm.parameters for i, t in before.trials.items()
    }
    pd.testing.assert_frame_equal(after.lookup_data().df, before.lookup_data().df)
    node = loaded._generation_strategy.nodes_by_name["GenerationStep_1_BoTorch"]
    kwargs = node.generator_specs[0].generator_kwargs
    assert kwargs["surrogate_spec"].model_configs[0].botorch_model_class is HierarchicalGP
    assert "botorch_acqf_class" not in kwargs  # Ax chooses by the optimization config
    assert loaded._generation_strategy.current_node_name == "GenerationStep_1_BoTorch"


def fitted_adapter(client):
    return client._generation_strategy._curr.generator_spec_to_gen_from.fitted_adapter


def test_cross_validation_folds_load_the_fit_and_do_not_optimize(loop, monkeypatch):
    adapter = fitted_adapter(loop[0])
    full = adapter.generator.surrogate.model
    fits, folds = [], []
    monkeypatch.setattr(HierarchicalGP, "fit", lambda self, **kwargs: fits.append(self))
    load = HierarchicalGP.load_state_dict

    def recording_load(self, state_dict, *args, **kwargs):
        folds.append((self.train_inputs[0].shape[0], state_dict))
        return load(self, state_dict, *args, **kwargs)

    monkeypatch.setattr(HierarchicalGP, "load_state_dict", recording_load)
    results = cross_validate(adapter, folds=3)
    assert fits == []  # no fold called the optimizer
    assert len(folds) == 3
    n = full.train_inputs[0].shape[0]
    assert sum(n - rows for rows, _ in folds) == n  # each fold left its test points out
    for _, state in folds:  # ... and has the full fit's hyperparameters
        assert state.keys() == full.state_dict().keys()
        assert all(torch.equal(state[k], v) for k, v in full.state_dict().items())
    assert len(results) == n
    assert all(np.isfinite(r.predicted.means).all() for r in results)


def test_target_task_lognei_takes_a_model_list_keeps_the_target_baseline_refuses_moo():
    X = torch.rand(10, 3, dtype=torch.double)
    X[:, 2] = torch.tensor([0, 1] * 5, dtype=torch.double)
    gps = [
        HierarchicalGP(X, X[:, :1] + k, task_feature=2, output_tasks=[1]) for k in range(2)
    ]
    dataset = SupervisedDataset(X=X, Y=X[:, :1], feature_names=["a", "b", "t"], outcome_names=["y"])
    inputs = _construct_target_task_lognei(
        model=ModelList(*gps), training_data=dataset, X_baseline=X, objective=None
    )
    assert (inputs["X_baseline"][:, 2] == 1).all() and len(inputs["X_baseline"]) == 5
    weights = torch.ones(2, dtype=torch.double)  # several objectives, as Ax would pass them
    with pytest.raises(UnsupportedOptimizationError, match="set hbo_generation_strategy"):
        _construct_target_task_lognei(
            model=ModelList(*gps),
            training_data=dataset,
            posterior_transform=ScalarizedPosteriorTransform(weights),
        )
    other = ModelList(gps[0], SingleTaskGP(X, X[:, :1]))
    with pytest.raises(InvalidArgumentError, match=r"ModelList of them, got \['Hier.*GP'\]"):
        _construct_target_task_lognei(model=other, training_data=dataset)


def test_weighted_sum_objective_is_refused_before_any_trial():
    client = Client(random_seed=0)
    client.configure_experiment(parameters=PARAMETERS)
    client.configure_optimization(objective="-loss - 0.5 * time")
    message = r"weighted sum of the metrics \['loss', 'time'\].*one metric.*supports one metric"
    with pytest.raises(UnsupportedOptimizationError, match=message):
        add_source_tasks(client, {"old": history()})
    client.set_generation_strategy(hbo_generation_strategy())
    with pytest.raises(UnsupportedOptimizationError, match=message):
        client.get_next_trials(max_trials=1)
    assert not client._experiment.trials


# ------------------------------------------------------------------------- JSON
ROOT = Path(__file__).resolve().parents[2]
LOAD = """
import sys
{imports}
from ax.api.client import Client
client = Client.load_from_json_file(sys.argv[1])
for params in client.get_next_trials(max_trials=1).values():
    print("next task:", params["task"])
"""


def load_in_fresh_process(path, imports=""):
    path_entries = [str(ROOT), os.environ.get("PYTHONPATH", "")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path_entries)}
    code = LOAD.format(imports=imports)
    return subprocess.run(
        [sys.executable, "-W", "ignore", "-c", code, str(path)],
        capture_output=True, text=True, env=env, timeout=600,
    )


def test_json_loads_in_a_fresh_process_after_importing_hbo_and_names_it_otherwise(
    loop, tmp_path
):
    path = tmp_path / "snapshot.json"
    loop[0].save_to_json_file(str(path))
    bare = load_in_fresh_process(path)
    assert bare.returncode != 0 and "hbo.integrations.ax.TargetTask" in bare.stderr
    ready = load_in_fresh_process(path, imports="import hbo.integrations.ax")
    assert ready.returncode == 0, ready.stderr[-3000:]
    assert "next task: target" in ready.stdout


def test_json_of_earlier_versions_loads(loop, tmp_path):
    """Snapshots written before used bare class names and named TargetTaskLogNEI."""
    path = tmp_path / "old.json"
    loop[0].save_to_json_file(str(path))
    text = path.read_text().replace("hbo.integrations.ax.", "")
    snapshot = json.loads(text)
    node = snapshot["generation_strategy"]["nodes"][1]
    node["generator_specs"][0]["generator_kwargs"]["botorch_acqf_class"] = {
        "__type": "Type[AcquisitionFunction]",
        "index": "TargetTaskLogNEI",
        "class": "<class 'botorch.acquisition.acquisition.AcquisitionFunction'>",
    }
    path.write_text(json.dumps(snapshot))
    loaded = Client.load_from_json_file(str(path))
    node = loaded._generation_strategy.nodes_by_name["GenerationStep_1_BoTorch"]
    assert node.generator_specs[0].generator_kwargs["botorch_acqf_class"] is TargetTaskLogNEI
    for params in loaded.get_next_trials(max_trials=1).values():
        assert params["task"] == "target"
    acqf = fitted_adapter(loaded).generator._acquisition.acqf
    assert isinstance(acqf, TargetTaskLogNEI)


def test_source_task_from_another_ax_experiment():
    source = new_client("source_exp")
    for record in history(n=4).to_dict("records"):
        loss = record.pop("loss")
        index = source.attach_trial(
            {k: (v.item() if hasattr(v, "item") else v) for k, v in record.items()}
        )
        source.complete_trial(index, raw_data={"loss": loss})
    client = new_client()
    attached = add_source_tasks(client, {"old": source._experiment}, target_task="new")
    trials = client._experiment.trials
    assert len(attached["old"]) == 4
    values = client._experiment.lookup_data().df.set_index("trial_index")["mean"]
    expected = source._experiment.lookup_data().df["mean"].to_numpy()
    np.testing.assert_allclose(np.sort(values.to_numpy()), np.sort(expected))
    assert {trials[i].arm.parameters["task"] for i in attached["old"]} == {"old"}
    task = client._experiment.search_space.parameters["task"]
    assert task.is_task and task.target_value == "new" and task.values == ["new", "old"]


def test_single_task_inputs_get_a_constant_task_column():
    dataset = SupervisedDataset(
        X=torch.rand(6, 3, dtype=torch.double),
        Y=torch.rand(6, 1, dtype=torch.double),
        feature_names=["a", "b", "c"],
        outcome_names=["y"],
    )

    class Digest:
        categorical_features = [2]
        discrete_choices = {2: [0, 1, 2]}

    class NoSurrogate:
        _submodels: dict = {}

    from ax.generators.torch.botorch_modular.utils import ModelConfig

    inputs = _hierarchical_gp_inputs(HierarchicalGP, ModelConfig(), dataset, Digest, NoSurrogate)
    assert inputs["train_X"].shape == (6, 4) and inputs["task_feature"] == 3
    assert (inputs["train_X"][:, 3] == 0).all() and inputs["output_tasks"] == [0]
    assert inputs["categorical_dims"] == {2: 3}


# ------------------------------------------------------------------------- bad input
def test_conditional_parameters_are_rejected_naming_the_parameter():
    client = Client(random_seed=0)
    client.configure_experiment(
        parameters=[
            ChoiceParameterConfig(
                name="optimizer",
                values=["sgd", "adam", "rmsprop"],
                parameter_type="str",
                is_ordered=False,
                dependent_parameters={"sgd": ["momentum"], "adam": [], "rmsprop": []},
            ),
            RangeParameterConfig(name="momentum", parameter_type="float", bounds=(0.0, 1.0)),
        ]
    )
    client.configure_optimization(objective="-loss")
    client.set_generation_strategy(hbo_generation_strategy())
    with pytest.raises(UnsupportedParameterError, match=r"'optimizer'.*hierarchical.*supports"):
        client.get_next_trials(max_trials=1)
    with pytest.raises(UnsupportedParameterError, match="'optimizer'"):
        add_source_tasks(client, {"old": history()})


def test_unordered_numeric_choice_is_rejected():
    client = Client(random_seed=0)
    client.configure_experiment(
        parameters=[
            ChoiceParameterConfig(
                name="width", values=[8, 16, 32], parameter_type="int", is_ordered=False
            ),
            RangeParameterConfig(name="x", parameter_type="float", bounds=(0.0, 1.0)),
        ]
    )
    client.configure_optimization(objective="-loss")
    with pytest.raises(UnsupportedParameterError, match=r"'width'.*unordered numeric"):
        add_source_tasks(client, {"old": pd.DataFrame({"width": [8], "x": [0.5], "loss": [1]})})


def task(name, values):
    return ChoiceParameter(
        name,
        ParameterType.STRING,
        values=values,
        is_task=True,
        target_value=values[0],
        is_ordered=False,
        sort_values=False,
    )


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            [RangeParameter("epochs", ParameterType.INT, 1, 9, is_fidelity=True, target_value=9)],
            r"'epochs' is a fidelity parameter",
        ),
        (
            [task("t1", ["a", "b", "c"]), task("t2", ["x", "y", "z"])],
            r"\['t1', 't2'\]: hbo models one",
        ),
    ],
)
def test_fidelity_and_two_task_parameters_are_rejected(extra, message):
    x = RangeParameter("x", ParameterType.FLOAT, 0.0, 1.0)
    with pytest.raises(UnsupportedParameterError, match=message):
        check_search_space(SearchSpace([x, *extra]))


def test_add_source_tasks_bad_input():
    client = new_client()
    frame = history(n=3)
    with pytest.raises(InvalidDataError, match=r"lacks columns \['loss'\]"):
        add_source_tasks(client, {"old": frame.drop(columns="loss")})
    bad = frame.copy()
    bad.loc[0, "x1"] = 99.0
    with pytest.raises(InvalidDataError, match="sources\\['old'\\]"):
        add_source_tasks(client, {"old": bad})
    with pytest.raises(InvalidArgumentError, match="distinct"):
        add_source_tasks(client, {"target": frame}, target_task="target")
    with pytest.raises(ArgumentTypeError, match="Experiment or a DataFrame"):
        add_source_tasks(client, {"old": frame.to_dict("records")})
    assert "task" not in client._experiment.search_space.parameters  # nothing was changed
    client.attach_trial({"x1": 0.0, "x2": 1.0, "kind": "a", "n": 1})
    with pytest.raises(NotReadyError, match="before client.get_next_trials"):
        add_source_tasks(client, {"old": frame})


def test_generation_strategy_bad_input():
    with pytest.raises(InvalidArgumentError, match="num_sobol_trials"):
        hbo_generation_strategy(0)
    with pytest.raises(InvalidArgumentError, match=r"\['lr'\]"):
        hbo_generation_strategy(fit_options={"lr": 0.1})
    node = hbo_generation_strategy(fit_options={"maxiter": 50})._nodes[1]
    config = node.generator_specs[0].generator_kwargs["surrogate_spec"].model_configs[0]
    assert config.mll_options == {"maxiter": 50}
