"""Study: the ask/tell loop, history, batches, failures, bad input that loses nothing."""

import math
import os
import subprocess
import sys
import textwrap
import threading
import warnings

import numpy as np
import pandas as pd
import pytest
import torch

import hbo
from hbo._warnings import FailedTrialWarning
from hbo.errors import (
    ArgumentTypeError,
    InvalidArgumentError,
    InvalidDataError,
    ModelFittingError,
    NotReadyError,
    ObjectiveTypeError,
    ParamKeyError,
    ParamTypeError,
    ParamValueError,
    TrialStateError,
    UnknownTaskError,
    UnknownTrialError,
)


def objective(params: dict, shift: float = 0.0) -> float:
    """A smooth bowl over the mixed space; its minimum moves with ``shift``."""
    lr = math.log10(params["lr"])
    penalty = {"relu": 0.0, "tanh": 0.3, "gelu": 0.1}[params["activation"]]
    return (lr + 3.0 + shift) ** 2 + 0.1 * (params["layers"] - 4) ** 2 + penalty


@pytest.fixture
def space() -> hbo.SearchSpace:
    return hbo.SearchSpace(
        [
            hbo.Float("lr", 1e-5, 1e-1, log=True),
            hbo.Int("layers", 1, 8),
            hbo.Categorical("activation", ["relu", "tanh", "gelu"]),
        ]
    )


@pytest.fixture
def study(space) -> hbo.Study:
    return hbo.Study(space, task="cifar10", direction="minimize", seed=0)


def history(space, rng, n=12, shift=0.3):
    X = space.decode(space.sobol(n, seed=int(rng.integers(1000))))
    return X, [objective(p, shift) for p in X]


def snapshot(study: hbo.Study) -> pd.DataFrame:
    return study.trials_dataframe().copy()


def test_ask_tell_loop_with_history_improves_and_reports(study, space, rng):
    params, values = history(space, rng)
    study.add_history("mnist", params, values)
    for _ in range(6):
        trial = study.ask()
        assert trial.task == "cifar10" and trial.state is hbo.TrialState.RUNNING
        space.validate(trial.params)  # every suggestion lies in the space
        study.tell(trial, objective(trial.params))
    frame = study.trials_dataframe()
    assert len(frame) == 18 and set(frame["task"]) == {"cifar10", "mnist"}
    assert list(frame.columns[:5]) == ["trial_id", "task", "origin", "state", "value"]
    # the optimum is 0 (lr = 1e-3, layers = 4, relu); a random point averages ~2.8:
    # 6 model-guided evaluations with related history must get well below 1
    assert study.best.value < 1.0
    assert study.best.task == "cifar10"
    report = study.pooling()
    # related history: leave-one-out on cifar10's 6 points keeps the shared function
    assert report.shared_choice.used and report.shared_choice.n_target == 6
    assert set(report.function_share.index) == {"cifar10", "mnist"}
    assert "cifar10" in str(report) and "shared function: on" in str(report)


def test_batch_ask_gives_distinct_admissible_points(study, space, rng):
    params, values = history(space, rng)
    study.add_history("mnist", params, values)
    first = study.ask()
    study.tell(first, objective(first.params))
    batch = study.ask(4)
    assert len(batch) == 4 and len({t.id for t in batch}) == 4
    keys = {tuple(sorted(t.params.items())) for t in batch}
    assert len(keys) == 4
    taken = {tuple(sorted(t.params.items())) for t in [first]}
    assert not keys & taken
    # a second batch while the first is pending avoids the pending points too
    more = study.ask(2)
    assert not {tuple(sorted(t.params.items())) for t in more} & keys


def test_failed_trials_are_kept_and_not_resuggested(space, rng):
    small = hbo.SearchSpace([hbo.Int("a", 0, 2), hbo.Categorical("b", ["x", "y"])])
    study = hbo.Study(small, task="t", seed=1, n_initial=2)
    seen = set()
    for i in range(6):
        trial = study.ask()
        key = tuple(sorted(trial.params.items()))
        assert key not in seen  # 6 points exist: none is proposed twice
        seen.add(key)
        if i % 2:
            study.tell(trial, failed=True)
        else:
            study.tell(trial, float(trial.params["a"]))
    states = study.trials_dataframe()["state"].value_counts()
    assert states["failed"] == 3 and states["complete"] == 3


