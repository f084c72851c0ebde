"""The SQL schema of hbo's storage, its version table, and the upgrade path.

``hbo_schema_version`` holds one row: the version of the tables in the database.
:data:`MIGRATIONS` maps each version to the step that builds it from the one before
(version 1 from an empty database). Opening a database runs the missing steps in
order, in the opening transaction, so a crash mid-upgrade leaves the old version.
Released steps are never edited: a schema change is a new step and a new version.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hbo.storage.errors import SchemaVersionError, StorageError

SCHEMA_VERSION = 3
LOCK_KEY = 0x6862_6F  # "hbo": the PostgreSQL advisory lock that serializes schema/study creation


def _v1_tables(meta: sa.MetaData) -> tuple[sa.Table, sa.Table, sa.Table]:
    """The tables of version 1, as released (step 1 creates them; never edited)."""
    version_table = sa.Table(
        "hbo_schema_version", meta, sa.Column("version", sa.Integer, nullable=False)
    )
    studies = sa.Table(
        "hbo_studies",
        meta,
        sa.Column("study_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(512), nullable=False, unique=True),
        sa.Column("space", sa.Text, nullable=False),  # JSON: hbo.space.space_to_dict
        sa.Column("task", sa.String(512), nullable=False),
        sa.Column("direction", sa.String(16), nullable=False),
        sa.Column("seed", sa.BigInteger, nullable=False),
        sa.Column("next_number", sa.Integer, nullable=False),  # the next trial id to hand out
        sa.Column("created_at", sa.Double, nullable=False),
    )
    trials = sa.Table(
        "hbo_trials",
        meta,
        sa.Column("study_id", sa.ForeignKey("hbo_studies.study_id"), primary_key=True),
        sa.Column("number", sa.Integer, primary_key=True),  # Trial.id: 0, 1, ... per study
        sa.Column("task", sa.String(512), nullable=False),
        sa.Column("params", sa.Text, nullable=False),  # JSON object, in the space's order
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("value", sa.Double, nullable=True),
        sa.Column("origin", sa.String(16), nullable=False),
        # seconds since the epoch; a waiting trial (version 2): started_at and heartbeat_at
        # hold when it was enqueued, until it is handed out
        sa.Column("started_at", sa.Double, nullable=False),
        sa.Column("heartbeat_at", sa.Double, nullable=False),
        sa.Column("finished_at", sa.Double, nullable=True),
        sa.Index("ix_hbo_trials_state", "study_id", "state"),
    )
    return version_table, studies, trials


def _create_v1(conn: Connection) -> None:
    meta = sa.MetaData()
    _v1_tables(meta)
    meta.create_all(conn)


def _add_user_attrs_v2(conn: Connection) -> None:
    """Version 2: trials get ``user_attrs`` (a JSON object, ``{}`` for every existing
    trial). Version 2 also stores the state ``waiting`` and the origin ``enqueued``
    (enqueued trials), which version 1 cannot read: the version number keeps an older
    hbo out (:class:`SchemaVersionError`)."""
    conn.execute(sa.text("ALTER TABLE hbo_trials ADD COLUMN user_attrs TEXT NOT NULL DEFAULT '{}'"))


def _add_outcomes_v3(conn: Connection) -> None:
    """Version 3: several outcomes (:mod:`hbo.study.outcomes`). Studies get
    ``objectives`` (a JSON object name -> direction; ``{"value": direction}`` for every
    existing study) and ``outcome_constraints`` (a JSON list of ``"name <= bound"``; ``[]``);
    trials get ``outcome_values`` (a JSON object name -> value; ``{"value": value}`` for
    every existing trial with a value, NULL for the others). The values are written from
    Python, whose JSON keeps every bit of a float (SQL's text conversion of a double need
    not)."""
    conn.execute(sa.text(
        "ALTER TABLE hbo_studies ADD COLUMN objectives TEXT NOT NULL DEFAULT '{}'"
    ))
    conn.execute(sa.text(
        "ALTER TABLE hbo_studies ADD COLUMN outcome_constraints TEXT NOT NULL DEFAULT '[]'"
    ))
    conn.execute(sa.text(
        """UPDATE hbo_studies SET objectives = '{"value": "' || direction || '"}'"""
    ))
    conn.execute(sa.text("ALTER TABLE hbo_trials ADD COLUMN outcome_values TEXT"))
    rows = conn.execute(sa.text(
        "SELECT study_id, number, value FROM hbo_trials WHERE value IS NOT NULL"
    )).all()
    if rows:
        conn.execute(
            sa.text("UPDATE hbo_trials SET outcome_values = :values "
                    "WHERE study_id = :study_id AND number = :number"),
            [{"values": json.dumps({"value": r.value}), "study_id": r.study_id,
              "number": r.number} for r in rows],
        )


#: The tables as this version reads and writes them: version 1's and each step's columns.
metadata = sa.MetaData()
version_table, studies, trials = _v1_tables(metadata)
trials.append_column(sa.Column("user_attrs", sa.Text, nullable=False, server_default="{}"))
studies.append_column(sa.Column("objectives", sa.Text, nullable=False, server_default="{}"))
studies.append_column(
    sa.Column("outcome_constraints", sa.Text, nullable=False, server_default="[]")
)
trials.append_column(sa.Column("outcome_values", sa.Text, nullable=True))

#: version -> the step that upgrades the database from ``version - 1`` to ``version``.
MIGRATIONS: dict[int, Callable[[Connection], None]] = {
    1: _create_v1, 2: _add_user_attrs_v2, 3: _add_outcomes_v3,
}


def is_postgresql(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql"


def _url(conn: Connection) -> str:
    return conn.engine.url.render_as_string(hide_password=True)


def stored_version(conn: Connection) -> int:
    """The schema version of the database: 0 if empty; raises if it is not hbo's."""
    tables = set(sa.inspect(conn).get_table_names())
    if version_table.name not in tables:
        return _foreign(conn, tables) if tables else 0
    rows = conn.execute(sa.select(version_table.c.version)).scalars().all()
    if len(rows) != 1 or not isinstance(rows[0], int) or rows[0] < 1:
        raise StorageError(
            f"database {_url(conn)}: the table {version_table.name} holds {rows!r}, "
            "not one schema version; the database is damaged"
        )
    return rows[0]


