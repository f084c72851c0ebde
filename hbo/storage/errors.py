"""Errors of stored studies (all :class:`~hbo.errors.HBOError`)."""

from __future__ import annotations

from hbo.errors import HBOError


class StorageError(HBOError, RuntimeError):
    """The database cannot be used: unreachable, corrupt, or not an hbo database."""


class SchemaVersionError(StorageError):
    """The database was written by a newer hbo than this one (its schema is unknown here)."""


class UnknownStudyError(HBOError, KeyError):
    """No study of this name is stored (the message lists the stored ones)."""


class StudyMismatchError(HBOError, ValueError):
    """A study is opened with a space, task, direction or seed that differs from the stored one."""


class SnapshotWriteError(HBOError, RuntimeError):
    """A write inside a read snapshot (:meth:`~hbo.storage.Storage.snapshot`), where the
    snapshot's reads would not see it; write after the ``with`` block."""
