"""Transactions per ask on SQLite, read snapshots, and readers beside a writer.

SQLite's locks (https://www.sqlite.org/lang_transaction.html): ``BEGIN IMMEDIATE`` takes
the database's write lock, held by one connection at a time; a deferred ``BEGIN`` takes a
shared lock at its first read, held by any number of readers at once, beside a writer
until its commit.
"""

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy as sa

import hbo
from hbo.errors import NotReadyError, UnknownTrialError
from hbo.storage import InMemoryStorage, SnapshotWriteError, StorageError
from hbo.storage import sql as sql_storage
from hbo.storage.sql import SQLStorage
from hbo.trial import Origin, TrialState

SPACE = hbo.SearchSpace([hbo.Float("x", 0.0, 1.0)])
CONFIG = {"space": hbo.space.space_to_dict(SPACE), "task": "t", "direction": "minimize",
          "objectives": {"value": "minimize"}, "constraints": [], "seed": 3}
READ, WRITE = "BEGIN", "BEGIN IMMEDIATE"


@contextmanager
def transactions(storage: SQLStorage) -> Iterator[list[str]]:
    """The ``BEGIN`` statements the storage sends in the block: READ or WRITE each."""
    begun: list[str] = []

    def record(_conn, _cursor, statement, *_args) -> None:
        if statement.startswith("BEGIN"):
            begun.append(statement)

    sa.event.listen(storage._engine, "before_cursor_execute", record)
    try:
        yield begun
    finally:
        sa.event.remove(storage._engine, "before_cursor_execute", record)


@pytest.fixture
def url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'study.db'}"


@pytest.fixture
def storage(url):
    store = SQLStorage(url, "s")
    store.create_study(CONFIG)
    yield store
    store.close()


def test_a_model_based_ask_reads_once_per_proposal_and_locks_only_to_store(url, monkeypatch):
    """Transactions of one model-based ``Study.ask`` (no concurrent ask, no heartbeat
    timeout), measured with this test:

    - before (main at 307bc1d: every SQLite transaction began with BEGIN IMMEDIATE,
      one per read): 15 transactions, all write-locking (14 reads, 1 write);
    - now: 5, of which 1 write-locking (``create_trials``) and 4 reads: the task check,
      the look for enqueued trials (a read: no write lock unless one waits), the
      proposal's snapshot (one read for all of the proposal's reads), and ``_settle``'s
      look for asks stored meanwhile.
    """
    study = hbo.Study(SPACE, task="t", seed=0, storage=url, name="s")
    xs = [i / 5 for i in range(5)]
    study.add_history("src", [{"x": x} for x in xs], [(x - 0.3) ** 2 for x in xs])
    first = study.ask()  # a Sobol point: the target has no result yet
    study.tell(first, (first.params["x"] - 0.3) ** 2)
    fitted = []
    build = hbo.acquisition.build_acquisition

    def spy(*args, **kwargs):
        fitted.append(True)
        return build(*args, **kwargs)

    monkeypatch.setattr(hbo.acquisition, "build_acquisition", spy)
    with transactions(study.storage) as begun:
        study.ask()
    assert fitted, "the ask should have used the model"
    assert begun == [READ, READ, READ, WRITE, READ]


def test_a_settling_round_reads_once(tmp_path):
    """An ask that finds another worker's ask stored between its reading and its storing
    proposes again from one snapshot, stores its new points (a write), then looks once
    more (a read): 7 transactions, 2 write-locking (before, at 307bc1d: 16, all
    write-locking: 14 reads, 2 writes)."""
    url = f"sqlite:///{tmp_path / 's.db'}"
    worker_a = hbo.Study(SPACE, seed=0, storage=url, name="s", n_initial=4)
    worker_b = hbo.Study.load("s", url, n_initial=4)
    store = worker_b.storage.create_trials

    def create_trials(*args, **kwargs):  # worker A asks between B's reading and storing
        worker_a.ask()
        return store(*args, **kwargs)

    worker_b.storage.create_trials = create_trials
    with transactions(worker_b.storage) as begun:
        worker_b.ask()
    #         ask: task, enqueued?, proposal, store; round 1: snapshot, set_params; round 2
    assert begun == [READ, READ, READ, WRITE, READ, WRITE, READ]


