"""Where a study's trials are kept (in memory by default)."""

from hbo.storage.base import Storage
from hbo.storage.memory import InMemoryStorage

__all__ = ["InMemoryStorage", "Storage"]
