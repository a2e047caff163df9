"""No import cycle between the project's modules (issue 17), read from the modules' own source with ``ast``.

Every ``import`` and ``from ... import`` statement counts, at module level or inside a function (a lazy
import is still a dependency: it only moves the failure to run time), with relative imports resolved.
``from a.b import c`` is an edge to the module ``a.b.c`` when that is a module of ours, else to ``a.b``
(the package's ``__init__``). Importing a submodule also runs its parent packages' ``__init__``; that
implicit edge is left out, or every package whose ``__init__`` re-exports a submodule would be a cycle.
Imports under ``if TYPE_CHECKING:`` never run (they serve annotations, which ``from __future__ import
annotations`` keeps unevaluated): the run-time graph leaves them out, the full graph keeps them, since a
type-level cycle is still two modules that know each other. Both must be acyclic.

The cycles are the strongly connected components of the graph (Tarjan's algorithm); each is reported
with its modules and one closed path through it, naming the file and line of every import on it.
"""

from __future__ import annotations

import ast
import functools
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("core", "widgets", "gastown_tui", "themes")


@dataclass(frozen=True)
class Cycle:
    """A strongly connected component of the import graph: its ``modules`` (sorted) and one closed
    ``path`` of edges through some of them."""

    modules: list[str]
    path: list[Edge]

    def __str__(self) -> str:
        """``a -> b (a.py:3) -> a (b.py:9)``, plus the component's other modules when the path misses some."""
        text = self.path[0].importer + "".join(f" -> {e.imported} ({e.path}:{e.line})" for e in self.path)
        others = sorted(set(self.modules) - {e.importer for e in self.path})
        return text + (f" (and through {', '.join(others)})" if others else "")


@dataclass(frozen=True)
class Edge:
    """``importer`` imports ``imported`` at ``path``:``line``."""

    importer: str
    imported: str
    path: str
    line: int


def module_files(root: Path = ROOT, packages: tuple[str, ...] = PACKAGES) -> dict[str, Path]:
    """Module name -> source file for every ``.py`` file of ``packages`` under ``root`` that is part of
    the package: every folder on its way holds an ``__init__.py`` (the demo's template project under
    ``gastown_tui/templates`` is data, not modules)."""
    out: dict[str, Path] = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            folders = path.relative_to(root).parents
            if any(not (root / f / "__init__.py").is_file() for f in folders if f != Path(".")):
                continue
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


