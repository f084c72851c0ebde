"""The current schema on databases that version 1 wrote: SQLite (a file written by hbo at
38a55a4, ``data/v1_study.db``) and PostgreSQL (a fresh database given the same rows)."""

import json
import shutil
import sqlite3
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

import hbo
from hbo.storage import StorageError, _schema
from hbo.storage.sql import SQLStorage, list_studies
from hbo.trial import Origin, TrialState

from .conftest import POSTGRES_URL, SKIP_POSTGRES

V1_FILE = Path(__file__).parent / "data" / "v1_study.db"
SPACE = hbo.SearchSpace(
    [hbo.Float("x", -1.0, 1.0), hbo.Int("k", 0, 5), hbo.Categorical("c", ["a", "b"])]
)
C, F, R = TrialState.COMPLETE, TrialState.FAILED, TrialState.RUNNING
H, A = Origin.HISTORY, Origin.ASKED
#: (task, params, state, value, origin) of each trial of "v1-study" in the file
V1_TRIALS = [
    ("source", {"x": 0.1, "k": 1, "c": "a"}, C, 1.5, H),
    ("source", {"x": -0.5, "k": 3, "c": "b"}, C, 2.5, H),
    ("source", {"x": 0.9, "k": 0, "c": "a"}, C, 0.5, H),
    ("target", {"x": -0.3511243462562561, "k": 2, "c": "b"}, C, 0.25, A),
    ("target", {"x": 0.9382118433713913, "k": 3, "c": "a"}, C, 0.75, A),
    ("target", {"x": 0.2281827460974455, "k": 0, "c": "b"}, F, None, A),
    ("target", {"x": -0.5767784547060728, "k": 4, "c": "a"}, R, None, A),
]


def file_rows(path) -> dict[str, list[dict]]:
    """Every row of the version, study and trial tables of a committed SQLite file."""
    with sqlite3.connect(path) as conn:
        conn.row_factory = sqlite3.Row
        return {
            table: [dict(r) for r in conn.execute(f"SELECT * FROM {table}")]
            for table in ("hbo_schema_version", "hbo_studies", "hbo_trials")
        }


def v1_rows() -> dict[str, list[dict]]:
    """Every row of every table of the version 1 file."""
    return file_rows(V1_FILE)


def check_upgraded(url: str) -> None:
    """The upgraded study holds every version-1 trial, with its times, and works."""
    times = {r["number"]: r for r in v1_rows()["hbo_trials"] if r["study_id"] == 1}
    study = hbo.Study.load("v1-study", url, n_initial=10**6)
    trials = study.storage.get_trials()
    assert [(t.task, t.params, t.state, t.value, t.origin) for t in trials] == V1_TRIALS
    assert all(t.user_attrs == {} for t in trials)
    assert [t.values for t in trials] == [None if v is None else {"value": v}
                                          for _, _, _, v, _ in V1_TRIALS]
    for t in trials:
        assert t.datetime_start == datetime.fromtimestamp(times[t.id]["started_at"], UTC)
        end = times[t.id]["finished_at"]
        assert t.datetime_complete == (None if end is None else datetime.fromtimestamp(end, UTC))
    assert (study.task, study.seed) == ("target", 5)
    other = hbo.Study.load("other-study", url)
    assert other.best_value == 3.0 and len(other.storage.get_trials()) == 1
    # it works: ask, tell, user attributes (a history trial too), enqueue
    study.set_user_attr(0, "paper", "smith2020")
    study.tell(6, 0.6)  # the trial version 1 left running
    asked = study.ask()
    assert asked.id == 7 and asked.origin is Origin.ASKED
    study.tell(asked, 0.1)
    waiting = study.enqueue({"x": 0.0, "k": 0, "c": "a"})
    assert study.ask().id == waiting.id == 8
    study.storage.close()
    other.storage.close()
    again = hbo.Study.load("v1-study", url)
    frame = again.trials_dataframe()
    assert frame["user_attrs_paper"][0] == "smith2020" and frame["value"][7] == 0.1
    assert frame["state"].tolist() == ["complete"] * 5 + ["failed"] + ["complete"] * 2 + [
        "running"
    ]
    again.storage.close()