def test_nan_value_marks_trial_failed_with_warning(study):
    trial = study.ask()
    with pytest.warns(FailedTrialWarning, match="not finite"):
        told = study.tell(trial, float("nan"))
    assert told.state is hbo.TrialState.FAILED
    again = study.ask()  # the loop goes on
    study.tell(again.id, 1.0)
    assert study.best.id == again.id


def test_history_from_dataframe_and_unknown_task_errors(study, space, rng):
    params, values = history(space, rng, n=5)
    frame = pd.DataFrame(params).assign(value=values)
    stored = study.add_history("mnist", frame)
    assert [t.value for t in stored] == values
    assert all(t.origin is hbo.Origin.HISTORY for t in stored)
    assert study.tasks == ["cifar10", "mnist"]
    trial = study.ask(task="mnist")
    assert trial.task == "mnist"
    with pytest.raises(UnknownTaskError, match="add_history"):
        study.ask(task="imagenet")


def test_several_targets_at_once(space, rng):
    study = hbo.Study(space, task="clinic_1", seed=2)
    for k in range(3):
        params, values = history(space, rng, n=8, shift=0.2 * k)
        study.add_history(f"clinic_{k + 1}", params, values)
    for k in range(3):
        trial = study.ask(task=f"clinic_{k + 1}")
        study.tell(trial, objective(trial.params, 0.2 * k))
        assert trial.task == f"clinic_{k + 1}"


def test_direction_maximize(space, rng):
    study = hbo.Study(space, task="t", direction="maximize", seed=0, n_initial=3)
    for _ in range(5):
        trial = study.ask()
        study.tell(trial, -objective(trial.params))
    values = study.trials_dataframe()["value"]
    assert study.best.value == values.max()


BAD_TELLS = [
    (lambda s, t: s.tell(t, "0.3"), ObjectiveTypeError, "must be a real number"),
    (lambda s, t: s.tell(t, None), InvalidArgumentError, "give the trial's value"),
    (lambda s, t: s.tell(t, 1.0, failed=True), InvalidArgumentError, "not both"),
    (lambda s, t: s.tell(999, 1.0), UnknownTrialError, "999"),
    (lambda s, t: s.tell("0", 1.0), ArgumentTypeError, "trial must be"),
    (lambda s, t: s.ask(0), InvalidArgumentError, "positive int"),
    (lambda s, t: s.ask(task=3), ArgumentTypeError, "task must be"),
]


@pytest.mark.parametrize(("call", "error", "fragment"), BAD_TELLS)
def test_bad_calls_raise_and_leave_study_unchanged(study, call, error, fragment):
    trial = study.ask()
    before = snapshot(study)
    with pytest.raises(error, match=fragment):
        call(study, trial)
    pd.testing.assert_frame_equal(study.trials_dataframe(), before)
    study.tell(trial, 0.5)  # still works afterwards
    assert study.best.value == 0.5


def test_telling_twice_raises(study):
    trial = study.ask()
    study.tell(trial, 1.0)
    with pytest.raises(TrialStateError, match="already complete"):
        study.tell(trial, 2.0)
    with pytest.raises(TrialStateError):
        study.tell(trial, failed=True)
    assert study.best.value == 1.0


