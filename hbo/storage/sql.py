"""SQL storage (SQLAlchemy 2): SQLite by default, PostgreSQL by URL; many workers, one study.

    SQLStorage("sqlite:///tuning.db", "resnet-lr")
    SQLStorage("postgresql+psycopg://user@host/db", "resnet-lr")

Tables (schema version :data:`SCHEMA_VERSION`, see :mod:`hbo.storage._schema`):
``hbo_studies`` (name, space as JSON, target task, direction, objectives and outcome
constraints as JSON, seed, the next trial number) and ``hbo_trials`` (study, number, task,
params as JSON, state, value, every outcome as JSON, origin, user attributes as JSON,
started / heartbeat / finished times in seconds since the epoch, by the worker's clock;
rows <-> trials in :mod:`hbo.storage._rows`).

Concurrency. Every write is one transaction. Trial numbers come from the study row's
counter, read and advanced under a lock: ``SELECT ... FOR UPDATE`` on PostgreSQL, and
on SQLite every transaction that writes starts with ``BEGIN IMMEDIATE`` (the database's
write lock is taken before its first read), so two processes never read the same
counter, and no transaction upgrades a read lock to the write lock (two upgrading
transactions wait for each other; SQLite fails one with ``SQLITE_BUSY``). Waiting
(enqueued) trials are claimed the same way: read and moved to ``RUNNING`` in one
transaction under the study row's lock, so each is handed out once. A transaction
that only reads starts with a deferred ``BEGIN``: its first read takes a shared lock,
which any number of readers hold at once, so reads do not queue behind each other, only
briefly behind a writer's commit (https://www.sqlite.org/lang_transaction.html). On
PostgreSQL reads take no locks. A worker killed at any point leaves either its whole
transaction or none of it; a trial it asked for stays ``RUNNING`` until
:meth:`SQLStorage.fail_stale_trials` sees that its heartbeat is older than the timeout
and marks it ``FAILED``.

Snapshots. Inside :meth:`SQLStorage.snapshot` every read of the thread is answered from
one read of the study row and all its trials, made when the block starts, in one read
transaction (the trials in one ``SELECT``: one consistent state on both databases).
A :meth:`hbo.Study.ask` proposal then reads the database once instead of once per read
(15 transactions per model-based ask before, each taking the write lock; now 3 reads
and the write that stores the new trials). The transaction ends
as soon as the view is read rather than lasting the block: in SQLite's default
rollback-journal mode a held shared lock keeps every writer from committing
(https://www.sqlite.org/lockingv3.html), here for as long as the surrogate's fit, past
:data:`SQLITE_BUSY_TIMEOUT_S` with a long NUTS run. Writes inside a snapshot raise
:class:`~hbo.storage.SnapshotWriteError`: the view would not show them, and a
snapshot that held its transaction would deadlock on the lock upgrade.
"""

from __future__ import annotations

import dataclasses
import json
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from hbo.errors import InvalidArgumentError, NotReadyError, UnknownTrialError
from hbo.storage import _schema
from hbo.storage._rows import config_of, row_of, study_row, trial_of
from hbo.storage._schema import studies, trials
from hbo.storage.base import (
    Storage,
    Told,
    added_trials,
    moment,
    new_trials,
    outcome_fields,
    select_trials,
)
from hbo.storage.errors import SnapshotWriteError, StorageError, UnknownStudyError
from hbo.trial import Origin, Trial, TrialState, check_running, check_transition

SQLITE_BUSY_TIMEOUT_S = 60.0  # how long a writer waits for another's lock before failing
WRITE_OPTION = "hbo_write"  # execution option: True for a transaction that writes


def _redacted(url: str) -> str:
    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return url


