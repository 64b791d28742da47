"""Pytest fixture factories over the random-weight twins of :mod:`reconfake.testing.twins`.

pytest is imported when a factory is called, never at import, so ``reconfake.testing`` imports
in an environment without it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from reconfake.testing.twins import BUILDERS, twin_kernels


def session_twin(base: Path, name: str) -> Path:
    """The tiny twin of backend ``name`` under ``base`` (pytest's session temporary folder),
    built on first use and reused by every later module: builds are seeded, so a rebuilt twin
    would be the same bytes."""
    folder = base / "twins" / name
    if not (folder / "model").is_dir():
        BUILDERS[name](folder / "partial")
        (folder / "partial").rename(folder / "model")  # never reuse a half-written twin
    return folder / "model"


def twin_fixtures(names: str | Sequence[str], per_backend: Mapping[str, Mapping[str, Any]] | None = None,
                  **backend_options: Any) -> tuple[Callable[..., Any], ...]:
    """The module-scoped fixtures of a backend test module, to be assigned to these names there::

        _fast_kernels, backend_name, twin, backend = twin_fixtures("dac", model_batch=4)

    ``_fast_kernels`` (autouse) runs the module under :func:`twin_kernels`; ``backend_name`` is
    ``names`` (one name), or each of them in turn (a sequence: every test using the fixtures
    runs once per backend, grouped so each twin is built once); ``twin`` is the
    ``BUILDERS[backend_name]`` twin (built once per session: see :func:`session_twin`, tests
    must not write into it); ``backend`` is that backend built on it with
    ``backend_options`` and ``per_backend[backend_name]`` (on the CPU).
    """
    import pytest

    extra = dict(per_backend or {})
    unknown = set(extra) - set([names] if isinstance(names, str) else names)
    if unknown:
        raise ValueError(f"per_backend names backends not in {names!r}: {sorted(unknown)}")

    @pytest.fixture(autouse=True, scope="module")
    def _fast_kernels():
        with twin_kernels():
            yield

    if isinstance(names, str):
        @pytest.fixture(scope="module")
        def backend_name() -> str:
            return names
    else:
        @pytest.fixture(scope="module", params=list(names))
        def backend_name(request: pytest.FixtureRequest) -> str:
            return request.param

    @pytest.fixture(scope="module")
    def twin(backend_name, tmp_path_factory):
        return session_twin(tmp_path_factory.getbasetemp(), backend_name)

    @pytest.fixture(scope="module")
    def backend(backend_name, twin):
        from reconfake.paradigms.registry import build_backend

        options = {"model": str(twin), **backend_options, **extra.get(backend_name, {})}
        return build_backend(backend_name, options)

    return _fast_kernels, backend_name, twin, backend
