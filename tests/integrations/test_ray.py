"""HBOSearch inside a real local Ray Tune sweep; search-space conversion; save/restore.

The sweep (module scope: Ray's start-up and the fits cost seconds) tunes Branin on the
target task with the history of a shifted Branin (a related task) and 2 trials at a
time; exactly one trial raises.
"""

import os
import sys

import numpy as np
import pandas as pd
import pytest
import torch

pytest.importorskip("ray")

import ray  # noqa: E402
from botorch.test_functions import Branin  # noqa: E402
from ray import cloudpickle, tune  # noqa: E402

from hbo import Float, SearchSpace, Study, TrialState  # noqa: E402
from hbo.errors import (  # noqa: E402
    ArgumentTypeError,
    InvalidArgumentError,
    NotReadyError,
    ParamKeyError,
    ParamValueError,
)
from hbo.integrations.ray import (  # noqa: E402
    HBOSearch,
    UnsupportedSearchSpaceError,
    to_search_space,
)
from hbo.proposer import SobolProposer, sobol_points  # noqa: E402

# Ray's own deprecations and resource notices, raised inside Ray: not ours to fix.
pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::FutureWarning:ray.*"),
    pytest.mark.filterwarnings("ignore::UserWarning:ray.*"),
]

BRANIN = Branin()  # minimum 0.397887 (Branin's three global minima)
N_SAMPLES, N_SOBOL = 12, 4


def branin(x1, x2, shift=0.0):
    return float(BRANIN(torch.tensor([[x1 + shift, x2]], dtype=torch.double)))


def history(n=15, seed=3):
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"x1": rng.uniform(-5, 10, n), "x2": rng.uniform(0, 15, n)})
    frame["loss"] = [branin(a, b, shift=0.5) for a, b in zip(frame.x1, frame.x2, strict=True)]
    return frame


def make_trainable(marker):
    def trainable(config):
        try:  # exactly one trial (the first to get here) raises
            os.close(os.open(marker, os.O_CREAT | os.O_EXCL))
            raise RuntimeError("this trial crashes on purpose")
        except FileExistsError:
            pass
        tune.report({"loss": branin(config["x1"], config["x2"])})

    return trainable


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ray")
    monkeypatch = pytest.MonkeyPatch()
    # CSV/JSON/TensorBoard loggers per trial are slow and not what is tested
    monkeypatch.setenv("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    # Ray's workers unpickle the trainable; by value, they need not import this test file
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        searcher = HBOSearch(
            task="branin", history={"shifted": history()}, seed=0, n_initial=N_SOBOL
        )
        tuner = tune.Tuner(
            make_trainable(str(tmp / "crashed")),
            param_space={"x1": tune.uniform(-5, 10), "x2": tune.uniform(0, 15), "tag": "run"},
            tune_config=tune.TuneConfig(
                search_alg=searcher,
                metric="loss",
                mode="min",
                num_samples=N_SAMPLES,
                max_concurrent_trials=2,
                reuse_actors=True,  # one worker process per slot, not one per trial
            ),
            run_config=tune.RunConfig(storage_path=str(tmp), name="sweep", verbose=0),
        )
        results = tuner.fit()
    finally:
        ray.shutdown()
        monkeypatch.undo()
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])
    return searcher, results, tmp


def test_every_trial_reached_the_searcher(sweep):
    searcher, results, _ = sweep
    frame = searcher.study.trials_dataframe()
    asked = frame[frame.origin == "asked"]
    assert len(results) == N_SAMPLES and len(asked) == N_SAMPLES
    assert (asked.task == "branin").all()
    assert (frame[frame.origin == "history"].task == "shifted").sum() == 15
    # one trial raised and was told as failed; every other one completed
    assert sorted(asked.state) == ["complete"] * (N_SAMPLES - 1) + ["failed"]
    assert sum(r.error is not None for r in results) == 1
    assert searcher._live == {}
    # the values the searcher holds are the ones Tune reported
    reported = sorted(r.metrics["loss"] for r in results if r.error is None)
    np.testing.assert_allclose(sorted(asked.value.dropna()), reported)


def test_model_phase_improves_on_the_sobol_phase(sweep):
    """With 2 workers and 1 failure, asks 1..4 are surely Sobol (< 4 completed when
    asked) and asks 7..12 surely from the model (>= 4 completed). Branin's minimum is
    0.398; the pooled model starts near the shifted source's optima, Sobol does not."""
    asked = sweep[0].study.trials_dataframe().query("origin == 'asked'").sort_values("trial_id")
    values = asked.value.to_numpy()
    sobol, model = np.nanmin(values[:N_SOBOL]), np.nanmin(values[6:])
    assert model < sobol


