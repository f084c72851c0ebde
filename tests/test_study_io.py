"""Export and import of a study: JSON (whole study) and CSV (trials), bad files store nothing."""

import json

import pandas as pd
import pytest

import hbo
from hbo.errors import InvalidArgumentError, InvalidDataError, ParamValueError
from hbo.storage.sql import list_studies
from hbo.study import io as study_io

SPACE = hbo.SearchSpace(
    [hbo.Float("lr", 1e-4, 1.0, log=True), hbo.Int("k", 1, 4), hbo.Categorical("a", ["x", 2])]
)


@pytest.fixture
def study() -> hbo.Study:
    study = hbo.Study(SPACE, task="t", direction="maximize", seed=11, n_initial=50)
    study.add_history("src", [{"lr": 0.01, "k": 2, "a": 2}, {"lr": 0.1, "k": 1, "a": "x"}], [1, 2])
    done, failed, _running = study.ask(3)
    study.tell(done, 0.1 + 0.2)  # a value with a long binary expansion
    study.tell(failed, failed=True)
    return study


def test_json_round_trip_into_sqlite_is_exact(study, tmp_path):
    path = tmp_path / "study.json"
    study_io.save_json(study, path)
    url = f"sqlite:///{tmp_path / 'copy.db'}"
    copy = study_io.load_json(path, url, name="copy")
    copy.storage.close()
    loaded = hbo.Study.load("copy", url)
    assert loaded.storage.get_trials() == study.storage.get_trials()
    assert (loaded.task, loaded.direction, loaded.seed) == ("t", "maximize", 11)
    assert loaded.space.params == SPACE.params
    assert json.loads(path.read_text())["trials"][2]["value"] == 0.1 + 0.2


def test_csv_round_trip_appends_the_same_trials(study, tmp_path):
    path = tmp_path / "trials.csv"
    study_io.save_csv(study, path)
    other = hbo.Study(SPACE, task="t", seed=1)
    study_io.import_csv(other, path)
    pd.testing.assert_frame_equal(other.trials_dataframe(), study.trials_dataframe())
    study_io.import_csv(other, path)  # appended again, with new ids
    assert other.trials_dataframe()["trial_id"].tolist() == list(range(10))


def test_a_bad_row_stores_nothing(study, tmp_path):
    path = tmp_path / "trials.csv"
    frame = study.trials_dataframe()
    frame.loc[4, "lr"] = 5.0  # outside [1e-4, 1]
    frame.to_csv(path, index=False)
    other = hbo.Study(SPACE, task="t")
    with pytest.raises(ParamValueError, match="trial 4"):
        study_io.import_csv(other, path)
    assert other.storage.get_trials() == []


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda d: d.pop("format"), "not an hbo study export"),
        (lambda d: d.update(version=9), "version 9"),
        (lambda d: d["trials"][1].update(id=5), "ids must be 0, 1, 2"),
        (lambda d: d["trials"][2].update(value=None), "a complete trial with value None"),
        (lambda d: d["trials"][3].update(value=1.0), "a failed trial with value 1.0"),
        (lambda d: d["trials"][0].update(state="paused"), "unknown state 'paused'"),
        (lambda d: d["trials"][0].pop("params"), "do not have the keys"),
        (lambda d: d["trials"][4].update(task=""), "task must be a non-empty string"),
    ],
)
def test_malformed_json_is_rejected_naming_the_problem(study, tmp_path, edit, message):
    data = study_io.to_dict(study)
    edit(data)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    storage = hbo.storage.InMemoryStorage()
    with pytest.raises(InvalidDataError, match=message):
        study_io.load_json(path, storage)
    assert storage.study_config() is None  # not even an empty study


def test_a_bad_json_file_adds_no_study_to_a_database(study, tmp_path):
    url = f"sqlite:///{tmp_path / 'b.db'}"
    hbo.Study(SPACE, storage=url, name="other").storage.close()
    data = study_io.to_dict(study)
    data["trials"][2]["params"]["k"] = 9  # outside [1, 4]
    path = tmp_path / "f.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ParamValueError, match="trial 2: parameter 'k' = 9 is outside"):
        study_io.load_json(path, url, name="f")
    assert [s["name"] for s in list_studies(url)] == ["other"]


@pytest.mark.parametrize(
    "choices, tasks",
    [
        (["x", 2], ["t", "src"]),  # a normal space
        (["1", "2"], ["t", "src"]),  # string choices that read as numbers
        ([None, "y", 3.5, True], ["t", "src"]),  # None is an empty cell
        (["x", 2], ["0001", "0002"]),  # task names that read as numbers
    ],
)
def test_csv_round_trip_keeps_tasks_params_and_values_exactly(choices, tasks, tmp_path):
    space = hbo.SearchSpace(
        [hbo.Float("lr", 1e-4, 1.0, log=True), hbo.Int("k", 1, 4), hbo.Categorical("c", choices)]
    )
    study = hbo.Study(space, task=tasks[0], seed=3, n_initial=50)
    history = [{"lr": 0.1 + 0.2, "k": k, "c": c} for k, c in enumerate(choices, 1)]
    study.add_history(tasks[1], history, [1.5] * len(choices))
    done, failed, _running = study.ask(3)
    study.tell(done, 1 / 3)
    study.tell(failed, failed=True)
    path = tmp_path / "trials.csv"
    study_io.save_csv(study, path)
    other = hbo.Study(space, task=tasks[0])
    study_io.import_csv(other, path)

    def stored(s):
        return [(t.task, t.origin, t.state, t.value, t.params) for t in s.storage.get_trials()]

    assert stored(other) == stored(study)
    assert {type(t.params["c"]) for t in other.storage.get_trials()} == set(map(type, choices))


def test_choices_that_a_csv_cannot_tell_apart_are_refused(tmp_path):
    study = hbo.Study(hbo.SearchSpace([hbo.Categorical("c", ["1", 1])]))
    with pytest.raises(InvalidArgumentError, match="'c'.* both written '1'.*save_json"):
        study_io.save_csv(study, tmp_path / "trials.csv")


def test_unreadable_files_are_data_errors(tmp_path):
    (tmp_path / "x.json").write_text("{not json")
    with pytest.raises(InvalidDataError, match="cannot read a study"):
        study_io.load_json(tmp_path / "x.json")
    with pytest.raises(InvalidDataError, match="cannot read trials"):
        study_io.import_csv(hbo.Study(SPACE), tmp_path / "missing.csv")
