"""No import cycle among the modules of reconfake, read from the source with ``ast``.

An edge ``a -> b`` is an ``import`` or ``from ... import`` of ``b`` run when ``a`` is imported:
at module level (also under ``if``/``try``/``with`` and in class bodies), not inside a function
and not under ``if TYPE_CHECKING``. A second graph adds the imports inside functions (deferred
imports hide a cycle but do not remove it): it has no cycle either. Importing
``reconfake.x.y`` runs the ``__init__`` of every package above it, so those packages are targets
too; ``from reconfake.x import y`` targets the submodule ``reconfake.x.y`` when there is one.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"


def module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _import_time_statements(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """The statements of ``body`` run when the module is imported (functions are not entered)."""
    for stmt in body:
        yield stmt
        if isinstance(stmt, ast.If):
            if not _type_checking(stmt.test):
                yield from _import_time_statements(stmt.body)
            yield from _import_time_statements(stmt.orelse)
        elif isinstance(stmt, ast.Try):
            for block in (stmt.body, *(h.body for h in stmt.handlers), stmt.orelse, stmt.finalbody):
                yield from _import_time_statements(block)
        elif isinstance(stmt, (ast.With, ast.ClassDef)):
            yield from _import_time_statements(stmt.body)


def _all_statements(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """Every statement of ``body``, functions entered, ``if TYPE_CHECKING`` blocks skipped."""
    for stmt in _import_time_statements(body):
        yield stmt
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield from _all_statements(stmt.body)
        elif isinstance(stmt, (ast.For, ast.While, ast.AsyncWith, ast.AsyncFor)):
            yield from _all_statements(stmt.body)
        elif isinstance(stmt, ast.ClassDef):  # methods (the class body itself is yielded above)
            for inner in stmt.body:
                if isinstance(inner, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    yield from _all_statements(inner.body)


def _with_parents(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


def imported_modules(source: str, name: str, is_package: bool, known: set[str],
                     in_functions: bool = False) -> set[str]:
    """The modules of ``known`` that importing module ``name`` imports directly (with
    ``in_functions``, also those its functions import when called)."""
    found: set[str] = set()
    walk = _all_statements if in_functions else _import_time_statements
    for stmt in walk(ast.parse(source).body):
        if isinstance(stmt, ast.Import):
            for alias in stmt.names:
                found.update(_with_parents(alias.name))
        elif isinstance(stmt, ast.ImportFrom):
            base = stmt.module or ""
            if stmt.level:  # relative: resolved against the importing module's package
                package = name.split(".") if is_package else name.split(".")[:-1]
                package = package[: len(package) - (stmt.level - 1)]
                base = ".".join(package + ([base] if base else []))
            found.update(_with_parents(base))
            found.update(f"{base}.{alias.name}" for alias in stmt.names)
    return (found & known) - {name}


def import_graph(root: Path, package: str = "reconfake",
                 in_functions: bool = False) -> dict[str, set[str]]:
    """Module -> modules it imports at import time (with ``in_functions``: or in its functions),
    for every module of ``package`` under ``root``."""
    files = {module_name(p, root): p for p in sorted((root / package).rglob("*.py"))}
    known = set(files)
    return {name: imported_modules(path.read_text(encoding="utf-8"), name, path.name == "__init__.py",
                                   known, in_functions)
            for name, path in files.items()}


def find_cycle(graph: Mapping[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as ``[a, b, ..., a]``, or ``None``."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
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


def test_reconfake_has_no_import_cycle():
    graph = import_graph(SRC)
    assert len(graph) > 50 and "reconfake.detector.registry" in graph["reconfake.detector.mel_cnn"]
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_no_cycle_through_deferred_imports_either():
    graph = import_graph(SRC, in_functions=True)
    assert "reconfake.corpora.cli" in graph["reconfake.cli"]  # cmd functions import lazily
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle (through imports inside functions): " + " -> ".join(cycle or [])


def test_the_two_former_cycles_are_gone():
    graph = import_graph(SRC)
    assert "reconfake.cli" not in graph["reconfake.corpora.cli"]
    assert graph["reconfake.corpora.cli"] >= {"reconfake.cli_json"}
    assert "reconfake.detector.architectures" not in graph
    assert graph["reconfake.detector.registry"] == {"reconfake", "reconfake.registry"}


def test_edges_skip_functions_and_type_checking_and_resolve_packages():
    known = {"pkg", "pkg.a", "pkg.b", "pkg.c", "pkg.sub", "pkg.sub.d", "pkg.e", "pkg.f"}
    source = (
        "from typing import TYPE_CHECKING\n"
        "import os\n"
        "from pkg import a\n"  # a submodule: pkg and pkg.a
        "from pkg.sub import thing\n"  # a name: the package pkg.sub
        "from . import f\n"  # relative, from module pkg.x
        "if TYPE_CHECKING:\n    from pkg import b\n"
        "def late():\n    import pkg.c\n"
        "try:\n    import pkg.e\nexcept ImportError:\n    pass\n"
    )
    assert imported_modules(source, "pkg.x", False, known) == {"pkg", "pkg.a", "pkg.sub", "pkg.e", "pkg.f"}
    assert imported_modules("from .d import y\n", "pkg.sub", True, known) == {"pkg", "pkg.sub.d"}
    assert imported_modules(source, "pkg.x", False, known, in_functions=True) == \
        {"pkg", "pkg.a", "pkg.sub", "pkg.c", "pkg.e", "pkg.f"}
    method = "class K:\n    def m(self):\n        for _ in ():\n            import pkg.b\n"
    assert imported_modules(method, "pkg.x", False, known, in_functions=True) == {"pkg", "pkg.b"}


def test_find_cycle_reports_the_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set(), "d": {"a", "c"}}) is None