def test_suggestions_stay_in_the_space_and_keep_constants(sweep):
    for result in sweep[1]:
        config = result.config
        assert -5 <= config["x1"] <= 10 and 0 <= config["x2"] <= 15
        assert config["tag"] == "run"


def test_save_restore_round_trip(sweep, tmp_path):
    searcher = sweep[0]
    path = str(tmp_path / "searcher.pkl")
    searcher.save(path)
    restored = HBOSearch()
    restored.restore(path)
    pd.testing.assert_frame_equal(
        restored.study.trials_dataframe(), searcher.study.trials_dataframe()
    )
    assert restored.metric == "loss" and restored.mode == "min"
    assert restored.study.seed == searcher.study.seed
    # the restored searcher continues where the original would have. Not bit for bit:
    # the original's fit starts from its previous model, the restored one's from the
    # prior, so the MAP (and the EI maximizer) agree to the optimizers' tolerances.
    a, b = restored.suggest("next"), searcher.suggest("next")
    np.testing.assert_allclose([a["x1"], a["x2"]], [b["x1"], b["x2"]], atol=0.05)


def test_save_restore_keeps_running_trials_pending(tmp_path):
    searcher = HBOSearch({"x": tune.uniform(0, 1)}, metric="y", mode="max", seed=1)
    first = searcher.suggest("a")
    searcher.suggest("b")
    searcher.on_trial_complete("a", {"y": 0.5})
    path = str(tmp_path / "s.pkl")
    searcher.save(path)
    restored = HBOSearch()
    restored.restore(path)
    states = [t.state for t in restored.study.storage.get_trials()]
    assert states == [TrialState.COMPLETE, TrialState.RUNNING]
    # Tune's own checkpoint path (Tuner.fit saves, Tuner.restore restores) uses save/restore
    searcher.save_to_dir(str(tmp_path), session_str="sweep")
    from_dir = HBOSearch()
    from_dir.restore_from_dir(str(tmp_path))
    assert from_dir.get_state()["trials"] == restored.get_state()["trials"]
    restored.on_trial_complete("b", error=True)  # the running trial finishes after resume
    assert restored.study.storage.get_trials()[1].state == TrialState.FAILED
    assert restored.study.best.params == first


# ------------------------------------------------------------------------- conversion
def test_tune_space_conversion():
    space = to_search_space(
        {
            "lr": tune.loguniform(1e-4, 1e-1),
            "dropout": tune.uniform(0.0, 0.5),
            "layers": tune.randint(1, 5),
            "width": tune.lograndint(8, 257),
            "act": tune.choice(["relu", "tanh"]),
            "opt": {"momentum": tune.uniform(0.8, 0.99)},
            "epochs": 3,
        }
    )
    by_name = {p.name: p for p in space.params}
    assert set(by_name) == {"lr", "dropout", "layers", "width", "act", "opt/momentum"}
    assert by_name["lr"].log and not by_name["dropout"].log
    assert (by_name["layers"].low, by_name["layers"].high) == (1, 4)  # Tune's upper excluded
    assert by_name["width"].log and by_name["width"].high == 256
    assert by_name["act"].choices == ("relu", "tanh")


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (tune.grid_search([1, 2]), "grid_search"),
        (tune.sample_from(lambda spec: 1), "sample_from"),
        (tune.quniform(0, 1, 0.1), "quantized"),
        (tune.randn(), "normal"),
    ],
)
def test_unsupported_tune_entries_are_named(entry, message):
    with pytest.raises(UnsupportedSearchSpaceError, match=rf"'bad'.*{message}.*supports"):
        to_search_space({"ok": tune.uniform(0, 1), "bad": entry})


def test_searcher_bad_input():
    with pytest.raises(InvalidArgumentError, match="mode"):
        HBOSearch(mode="minimize")
    with pytest.raises(NotReadyError, match=r"\['space', 'metric', 'mode'\]"):
        HBOSearch().suggest("t")
    with pytest.raises(InvalidArgumentError, match="column 'loss'"):
        HBOSearch(
            {"x": tune.uniform(0, 1)}, "loss", "min", history={"old": pd.DataFrame({"x": [0.1]})}
        ).suggest("t")
    study = Study(SearchSpace([Float("x", 0, 1)]), direction="maximize")
    with pytest.raises(InvalidArgumentError, match="contradicts"):
        HBOSearch(study=study, mode="min")
    with pytest.raises(InvalidArgumentError, match=r"leave out \['seed'\]"):
        HBOSearch(study=study, seed=3)
    with pytest.raises(ArgumentTypeError, match="hbo.Study"):
        HBOSearch(study="study")
    constrained = Study(SearchSpace([Float("x", 0, 1)]), constraints=["mem <= 1"])
    assert HBOSearch(study=constrained).metric == "value"  # its objective, reported by name
    wrapped = HBOSearch(study=study, metric="acc")
    assert wrapped.mode == "max" and wrapped.suggest("t").keys() == {"x"}