def _foreign(conn: Connection, tables: set[str]) -> int:
    shown = sorted(tables)[:8]
    raise StorageError(
        f"database {_url(conn)} is not an hbo database: it holds tables {shown} "
        f"but no {version_table.name}; give an empty or new database"
    )


def upgrade(conn: Connection, version: int, target: int | None = None) -> int:
    """Run the steps from ``version`` to ``target`` (default: :data:`SCHEMA_VERSION`).

    Returns the new version, also written to ``hbo_schema_version``.
    """
    target = SCHEMA_VERSION if target is None else target
    for step in range(version + 1, target + 1):
        MIGRATIONS[step](conn)
    if target != version:
        conn.execute(version_table.delete())
        conn.execute(version_table.insert().values(version=target))
    return target


def open_schema(conn: Connection, *, create: bool = True) -> int:
    """Check (and with ``create``, create or upgrade) the schema; return its version.

    Raises:
        StorageError: a foreign or damaged database, or an empty one when not ``create``.
        SchemaVersionError: the database was written by a newer hbo.
    """
    if is_postgresql(conn):
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(LOCK_KEY)))
    version = stored_version(conn)
    if version > SCHEMA_VERSION:
        raise SchemaVersionError(
            f"database {_url(conn)} has hbo schema version {version}; this hbo reads "
            f"versions up to {SCHEMA_VERSION}: upgrade hbo"
        )
    if version == 0 and not create:
        raise StorageError(f"database {_url(conn)} holds no hbo studies")
    return upgrade(conn, version) if version < SCHEMA_VERSION else version
