"""The shape of ``openclb/``, read from its source: no import cycle, imports run one way, small modules.

The import graph is parsed with ``ast``, never imported. Every ``import`` and ``from ...
import`` counts wherever it stands: at module level, inside a function, under
``TYPE_CHECKING``; absolute or relative. ``from openclb.x import y`` is an edge to the module
``openclb.x.y`` when that module exists and to ``openclb.x`` (its ``__init__``) otherwise; a
package is the module named after it. The packages an import runs on the way (importing
``openclb.x.y`` first runs ``openclb.x``'s ``__init__``) are not edges of their own, and a
module importing itself is not a cycle.

Invariants: no cycle between modules of ``openclb/``; each rule of ``LAYER_RULES`` holds for
every import of every module it covers; no hand-written module is longer than
``MAX_LINES`` (the generated ``openclb/api/types*.py`` are exempt).
"""

from __future__ import annotations

import ast
import fnmatch
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGE = "openclb"
MAX_LINES = 500
GENERATED = ("openclb/api/types*.py",)


@dataclass(frozen=True)
class Import:
    """One edge of the graph: ``source`` imports ``target``, at ``path``:``line``."""

    source: str
    target: str
    path: str
    line: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line} imports {self.target}"


@dataclass(frozen=True)
class LayerRule:
    """What the modules under ``covers`` may import from openclb.

    With ``only`` set, every openclb import must fall under one of its prefixes; otherwise
    none may fall under a prefix of ``never``.
    """

    covers: str
    only: tuple[str, ...] | None = None
    never: tuple[str, ...] = ()

    def breaks(self, target: str) -> bool:
        if self.only is not None:
            return not any(under(target, allowed) for allowed in self.only)
        return any(under(target, forbidden) for forbidden in self.never)


LAYER_RULES = {
    "engine": LayerRule("openclb.engine", only=("openclb.engine", "openclb.protocols")),
    "api": LayerRule(
        "openclb.api", never=("openclb.resources", "openclb.store", "openclb.reconcile", "openclb.engine"),
    ),
    "store": LayerRule("openclb.store", never=("openclb.resources", "openclb.api")),
    "reconcile": LayerRule("openclb.reconcile", never=("openclb.resources", "openclb.api")),
    "errors": LayerRule("openclb.errors", only=()),
    "protocols": LayerRule("openclb.protocols", only=()),
}