def make_engine(url: str, *, create: bool = True) -> Engine:
    """An engine for ``url`` whose SQLite transactions that write take the write lock first.

    A transaction writes if its connection has the execution option :data:`WRITE_OPTION`
    set (see :func:`begin`); others begin deferred, as readers.

    Args:
        url: SQLAlchemy URL (``sqlite:///path.db``, ``postgresql+psycopg://...``).
        create: For a SQLite file that does not exist: create it (True) or raise
            :class:`UnknownStudyError` (False, for commands that only read).
    """
    if not isinstance(url, str) or not url:
        raise InvalidArgumentError(f"storage must be a database URL or a Storage, got {url!r}")
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError:
        raise InvalidArgumentError(
            f"storage URL {url!r} is not a database URL; use e.g. 'sqlite:///tuning.db' or "
            "'postgresql+psycopg://user@host/db'"
        ) from None
    sqlite = parsed.get_backend_name() == "sqlite"
    if sqlite and not create and not (parsed.database and os.path.exists(parsed.database)):
        raise UnknownStudyError(f"no database file at {parsed.database!r} ({url})")
    try:
        engine = sa.create_engine(
            parsed, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S} if sqlite else {}
        )
    except (sa.exc.ArgumentError, ImportError) as exc:
        raise InvalidArgumentError(f"storage URL {_redacted(url)}: {exc}") from None
    if sqlite:
        # SQLAlchemy's recipe: let the driver leave transactions to us, then begin each
        # writer with BEGIN IMMEDIATE (write lock first: no upgrade deadlock) and each
        # reader with a deferred BEGIN (a shared lock, held with other readers).
        @sa.event.listens_for(engine, "connect")
        def _autocommit_driver(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None

        @sa.event.listens_for(engine, "begin")
        def _begin(connection: Connection) -> None:
            writes = connection.get_execution_options().get(WRITE_OPTION, False)
            connection.exec_driver_sql("BEGIN IMMEDIATE" if writes else "BEGIN")

    return engine


@contextmanager
def begin(engine: Engine, *, write: bool) -> Iterator[Connection]:
    """A transaction on ``engine``, committed at the end: a writer's if ``write``, else a
    reader's (on SQLite: ``BEGIN IMMEDIATE`` or a deferred ``BEGIN``, see :func:`make_engine`)."""
    with engine.connect() as conn:
        conn.execution_options(**{WRITE_OPTION: write})
        with conn.begin():
            yield conn


def _dispose(engine: Engine, pid: int) -> None:
    """Close the pool's connections; in a forked child only forget them (they are the parent's)."""
    engine.dispose(close=os.getpid() == pid)


def _move(
    conn: Connection, study_id: int, rows: Sequence[sa.Row], state: TrialState,
    fields: dict[str, Any], **columns: Any,
) -> list[Trial]:
    """Move the trials of ``rows`` to ``state`` in ``conn``'s transaction (each transition
    checked): ``fields`` set on the returned trials, ``columns`` on their rows."""
    moved = []
    for trial in map(trial_of, rows):
        check_transition(trial, state)
        moved.append(dataclasses.replace(trial, state=state, **fields))
    if moved:
        conn.execute(
            trials.update()
            .where(trials.c.study_id == study_id, trials.c.number.in_([t.id for t in moved]))
            .values(state=state.value, **columns)
        )
    return moved


class SQLStorage(Storage):
    """One study in a SQL database; any number of processes may open it at once.

    Args:
        url: SQLAlchemy database URL.
        study_name: Name of the study within the database.
        create: Create a missing SQLite file (default) or refuse (read-only use).

    Raises:
        StorageError: unreachable, corrupt, or foreign database (not written by hbo).
        SchemaVersionError: the database was written by a newer hbo.
    """

    #: Seconds since the epoch, for heartbeats and timeouts (replaceable in tests).
    clock = staticmethod(time.time)

    def __init__(self, url: str, study_name: str, *, create: bool = True) -> None:
        if not isinstance(study_name, str) or not study_name:
            raise InvalidArgumentError(f"study name must be a non-empty string, got {study_name!r}")
        self.url = url
        self.study_name = study_name
        self._engine = make_engine(url, create=create)
        # close pooled connections when the storage goes away (or on close())
        self._release = weakref.finalize(self, _dispose, self._engine, os.getpid())
        self._local = threading.local()  # .view: this thread's snapshot, if one is open
        with self._transaction(write=True) as conn:  # may create or upgrade the schema
            _schema.open_schema(conn)

    def __repr__(self) -> str:
        return f"SQLStorage({_redacted(self.url)!r}, {self.study_name!r})"

    def close(self) -> None:
        """Release the connection pool (the database stays as it is)."""
        self._release()

    @contextmanager
    def _transaction(self, *, write: bool = False) -> Iterator[Connection]:
        """One transaction, a writer's if ``write`` (then not inside a snapshot); database
        failures become :class:`StorageError` naming the URL."""
        if write and self._view() is not None:
            raise SnapshotWriteError(
                f"{self!r}: a write inside storage.snapshot(), whose reads would not see it; "
                "write after the with block"
            )
        try:
            with begin(self._engine, write=write) as conn:
                yield conn
        except sa.exc.DBAPIError as exc:
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            raise StorageError(f"database {_redacted(self.url)}: {reason}") from exc

    # ------------------------------------------------------------------ snapshots
    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """Answer this thread's reads in the block from one read of the study (see the
        module's docstring: one read transaction, ended before the block runs)."""
        if self._view() is not None:  # nested: the outer block's view
            yield
            return
        with self._transaction() as conn:
            row = self._study_row(conn)
            rows = [] if row is None else conn.execute(self._trials_query(row.study_id))
            view = _View(row, {t.id: t for t in map(trial_of, rows)})
        self._local.view = view
        try:
            yield
        finally:
            self._local.view = None

    def _view(self) -> _View | None:
        return getattr(self._local, "view", None)

    def _viewed_trials(self) -> dict[int, Trial] | None:
        """The trials of this thread's snapshot by id; None outside a snapshot."""
        view = self._view()
        if view is None:
            return None
        if view.study is None:
            raise self._not_ready()
        return view.trials

    # ------------------------------------------------------------------ study
    def create_study(self, config: dict[str, Any]) -> dict[str, Any]:
        with self._transaction(write=True) as conn:
            if _schema.is_postgresql(conn):  # serialize concurrent creators of any study
                conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_schema.LOCK_KEY)))
            row = self._study_row(conn)
            if row is None:
                conn.execute(
                    studies.insert().values(
                        name=self.study_name,
                        **study_row(config),
                        next_number=0,
                        created_at=self.clock(),
                    )
                )
                row = self._study_row(conn)
            return config_of(row)

    def study_config(self) -> dict[str, Any] | None:
        view = self._view()
        if view is None:
            with self._transaction() as conn:
                row = self._study_row(conn)
        else:
            row = view.study
        return None if row is None else config_of(row)

    def _study_row(self, conn: Connection) -> sa.Row | None:
        return conn.execute(sa.select(studies).where(studies.c.name == self.study_name)).first()

    def _study(self, conn: Connection, *, lock: bool = False) -> int:
        query = sa.select(studies.c.study_id).where(studies.c.name == self.study_name)
        study_id = conn.execute(query.with_for_update() if lock else query).scalar()
        if study_id is None:
            raise self._not_ready()
        return study_id

    def _not_ready(self) -> NotReadyError:
        return NotReadyError(
            f"study {self.study_name!r} is not created in {_redacted(self.url)} yet; "
            "open it with hbo.Study(space, storage=url, name=...) first"
        )

    # ------------------------------------------------------------------ trials
    def create_trials(
        self,
        task: str,
        params_list: Sequence[dict[str, Any]],
        values: Sequence[Told] | None = None,
        origin: Origin = Origin.ASKED,
    ) -> list[Trial]:
        now = self.clock()
        return self._insert(lambda start, config: new_trials(start, task, params_list, values,
                                                             origin, now, config), now)

    def add_trials(self, trials: Sequence[Trial]) -> list[Trial]:
        now = self.clock()
        return self._insert(lambda start, config: added_trials(start, trials, now, config), now)

    def _insert(
        self, make: Callable[[int, dict[str, Any]], list[Trial]], now: float
    ) -> list[Trial]:
        """Store the trials ``make(first id, study config)`` in one transaction, numbered
        under a lock."""
        with self._transaction(write=True) as conn:
            study_id = self._study(conn, lock=True)  # row lock: one allocator at a time
            row = conn.execute(sa.select(studies).where(studies.c.study_id == study_id)).one()
            start = row.next_number
            new = make(start, config_of(row))
            if new:
                conn.execute(trials.insert(), [row_of(t, study_id, now) for t in new])
                conn.execute(
                    studies.update()
                    .where(studies.c.study_id == study_id)
                    .values(next_number=start + len(new))
                )
        return new

    def claim_waiting(self, task: str, n: int) -> list[Trial]:
        waiting = [trials.c.task == task, trials.c.state == TrialState.WAITING.value]
        with self._transaction() as conn:  # a read first: most asks find none, and no lock
            if not conn.execute(self._trials_query(self._study(conn)).where(*waiting)).first():
                return []
        now = self.clock()
        with self._transaction(write=True) as conn:
            study_id = self._study(conn, lock=True)  # one claimer at a time (PostgreSQL)
            rows = conn.execute(
                self._trials_query(study_id).where(*waiting).limit(n).with_for_update()
            ).all()
            return _move(conn, study_id, rows, TrialState.RUNNING,
                         {"datetime_start": moment(now)}, started_at=now, heartbeat_at=now)

    def set_user_attr(self, trial_id: int, key: str, value: Any) -> Trial:
        with self._transaction(write=True) as conn:
            study_id = self._study(conn)
            trial = self._trial(conn, study_id, trial_id, lock=True)
            attrs = {**trial.user_attrs, key: json.loads(json.dumps(value))}
            self._update(conn, study_id, trial_id, user_attrs=json.dumps(attrs))
        return dataclasses.replace(trial, user_attrs=attrs)

    def finish_trial(self, trial_id: int, state: TrialState, value: Told | None) -> Trial:
        now = self.clock()
        with self._transaction(write=True) as conn:
            study = self._study_row(conn)
            if study is None:
                raise self._not_ready()
            trial = self._trial(conn, study.study_id, trial_id, lock=True)
            check_transition(trial, state)
            number, values = outcome_fields(config_of(study), value)
            self._update(conn, study.study_id, trial_id, state=state.value, value=number,
                         outcome_values=None if values is None else json.dumps(values),
                         finished_at=now)
        return dataclasses.replace(trial, state=state, value=number, values=values,
                                   datetime_complete=moment(now))

    def set_params(self, trial_id: int, params: dict[str, Any]) -> Trial:
        with self._transaction(write=True) as conn:
            study_id = self._study(conn)
            trial = self._trial(conn, study_id, trial_id, lock=True)
            check_running(trial)
            self._update(conn, study_id, trial_id, params=json.dumps(params))
        return dataclasses.replace(trial, params=dict(params))

    @staticmethod
    def _update(conn: Connection, study_id: int, number: int, **values: Any) -> None:
        conn.execute(
            trials.update()
            .where(trials.c.study_id == study_id, trials.c.number == number)
            .values(**values)
        )

    def get_trial(self, trial_id: int) -> Trial:
        viewed = self._viewed_trials()
        if viewed is None:
            with self._transaction() as conn:
                return self._trial(conn, self._study(conn), trial_id)
        if isinstance(trial_id, int) and trial_id in viewed:
            return viewed[trial_id]
        raise self._unknown_trial(trial_id, len(viewed))  # numbers run 0, 1, ... (never deleted)

    def get_trials(
        self, task: str | None = None, states: Iterable[TrialState] | None = None
    ) -> list[Trial]:
        viewed = self._viewed_trials()
        if viewed is not None:
            return select_trials(viewed.values(), task, states)
        with self._transaction() as conn:
            query = self._trials_query(self._study(conn))
            if task is not None:
                query = query.where(trials.c.task == task)
            if states is not None:
                query = query.where(trials.c.state.in_([s.value for s in states]))
            return [trial_of(row) for row in conn.execute(query)]

    @staticmethod
    def _trials_query(study_id: int) -> sa.Select:
        return sa.select(trials).where(trials.c.study_id == study_id).order_by(trials.c.number)

    def heartbeat(self, trial_id: int) -> None:
        with self._transaction(write=True) as conn:
            study_id = self._study(conn)
            self._trial(conn, study_id, trial_id)
            self._update(conn, study_id, trial_id, heartbeat_at=self.clock())

    def fail_stale_trials(self, timeout: float) -> list[Trial]:
        now = self.clock()
        with self._transaction(write=True) as conn:
            study_id = self._study(conn)
            stale = conn.execute(
                sa.select(trials)
                .where(
                    trials.c.study_id == study_id,
                    trials.c.state == TrialState.RUNNING.value,
                    trials.c.heartbeat_at < now - timeout,
                )
                .order_by(trials.c.number)
                .with_for_update()
            ).all()
            return _move(conn, study_id, stale, TrialState.FAILED,
                         {"datetime_complete": moment(now)}, finished_at=now)

    def _trial(self, conn: Connection, study_id: int, number: Any, *, lock: bool = False) -> Trial:
        query = sa.select(trials).where(trials.c.study_id == study_id, trials.c.number == number)
        in_range = isinstance(number, int) and 0 <= number < 2**31  # the column's range
        row = conn.execute(query.with_for_update() if lock else query).first() if in_range else None
        if row is None:
            n = conn.execute(
                sa.select(studies.c.next_number).where(studies.c.study_id == study_id)
            ).scalar_one()
            raise self._unknown_trial(number, n)
        return trial_of(row)

    def _unknown_trial(self, number: Any, n: int) -> UnknownTrialError:
        """The error for trial ``number`` of a study holding ``n`` trials."""
        return UnknownTrialError(
            f"trial id {number!r} is not in study {self.study_name!r} (ids 0..{n - 1})"
        )


