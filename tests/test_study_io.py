"""Export and import of a study: JSON (whole study) and CSV (trials), bad files store nothing."""

import json

import pandas as pd
import pytest

import hbo
from hbo.errors import (
    ArgumentTypeError,
    InvalidArgumentError,
    InvalidDataError,
    ParamKeyError,
    ParamValueError,
)
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
    with pytest.raises(ParamValueError, match="trial 2: params: parameter 'k' = 9 is outside"):
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


@pytest.fixture
def annotated() -> hbo.Study:
    """A study with user attributes, fixed times, and a waiting (enqueued) trial."""
    study = hbo.Study(SPACE, task="t", seed=4, n_initial=50)
    now = [1_700_000_000.25]
    study.storage.clock = lambda: now[0]
    (hist,) = study.add_history("src", [{"lr": 0.01, "k": 2, "a": 2}], [1.0])
    study.set_user_attr(hist, "source", {"paper": "smith", "year": 2020})
    trial = study.ask()
    study.set_user_attr(trial, "gpu", "a100")
    study.set_user_attr(trial, "curve", [0.5, 0.25, None, True])
    now[0] += 12.345678
    study.tell(trial, 0.2)
    study.enqueue({"lr": 0.5, "k": 4, "a": "x"}, user_attrs={"why": "default config"})
    return study


def test_json_keeps_user_attrs_times_and_waiting_trials(annotated, tmp_path):
    path = tmp_path / "s.json"
    study_io.save_json(annotated, path)
    trial = json.loads(path.read_text())["trials"][1]
    assert trial["datetime_start"] == "2023-11-14T22:13:20.250000+00:00"
    assert trial["user_attrs"] == {"gpu": "a100", "curve": [0.5, 0.25, None, True]}
    url = f"sqlite:///{tmp_path / 'copy.db'}"
    copy = study_io.load_json(path, url, name="copy")
    assert copy.storage.get_trials() == annotated.storage.get_trials()
    assert copy.storage.get_trial(1).duration.total_seconds() == pytest.approx(12.345678)
    waiting = copy.ask()  # the enqueued point is still first in the copy
    assert waiting.id == 2 and waiting.user_attrs == {"why": "default config"}
    copy.storage.close()


def test_a_version_1_json_export_still_loads(study, tmp_path):
    data = study_io.to_dict(study)
    data["version"] = 1
    for trial in data["trials"]:  # what version 1 wrote
        for key in ("user_attrs", "datetime_start", "datetime_complete"):
            del trial[key]
    path = tmp_path / "v1.json"
    path.write_text(json.dumps(data))
    loaded = study_io.load_json(path)

    def kept(s):
        return [(t.id, t.task, t.params, t.state, t.value, t.origin, t.user_attrs)
                for t in s.storage.get_trials()]

    assert kept(loaded) == kept(study)
    trials = loaded.storage.get_trials()
    assert all(t.datetime_start is not None for t in trials)  # the import's time
    assert [t.datetime_complete is None for t in trials] == [False] * 4 + [True]  # running


def test_csv_keeps_user_attrs_times_and_waiting_trials(annotated, tmp_path):
    path = tmp_path / "trials.csv"
    study_io.save_csv(annotated, path)
    header = path.read_text().splitlines()[0].split(",")
    assert header[-6:] == ["datetime_start", "datetime_complete", "user_attrs_curve",
                           "user_attrs_gpu", "user_attrs_source", "user_attrs_why"]
    other = hbo.Study(SPACE, task="t", seed=1)
    study_io.import_csv(other, path)
    assert other.storage.get_trials() == annotated.storage.get_trials()
    pd.testing.assert_frame_equal(other.trials_dataframe(), annotated.trials_dataframe())


def test_a_csv_of_trials_dataframe_or_of_an_earlier_version_imports(annotated, tmp_path):
    frame = annotated.trials_dataframe()
    frame.to_csv(tmp_path / "frame.csv", index=False)  # duration too, attrs as plain text
    from_frame = hbo.Study(SPACE, task="t")
    study_io.import_csv(from_frame, tmp_path / "frame.csv")
    trials = from_frame.storage.get_trials()
    assert [t.datetime_start for t in trials] == [
        t.datetime_start for t in annotated.storage.get_trials()
    ]
    assert trials[1].user_attrs["gpu"] == "a100" and trials[2].state is hbo.TrialState.WAITING
    frame.drop(columns=frame.columns[8:]).to_csv(tmp_path / "v1.csv", index=False)
    earlier = hbo.Study(SPACE, task="t")
    study_io.import_csv(earlier, tmp_path / "v1.csv")  # no time or user attribute columns
    assert [t.params for t in earlier.storage.get_trials()] == [t.params for t in trials]


@pytest.mark.parametrize(
    "edit, error, message",
    [
        (lambda d: d["trials"][1].update(datetime_start="yesterday"), InvalidDataError,
         "trial 1: datetime_start must be an ISO 8601 time"),
        (lambda d: d["trials"][0]["user_attrs"].update(bad=float("inf")), ArgumentTypeError,
         "trial 0: user attribute 'bad'"),
        (lambda d: d["trials"][2].update(state="waiting", value=None, params={"lr": 9}),
         ParamKeyError, "trial 2"),
    ],
)
def test_a_bad_time_or_user_attr_stores_nothing(annotated, tmp_path, edit, error, message):
    data = study_io.to_dict(annotated)
    edit(data)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    storage = hbo.storage.InMemoryStorage()
    with pytest.raises(error, match=message):
        study_io.load_json(path, storage)
    assert storage.study_config() is None
