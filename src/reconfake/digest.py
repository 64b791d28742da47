"""Digests of the package code that shapes a workflow output, for Snakemake's rerun triggers.

``code_digest("reconfake.train")`` hashes the source of ``reconfake.train`` and of every
``reconfake`` module it imports, directly or not (found by reading the files, importing
nothing). The workflow puts such digests in its rules' ``params``, so editing a module reruns
exactly the jobs whose outputs it can change, and nothing else.
"""

from __future__ import annotations

import hashlib
import re
from functools import cache
from pathlib import Path

#: the folder holding the ``reconfake`` package
SRC = Path(__file__).resolve().parents[1]

_IMPORT = re.compile(r"^[ \t]*(?:from[ \t]+(reconfake[\w.]*)[ \t]+import[ \t]+(\([^)]*\)|[\w \t,]+)"
                     r"|import[ \t]+(reconfake[\w.]*))", re.M)


def module_file(module: str, src: Path = SRC) -> Path | None:
    """The source file of ``module`` under ``src`` (a module or a package), or None."""
    base = src.joinpath(*module.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _imports(path: Path, src: Path) -> set[str]:
    """The ``reconfake`` modules ``path`` imports, at the top or inside functions."""
    found = set()
    for match in _IMPORT.finditer(path.read_text(encoding="utf-8")):
        module = match[1] or match[3]
        found.add(module)
        for name in re.findall(r"\w+", match[2] or ""):
            if module_file(f"{module}.{name}", src) is not None:  # `from pkg import submodule`
                found.add(f"{module}.{name}")
    return found


@cache
def module_closure(modules: tuple[str, ...], src: Path = SRC) -> tuple[Path, ...]:
    """The files of ``modules`` and of every ``reconfake`` module they import, sorted."""
    seen: dict[str, Path] = {}
    todo = list(modules)
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        path = module_file(module, src)
        if path is None:
            raise ValueError(f"no source file for module {module!r} under {src}")
        seen[module] = path
        todo.extend(_imports(path, src) - set(seen))
    return tuple(sorted(set(seen.values())))


def code_digest(*modules: str, src: Path = SRC) -> str:
    """sha256 (16 hex digits) of the sources of ``modules`` and of what they import."""
    digest = hashlib.sha256()
    for path in module_closure(tuple(sorted(modules)), src):
        digest.update(path.relative_to(src).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]