GOOD = {"lr": 1e-3, "layers": 2, "activation": "relu"}
BAD_HISTORY = [
    (lambda s: s.add_history("m", [GOOD, dict(GOOD, lr=5.0)], [1, 2]), ParamValueError),
    (lambda s: s.add_history("m", [GOOD, {"lr": 1e-3}], [1, 2]), ParamKeyError),
    (lambda s: s.add_history("m", [GOOD, dict(GOOD, extra=1)], [1, 2]), ParamKeyError),
    (lambda s: s.add_history("m", [GOOD, dict(GOOD, layers="2")], [1, 2]), ParamTypeError),
    (lambda s: s.add_history("m", [GOOD, GOOD], [1.0]), InvalidDataError),
    (lambda s: s.add_history("m", [GOOD], ["x"]), ObjectiveTypeError),
    (lambda s: s.add_history("m", [GOOD], [math.nan]), InvalidDataError),
    (lambda s: s.add_history("m", [], []), InvalidDataError),
    (lambda s: s.add_history("m", GOOD, [1.0]), ArgumentTypeError),
    (lambda s: s.add_history("", [GOOD], [1.0]), ArgumentTypeError),
    (lambda s: s.add_history("m", pd.DataFrame([GOOD]), None), InvalidDataError),
]


@pytest.mark.parametrize(("call", "error"), BAD_HISTORY)
def test_bad_history_is_rejected_whole(study, call, error):
    study.add_history("mnist", [GOOD], [1.0])
    before = snapshot(study)
    with pytest.raises(error):
        call(study)
    pd.testing.assert_frame_equal(study.trials_dataframe(), before)
    assert issubclass(error, hbo.HBOError)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"direction": "min"}, InvalidArgumentError),
        ({"seed": 1.5}, ArgumentTypeError),
        ({"n_initial": 0}, InvalidArgumentError),
        ({"task": ""}, ArgumentTypeError),
    ],
)
def test_bad_study_arguments(space, kwargs, error):
    with pytest.raises(error):
        hbo.Study(space, **kwargs)
    with pytest.raises(ArgumentTypeError, match="SearchSpace"):
        hbo.Study([hbo.Float("x", 0, 1)])


@pytest.mark.parametrize(
    ("hyperpriors", "match"),
    [
        ({"noize": hbo.surrogate.Hyperprior(0.0, 1.0)}, r"unknown groups \['noize'\]; accepted"),
        ({"noise": (-5.0, 3.0)}, r"hyperpriors\['noise'\] must be an hbo.surrogate.Hyperprior"),
        ([("noise", None)], "must be a dict of group name"),
    ],
)
def test_bad_hyperpriors_name_what_is_accepted(space, hyperpriors, match):
    with pytest.raises(InvalidArgumentError, match=match):
        hbo.Study(space, hyperpriors=hyperpriors)


def test_hyperpriors_reach_the_surrogate(space, rng):
    """A Study's ``hyperpriors`` replace those groups' defaults in the fitted model, and
    change its fit: ``m`` of the noise follows a tight prior far from the default's."""
    params, values = history(space, rng)
    tight = hbo.surrogate.Hyperprior(loc=-1.0, scale=0.01, tau_scale=0.5)
    fits = {}
    for name, hyperpriors in (("default", None), ("tight", {"noise": tight})):
        study = hbo.Study(space, task="cifar10", seed=0, hyperpriors=hyperpriors)
        study.add_history("mnist", params, values)
        first = study.ask()  # Sobol: the model takes over from the target's second point
        study.tell(first, objective(first.params))
        study.ask()
        fits[name] = study.proposer.model
    assert fits["tight"].hyperpriors["noise"] == tight
    assert fits["tight"].hyperpriors["lengthscale"] == fits["default"].hyperpriors["lengthscale"]
    assert fits["tight"].m["noise"].item() == pytest.approx(-1.0, abs=0.05)
    assert abs(fits["default"].m["noise"].item() + 1.0) > 0.5


def test_results_before_data_name_the_call_to_make(study):
    with pytest.raises(NotReadyError, match="study.tell"):
        _ = study.best
    with pytest.raises(NotReadyError, match="add_history"):
        study.pooling()


def test_pooling_before_the_targets_first_result_covers_the_history(study, space, rng):
    params, values = history(space, rng)
    study.add_history("mnist", params, values)
    study.add_history("svhn", *history(space, rng, shift=0.5))
    report = study.pooling()  # cifar10, the target, has no result yet
    assert report.target is None and report.shared_choice is None
    assert set(report.tasks.index.get_level_values("task")) == {"mnist", "svhn"}