def test_a_version_1_sqlite_file_is_upgraded_and_keeps_every_trial(tmp_path):
    path = tmp_path / "v1.db"
    shutil.copy(V1_FILE, path)
    url = f"sqlite:///{path}"
    assert v1_rows()["hbo_schema_version"] == [{"version": 1}]
    assert [s["name"] for s in list_studies(url)] == ["other-study", "v1-study"]
    check_upgraded(url)
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT version FROM hbo_schema_version").fetchall() == [
            (_schema.SCHEMA_VERSION,)
        ]


def test_a_failed_upgrade_leaves_version_1(tmp_path, monkeypatch):
    path = tmp_path / "v1.db"
    shutil.copy(V1_FILE, path)

    original = _schema.MIGRATIONS[2]

    def half_done(conn):  # the column is added, then the step dies
        original(conn)
        raise sa.exc.OperationalError("step 2", {}, Exception("disk full"))

    monkeypatch.setitem(_schema.MIGRATIONS, 2, half_done)
    with pytest.raises(StorageError, match="disk full"):
        SQLStorage(f"sqlite:///{path}", "v1-study")
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT version FROM hbo_schema_version").fetchall() == [(1,)]
        columns = [r[1] for r in conn.execute("PRAGMA table_info(hbo_trials)")]
    assert "user_attrs" not in columns  # the whole step was rolled back
    monkeypatch.setitem(_schema.MIGRATIONS, 2, original)
    check_upgraded(f"sqlite:///{path}")  # and the next opening upgrades it


def test_step_1_still_builds_the_version_1_tables_and_the_steps_build_the_current_ones(tmp_path):
    def schema(path) -> list:
        with sqlite3.connect(path) as conn:
            return conn.execute(
                "SELECT type, name, sql FROM sqlite_master ORDER BY name"
            ).fetchall()

    engine = sa.create_engine(f"sqlite:///{tmp_path / 'steps.db'}")
    with engine.begin() as conn:
        _schema.upgrade(conn, 0, target=1)
    engine.dispose()
    assert schema(tmp_path / "steps.db") == schema(V1_FILE)  # released step 1: unchanged
    SQLStorage(f"sqlite:///{tmp_path / 'steps.db'}", "s").close()  # runs the later steps
    upgraded = sa.inspect(sa.create_engine(f"sqlite:///{tmp_path / 'steps.db'}"))
    columns = {c["name"]: c["nullable"] for c in upgraded.get_columns("hbo_trials")}
    assert columns == {c.name: c.nullable for c in _schema.trials.columns}


@pytest.fixture
def empty_postgres():
    """A new, empty PostgreSQL database on the test server (dropped afterwards)."""
    if POSTGRES_URL is None:
        pytest.skip(SKIP_POSTGRES)
    name = f"hbo_migration_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    yield url
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
    admin.dispose()


