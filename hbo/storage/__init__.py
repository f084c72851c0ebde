"""Where a study's trials are kept: in memory by default, or in SQL (SQLite, PostgreSQL).

:func:`open_storage` turns what a user passes as ``storage=`` (None, a URL or a
:class:`Storage`) into a storage; the SQL backend is imported only when a URL is given.
"""

from __future__ import annotations

from hbo.errors import ArgumentTypeError, InvalidArgumentError
from hbo.storage.base import Storage
from hbo.storage.errors import (
    SchemaVersionError,
    SnapshotWriteError,
    StorageError,
    StudyMismatchError,
    UnknownStudyError,
)
from hbo.storage.memory import InMemoryStorage


def open_storage(
    storage: Storage | str | None, name: str | None, *, create: bool = True
) -> Storage:
    """The storage for ``storage=`` and ``name=`` of :class:`hbo.Study`.

    Args:
        storage: None (a new in-memory storage), a database URL, or a Storage object.
        name: The study's name; required with a URL, not allowed with a Storage object
            (which already holds one study).
        create: With a SQLite URL, create a missing file (False: raise instead).
    """
    if isinstance(storage, str):
        if name is None:
            raise InvalidArgumentError(
                "name: a study in a database needs a name, e.g. Study(..., storage=url, "
                "name='resnet-lr')"
            )
        from hbo.storage.sql import SQLStorage

        return SQLStorage(storage, name, create=create)
    if name is not None and storage is not None:
        raise InvalidArgumentError(
            "name goes with a storage URL; a Storage object already holds its one study"
        )
    if storage is None:
        return InMemoryStorage()
    if not isinstance(storage, Storage):
        raise ArgumentTypeError(
            f"storage must be None, a database URL or an hbo Storage, got {type(storage).__name__}"
        )
    return storage


__all__ = [
    "InMemoryStorage",
    "SchemaVersionError",
    "SnapshotWriteError",
    "Storage",
    "StorageError",
    "StudyMismatchError",
    "UnknownStudyError",
    "open_storage",
]
