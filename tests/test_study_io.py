"""Export and import of a study: JSON (whole study) and CSV (trials), bad files store nothing."""

import json

import pandas as pd
import pytest

import hbo
from hbo import study_io
from hbo.errors import InvalidDataError, ParamValueError

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
        (lambda d: d["trials"][0].pop("params"), "lack keys"),
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
    assert storage.get_trials() == []


def test_unreadable_files_are_data_errors(tmp_path):
    (tmp_path / "x.json").write_text("{not json")
    with pytest.raises(InvalidDataError, match="cannot read a study"):
        study_io.load_json(tmp_path / "x.json")
    with pytest.raises(InvalidDataError, match="cannot read trials"):
        study_io.import_csv(hbo.Study(SPACE), tmp_path / "missing.csv")
