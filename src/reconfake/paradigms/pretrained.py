"""The common frame of the pretrained reconstruction backends (EnCodec, DAC, HiFi-GAN, AudioLDM,
SemantiCodec): options, device, weights, chunking, batching and metadata.

A subclass names its default model and revision, loads its model in :meth:`load` (setting
``sample_rate`` to the model's native rate, so the caller resamples to and from it) and
implements :meth:`forward` on a list of clips no longer than one chunk. :meth:`bare_forward`
is the model call alone on one clip, which ``scripts/bench_backends.py`` times as the plain
one-clip-at-a-time baseline. Everything else is here, once:

* clips longer than ``chunk_seconds`` are cut into windows overlapping by ``overlap_seconds``
  and cross-faded back together (never cropped);
* the windows of the clips handed over (``batch_size`` clips per call in the workflow) are
  sorted by length and run ``model_batch`` at a time, zero-padded to a common length, with the
  batch halved after a CUDA out-of-memory error. ``model_batch`` defaults to ``batch_size`` on
  CUDA and to 1 on CPU, where padded batches were measured slower than single windows;
* a backend whose model is not causal sets ``context`` to its receptive field (samples at the
  model's rate): every window then gets that much silence after it, alone or batched, and is
  trimmed back, so padding to a batch's length never reaches into a window's output and a
  window reconstructs the same on CPU (one at a time) and CUDA (batched);
* ``device`` is ``auto`` (CUDA when present), ``cpu`` or ``cuda[:N]``; ``bf16`` runs the model
  in bfloat16 on CUDA. CPU-only CI does not run the CUDA path: `tests/test_gpu.py` does, on a GPU.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from reconfake.audio import fit_length
from reconfake.devices import resolve_device
from reconfake.paradigms.griffinlim import set_threads
from reconfake.paradigms.hf_loading import (
    WEIGHT_PATTERNS,
    ModelSource,
    chunk_spans,
    overlap_add,
    pick_dtype,
    resolve_model,
    run_halving,
)
from reconfake.paradigms.registry import Backend, BackendError

#: options every pretrained backend accepts (each backend adds its own and may change these)
COMMON_DEFAULTS: dict[str, Any] = {
    "model": None,              # Hugging Face id or local directory; None = the backend's default
    "revision": None,           # commit/branch/tag of the id; None = the backend's pinned default
    "local_files_only": None,   # True = cache only; None = follow HF_HUB_OFFLINE
    "bf16": False,              # bfloat16 on CUDA
    "batch_size": 8,            # clips per call in the workflow
    "model_batch": None,        # windows per model call; None = batch_size on CUDA, 1 on CPU
    "chunk_seconds": 30.0,      # longer clips are cut into overlapping windows (None = never)
    "overlap_seconds": 0.25,    # cross-fade between windows
    "num_threads": None,        # torch CPU threads; None leaves torch's default
}


class PretrainedBackend(Backend):
    """A backend around pretrained weights; see the module docstring for the shared options."""

    default_model: ClassVar[str]
    default_revision: ClassVar[str | None] = None
    context: int = 0  # silence after every window, in samples; see the module docstring
    licence: ClassVar[str] = "see the model card"

    def __init__(self, device: str = "auto", **options: Any):
        super().__init__(device=device, **options)
        set_threads(self.options)
        self.torch_device = resolve_device(device, f"backend {self.name}", BackendError)
        self.device = str(self.torch_device)
        self.dtype = pick_dtype(self.torch_device, bool(self.options["bf16"]), self.name)
        self.batch_size = int(self.options["batch_size"])
        model_batch = self.options["model_batch"]
        # On CPU, padded batches ran slower than one window at a time (EnCodec 4.9 vs 11,
        # HiFi-GAN 3.4 vs 5.6 audio s/s on 2 cores): the convolutions are memory-bound there.
        self.model_batch = int(model_batch) if model_batch is not None else \
            (self.batch_size if self.torch_device.type == "cuda" else 1)
        if self.batch_size < 1 or self.model_batch < 1:
            raise BackendError(f"backend {self.name}: batch_size and model_batch must be >= 1")
        model = self.options["model"] or self.default_model
        # the pinned revision belongs to the default id; another id or a folder has none
        revision = self.options["revision"] or \
            (self.default_revision if model == self.default_model else None)
        self.source: ModelSource = resolve_model(self.name, str(model), revision,
                                                 self.options["local_files_only"],
                                                 self.allow_patterns())
        self.load(self.source.path)
        self.chunk, self.overlap = self._chunking()

    # -- what subclasses provide ----------------------------------------------------------------

    def allow_patterns(self) -> Sequence[str]:
        """Files of the repository to fetch (configs and safetensors by default)."""
        return WEIGHT_PATTERNS

    @abstractmethod
    def load(self, path: Path) -> None:
        """Build the model(s) from the local directory ``path``; set ``self.sample_rate``."""

    @abstractmethod
    def forward(self, clips: list[np.ndarray]) -> list[np.ndarray]:
        """Reconstruct clips (at most one chunk each) at ``sample_rate``, batched."""

    @torch.inference_mode()
    def bare_forward(self, clip: np.ndarray) -> np.ndarray:
        """The model call alone on one whole clip (no chunking, batching or padding helpers)."""
        return self.forward([clip])[0]

    def model_settings(self) -> dict[str, Any]:
        """Backend-specific facts for the shard metadata (codebooks, mel settings...)."""
        return {}

    # -- shared behaviour -----------------------------------------------------------------------

    def _chunking(self) -> tuple[int | None, int]:
        seconds = self.options["chunk_seconds"]
        overlap = int(round(float(self.options["overlap_seconds"]) * self.sample_rate))
        if seconds is None:
            return None, overlap
        chunk = int(round(float(seconds) * self.sample_rate))
        if chunk < 1 or not 0 <= overlap < chunk:
            raise BackendError(f"backend {self.name}: need chunk_seconds > overlap_seconds >= 0, "
                               f"got {seconds} and {self.options['overlap_seconds']}")
        return chunk, overlap

    def _forward_checked(self, clips: list[np.ndarray]) -> list[np.ndarray]:
        outputs = self.forward(clips)
        if len(outputs) != len(clips):
            raise BackendError(f"backend {self.name}: forward returned {len(outputs)} clips "
                               f"for {len(clips)}")
        return [fit_length(np.asarray(o, dtype=np.float32).reshape(-1), len(c))
                for o, c in zip(outputs, clips, strict=True)]

    def reconstruct_batch(self, batch: Sequence[np.ndarray]) -> list[np.ndarray]:
        pieces: list[np.ndarray] = []
        layout: list[list[tuple[int, int]]] = []
        for clip in batch:
            clip = np.asarray(clip, dtype=np.float32).reshape(-1)
            spans = chunk_spans(len(clip), self.chunk, self.overlap)
            layout.append(spans)
            pieces.extend(np.pad(clip[s:e], (0, self.context)) for s, e in spans)
        order = sorted(range(len(pieces)), key=lambda k: len(pieces[k]))
        with torch.inference_mode():
            done, self.model_batch = run_halving(self._forward_checked, [pieces[k] for k in order],
                                                 self.model_batch, self.name)
        rebuilt: list[np.ndarray] = [np.empty(0, dtype=np.float32)] * len(pieces)
        for k, out in zip(order, done, strict=True):
            rebuilt[k] = out[: len(out) - self.context]
        outputs, k = [], 0
        for clip, spans in zip(batch, layout, strict=True):
            outputs.append(overlap_add(rebuilt[k:k + len(spans)], spans, len(clip), self.overlap))
            k += len(spans)
        return outputs

    def place(self, model: torch.nn.Module) -> torch.nn.Module:
        """Move ``model`` to the device (and to bf16 when asked for), in eval mode."""
        model.to(self.torch_device)
        if self.dtype != torch.float32:
            model.to(self.dtype)
        return model.eval()

    def to_model(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` on the model's device in the model's dtype."""
        return x.to(device=self.torch_device, dtype=self.dtype)

    def metadata(self) -> dict[str, Any]:
        meta = super().metadata()
        meta.update(model_id=self.source.model, revision=self.source.resolved)
        meta["settings"] = {
            **meta["settings"], "requested_revision": self.source.revision,
            "sample_rate": self.sample_rate, "device": self.device,
            "dtype": str(self.dtype).replace("torch.", ""), "licence": self.licence,
            "context_samples": self.context,
            **self.model_settings(),
        }
        return meta