def test_reads_in_a_snapshot_see_one_state_until_the_block_ends(storage, url):
    other = SQLStorage(url, "s")  # another worker
    (mine,) = storage.create_trials("t", [{"x": 0.5}])
    with transactions(storage) as begun, storage.snapshot():
        (theirs,) = other.create_trials("t", [{"x": 0.25}])
        other.finish_trial(mine.id, TrialState.FAILED, None)
        with storage.snapshot():  # nested: the same view
            assert storage.get_trials() == [mine]
        assert storage.get_trials("t", [TrialState.RUNNING]) == [mine]
        assert storage.get_trials("src") == [] and storage.get_trial(mine.id) == mine
        assert storage.study_config() == CONFIG
        with pytest.raises(UnknownTrialError, match=r"trial id 1 .*ids 0\.\.0"):
            storage.get_trial(theirs.id)
    assert begun == [READ]
    assert [t.id for t in storage.get_trials()] == [mine.id, theirs.id]
    assert storage.get_trial(mine.id).state is TrialState.FAILED
    other.close()


def test_a_write_in_a_snapshot_is_refused_and_stores_nothing(storage):
    (trial,) = storage.create_trials("t", [{"x": 0.5}])
    writes = [
        lambda: storage.create_trials("t", [{"x": 0.25}]),
        lambda: storage.create_trials("src", [{"x": 0.25}], [1.0], origin=Origin.HISTORY),
        lambda: storage.finish_trial(trial.id, TrialState.COMPLETE, 1.0),
        lambda: storage.set_params(trial.id, {"x": 0.75}),
        lambda: storage.heartbeat(trial.id),
        lambda: storage.fail_stale_trials(0.0),
        lambda: storage.create_study(CONFIG),
    ]
    with storage.snapshot():
        for write in writes:
            with pytest.raises(SnapshotWriteError, match="write after the with block"):
                write()
    assert storage.get_trials() == [trial]


def test_a_snapshot_belongs_to_its_thread(storage):
    """Another thread (e.g. ``Study.keep_alive``'s heartbeats) reads and writes as usual."""
    (trial,) = storage.create_trials("t", [{"x": 0.5}])
    seen = []

    def worker() -> None:
        storage.heartbeat(trial.id)
        seen.extend(storage.create_trials("t", [{"x": 0.25}]))
        seen.append(len(storage.get_trials()))

    with storage.snapshot():
        thread = threading.Thread(target=worker)
        thread.start()
        thread.join()
        assert storage.get_trials() == [trial]
    assert seen[1] == 2 and storage.get_trials()[1] == seen[0]


def test_a_snapshot_of_a_study_not_created_yet(url):
    store = SQLStorage(url, "not-yet")
    with store.snapshot():
        assert store.study_config() is None
        with pytest.raises(NotReadyError, match="not created"):
            store.get_trials()
    store.close()


def test_the_in_memory_snapshot_is_a_no_op():
    store = InMemoryStorage()
    store.create_study(CONFIG)
    with store.snapshot(), store.snapshot():
        (trial,) = store.create_trials("t", [{"x": 0.5}])
        assert store.get_trials() == [trial]


def test_readers_read_while_another_connection_holds_the_write_lock(url, monkeypatch):
    """A writer in ``BEGIN IMMEDIATE`` and a reader in a deferred ``BEGIN`` hold their
    locks; this storage still reads (before: its reads also waited for the write lock,
    and failed after the busy timeout), and its write waits and fails, storing nothing."""
    monkeypatch.setattr(sql_storage, "SQLITE_BUSY_TIMEOUT_S", 0.2)
    store = SQLStorage(url, "s")
    store.create_study(CONFIG)
    (trial,) = store.create_trials("t", [{"x": 0.5}])
    path = sa.make_url(url).database
    writer = sqlite3.connect(path, isolation_level=None)
    reader = sqlite3.connect(path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("UPDATE hbo_trials SET value = 9.0")  # not committed: invisible to readers
    reader.execute("BEGIN")
    assert reader.execute("SELECT count(*) FROM hbo_trials").fetchone() == (1,)
    assert store.get_trials() == [trial] and store.get_trial(trial.id) == trial
    with store.snapshot():
        assert store.get_trials("t") == [trial]
    with pytest.raises(StorageError, match="database is locked"):
        store.create_trials("t", [{"x": 0.25}])
    writer.execute("ROLLBACK")
    reader.execute("COMMIT")
    assert store.get_trials() == [trial]
    for connection in (writer, reader):
        connection.close()
    store.close()
