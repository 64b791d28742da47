"""The one registry of reconstruction backends.

A backend is a class in a module of this package, decorated with :func:`register`, plus one
line in :data:`BACKENDS` (its module, paradigm, whether the workflow fits it, and its option
names). The table is what the Snakefile reads while it plans a run: :func:`backend_info` and
:func:`check_options` import no backend module (backend modules import torch, which would cost
seconds on every ``snakemake`` call). :func:`backend_class` imports the one module it needs
through the generic :class:`~reconfake.registry.LazyRegistry`; ``tests/test_backends.py``
checks that the table matches the classes.
"""

from __future__ import annotations

import zlib
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from reconfake.audio import fit_length
from reconfake.options import reject_unknown
from reconfake.registry import LazyRegistry

PARADIGMS = ("codec", "vocoder", "diffusion")


@dataclass(frozen=True)
class BackendInfo:
    """What the workflow needs to know of a backend without importing its module."""

    module: str
    paradigm: str
    trainable: bool
    options: frozenset[str]


_PRETRAINED = ("model", "revision", "local_files_only", "bf16", "batch_size", "model_batch",
               "chunk_seconds", "overlap_seconds", "num_threads")

#: Every backend by name (kept in step with the classes by tests/test_backends.py).
BACKENDS: dict[str, BackendInfo] = {
    "audioldm": BackendInfo("audioldm", "diffusion", False, frozenset(
        _PRETRAINED + ("condition", "normalize", "seed", "steps", "strength"))),
    "dac": BackendInfo("dac", "codec", False, frozenset(_PRETRAINED + ("n_quantizers",))),
    "encodec": BackendInfo("encodec", "codec", False, frozenset(_PRETRAINED + ("bandwidth",))),
    "griffinlim": BackendInfo("griffinlim", "vocoder", False, frozenset(
        ("batch_size", "momentum", "n_iter", "nnls_iter", "num_threads", "seed"))),
    "hifigan": BackendInfo("hifigan", "vocoder", False, frozenset(_PRETRAINED)),
    "mel_diffusion": BackendInfo("mel_diffusion", "diffusion", True, frozenset(
        ("batch_size", "gl_iter", "max_patches", "model", "num_threads", "overlap", "seed", "steps",
         "strength"))),
    "opus": BackendInfo("opus", "codec", False, frozenset(("batch_size", "bitrate"))),
    "semanticodec": BackendInfo("semanticodec", "diffusion", False, frozenset(
        _PRETRAINED + ("cfg_scale", "ddim_sample_step", "seed", "semantic_vocab_size", "token_rate"))),
    "world": BackendInfo("world", "vocoder", False, frozenset(
        ("batch_size", "f0_ceil", "f0_floor", "f0_method", "frame_period_ms"))),
}

#: Backend options that change how fast a shard is built, not what it holds (the clips are
#: reconstructed one by one or batched with per-clip seeds): the workflow keeps them out of
#: its rerun triggers.
EXECUTION_ONLY_OPTIONS = frozenset({"batch_size", "model_batch", "num_threads", "local_files_only"})


def clip_seed(seed: int, clip: np.ndarray) -> int:
    """Seed of a clip's noise in the diffusion backends: the ``seed`` option mixed with a
    checksum of the clip's samples, so a clip gets the same noise in any batch or shard."""
    return (zlib.crc32(np.ascontiguousarray(clip, dtype=np.float32).tobytes()) ^ int(seed)) \
        & 0x7FFFFFFF


class BackendError(RuntimeError):
    """A backend cannot run: missing package, unreachable model, bad option."""


#: The backend classes by name, each registered by its module (as named in :data:`BACKENDS`)
#: with :func:`register`.
BACKEND_CLASSES: LazyRegistry[type[Backend]] = LazyRegistry(
    "backend", {name: f"reconfake.paradigms.{info.module}" for name, info in BACKENDS.items()},
    error=BackendError)


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
            reject_unknown(options, self.defaults, f"backend {self.name}", BackendError)
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
            aligned.append(fit_length(out, len(src)))
        return aligned

    @classmethod
    def fit(cls, clips: Sequence[np.ndarray], out_dir: Path, **options: Any) -> None:
        """Fit the backend on bona fide clips at ``cls.sample_rate`` and save it in ``out_dir``."""
        raise BackendError(f"backend {cls.name} needs no fitting")


def register(cls: type[Backend]) -> type[Backend]:
    """Class decorator adding a backend to the registry under ``cls.name``."""
    if cls.paradigm not in PARADIGMS:
        raise ValueError(f"backend {cls.name}: paradigm {cls.paradigm!r} not in {PARADIGMS}")
    return BACKEND_CLASSES.register(cls.name)(cls)


def backend_info(name: str) -> BackendInfo:
    """The table entry of backend ``name`` (no import); the error lists the known names."""
    BACKEND_CLASSES.module(name)  # an unknown name is an error listing the known ones
    return BACKENDS[name]


def backend_module_file(name: str) -> Path:
    """The source file of backend ``name`` (for the workflow's code digests)."""
    return Path(__file__).with_name(f"{backend_info(name).module}.py")


def check_options(name: str, options: Mapping[str, Any]) -> None:
    """Raise :class:`BackendError` naming any option backend ``name`` does not accept."""
    reject_unknown(options, backend_info(name).options, f"backend {name}", BackendError)


def available_backends() -> dict[str, type[Backend]]:
    """All backends by name, as classes (imports every backend module)."""
    return {name: backend_class(name) for name in sorted(BACKENDS)}


def backend_class(name: str) -> type[Backend]:
    """The backend class called ``name``, importing its module only; the error lists the
    known names."""
    return BACKEND_CLASSES.get(name)


def build_backend(name: str, options: dict[str, Any] | None = None, device: str = "cpu") -> Backend:
    """Instantiate backend ``name`` with ``options`` on ``device``."""
    return backend_class(name)(device=device, **(options or {}))
