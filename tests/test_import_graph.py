"""The import graph of the ``hbo`` package, read from the source with :mod:`ast`.

Three rules of layering, checked without importing anything:

(a) no import cycles between modules of ``hbo``;
(b) no module imports a private module (``_x``) or a private name (``_name``) of another
    package: what a leading underscore marks is private to the package that holds it (a
    directory with ``__init__.py``) and to the packages below it, so ``hbo._warnings`` is
    for all of ``hbo`` but ``hbo.hierarchy.models._base`` only for
    ``hbo.hierarchy.models``;
(c) no module over :data:`MAX_LINES` lines.

Edges are a module's imports at module level and inside function bodies (run on first
call: still a dependency), not those under ``if TYPE_CHECKING:`` (never run).
``from package import name`` is an edge to the submodule ``package.name`` where that is a
module, else to ``package`` itself.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "hbo"
MAX_LINES = 500


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}
PACKAGES = {name for name, p in MODULES.items() if p.name == "__init__.py"}


def package_of(module: str) -> str:
    """The package a module belongs to (a package belongs to itself)."""
    return module if module in PACKAGES else module.rpartition(".")[0]


def is_private(part: str) -> bool:
    return part.startswith("_") and not (part.startswith("__") and part.endswith("__"))


def _type_checking_block(node: ast.AST) -> bool:
    test = node.test if isinstance(node, ast.If) else None
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Import statements of a module, skipping ``if TYPE_CHECKING:`` blocks."""
    found, stack = [], [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        children = list(ast.iter_child_nodes(node))
        if _type_checking_block(node):
            children = node.orelse
        stack.extend(children)
    return found


def imported(module: str) -> list[tuple[str, str | None]]:
    """``(target module, imported name or None)`` for each ``hbo`` import of ``module``."""
    tree = ast.parse(MODULES[module].read_text(), str(MODULES[module]))
    result = []
    for node in _imports(tree):
        if isinstance(node, ast.Import):
            result += [(a.name, None) for a in node.names if a.name.split(".")[0] == "hbo"]
            continue
        base = node.module or ""
        if node.level:  # relative: from the importing module's package upwards
            anchor = package_of(module).split(".")
            anchor = anchor[: len(anchor) - node.level + 1]
            base = ".".join(anchor + ([base] if base else []))
        if base.split(".")[0] != "hbo":
            continue
        for alias in node.names:
            sub = f"{base}.{alias.name}"
            result.append((sub, None) if sub in MODULES else (base, alias.name))
    return result


GRAPH = {m: {t for t, _ in imported(m) if t in MODULES} - {m} for m in MODULES}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a list of nodes (first == last), or None."""
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def reaches_into(module: str, target: str) -> bool:
    """Whether ``module`` importing ``target`` (a dotted module, or module and name) uses
    something private to a package that is neither ``module``'s nor above it."""
    importer, parts = package_of(module), target.split(".")
    for i, part in enumerate(parts):
        owner = package_of(".".join(parts[:i]))  # the package that holds the part
        if is_private(part) and importer != owner and not importer.startswith(owner + "."):
            return True
    return False


def private_violations(module: str) -> list[str]:
    """Imports of ``module`` that reach into another package's private module or name."""
    targets = [".".join([t, n] if n else [t]) for t, n in imported(module)]
    return [f"{module} imports {t}" for t in targets if reaches_into(module, t)]


def test_the_graph_sees_the_package() -> None:
    assert len(MODULES) > 50 and "hbo.mcmc" in PACKAGES
    assert "hbo.mcmc" in GRAPH["hbo.surrogate.nuts"]


def test_no_import_cycles() -> None:
    assert find_cycle(GRAPH) is None


def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_private_imports_across_packages() -> None:
    assert [v for m in MODULES for v in private_violations(m)] == []


def test_no_module_over_max_lines() -> None:
    lengths = {m: len(p.read_text().splitlines()) for m, p in MODULES.items()}
    over = {m: n for m, n in lengths.items() if n > MAX_LINES}
    assert not over, over


@pytest.mark.parametrize(("importer", "target", "private"), [
    ("hbo.surrogate.nuts", "hbo.mcmc._private_apis.pyro_nuts.FlatNUTS", True),
    ("hbo.hierarchy.sbc", "hbo.hierarchy.models._base.HierarchicalModel", True),
    ("hbo.hierarchy", "hbo.hierarchy.models._base", True),
    ("hbo.surrogate.nuts", "hbo.mcmc.potential._ValueWithGrad", True),
    ("hbo.mcmc", "hbo.mcmc._private_apis.pyro_nuts.FlatNUTS", False),
    ("hbo.mcmc.chains", "hbo.mcmc._private_apis.pyro_nuts.FlatNUTS", False),
    ("hbo.hierarchy.models.irt", "hbo.hierarchy.models._base.as_tensor", False),
    ("hbo.hierarchy.models._base", "hbo._warnings.warn", False),
    ("hbo.surrogate.nuts", "hbo.mcmc.FlatPotential", False),
])
def test_privacy_rule(importer: str, target: str, private: bool) -> None:
    assert reaches_into(importer, target) is private
