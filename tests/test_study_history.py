"""History from where it already lives: Optuna studies, their trials_dataframe(), hbo
studies stored by name, Ax experiments (hbo/study/history.py, Study.import_history).

Every source is a real object (Optuna, hbo and Ax run their own loops); values are
checked exactly against the source's own."""

import subprocess
import sys

import pandas as pd
import pytest

import hbo
from hbo import HistoryImportWarning, Origin
from hbo.errors import ArgumentTypeError, InvalidArgumentError, InvalidDataError
from hbo.storage import UnknownStudyError
from hbo.study.history import HistoryTable, read_history

optuna = pytest.importorskip("optuna")
optuna.logging.set_verbosity(optuna.logging.WARNING)

SPACE = hbo.SearchSpace([hbo.Float("x", 0.0, 1.0), hbo.Int("k", 1, 4)])


def objective(trial, high=1.0):
    x = trial.suggest_float("x", 0.0, high)
    k = trial.suggest_int("k", 1, 4)
    return (x - 0.3) ** 2 + k


def optuna_study(name="past", direction="minimize", n=6, storage=None, func=objective):
    study = optuna.create_study(study_name=name, direction=direction, storage=storage,
                                sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(func, n_trials=n, catch=(ValueError,))
    return study


def target(direction="minimize", **options):
    return hbo.Study(SPACE, task="now", direction=direction, seed=0, **options)


# ---------------------------------------------------------------------- Optuna studies
def test_a_maximized_optuna_study_is_negated_for_a_minimize_target():
    past = optuna_study(direction="maximize")
    (table,) = read_history(past, SPACE, "minimize")
    assert table.task == "past" and table.dropped == () and table.skipped == 0
    assert table.params == [t.params for t in past.trials]
    assert table.values == [-t.value for t in past.trials]
    study = target()
    stored = study.import_history(past)  # nothing left out: no warning (warnings are errors)
    assert list(stored) == ["past"] and [t.value for t in stored["past"]] == table.values
    assert {t.origin for t in stored["past"]} == {Origin.HISTORY}
    assert study.tasks == ["now", "past"]
    # same direction: values as they were
    (same,) = read_history(past, SPACE, "maximize")
    assert same.values == [t.value for t in past.trials]


def test_an_extra_parameter_is_dropped_and_unfinished_trials_are_skipped():
    def func(trial):
        trial.suggest_float("z", 0.0, 1.0)  # not in the target space
        if trial.number in (1, 4):
            raise optuna.TrialPruned()
        if trial.number == 2:
            raise ValueError("diverged")
        return objective(trial)

    past = optuna_study(func=func, n=6)
    past.ask()  # left running
    (table,) = read_history(past, SPACE, "minimize", task="renamed")
    done = [t for t in past.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert [t.number for t in done] == [0, 3, 5]
    assert table.task == "renamed" and table.dropped == ("z",)
    assert table.skipped == 4 and table.skipped_because == (("not complete", 4),)
    assert table.params == [{"x": t.params["x"], "k": t.params["k"]} for t in done]
    assert table.values == [t.value for t in done]
    study = target()
    with pytest.warns(HistoryImportWarning, match=r"task 'renamed': 3 trials usable; "
                      r"parameters not in the space, left out: \['z'\]; 4 trials skipped "
                      r"\(4 not complete\)"):
        stored = study.import_history(past, task="renamed")
    assert len(stored["renamed"]) == 3


def test_an_optuna_study_in_sqlite_by_object_and_by_name(tmp_path):
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    optuna_study(storage=url, n=8, func=lambda t: objective(t, high=2.0))  # x beyond [0, 1]
    loaded = optuna.load_study(study_name="past", storage=url)
    outside = [t for t in loaded.trials if t.params["x"] > 1.0]
    assert 0 < len(outside) < 8
    by_object = read_history(loaded, SPACE, "minimize")
    by_name = read_history(("past", url), SPACE, "minimize")
    assert by_object == by_name
    (table,) = by_name
    assert table.skipped == len(outside)
    assert table.skipped_because == (("with 'x' outside the space", len(outside)),)
    assert table.values == [t.value for t in loaded.trials if t.params["x"] <= 1.0]


def test_a_multi_objective_optuna_study_is_refused_and_nothing_stored():
    past = optuna.create_study(directions=["minimize", "maximize"], study_name="mo")
    past.optimize(lambda t: (objective(t), t.params["x"]), n_trials=2)
    study = target()
    with pytest.raises(InvalidArgumentError, match="Optuna study 'mo' has 2 objectives; hbo "
                       "imports single-objective studies only"):
        study.import_history(past)
    assert study.storage.get_trials() == []


def test_a_categorical_value_outside_the_choices_is_skipped_and_none_left_is_an_error():
    def func(trial):
        return objective(trial) + len(trial.suggest_categorical("opt", ["adam", "sgd", "rms"]))

    past = optuna_study(func=func, n=10)
    space = hbo.SearchSpace([*SPACE.params, hbo.Categorical("opt", ["adam", "sgd"])])
    (table,) = read_history(past, space, "minimize")
    rms = [t for t in past.trials if t.params["opt"] == "rms"]
    assert 0 < len(rms) < 10 and table.skipped == len(rms)
    assert table.skipped_because == (("with 'opt' outside the space", len(rms)),)
    assert {p["opt"] for p in table.params} <= {"adam", "sgd"}
    # no row left: an error naming why, and nothing stored
    study = hbo.Study(hbo.SearchSpace([*SPACE.params, hbo.Categorical("opt", ["lbfgs"])]))
    with pytest.raises(InvalidDataError, match=r"Optuna study 'past' yields no usable trial "
                       r"for the space \['x', 'k', 'opt'\]: task 'past': 0 trials usable; "
                       r"10 trials skipped \(10 with 'opt' outside the space\)"):
        study.import_history(past)
    assert study.storage.get_trials() == []


# ---------------------------------------------------------------------- trials_dataframe
def test_a_trials_dataframe_needs_its_task_and_takes_a_source_direction(tmp_path):
    past = optuna_study(direction="maximize")
    frame = past.trials_dataframe()
    with pytest.raises(InvalidArgumentError, match="a DataFrame does not name its task"):
        read_history(frame, SPACE, "minimize")
    (assumed,) = read_history(frame, SPACE, "minimize", task="t")  # the target's direction
    assert assumed.values == [t.value for t in past.trials]
    (told,) = read_history(frame, SPACE, "minimize", task="t", source_direction="maximize")
    assert told.values == [-t.value for t in past.trials]
    assert told.params == [t.params for t in past.trials]
    # through a CSV: an Int written as 3.0 is an int again; an empty cell is a missing value
    frame["params_k"] = frame["params_k"].astype(float)
    frame.loc[2, "params_k"] = None
    frame.to_csv(tmp_path / "past.csv", index=False)
    (table,) = read_history(pd.read_csv(tmp_path / "past.csv"), SPACE, "minimize", task="t")
    assert table.skipped_because == (("without 'k'", 1),)
    assert [p["k"] for p in table.params] == [t.params["k"] for t in past.trials if t.number != 2]
    assert all(type(p["k"]) is int for p in table.params)


def test_an_empty_cell_is_a_missing_parameter_unless_none_is_a_choice():
    space = hbo.SearchSpace([hbo.Float("x", 0.0, 1.0), hbo.Categorical("opt", [None, "a"])])
    opt = pd.Series([None, "a", "b"], dtype=object)  # None kept (a str column makes it NaN)
    frame = pd.DataFrame({"params_x": [0.5, None, 0.5], "params_opt": opt,
                          "value": [1.0, 2.0, 3.0], "state": ["COMPLETE"] * 3})
    (table,) = read_history(frame, space, "minimize", task="t")
    assert table.params == [{"x": 0.5, "opt": None}] and table.values == [1.0]
    assert table.skipped_because == (("without 'x'", 1), ("with 'opt' outside the space", 1))


def test_a_dataframe_that_is_not_optunas_is_refused_with_what_to_do():
    frame = pd.DataFrame({"x": [0.5], "k": [2], "value": [1.0]})
    with pytest.raises(InvalidDataError, match=r"no params_<name> columns .* use "
                       r"study.add_history\(task, frame\)"):
        read_history(frame, SPACE, "minimize", task="t")
    two = pd.DataFrame({"params_x": [0.5], "params_k": [2], "values_0": [1.0], "values_1": [2]})
    with pytest.raises(InvalidDataError, match="no 'value' column but .*single-objective"):
        read_history(two, SPACE, "minimize", task="t")


# ---------------------------------------------------------------------- hbo studies
@pytest.fixture
def hbo_source(tmp_path):
    """A maximized hbo study in SQLite: task 'a' (2 told, 1 failed, 1 running) and history
    on 'b' (3 rows), with a parameter 'opt' the target space lacks."""
    url = f"sqlite:///{tmp_path / 'hbo.db'}"
    space = hbo.SearchSpace([*SPACE.params, hbo.Categorical("opt", ["adam", "sgd"])])
    source = hbo.Study(space, task="a", direction="maximize", seed=0, storage=url, name="src")
    source.add_history("b", [{"x": 0.1 * i, "k": i, "opt": "sgd"} for i in (1, 2, 3)],
                       [1.5, 2.5, 3.5])
    for value in (10.0, 20.0):
        source.tell(source.ask(), value)
    source.tell(source.ask(), failed=True)
    source.ask()
    return url, source


def test_an_hbo_study_stored_by_name_gives_each_task(hbo_source):
    url, source = hbo_source
    study = target()
    with pytest.warns(HistoryImportWarning) as caught:
        stored = study.import_history(("src", url))
    assert str(caught[0].message) == (
        "history import: task 'a': 2 trials usable; parameters not in the space, left out: "
        "['opt']; 2 trials skipped (2 not complete); task 'b': 3 trials usable; parameters "
        "not in the space, left out: ['opt']")
    assert list(stored) == ["a", "b"]
    assert [t.value for t in stored["a"]] == [-10.0, -20.0]
    assert [t.value for t in stored["b"]] == [-1.5, -2.5, -3.5]
    assert [t.params for t in stored["b"]] == [{"x": 0.1 * i, "k": i} for i in (1, 2, 3)]
    # the Study object, and (name, Storage), read the same
    by_object = read_history(source, SPACE, "minimize")
    assert by_object == read_history(("src", source.storage), SPACE, "minimize")
    assert [(t.task, t.values) for t in by_object] == [(k, [v.value for v in stored[k]])
                                                      for k in stored]


def test_a_task_name_for_an_hbo_study_of_several_tasks_is_refused(hbo_source):
    url, _ = hbo_source
    study = target()
    with pytest.raises(InvalidArgumentError, match=r"task='x': hbo study 'src' holds tasks "
                       r"\['a', 'b'\]; they keep their names"):
        study.import_history(("src", url), task="x")
    with pytest.raises(InvalidArgumentError, match="source_direction='minimize', but hbo "
                       "study 'src' is stored as 'maximize'"):
        study.import_history(("src", url), source_direction="minimize")
    assert study.storage.get_trials() == []


def test_a_stored_name_is_looked_up_in_hbo_and_optuna(hbo_source, tmp_path):
    url, _ = hbo_source
    with pytest.raises(UnknownStudyError, match=r"no hbo or Optuna study named 'nope' at "
                       r".*hbo.db; hbo studies there: \['src'\], Optuna studies there: \[\]"):
        read_history(("nope", url), SPACE, "minimize")
    with pytest.raises(UnknownStudyError, match="no database file"):
        read_history(("src", f"sqlite:///{tmp_path / 'missing.db'}"), SPACE, "minimize")
    assert not (tmp_path / "missing.db").exists()
    optuna_study(name="src", storage=url, n=2)  # Optuna's tables beside hbo's, same name
    with pytest.raises(InvalidArgumentError, match="both hbo and Optuna store a study named "
                       "'src'"):
        read_history(("src", url), SPACE, "minimize")


# ---------------------------------------------------------------------- Ax
@pytest.mark.filterwarnings("ignore::DeprecationWarning:ax.*")
def test_an_ax_client_gives_its_completed_trials():
    pytest.importorskip("ax")
    from ax.api.client import Client
    from ax.api.configs import ChoiceParameterConfig, RangeParameterConfig

    def client(objective):
        c = Client(random_seed=0)
        c.configure_experiment(name="ax_past", parameters=[
            RangeParameterConfig(name="x", bounds=(0.0, 1.0), parameter_type="float"),
            RangeParameterConfig(name="k", bounds=(1, 4), parameter_type="int"),
            ChoiceParameterConfig(name="opt", values=["adam", "sgd"], parameter_type="str",
                                  is_ordered=False),
        ])
        if objective:
            c.configure_optimization(objective=objective)
        c.configure_tracking_metrics(["time"])  # not the objective: left out
        return c

    ax = client("-loss")  # minimize loss
    trials = ax.get_next_trials(max_trials=4)
    losses = {}
    for index, params in trials.items():
        if index == 3:
            ax.mark_trial_failed(index)
            continue
        losses[index] = (params["x"] - 0.3) ** 2 + params["k"]
        ax.complete_trial(index, raw_data={"loss": losses[index], "time": 1 - losses[index]})
    space = hbo.SearchSpace([*SPACE.params, hbo.Categorical("opt", ["adam", "sgd"])])
    (table,) = read_history(ax, space, "maximize")
    assert table.task == "ax_past" and table.skipped_because == (("not complete", 1),)
    assert table.values == [-v for v in losses.values()]
    assert table.params == [trials[i] for i in losses]
    with pytest.raises(InvalidArgumentError, match="Ax experiment 'ax_past' has several "
                       "objectives"):
        read_history(client("-loss, acc"), space, "minimize")
    with pytest.raises(InvalidArgumentError, match="Ax experiment 'ax_past' has no objective"):
        read_history(client(None), space, "minimize")


# ---------------------------------------------------------------------- bad input
def test_an_unknown_source_lists_what_is_accepted():
    with pytest.raises(ArgumentTypeError, match=r"source must be an optuna.Study, an Optuna "
                       r"trials_dataframe\(\) DataFrame .* or an Ax Experiment or Client; got "
                       "list"):
        read_history([{"x": 0.5, "k": 1}], SPACE, "minimize")
    with pytest.raises(ArgumentTypeError, match="got optuna.samplers._random.RandomSampler"):
        read_history(optuna.samplers.RandomSampler(), SPACE, "minimize")
    with pytest.raises(ArgumentTypeError, match=r"given as \(name, storage\)"):
        read_history(("past",), SPACE, "minimize")
    with pytest.raises(InvalidArgumentError, match="direction must be one of"):
        read_history(optuna_study(n=1), SPACE, "down")
    with pytest.raises(InvalidArgumentError, match="source_direction must be one of"):
        read_history(optuna_study(n=1), SPACE, "minimize", source_direction="max")


def test_add_history_still_takes_rows_and_a_table_is_what_it_takes():
    table = HistoryTable("t", [{"x": 0.5, "k": 2}], [1.0], (), 0)
    study = target()
    (trial,) = study.add_history(table.task, table.params, table.values)
    assert (trial.task, trial.params, trial.value) == ("t", {"x": 0.5, "k": 2}, 1.0)


def test_without_optuna_a_stored_optuna_study_says_what_to_install(tmp_path):
    url = f"sqlite:///{tmp_path / 'o.db'}"
    optuna_study(storage=url, n=1)
    script = (
        "import sys\nsys.modules['optuna'] = None  # as if not installed\n"
        "import hbo\nfrom hbo.study.history import read_history\n"
        "space = hbo.SearchSpace([hbo.Float('x', 0.0, 1.0)])\n"
        f"try:\n    read_history(('past', {url!r}), space, 'minimize')\n"
        "except ImportError as e:\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-W", "ignore", "-c", script], capture_output=True,
                         text=True, check=True).stdout
    assert "reading an Optuna study needs 'optuna', which is not installed" in out
    assert "pip install 'hbo[optuna]'" in out


def test_the_readme_example_runs_as_printed(tmp_path, monkeypatch):
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    (code,) = [b for b in blocks if "study.import_history(past)" in b]
    monkeypatch.chdir(tmp_path)  # the example's sqlite:///optuna.db

    def func(trial):
        trial.suggest_float("lr", 1e-5, 1e-1, log=True)
        trial.suggest_categorical("activation", ["relu", "tanh"])
        return trial.suggest_int("layers", 1, 8) / 8

    for name in ("mnist", "svhn"):
        optuna_study(name=name, storage="sqlite:///optuna.db", n=3, func=func)
    study = hbo.Study(hbo.SearchSpace([
        hbo.Float("lr", 1e-5, 1e-1, log=True), hbo.Int("layers", 1, 8),
        hbo.Categorical("activation", ["relu", "tanh", "gelu"]),
    ]), task="cifar10", seed=0)
    frame = optuna_study(name="fashion", n=3, func=func).trials_dataframe()
    exec(code, {"study": study, "old_frame": frame})  # noqa: S102 - our README
    assert study.trials_dataframe().groupby("task", sort=False).size().to_dict() == {
        "mnist": 3, "svhn": 3, "fashion": 3}


def test_a_study_cannot_import_itself():
    study = hbo.Study(SPACE, task="target", seed=0)
    study.add_history("old", [{"x": 0.5, "k": 1}], [1.0])
    for source in (study, study.storage):
        with pytest.raises(InvalidArgumentError, match="this study itself"):
            study.import_history(source)
    assert len(study.storage.get_trials()) == 1