@dataclasses.dataclass(frozen=True)
class _View:
    """What a snapshot read: the study's row (None: not created) and its trials by id."""

    study: sa.Row | None
    trials: dict[int, Trial]


def list_studies(url: str) -> list[dict[str, Any]]:
    """Every study in the database at ``url``: name, task, direction (None: several
    objectives), objectives and trial counts.

    Raises :class:`UnknownStudyError` for a SQLite file that does not exist.
    """
    engine = make_engine(url, create=False)
    try:
        with begin(engine, write=False) as conn:
            _schema.open_schema(conn, create=False)
            counts = (
                sa.select(trials.c.study_id, trials.c.state, sa.func.count().label("n"))
                .group_by(trials.c.study_id, trials.c.state)
            )
            n = {(r.study_id, r.state): r.n for r in conn.execute(counts)}
            rows = conn.execute(sa.select(studies).order_by(studies.c.name)).all()
    except sa.exc.DBAPIError as exc:
        raise StorageError(f"database {_redacted(url)}: {exc.orig}") from exc
    finally:
        engine.dispose()
    return [
        {
            "name": r.name,
            "task": r.task,
            "direction": r.direction or None,
            "objectives": json.loads(r.objectives),
            **{s.value: n.get((r.study_id, s.value), 0) for s in TrialState},
        }
        for r in rows
    ]