def under(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def modules_of(root: Path, package: str = PACKAGE) -> dict[str, Path]:
    """Every module of the package at ``root / package``, by dotted name."""
    found: dict[str, Path] = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    for path in sorted((root / package).rglob("*.c")):  # compiled modules (setup.py): they import nothing of ours
        if f"PyInit_{path.stem}" in path.read_text():
            found[".".join(path.relative_to(root).with_suffix("").parts)] = path
    return found


def _resolve(imported: str, names: list[str], modules: dict[str, Path]) -> list[str]:
    """The modules ``from imported import names`` reaches (``names`` empty: ``import imported``)."""
    if not names:
        parts = imported.split(".")
        known = [".".join(parts[:n]) for n in range(len(parts), 0, -1) if ".".join(parts[:n]) in modules]
        return [known[0] if known else imported]
    return [f"{imported}.{name}" if f"{imported}.{name}" in modules else imported for name in names]


def _base_package(module: str, path: Path, level: int) -> str:
    parts = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    return ".".join(parts[: len(parts) - (level - 1)])


def imports_of(root: Path, package: str = PACKAGE) -> list[Import]:
    """Every import from ``package`` by a module of it, resolved to modules."""
    modules = modules_of(root, package)
    edges: list[Import] = []
    for module, path in modules.items():
        relative_path = path.relative_to(root).as_posix()
        if path.suffix != ".py":
            continue
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                targets = [target for alias in node.names for target in _resolve(alias.name, [], modules)]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = _base_package(module, path, node.level)
                    imported = f"{base}.{node.module}" if node.module else base
                else:
                    imported = node.module or ""
                targets = _resolve(imported, [alias.name for alias in node.names if alias.name != "*"], modules)
            else:
                continue
            edges.extend(
                Import(module, target, relative_path, node.lineno)
                for target in targets
                if under(target, package) and target != module
            )
    return edges


def cycles_of(edges: list[Import]) -> list[list[Import]]:
    """One cycle (as its edges, in order) through each strongly connected set of modules."""
    graph: dict[str, dict[str, Import]] = {}
    for edge in edges:
        graph.setdefault(edge.source, {}).setdefault(edge.target, edge)
        graph.setdefault(edge.target, {})
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(graph[node]):
            if successor not in index:
                connect(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(component)

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return [_cycle_through(min(component), component, graph) for component in components]


def _cycle_through(start: str, component: set[str], graph: dict[str, dict[str, Import]]) -> list[Import]:
    """The shortest path of edges from ``start`` back to itself inside ``component``."""
    paths: dict[str, list[Import]] = {start: []}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for successor, edge in sorted(graph[node].items()):
                if successor == start:
                    return paths[node] + [edge]
                if successor in component and successor not in paths:
                    paths[successor] = paths[node] + [edge]
                    following.append(successor)
        frontier = following
    raise AssertionError(f"no cycle through {start}")


def describe(cycle: list[Import]) -> str:
    chain = " -> ".join([cycle[0].source, *(edge.target for edge in cycle)])
    return chain + "".join(f"\n    {edge}" for edge in cycle)


# The scanner itself ---------------------------------------------------------------------------


def test_import_graph_relative_function_and_type_checking_imports_resolved_to_modules(tmp_path):
    files = {
        "openclb/__init__.py": "",
        "openclb/leaf.py": "import os\n",
        "openclb/a.py": (
            "from typing import TYPE_CHECKING\n"
            "if TYPE_CHECKING:\n"
            "    from openclb.b import B\n"
        ),
        "openclb/b.py": "def later():\n    from . import a\n",
        "openclb/pkg/__init__.py": "from .mod import thing\n",
        "openclb/pkg/mod.py": "from .. import leaf\nfrom openclb.pkg import name_in_init\nimport openclb.pkg.mod\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)

    edges = {(edge.source, edge.target, edge.line) for edge in imports_of(tmp_path)}
    cycles = {frozenset(edge.source for edge in cycle) for cycle in cycles_of(imports_of(tmp_path))}

    assert edges == {
        ("openclb.a", "openclb.b", 3),
        ("openclb.b", "openclb.a", 2),
        ("openclb.pkg", "openclb.pkg.mod", 1),
        ("openclb.pkg.mod", "openclb.leaf", 1),
        ("openclb.pkg.mod", "openclb.pkg", 2),
    }
    assert cycles == {frozenset({"openclb.a", "openclb.b"}), frozenset({"openclb.pkg", "openclb.pkg.mod"})}


# openclb/ ---------------------------------------------------------------------------------------


def test_imports_between_openclb_modules_form_no_cycle():
    edges = imports_of(REPO)
    assert edges, "no import found in openclb/: the scanner reads nothing"

    cycles = cycles_of(edges)

    assert not cycles, "import cycles:\n" + "\n".join(describe(cycle) for cycle in cycles)


@pytest.mark.parametrize("layer", sorted(LAYER_RULES))
def test_imports_of_layer_reach_only_what_it_may_import(layer):
    rule = LAYER_RULES[layer]
    covered = [module for module in modules_of(REPO) if under(module, rule.covers)]
    assert covered, f"no module under {rule.covers}: the rule checks nothing"

    broken = [edge for edge in imports_of(REPO) if under(edge.source, rule.covers) and rule.breaks(edge.target)]

    assert not broken, f"{layer}: {rule}\n" + "\n".join(f"  {edge}" for edge in broken)


def test_line_count_hand_written_module_at_most_500():
    too_long = {
        path.relative_to(REPO).as_posix(): length
        for path in modules_of(REPO).values()
        if not any(fnmatch.fnmatch(path.relative_to(REPO).as_posix(), pattern) for pattern in GENERATED)
        and (length := len(path.read_text().splitlines())) > MAX_LINES
    }

    assert not too_long, f"modules over {MAX_LINES} lines: {too_long}"