def postgres_at(url: str, version: int, rows: dict[str, list[dict]]) -> sa.MetaData:
    """Build version ``version``'s tables in the empty PostgreSQL database ``url``, holding
    ``rows`` (those of a committed SQLite file); return the tables as reflected."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        _schema.upgrade(conn, 0, target=version)
        tables = sa.MetaData()
        tables.reflect(conn)
        for table in ("hbo_studies", "hbo_trials"):
            conn.execute(tables.tables[table].insert(), rows[table])
        conn.execute(sa.text("SELECT setval('hbo_studies_study_id_seq', 2)"))
    engine.dispose()
    return tables


def test_a_version_1_postgresql_database_is_upgraded_and_keeps_every_trial(empty_postgres):
    v1 = postgres_at(empty_postgres, 1, v1_rows())
    assert "user_attrs" not in v1.tables["hbo_trials"].c
    check_upgraded(empty_postgres)
    engine = sa.create_engine(empty_postgres)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT version FROM hbo_schema_version")).all() == [
            (_schema.SCHEMA_VERSION,)
        ]
        # a new study in the upgraded database gets the next study id
        new = SQLStorage(empty_postgres, "new")
        new.create_study({"space": {"params": []}, "task": "t", "direction": "minimize",
                          "seed": 1})
        new.close()
        assert conn.execute(sa.text("SELECT max(study_id) FROM hbo_studies")).scalar() == 3
    engine.dispose()


V2_FILE = Path(__file__).parent / "data" / "v2_study.db"
V2_SPACE = hbo.SearchSpace([hbo.Float("x", -1.0, 1.0), hbo.Int("k", 0, 5)])
W, E = TrialState.WAITING, Origin.ENQUEUED
#: (task, state, value, origin, user_attrs) of each trial of "v2-study" in the file
V2_TRIALS = [
    ("source", C, 1.5, H, {"paper": "smith2020"}),
    ("source", C, 2.5, H, {}),
    ("target", C, 0.25, A, {}),
    ("target", C, 0.75, A, {}),
    ("target", F, None, A, {}),
    ("target", R, None, A, {}),
    ("target", W, None, E, {}),
]


def v2_rows() -> dict[str, list[dict]]:
    """Every row of every table of the version 2 file."""
    return file_rows(V2_FILE)


def check_v2_upgraded(url: str) -> None:
    """Every trial of the version 2 file reads as before, its value as the outcome
    ``value``; the study's one objective is ``value``; a study of several outcomes works."""
    rows = {r["number"]: r for r in v2_rows()["hbo_trials"] if r["study_id"] == 1}
    study = hbo.Study.load("v2-study", url, n_initial=10**6)
    trials = study.storage.get_trials()
    assert [(t.task, t.state, t.value, t.origin, t.user_attrs) for t in trials] == V2_TRIALS
    assert [t.values for t in trials] == [None if v is None else {"value": v}
                                          for _, _, v, _, _ in V2_TRIALS]
    for t in trials:
        params, start, end = (rows[t.id][c] for c in ("params", "started_at", "finished_at"))
        assert t.params == json.loads(params)
        assert t.datetime_complete == (None if end is None else datetime.fromtimestamp(end, UTC))
        if t.state is not W:
            assert t.datetime_start == datetime.fromtimestamp(start, UTC)
    assert (study.task, study.seed, study.direction) == ("target", 7, "minimize")
    assert (study.objectives, study.constraints) == ({"value": "minimize"}, [])
    other = hbo.Study.load("max-study", url)
    assert other.objectives == {"value": "maximize"} and other.best_value == 3.0
    # it works: the running trial is told, the waiting one handed out, a new study of
    # several outcomes lives beside the old ones
    study.tell(5, 0.1)
    assert study.ask().id == 6 and study.best_value == 0.1
    moo = hbo.Study(V2_SPACE, task="t", objectives={"a": "minimize", "b": "maximize"},
                    constraints=["c <= 1"], storage=url, name="moo")
    moo.enqueue({"x": 0.5, "k": 1})
    moo.tell(moo.ask(), {"a": 1.0, "b": 2.0, "c": 0.5})
    for s in (study, other, moo):
        s.storage.close()
    again = hbo.Study.load("moo", url)
    assert again.storage.get_trials()[0].values == {"a": 1.0, "b": 2.0, "c": 0.5}
    assert again.constraints == moo.constraints and again.pareto_front()[0].id == 0
    assert {s["name"]: s["objectives"] for s in list_studies(url)} == {
        "max-study": {"value": "maximize"}, "moo": {"a": "minimize", "b": "maximize"},
        "v2-study": {"value": "minimize"},
    }
    again.storage.close()


def test_a_version_2_sqlite_file_is_upgraded_to_several_outcomes(tmp_path):
    """Written by hbo at a9b0c68 (``data/make_v2_study.py``)."""
    path = tmp_path / "v2.db"
    shutil.copy(V2_FILE, path)
    assert v2_rows()["hbo_schema_version"] == [{"version": 2}]
    check_v2_upgraded(f"sqlite:///{path}")
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT version FROM hbo_schema_version").fetchall() == [(3,)]


def test_a_version_2_postgresql_database_is_upgraded_to_several_outcomes(empty_postgres):
    postgres_at(empty_postgres, 2, v2_rows())
    check_v2_upgraded(empty_postgres)
    engine = sa.create_engine(empty_postgres)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT version FROM hbo_schema_version")).all() == [(3,)]
    engine.dispose()
