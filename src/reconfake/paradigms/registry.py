"""The one registry of reconstruction backends.

A backend is a class in a module of this package, decorated with :func:`register`. Adding a
backend is one module plus one entry under ``reconstruction.backends`` in the config; modules
are discovered, so nothing else needs editing. Heavy imports (transformers, diffusers) belong
inside the backend's ``__init__`` so that listing backends stays cheap.
"""

from __future__ import annotations

import importlib
import pkgutil
import zlib
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

PARADIGMS = ("codec", "vocoder", "diffusion")

_REGISTRY: dict[str, type[Backend]] = {}
_discovered = False


def clip_seed(seed: int, clip: np.ndarray) -> int:
    """Seed of a clip's noise in the diffusion backends: the ``seed`` option mixed with a
    checksum of the clip's samples, so a clip gets the same noise in any batch or shard."""
    return (zlib.crc32(np.ascontiguousarray(clip, dtype=np.float32).tobytes()) ^ int(seed)) \
        & 0x7FFFFFFF


class BackendError(RuntimeError):
    """A backend cannot run: missing package, unreachable model, bad option."""


class Backend(ABC):
    """Reconstructs clips: audio in at ``sample_rate``, audio out at the same rate and length.

    Subclasses set ``name`` and ``paradigm`` and implement :meth:`reconstruct_batch`. A
    backend that must be fitted first (``trainable = True``) implements :meth:`fit` and reads
    its fitted state from ``options["model"]``.
    """

    name: ClassVar[str]
    paradigm: ClassVar[str]
    trainable: ClassVar[bool] = False
    sample_rate: int = 16000
    #: what the backend stands in for when it is an offline substitute of a paper backend
    stand_in_for: ClassVar[str | None] = None
    #: every option the backend accepts, with its default; an unknown option is an error
    defaults: ClassVar[dict[str, Any]] = {}

    def __init__(self, device: str = "cpu", **options: Any):
        self.device = device
        if self.defaults:
            unknown = sorted(set(options) - set(self.defaults))
            if unknown:
                raise BackendError(
                    f"backend {self.name}: unknown option(s) {', '.join(unknown)}; "
                    f"allowed: {', '.join(sorted(self.defaults))}"
                )
        self.options = {**self.defaults, **options}

    @abstractmethod
    def reconstruct_batch(self, batch: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Reconstruct clips at ``self.sample_rate``; may return lengths a little off."""

    def metadata(self) -> dict[str, Any]:
        """What produced the shard: model id, revision and settings (JSON-serialisable)."""
        return {"backend": self.name, "paradigm": self.paradigm, "model_id": None,
                "revision": None, "settings": dict(self.options),
                "stand_in_for": self.stand_in_for}

    def reconstruct(self, batch: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Reconstruct and align each output to its input's length (trim or zero-pad)."""
        outputs = self.reconstruct_batch(batch)
        if len(outputs) != len(batch):
            raise BackendError(f"backend {self.name} returned {len(outputs)} clips for {len(batch)}")
        aligned = []
        for src, out in zip(batch, outputs, strict=True):
            out = np.asarray(out, dtype=np.float32).reshape(-1)
            if not np.all(np.isfinite(out)):
                raise BackendError(f"backend {self.name} produced NaN/inf samples")
            if len(out) >= len(src):
                out = out[: len(src)]
            else:
                out = np.pad(out, (0, len(src) - len(out)))
            aligned.append(out)
        return aligned

    @classmethod
    def fit(cls, clips: Sequence[np.ndarray], out_dir: Path, **options: Any) -> None:
        """Fit the backend on bona fide clips at ``cls.sample_rate`` and save it in ``out_dir``."""
        raise BackendError(f"backend {cls.name} needs no fitting")


def register(cls: type[Backend]) -> type[Backend]:
    """Class decorator adding a backend to the registry under ``cls.name``."""
    if cls.paradigm not in PARADIGMS:
        raise ValueError(f"backend {cls.name}: paradigm {cls.paradigm!r} not in {PARADIGMS}")
    if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
        raise ValueError(f"two backends are named {cls.name!r}")
    _REGISTRY[cls.name] = cls
    return cls


def _discover() -> None:
    global _discovered
    if _discovered:
        return
    package = importlib.import_module("reconfake.paradigms")
    for info in pkgutil.iter_modules(package.__path__):
        if info.name != "registry":
            importlib.import_module(f"reconfake.paradigms.{info.name}")
    _discovered = True


def available_backends() -> dict[str, type[Backend]]:
    """All registered backends by name."""
    _discover()
    return dict(sorted(_REGISTRY.items()))


def backend_class(name: str) -> type[Backend]:
    """The backend class called ``name``; the error lists the known names."""
    backends = available_backends()
    if name not in backends:
        raise BackendError(f"unknown backend {name!r}; known backends: {', '.join(backends)}")
    return backends[name]


def build_backend(name: str, options: dict[str, Any] | None = None, device: str = "cpu") -> Backend:
    """Instantiate backend ``name`` with ``options`` on ``device``."""
    return backend_class(name)(device=device, **(options or {}))