def test_same_seed_same_suggestions(space, rng):
    params, values = history(space, rng)

    def run() -> list[dict]:
        study = hbo.Study(space, task="t", seed=7)
        study.add_history("s", params, values)
        out = []
        for _ in range(3):
            trial = study.ask()
            study.tell(trial, objective(trial.params))
            out.append(trial.params)
        return out

    assert run() == run()


def test_seed_reproducible_across_processes(tmp_path):
    """Same seed, fresh interpreters: identical suggestions (no hidden global state)."""
    script = textwrap.dedent(
        """
        import hbo, json
        space = hbo.SearchSpace([hbo.Float("x", 0, 1), hbo.Float("y", 0, 1)])
        study = hbo.Study(space, task="t", seed=11)
        study.add_history("s", [{"x": i / 9, "y": (i * 7 % 10) / 9} for i in range(10)],
                          [(i / 9 - 0.3) ** 2 + ((i * 7 % 10) / 9 - 0.6) ** 2 for i in range(10)])
        out = []
        for _ in range(3):
            t = study.ask()
            study.tell(t, (t.params["x"] - 0.35) ** 2 + (t.params["y"] - 0.55) ** 2)
            out.append(t.params)
        print(json.dumps(out))
        """
    )
    runs = [
        subprocess.run(
            [sys.executable, "-W", "ignore", "-c", script],
            capture_output=True, text=True, check=True,
            env={**os.environ, "OMP_NUM_THREADS": "1"},  # as the test workers (conftest)
        ).stdout
        for _ in range(2)
    ]
    assert runs[0] == runs[1] and runs[0].startswith("[")


def test_history_makes_the_model_usable_at_once(study, space, rng):
    params, values = history(space, rng)
    study.add_history("mnist", params, values)
    # history is enough: the 2nd ask uses the model
    assert study.proposer.initial_points(study, "cifar10") == 1
    fresh = hbo.Study(space, task="t", seed=0)
    assert fresh.proposer.initial_points(fresh, "t") == 5


def test_sobol_start_is_space_filling_per_task(space):
    study = hbo.Study(space, task="t", seed=3)
    lrs = [math.log10(study.ask().params["lr"]) for _ in range(4)]
    # 4 scrambled Sobol points cover the 4 quarters of log10(lr) in [-5, -1] once each
    assert sorted(int((v + 5) // 1) for v in lrs) == [0, 1, 2, 3]
    assert np.ptp(lrs) > 2


# ---------------------------------------------------------------------- stored studies
def test_stored_study_resumes_with_space_task_direction_seed_and_trials(space, tmp_path, rng):
    url = f"sqlite:///{tmp_path / 'tuning.db'}"
    study = hbo.Study(space, task="cifar10", direction="maximize", storage=url, name="resnet-lr")
    params, values = history(space, rng, n=4)
    study.add_history("mnist", params, values)
    trial = study.ask()
    study.tell(trial, 2.0)
    running = study.ask()
    study.storage.close()
    loaded = hbo.Study.load("resnet-lr", url)
    assert loaded.space.params == space.params and loaded.name == "resnet-lr"
    assert (loaded.task, loaded.direction, loaded.seed) == ("cifar10", "maximize", study.seed)
    pd.testing.assert_frame_equal(loaded.trials_dataframe(), snapshot(study))
    assert loaded.storage.get_trial(running.id).state is hbo.TrialState.RUNNING
    loaded.tell(running, 3.0)
    assert loaded.best.id == running.id  # maximize was restored
    # opening it again with the same definition (no seed given) also resumes it
    again = hbo.Study(space, task="cifar10", direction="maximize", storage=url, name="resnet-lr")
    assert again.seed == study.seed and len(again.trials_dataframe()) == 6


def test_same_seed_same_suggestions_in_memory_and_in_sqlite(space, tmp_path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    memory = hbo.Study(space, seed=5)
    stored = hbo.Study(space, seed=5, storage=url, name="s")
    for _ in range(3):
        a, b = memory.ask(), stored.ask()
        assert (a.id, a.task, a.params, a.state) == (b.id, b.task, b.params, b.state)
        memory.tell(a, objective(a.params))
        stored.tell(b, objective(b.params))


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(space=hbo.SearchSpace([hbo.Float("lr", 1e-5, 1.0, log=True)])), "'layers' is stored"),
        (dict(task="other"), "task: stored 'cifar10', given 'other'"),
        (dict(direction="maximize"), "direction: stored 'minimize'"),
        (dict(seed=1), "seed: stored 0, given 1"),
    ],
)
def test_opening_a_stored_study_with_another_definition_names_the_mismatch(
    space, tmp_path, change, message
):
    url = f"sqlite:///{tmp_path / 's.db'}"
    hbo.Study(space, task="cifar10", seed=0, storage=url, name="s").tell(
        hbo.Study.load("s", url).ask(), 1.0
    )
    args = dict(space=space, task="cifar10", seed=0) | change
    with pytest.raises(hbo.storage.StudyMismatchError, match=message):
        hbo.Study(args.pop("space"), storage=url, name="s", **args)
    assert len(hbo.Study.load("s", url).trials_dataframe()) == 1


