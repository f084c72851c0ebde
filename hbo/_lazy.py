"""Public names of a package loaded on first use (PEP 562), so that importing the package
does not import what only some of its names need (torch, BoTorch, matplotlib)."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_names(package: str, names: Mapping[str, str]) -> tuple[Callable[[str], Any],
                                                                Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of ``package`` whose ``names`` (public name ->
    module) are imported on first use, then kept in the package's namespace."""

    def __getattr__(name: str) -> Any:  # noqa: ANN401 - PEP 562: the object asked for
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(names))

    return __getattr__, __dir__