def test_the_searcher_passes_a_proposer_to_its_study():
    sobol = SobolProposer()
    search = HBOSearch({"x": tune.uniform(0, 1)}, "loss", "min", seed=4, proposer=sobol)
    first = search.suggest("t1")
    assert search.study.proposer is sobol
    fresh = Study(search.study.space, task="target", seed=4)
    assert first == fresh.space.decode(sobol_points(fresh, "target", 1))[0]  # no model
    study = Study(SearchSpace([Float("x", 0, 1)]))
    with pytest.raises(InvalidArgumentError, match=r"leave out \['proposer'\]"):
        HBOSearch(study=study, proposer=sobol)


# ------------------------------------------------------------------------- warm starts
NESTED = {"x": tune.uniform(0, 1), "opt": {"lr": tune.loguniform(1e-3, 1.0)}, "tag": "run"}


def test_points_to_evaluate_are_suggested_first_in_order():
    points = [{"x": 0.25, "opt": {"lr": 0.01}, "tag": "run"}, {"x": 0.75, "opt": {"lr": 0.1}}]
    search = HBOSearch(NESTED, "loss", "min", seed=0, points_to_evaluate=points)
    first, second, third = (search.suggest(name) for name in ("a", "b", "c"))
    assert first == {"x": 0.25, "opt": {"lr": 0.01}} and second == {"x": 0.75, "opt": {"lr": 0.1}}
    assert third not in (first, second)
    frame = search.study.trials_dataframe()
    assert list(frame.origin) == ["enqueued", "enqueued", "asked"]
    assert set(frame.state) == {"running"}
    # a checkpoint holds the queued points as trials: a restored searcher queues none again
    restored = HBOSearch()
    restored.set_state(search.get_state())
    assert len(restored.study.storage.get_trials()) == 3


def test_evaluated_rewards_are_results_not_runs():
    points = [{"x": 0.2, "opt": {"lr": 0.01}}, {"x": 0.6, "opt": {"lr": 0.5}}]
    search = HBOSearch(NESTED, "loss", "max", seed=0, n_initial=2, points_to_evaluate=points,
                       evaluated_rewards=[1.0, 3.0])
    proposed = search.suggest("a")
    assert proposed not in points  # two results already: the model proposes
    done = search.study.storage.get_trials(states=[TrialState.COMPLETE])
    assert [(t.task, t.origin.value, t.value) for t in done] == [
        ("target", "history", 1.0), ("target", "history", 3.0)]
    assert search.study.best.params == {"x": 0.6, "opt/lr": 0.5}


def test_add_evaluated_point_stores_results_and_failures():
    search = HBOSearch(NESTED, "loss", "min", seed=0)
    search.add_evaluated_point({"x": 0.3, "opt": {"lr": 0.02}, "tag": "run"}, 2.5)
    search.add_evaluated_point({"x": 0.9, "opt": {"lr": 0.2}}, None, error=True)
    trials = search.study.storage.get_trials()
    assert [(t.state, t.value) for t in trials] == [
        (TrialState.COMPLETE, 2.5), (TrialState.FAILED, None)]
    with pytest.raises(ParamKeyError, match=r"parameters: missing keys \['opt/lr'\]"):
        search.add_evaluated_point({"x": 0.5}, 1.0)
    assert len(search.study.storage.get_trials()) == 2


def test_warm_start_bad_input_stores_nothing():
    good = {"x": 0.5, "opt": {"lr": 0.1}}
    with pytest.raises(InvalidArgumentError, match="2 values for 1 points_to_evaluate"):
        HBOSearch(NESTED, "loss", "min", points_to_evaluate=[good], evaluated_rewards=[1, 2])
    with pytest.raises(InvalidArgumentError, match=r"evaluated_rewards\[1\] is nan"):
        HBOSearch(NESTED, "loss", "min", points_to_evaluate=[good, good],
                  evaluated_rewards=[1.0, float("nan")])
    with pytest.raises(ArgumentTypeError, match="list of config dicts, got dict"):
        HBOSearch(NESTED, "loss", "min", points_to_evaluate=good)
    study = Study(SearchSpace([Float("x", 0, 1), Float("opt/lr", 1e-3, 1.0, log=True)]))
    with pytest.raises(ParamValueError, match="points_to_evaluate"):
        HBOSearch(study=study, points_to_evaluate=[good, {"x": 2.0, "opt": {"lr": 0.1}}])
    assert study.storage.get_trials() == []  # the good first point was not queued either


