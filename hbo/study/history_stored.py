"""A stored study by name, ``(name, storage)``: hbo's or Optuna's, read from the database.

hbo and Optuna both address a stored study as a name and a database URL, so for
``(name, url)`` the database itself says which system stores a study of that name: its
tables are listed (read only: nothing is created, not even a missing SQLite file), and
the names are read from hbo's (``hbo_studies``) and Optuna's (``studies``, with its
``version_info``). One of them must hold the name; a name that neither holds, or that
both do, is an error naming what is there and how to pick (pass ``hbo.Study.load(...)``
or ``optuna.load_study(...)`` itself). :func:`open_stored` with ``system=`` skips the
guess (``hbo import --from-hbo`` / ``--from-optuna``).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from hbo.errors import InvalidArgumentError
from hbo.storage import Storage, StorageError, UnknownStudyError, open_storage
from hbo.storage.sql import begin, make_engine

SYSTEMS = ("hbo", "optuna")


def open_stored(name: str, storage: Storage | str, system: str | None = None) -> Any:
    """The study ``name`` in ``storage``: an hbo :class:`~hbo.storage.Storage` or an
    ``optuna.Study``.

    Args:
        name: The study's name.
        storage: A database URL, or an hbo Storage (then the study is hbo's).
        system: ``"hbo"`` or ``"optuna"`` to look only there; None: whichever holds it.

    Raises:
        UnknownStudyError: no such study (the message lists the studies there).
        InvalidArgumentError: both systems hold a study of that name (and ``system`` is None).
        ImportError: the study is Optuna's and Optuna is not installed (names the extra).
    """
    if system not in (None, *SYSTEMS):
        raise InvalidArgumentError(f"system must be one of {SYSTEMS} or None, got {system!r}")
    if isinstance(storage, Storage):
        stored = getattr(storage, "study_name", name)
        if system == "optuna" or storage.study_config() is None or stored != name:
            raise UnknownStudyError(f"no {system or 'hbo'} study named {name!r} in {storage!r}")
        return storage
    found, where = stored_names(storage), _redacted(storage)
    holders = [s for s in SYSTEMS if name in found[s] and system in (None, s)]
    if not holders:
        raise UnknownStudyError(
            f"no {'hbo or Optuna' if system is None else _NAMES[system]} study named "
            f"{name!r} at {where}; hbo studies there: {found['hbo']}, Optuna studies "
            f"there: {found['optuna']}"
        )
    if len(holders) == 2:
        raise InvalidArgumentError(
            f"both hbo and Optuna store a study named {name!r} at {where}; pass the one "
            f"meant: hbo.Study.load({name!r}, url) or optuna.load_study(study_name={name!r}, "
            "storage=url)"
        )
    if holders == ["hbo"]:
        return open_storage(storage, name, create=False)
    try:
        import optuna
    except ImportError as exc:
        from hbo.integrations import missing_extra

        raise missing_extra("optuna", "optuna", "reading an Optuna study") from exc
    return optuna.load_study(study_name=name, storage=storage)


_NAMES = {"hbo": "hbo", "optuna": "Optuna"}


def _redacted(url: str) -> str:
    """``url`` without its password, for messages (a URL that reached here parses)."""
    return sa.make_url(url).render_as_string(hide_password=True)


def stored_names(url: str) -> dict[str, list[str]]:
    """``{"hbo": [...], "optuna": [...]}``: the study names each system stores at ``url``.

    Raises :class:`UnknownStudyError` for a SQLite file that does not exist.
    """
    engine = make_engine(url, create=False)
    try:
        with begin(engine, write=False) as conn:
            tables = set(sa.inspect(conn).get_table_names())
            hbo = optuna = []
            if "hbo_studies" in tables:
                hbo = conn.execute(sa.text("SELECT name FROM hbo_studies ORDER BY name"))
                hbo = [row[0] for row in hbo]
            if {"studies", "version_info"} <= tables:
                optuna = conn.execute(sa.text("SELECT study_name FROM studies ORDER BY study_id"))
                optuna = [row[0] for row in optuna]
    except sa.exc.DBAPIError as exc:
        raise StorageError(f"database {_redacted(url)}: {exc.orig}") from exc
    finally:
        engine.dispose()
    return {"hbo": hbo, "optuna": optuna}
