"""The module-level imports inside trainers/ form no cycle (issue 17, item 4).

A cycle makes import order matter and forces function-level imports as workarounds; the
graph is read from the source (ast), not by importing, so the test is fast and exact. Two
graphs are checked: module-level imports only, and with function-level imports too (a late
import that hides a cycle still is one; lazy imports of heavy leaves such as matplotlib are
fine, they close no cycle). Run the file as a script to print the graph's size and longest chain.
"""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
PACKAGE = "trainers"


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(tree: ast.Module, module: str, is_package: bool, deferred: bool = False) -> set[str]:
    """Modules of trainers/ named by one file's module-level imports (also function-level ones if `deferred`)."""
    found: set[str] = set()
    for node in ast.walk(tree) if deferred else tree.body:
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".") if is_package else module.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return {name for name in found if name == PACKAGE or name.startswith(PACKAGE + ".")}


def import_graph(deferred: bool = False) -> dict[str, set[str]]:
    """Module → the trainers/ modules it imports at module level (only names that are modules)."""
    files = {_module_name(p): p for p in (ROOT / PACKAGE).rglob("*.py")}
    graph = {}
    for module, path in files.items():
        named = _imports(ast.parse(path.read_text()), module, path.name == "__init__.py", deferred)
        graph[module] = {name for name in named if name in files and name != module}
    return graph


def longest_chain(graph: dict[str, set[str]]) -> list[str]:
    """The longest import path (modules, importer first) of an acyclic graph."""
    best: dict[str, list[str]] = {}
    for module in TopologicalSorter(graph).static_order():  # dependencies first
        below = max((best[dep] for dep in graph[module]), key=len, default=[])
        best[module] = [module, *below]
    return max(best.values(), key=len)


def _without_package_root(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    # trainers/__init__'s lazy re-exports (`__getattr__`) would close a cycle with every module.
    return {m: deps - {PACKAGE} for m, deps in graph.items() if m != PACKAGE}


@pytest.mark.parametrize("deferred", [False, True], ids=["module-level", "with-function-level"])
def test_trainers_has_no_import_cycle(deferred: bool) -> None:
    graph = import_graph(deferred)
    if deferred:
        graph = _without_package_root(graph)
    assert len(graph) > 10, "the graph covers the package"
    try:
        TopologicalSorter(graph).prepare()
    except CycleError as error:
        raise AssertionError(f"import cycle inside trainers/: {' -> '.join(error.args[1])}") from None


def _report(deferred: bool) -> None:
    graph = import_graph(deferred)
    if deferred:
        graph = _without_package_root(graph)
    label = "with function-level imports" if deferred else "module level"
    try:
        chain = longest_chain(graph)
        print(f"{label}: modules {len(graph)}, edges {sum(map(len, graph.values()))}, no cycle;",
              "longest chain:", " -> ".join(chain), f"({len(chain)} modules)")
    except CycleError as error:
        print(f"{label}: cycle:", " -> ".join(error.args[1]))


if __name__ == "__main__":  # the measurement of issue 17 item 4: python tests/unit/trainers/test_import_graph.py
    _report(deferred=False)
    _report(deferred=True)