def _type_checking_only(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, type_checking: bool) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement of ``tree`` at any depth; those under ``if TYPE_CHECKING:`` only with
    ``type_checking`` (its ``else:`` branch does run, so it is always kept)."""
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        if isinstance(node, ast.If) and not type_checking and _type_checking_only(node):
            for child in node.orelse:
                visit(child)
            return
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def edges(root: Path = ROOT, packages: tuple[str, ...] = PACKAGES, type_checking: bool = False) -> list[Edge]:
    """The import edges between the modules of ``packages`` (imports of anything else are dropped);
    with ``type_checking`` also those made for the type checker only."""
    files = module_files(root, packages)
    out: list[Edge] = []
    for name, path in files.items():
        is_package = path.name == "__init__.py"
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        rel = str(path.relative_to(root))
        for node in _imports(tree, type_checking):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                if node.level:
                    # the package a relative import starts from: a package's own name, else its parent
                    base = name.split(".") if is_package else name.split(".")[:-1]
                    base = base[: len(base) - (node.level - 1)]
                    source = ".".join(base + ([node.module] if node.module else []))
                else:
                    source = node.module or ""
                for alias in node.names:
                    sub = f"{source}.{alias.name}"
                    targets.append(sub if sub in files else source)
            for target in targets:
                # ``import a.b.c`` of a module we do not have (e.g. a vendored name) falls back to its package
                while target and target not in files:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    out.append(Edge(name, target, rel, node.lineno))
    return out


def cycles(graph_edges: list[Edge]) -> list[Cycle]:
    """Each strongly connected component of more than one module, with one closed path of edges
    through it (Tarjan's algorithm, iterative), sorted; [] when the graph has no cycle."""
    adjacency: dict[str, dict[str, Edge]] = {}
    for e in graph_edges:
        adjacency.setdefault(e.importer, {}).setdefault(e.imported, e)
        adjacency.setdefault(e.imported, {})
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    for start in sorted(adjacency):
        if start in index:
            continue
        work = [(start, iter(sorted(adjacency[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(adjacency[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    components.append(sorted(component))
    return [Cycle(c, _closed_path(adjacency, set(c), c[0])) for c in sorted(components)]


def _closed_path(adjacency: dict[str, dict[str, Edge]], members: set[str], start: str) -> list[Edge]:
    """A shortest path of edges from ``start`` back to ``start`` inside ``members`` (breadth first)."""
    previous: dict[str, Edge] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for child, e in sorted(adjacency[node].items()):
                if child not in members:
                    continue
                if child == start:
                    path = [e]
                    while path[0].importer != start:
                        path.insert(0, previous[path[0].importer])
                    return path
                if child not in previous:
                    previous[child] = e
                    following.append(child)
        frontier = following
    raise AssertionError(f"{start} is in a strongly connected component but on no cycle")


@functools.cache
def _project_cycles(type_checking: bool) -> list[Cycle]:
    return cycles(edges(type_checking=type_checking))


def _cycles_touching(packages: tuple[str, ...], type_checking: bool) -> list[Cycle]:
    return [c for c in _project_cycles(type_checking) if any(m.split(".")[0] in packages for m in c.modules)]


def _report(found: list[Cycle]) -> str:
    return "import cycles (move what both sides need to a module both can import):\n" + "\n".join(map(str, found))


@pytest.mark.parametrize("type_checking", [False, True], ids=["run-time", "with-type-checking-imports"])
def test_core_widgets_and_themes_have_no_import_cycle(type_checking: bool) -> None:
    found = _cycles_touching(("core", "widgets", "themes"), type_checking)
    assert not found, _report(found)


def test_gastown_tui_has_no_import_cycle_at_run_time() -> None:
    found = _cycles_touching(("gastown_tui",), type_checking=False)
    assert not found, _report(found)


def test_gastown_tui_has_no_import_cycle_with_type_checking_imports() -> None:
    found = _cycles_touching(("gastown_tui",), type_checking=True)
    assert not found, _report(found)


# -- the reader itself, on a tree of its own ------------------------------------------------------


def _write(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def test_the_reader_finds_lazy_and_relative_imports_and_skips_type_checking_ones(tmp_path) -> None:
    root = _write(
        tmp_path,
        {
            "pkg/__init__.py": "from pkg.a import thing\n",
            "pkg/a.py": "def f():\n    from . import b\n",
            "pkg/b.py": "from .sub import c\n",
            "pkg/sub/__init__.py": "",
            "pkg/data/tool.py": "import pkg.a\n",  # no __init__.py: not a module of pkg
            "pkg/sub/c.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import a\n"
            "else:\n    import pkg.sub\n",
        },
    )
    found = {(e.importer, e.imported, e.line) for e in edges(root, ("pkg",))}
    assert found == {("pkg", "pkg.a", 1), ("pkg.a", "pkg.b", 2), ("pkg.b", "pkg.sub.c", 1), ("pkg.sub.c", "pkg.sub", 5)}
    assert cycles(edges(root, ("pkg",))) == []
    with_types = {(e.importer, e.imported) for e in edges(root, ("pkg",), type_checking=True)}
    assert ("pkg.sub.c", "pkg.a") in with_types
    (cycle,) = cycles(edges(root, ("pkg",), type_checking=True))  # pkg.a -> b -> sub.c -> (a, for the checker)
    assert cycle.modules == ["pkg.a", "pkg.b", "pkg.sub.c"]


def test_a_cycle_is_reported_as_one_closed_path_with_its_lines(tmp_path) -> None:
    root = _write(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/a.py": "import os\nfrom pkg import b\n",
            "pkg/b.py": "def late():\n    import pkg.c\n",
            "pkg/c.py": "from pkg.a import x\n",
            "pkg/d.py": "from pkg import a\n",  # reaches the cycle but is not on it
        },
    )
    (cycle,) = cycles(edges(root, ("pkg",)))
    assert cycle.modules == ["pkg.a", "pkg.b", "pkg.c"]
    assert str(cycle) == "pkg.a -> pkg.b (pkg/a.py:2) -> pkg.c (pkg/b.py:2) -> pkg.a (pkg/c.py:1)"