def test_a_changed_bound_is_named_in_the_mismatch(space, tmp_path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    hbo.Study(space, storage=url, name="s")
    wider = hbo.SearchSpace([*space.params[:1], hbo.Int("layers", 1, 9), *space.params[2:]])
    match = "parameter 'layers': stored .*'high': 8"
    with pytest.raises(hbo.storage.StudyMismatchError, match=match):
        hbo.Study(wider, storage=url, name="s")


def test_storage_arguments_are_checked(space, tmp_path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    with pytest.raises(InvalidArgumentError, match="needs a name"):
        hbo.Study(space, storage=url)
    with pytest.raises(InvalidArgumentError, match="not a database URL"):
        hbo.Study(space, storage="tuning.db", name="s")
    with pytest.raises(ArgumentTypeError, match="storage must be"):
        hbo.Study(space, storage=42)
    with pytest.raises(InvalidArgumentError, match="name goes with a storage URL"):
        hbo.Study(space, storage=hbo.storage.InMemoryStorage(), name="s")
    hbo.Study(space, storage=url, name="s")
    with pytest.raises(hbo.storage.UnknownStudyError, match=r"studies there: \['s'\]"):
        hbo.Study.load("t", url)
    for bad in (-1.0, math.inf, math.nan):
        with pytest.raises(InvalidArgumentError, match="heartbeat_timeout"):
            hbo.Study(space, heartbeat_timeout=bad)
    with pytest.raises(InvalidArgumentError, match="timeout"):
        hbo.Study(space).fail_stale_trials()


def test_heartbeat_timeout_fails_dead_trials_on_ask(space):
    study = hbo.Study(space, seed=0, heartbeat_timeout=30.0)
    now = [0.0]
    study.storage.clock = lambda: now[0]
    dead, alive = study.ask(2)
    now[0] = 20.0
    study.heartbeat(alive)
    now[0] = 31.0
    study.ask()
    assert [t.state.value for t in study.storage.get_trials()] == ["failed", "running", "running"]
    with pytest.raises(TrialStateError):
        study.tell(dead, 1.0)
    study.tell(alive, 1.0)


def test_running_trials_of_another_worker_are_pending_points(space, tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 's.db'}"
    worker_a = hbo.Study(space, task="cifar10", seed=0, storage=url, name="s", n_initial=3)
    for _ in range(3):
        trial = worker_a.ask()
        worker_a.tell(trial, objective(trial.params))
    busy = worker_a.ask()  # worker A evaluates this one
    worker_b = hbo.Study.load("s", url, n_initial=3)
    seen = {}
    build = hbo.acquisition.build_acquisition

    def spy(model, observed, pending, q, seed):
        seen["pending"] = pending
        return build(model, observed, pending, q, seed)

    monkeypatch.setattr(hbo.acquisition, "build_acquisition", spy)
    worker_b.ask()
    assert torch.equal(seen["pending"], space.encode([busy.params]))


def test_keep_alive_sends_heartbeats_while_the_block_runs(space):
    study = hbo.Study(space, seed=0)
    beats = []
    beaten = threading.Event()
    original = study.storage.heartbeat

    def heartbeat(trial_id):
        original(trial_id)
        beats.append(trial_id)
        beaten.set()

    study.storage.heartbeat = heartbeat
    trial = study.ask()
    with study.keep_alive(trial, every=0.01):
        assert beaten.wait(timeout=60)  # generous: only a stuck thread would take that long
    n = len(beats)
    assert set(beats) == {trial.id}
    beaten.clear()
    assert not beaten.wait(timeout=0.05) and len(beats) == n  # stopped with the block
    with pytest.raises(InvalidArgumentError, match="every"), study.keep_alive(trial, every=0):
        pass


def test_a_surrogate_that_cannot_be_fitted_gives_quasi_random_points_with_a_warning(
    space, monkeypatch
):
    study = hbo.Study(space, task="cifar10", seed=0, n_initial=3)
    for _ in range(3):
        trial = study.ask()
        study.tell(trial, objective(trial.params))

    def fail(*args, **kwargs):
        raise ModelFittingError("every restart of the optimizer failed")

    monkeypatch.setattr(hbo.proposer.hierarchical, "fit_surrogate", fail)
    sobol_only = hbo.Study(space, task="cifar10", seed=0, n_initial=10)
    expected = [sobol_only.ask().params for _ in range(5)][3:]
    with pytest.warns(hbo.ModelFittingWarning, match="could not be fitted on 'cifar10'"):
        batch = study.ask(2)
    assert [t.params for t in batch] == expected  # the sequence's 4th and 5th points
    with warnings.catch_warnings():
        warnings.simplefilter("error", hbo.ModelFittingWarning)
        with pytest.raises(hbo.ModelFittingWarning):
            study.ask()
    assert len(study.storage.get_trials()) == 5  # the raising ask stored nothing
    monkeypatch.undo()
    with warnings.catch_warnings():
        warnings.simplefilter("error", hbo.ModelFittingWarning)
        study.ask()  # the model is back


@pytest.mark.parametrize(
    "params",
    [
        # a binary Int is searched as such; BoTorch then sprays starting points around the
        # acquisition's X_baseline, once the model's d + 1 wide inputs (a crash)
        [hbo.Float("lr", 1e-4, 1e-1, log=True), hbo.Int("use_bn", 0, 1)],
        [hbo.Int("width", 1, 2), hbo.Int("use_bn", 0, 1)],
        # one choice: fixed, not searched (BoTorch drew a neighbour from an empty range)
        [hbo.Categorical("optimizer", ["adam"]), hbo.Float("x", 0.0, 1.0)],
    ],
    ids=["binary-int-and-float", "two-small-ints", "single-choice"],
)
def test_model_asks_on_spaces_with_binary_or_single_valued_parameters(params):
    space = hbo.SearchSpace(params)
    study = hbo.Study(space, seed=0, n_initial=3)
    for _ in range(4):
        trial = study.ask()
        study.tell(trial, float(sum(v for v in trial.params.values() if not isinstance(v, str))))
    assert space.validate(study.ask().params)
    assert all(space.validate(t.params) for t in study.ask(2))


@pytest.mark.parametrize("scale, offset", [(1e-9, 0.0), (1.0, 1e9)])
def test_objectives_of_any_size_are_modelled_not_taken_for_constant(scale, offset):
    # an absolute floor once called both constant (standard deviation 1, so the model saw a
    # flat function and Expected Improvement went to the corners), and GPyTorch's variance
    # floor of 1e-10 swamped a posterior in the units of 1e-9; 1e-9 is a typical size of a
    # loss difference, 1e9 + O(1) of a latency in ns
    study = hbo.Study(hbo.SearchSpace([hbo.Float("x", 0.0, 1.0)]), seed=0)
    for _ in range(12):
        trial = study.ask()
        study.tell(trial, offset + scale * (trial.params["x"] - 0.3) ** 2)
    assert abs(study.best.params["x"] - 0.3) < 0.01  # 0.2994 at scale 1


def test_quasi_random_batches_on_a_small_discrete_space_are_distinct():
    # the Sobol phase once repeated points ('q', 2) twice in ask(4) over 6 points
    space = hbo.SearchSpace([hbo.Categorical("a", ["p", "q"]), hbo.Int("b", 1, 3)])
    for seed in range(4):
        study = hbo.Study(space, seed=seed)
        first = [tuple(t.params.values()) for t in study.ask(4)]
        second = [tuple(t.params.values()) for t in study.ask(2)]
        assert len(set(first + second)) == 6, (seed, first, second)


def test_numpy_and_torch_numbers_are_accepted_where_python_ones_are(space):
    study = hbo.Study(space, seed=0)
    trial = study.ask()
    study.tell(trial, torch.tensor(0.5))  # a loss straight from a training loop
    frame = study.trials_dataframe()
    trial_id = frame["trial_id"].iloc[0]  # a numpy integer
    assert isinstance(trial_id, np.integer) and study.storage.get_trial(trial_id).value == 0.5
    with pytest.raises(TrialStateError):
        study.tell(trial_id, 1.0)  # the id is understood: the trial is already complete
    params = [{"lr": 1e-3, "layers": 2, "activation": "relu"}] * 2
    for values in (np.array([1.0, 2.0]), pd.Series([1.0, 2.0]), torch.tensor([1.0, 2.0])):
        assert [t.value for t in study.add_history("mnist", params, values)] == [1.0, 2.0]


def test_settings_of_the_wrong_type_are_refused_by_name(space, tmp_path):
    with pytest.raises(InvalidArgumentError, match="n_initial"):
        hbo.Study(space, n_initial=True)
    with pytest.raises(InvalidArgumentError, match="heartbeat_timeout"):
        hbo.Study(space, heartbeat_timeout="5")
    url = f"sqlite:///{tmp_path / 's.db'}"
    hbo.Study(space, storage=url, name="s")
    with pytest.raises(InvalidArgumentError, match=r"\['direction', 'seed'\] are read from"):
        hbo.Study.load("s", url, direction="maximize", seed=1)


@pytest.mark.parametrize("completed", [0, 4], ids=["quasi-random", "model"])
def test_an_ask_stored_while_another_worker_proposed_is_proposed_around(tmp_path, completed):
    # two workers asking at once read the same trials and, with one seed, proposed one
    # point; the later one now finds the earlier ask stored and proposes again
    space = hbo.SearchSpace([hbo.Float("x", 0.0, 1.0), hbo.Float("y", 0.0, 1.0)])
    url = f"sqlite:///{tmp_path / 's.db'}"
    worker_a = hbo.Study(space, seed=0, storage=url, name="s", n_initial=4)
    for _ in range(completed):
        trial = worker_a.ask()
        worker_a.tell(trial, (trial.params["x"] - 0.3) ** 2 + trial.params["y"])
    worker_b = hbo.Study.load("s", url, n_initial=4)
    store = worker_b.storage.create_trials
    raced = []

    def create_trials(*args, **kwargs):  # worker A asks between B's reading and storing
        raced.append(worker_a.ask())
        return store(*args, **kwargs)

    worker_b.storage.create_trials = create_trials
    b = worker_b.ask()
    a = raced[0]
    assert a.id < b.id and a.params != b.params
    assert worker_b.storage.get_trial(b.id).params == b.params
    alone = hbo.Study.load("s", url, n_initial=4)  # what B's point would have been
    assert [t.params for t in alone.storage.get_trials()][-2:] == [a.params, b.params]