# ------------------------------------------------------------------------- several metrics
TWO = {"x": tune.uniform(0, 1), "y": tune.uniform(0, 1)}


def _outcomes(config):
    x, y = config["x"], config["y"]
    return {"loss": (x - 0.2) ** 2 + y, "latency": (x - 0.8) ** 2 + y, "mem": 4 * y}


def test_several_metrics_and_a_constraint_make_a_study_of_several_outcomes():
    frame = pd.DataFrame({"x": [0.1, 0.5, 0.9], "y": [0.1, 0.2, 0.3]})
    frame = frame.assign(**pd.DataFrame([_outcomes(r) for r in frame.to_dict("records")]))
    frame.loc[1, "mem"] = np.nan  # a source that did not measure memory there
    search = HBOSearch(TWO, ["loss", "latency"], ["min", "min"], constraints=["mem <= 1"],
                       history={"old": frame}, seed=0, n_initial=3,
                       points_to_evaluate=[{"x": 0.5, "y": 0.0}],
                       evaluated_rewards=[{"loss": 0.09, "latency": 0.09, "mem": 0.0}])
    study = search.study
    assert study.objectives == {"loss": "minimize", "latency": "minimize"}
    assert [str(c) for c in study.constraints] == ["mem <= 1.0"]
    assert set(study.storage.get_trials("old")[1].values) == {"loss", "latency"}
    for name in ("a", "b", "c"):
        search.on_trial_complete(name, _outcomes(search.suggest(name)))
    search.suggest("d")
    search.on_trial_complete("d", {"loss": 1.0, "latency": 1.0})  # no mem reported: failed
    states = [t.state for t in study.storage.get_trials("target")]
    assert states == [TrialState.COMPLETE] * 4 + [TrialState.FAILED]
    assert study.pareto_front()  # the evaluated point is feasible
    restored = HBOSearch()
    restored.set_state(search.get_state())
    assert restored.study.objectives == study.objectives
    assert [str(c) for c in restored.study.constraints] == ["mem <= 1.0"]
    assert restored.metric == ["loss", "latency"] and restored.mode == ["min", "min"]


def test_a_wrapped_study_of_several_outcomes_gives_metric_and_mode():
    study = Study(SearchSpace([Float("x", 0, 1), Float("y", 0, 1)]),
                  objectives={"acc": "maximize"}, constraints=["mem <= 3"])
    search = HBOSearch(study=study)
    assert search.metric == "acc" and search.mode == "max"
    with pytest.raises(InvalidArgumentError, match="contradicts the study's objectives"):
        HBOSearch(study=study, mode="min")
    with pytest.raises(InvalidArgumentError, match=r"leave out \['constraints'\]"):
        HBOSearch(study=study, constraints=["mem <= 2"])


@pytest.mark.parametrize(
    ("metric", "mode", "error", "message"),
    [
        (["loss", "latency"], "min", InvalidArgumentError, "both as lists of the same length"),
        (["loss", "latency"], ["min"], InvalidArgumentError, "both as lists of the same length"),
        (["loss", "loss"], ["min", "min"], ArgumentTypeError, "distinct non-empty names"),
        (["loss", "latency"], ["min", "lowest"], InvalidArgumentError, "'min' or 'max' per"),
        ("", "min", ArgumentTypeError, "non-empty string"),
    ],
)
def test_bad_metric_and_mode_are_named(metric, mode, error, message):
    with pytest.raises(error, match=message):
        HBOSearch(TWO, metric, mode)


def test_a_tune_sweep_of_two_metrics(tmp_path):
    """Tune takes a searcher of two metrics (none in TuneConfig, as with OptunaSearch)."""
    def trainable(config):
        tune.report(_outcomes(config))

    searcher = HBOSearch(metric=["loss", "latency"], mode=["min", "min"], seed=0,
                         proposer=SobolProposer())
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    try:
        tune.Tuner(
            trainable, param_space=TWO,
            tune_config=tune.TuneConfig(search_alg=searcher, num_samples=4),
            run_config=tune.RunConfig(storage_path=str(tmp_path), name="two", verbose=0),
        ).fit()
    finally:
        ray.shutdown()
    frame = searcher.study.trials_dataframe()
    assert list(frame.state) == ["complete"] * 4
    assert {"values_loss", "values_latency"} <= set(frame.columns)
