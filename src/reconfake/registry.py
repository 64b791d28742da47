"""The one lazy registry mechanism: things picked by name, each registered in its own module.

A :class:`LazyRegistry` holds a static table ``name -> module``. Listing or checking names
imports nothing (the Snakefile plans a run with them, and the implementing modules import
torch). :meth:`LazyRegistry.get` imports the one module a name lives in; that module registers
its object with the :meth:`LazyRegistry.register` decorator when it is imported. A module
holding a table imports its implementing modules only through :meth:`LazyRegistry.get`, so
an implementing module importing that table makes no import cycle.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Generic, TypeVar

T = TypeVar("T")


class LazyRegistry(Generic[T]):
    """Objects of one kind (``"backend"``, ``"architecture"``, ``"corpus"``) by name.

    Args:
        kind: what the objects are, for error messages.
        modules: name -> dotted module that registers the object of that name.
        error: the exception type raised for an unknown name or a module that registers
            nothing under its name (callers keep their own, e.g. ``BackendError``).
    """

    def __init__(self, kind: str, modules: Mapping[str, str], error: type[Exception] = ValueError):
        self.kind = kind
        self.modules: dict[str, str] = dict(modules)
        self.error = error
        self._objects: dict[str, T] = {}

    def names(self) -> list[str]:
        """Every name, in table order (imports nothing)."""
        return list(self.modules)

    def __contains__(self, name: object) -> bool:
        return name in self.modules

    def module(self, name: str) -> str:
        """The dotted module of ``name`` (imports nothing); an unknown name is an error listing
        the known ones."""
        if name not in self.modules:
            raise self.error(f"unknown {self.kind} {name!r}; known: {', '.join(sorted(self.modules))}")
        return self.modules[name]

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator registering an object under ``name``, used in the module the table names.

        A name missing from the table, or a second, different object under one name, is an
        error.
        """

        def add(obj: T) -> T:
            if name not in self.modules:
                raise ValueError(f"{self.kind} {name!r} is not in the registry's table; add it "
                                 f"there with its module")
            known = self._objects.get(name)
            if known is not None and known is not obj:
                raise ValueError(f"two {self.kind} objects are registered as {name!r}: "
                                 f"{known!r} and {obj!r}")
            self._objects[name] = obj
            return obj

        return add

    def get(self, name: str) -> T:
        """The object registered as ``name``, importing its module only."""
        module = self.module(name)
        if name not in self._objects:
            importlib.import_module(module)
        if name not in self._objects:
            raise self.error(f"module {module} registers no {self.kind} {name!r}")
        return self._objects[name]
