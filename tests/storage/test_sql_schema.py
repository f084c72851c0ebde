"""Schema version, the upgrade path, and databases that are not (or no longer) hbo's."""

import sqlite3

import pytest
import sqlalchemy as sa

import hbo
from hbo.storage import SchemaVersionError, StorageError, UnknownStudyError, _schema
from hbo.storage.sql import SQLStorage, list_studies

SPACE = hbo.SearchSpace([hbo.Float("x", 0.0, 1.0)])


@pytest.fixture
def db(tmp_path):
    return tmp_path / "study.db"


def version_of(path) -> list:
    with sqlite3.connect(path) as conn:
        return [row[0] for row in conn.execute("SELECT version FROM hbo_schema_version")]


def test_a_new_database_gets_the_current_schema_version(sql_url, study_name):
    SQLStorage(sql_url, study_name).close()
    engine = sa.create_engine(sql_url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT version FROM hbo_schema_version")).scalars().all() == [
            _schema.SCHEMA_VERSION
        ]
    engine.dispose()


def test_upgrade_runs_only_the_missing_steps_and_keeps_the_data(db, monkeypatch):
    study = hbo.Study(SPACE, seed=3, storage=f"sqlite:///{db}", name="s")
    study.tell(study.ask(), 0.5)
    study.storage.close()
    steps = []

    current = _schema.SCHEMA_VERSION

    def add_note_column(conn):  # a hypothetical next version: one new column
        steps.append(current + 1)
        conn.execute(sa.text("ALTER TABLE hbo_trials ADD COLUMN note TEXT"))

    monkeypatch.setattr(_schema, "SCHEMA_VERSION", current + 1)
    monkeypatch.setitem(_schema.MIGRATIONS, current + 1, add_note_column)
    resumed = hbo.Study.load("s", f"sqlite:///{db}")
    # the earlier steps were not run again
    assert steps == [current + 1] and version_of(db) == [current + 1]
    assert resumed.trials_dataframe()["value"].tolist() == [0.5] and resumed.seed == 3
    resumed.storage.close()
    hbo.Study.load("s", f"sqlite:///{db}").storage.close()
    assert steps == [current + 1]  # an up-to-date database is left alone


def test_a_database_from_a_newer_hbo_is_refused(db):
    SQLStorage(f"sqlite:///{db}", "s").close()
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE hbo_schema_version SET version = 99")
    newest = _schema.SCHEMA_VERSION
    with pytest.raises(SchemaVersionError, match=f"version 99.*up to {newest}: upgrade hbo"):
        SQLStorage(f"sqlite:///{db}", "s")


def test_a_damaged_version_table_is_an_error(db):
    SQLStorage(f"sqlite:///{db}", "s").close()
    with sqlite3.connect(db) as conn:
        conn.execute("DELETE FROM hbo_schema_version")
    with pytest.raises(StorageError, match="damaged"):
        SQLStorage(f"sqlite:///{db}", "s")


def test_a_corrupt_file_is_an_error_not_an_empty_study(db):
    db.write_bytes(b"this is not a database, just text" * 100)
    with pytest.raises(StorageError, match="file is not a database"):
        hbo.Study(SPACE, storage=f"sqlite:///{db}", name="s")
    with pytest.raises(StorageError, match="file is not a database"):
        list_studies(f"sqlite:///{db}")


def test_a_truncated_hbo_database_is_an_error(db):
    study = hbo.Study(SPACE, storage=f"sqlite:///{db}", name="s")
    study.add_history("t", [{"x": 0.1 * i} for i in range(10)], list(range(10)))
    study.storage.close()
    data = db.read_bytes()
    db.write_bytes(data[: len(data) // 2])  # a copy cut short
    with pytest.raises(StorageError):
        hbo.Study.load("s", f"sqlite:///{db}").trials_dataframe()


def test_a_foreign_database_is_refused_by_name(db):
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE customers (id INTEGER, name TEXT)")
    with pytest.raises(StorageError, match=r"not an hbo database: it holds tables \['customers'\]"):
        hbo.Study(SPACE, storage=f"sqlite:///{db}", name="s")
    with sqlite3.connect(db) as conn:  # and nothing was added to it
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    assert tables == ["customers"]


def test_reading_a_missing_file_does_not_create_it(db):
    with pytest.raises(UnknownStudyError, match="no database file"):
        hbo.Study.load("s", f"sqlite:///{db}")
    with pytest.raises(UnknownStudyError, match="no database file"):
        list_studies(f"sqlite:///{db}")
    assert not db.exists()


def test_an_unreachable_server_is_a_storage_error():
    # port 1 on loopback: nothing listens there
    with pytest.raises(StorageError, match="postgresql"):
        SQLStorage("postgresql+psycopg://nobody@127.0.0.1:1/none", "s")
