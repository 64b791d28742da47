"""Shared plumbing of the pretrained backends: where weights come from and how clips are batched.

Loading. A backend's ``model`` option is a Hugging Face id or a local directory in the same
layout. An id is fetched with :func:`huggingface_hub.snapshot_download` at the pinned
``revision``, restricted to configs, tokenizer files and ``*.safetensors`` weights, so a
pickled ``pytorch_model.bin`` is never downloaded; models are then built from that local
snapshot with ``use_safetensors=True``. Offline mode (``HF_HUB_OFFLINE=1`` /
``TRANSFORMERS_OFFLINE=1`` in the environment, or the backend option ``local_files_only``)
only reads the local cache; a model that is not there is a :class:`BackendError` naming the
id, the revision and the two fixes. Shards record the commit the snapshot resolved to (for a
directory: the SHA-256 of the files it would have fetched, configs and weights).

Batching. :func:`chunk_spans` and :func:`overlap_add` cut a long clip into overlapping windows
and cross-fade the reconstructed windows back together; :func:`run_halving` runs a list of
items in batches and halves the batch after a CUDA out-of-memory error; :func:`pad_stack`
zero-pads clips of one batch to a common length.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch

from reconfake.paradigms.registry import BackendError

log = logging.getLogger("reconfake")

T = TypeVar("T")
R = TypeVar("R")

OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
WEIGHT_PATTERNS = ("*.json", "*.safetensors")
# half-precision copies some repositories carry beside the fp32 weights
IGNORE_PATTERNS = ("*.fp16.*", "*fp16*.safetensors")


def offline_requested(local_files_only: bool | None = None) -> bool:
    """Whether only the local cache may be used: the option if set, else the environment.

    The one offline check of every hub loader (backends, wav2vec 2.0 and Whisper front-ends):
    ``HF_HUB_OFFLINE`` or ``TRANSFORMERS_OFFLINE`` set to 1, true, yes or on (any case).
    """
    if local_files_only is not None:
        return bool(local_files_only)
    return any(os.environ.get(v, "").strip().upper() in ("1", "ON", "YES", "TRUE")
               for v in OFFLINE_VARIABLES)


@dataclass(frozen=True)
class ModelSource:
    """Where a backend's weights were found.

    ``model`` is what the config named (an id or a directory), ``path`` the local directory
    the weights are read from, ``revision`` the requested revision (``None`` for a directory)
    and ``resolved`` what identifies the weights exactly: the snapshot's commit, or
    ``sha256:<digest>`` of a directory's configs and weight files.
    """

    model: str
    path: Path
    revision: str | None
    resolved: str
    local: bool


def _is_directory_name(model: str) -> bool:
    """A path rather than a Hub id (ids are ``name`` or ``owner/name``)."""
    return (Path(model).expanduser().exists() or model.startswith(("/", ".", "~"))
            or model.count("/") > 1 or "\\" in model)


def weights_digest(path: Path, patterns: Sequence[str] = WEIGHT_PATTERNS) -> str:
    """``sha256:<hex>`` over the files of ``path`` matching ``patterns`` (names and bytes)."""
    digest = hashlib.sha256()
    files = {f for pattern in patterns for f in path.glob(pattern) if f.is_file()}
    for file in sorted(files):
        digest.update(str(file.relative_to(path)).encode())
        with file.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 22), b""):
                digest.update(block)
    return f"sha256:{digest.hexdigest()}"


def _fix_hint(model: str, revision: str | None) -> str:
    rev = f" --revision {revision}" if revision else ""
    return (f"fix: on a machine with internet run `hf download {model}{rev}` (or "
            "`huggingface-cli download ...`) so the cache holds it and unset HF_HUB_OFFLINE, "
            f"or download it to a directory (`hf download {model}{rev} --local-dir DIR`) and "
            "set the backend option `model: DIR`")


def resolve_model(backend: str, model: str, revision: str | None = None,
                  local_files_only: bool | None = None,
                  allow_patterns: Sequence[str] = WEIGHT_PATTERNS, kind: str = "backend") -> ModelSource:
    """Find the weights of ``model`` (Hub id or directory) and return where they are.

    The one resolver of pretrained weights: reconstruction backends and the detector's
    front-ends alike.

    Args:
        backend: backend (or front-end) name, for messages.
        kind: what ``backend`` names in messages (``backend``, ``front-end``).
        model: a Hugging Face id (``owner/name``) or a local directory.
        revision: commit, branch or tag of an id; ``None`` means the default branch, which is
            logged as unpinned.
        local_files_only: ``True`` reads only the local cache; ``None`` follows
            ``HF_HUB_OFFLINE`` / ``TRANSFORMERS_OFFLINE``.
        allow_patterns: which files of the repository to fetch (configs and safetensors).

    Raises:
        BackendError: a missing directory, or an id that cannot be fetched (offline and not
            cached, no network, unknown id or revision), naming the id and the fix.
    """
    if not model:
        raise BackendError(f"{kind} {backend}: option `model` is empty; give a Hugging Face "
                           "id or a local directory")
    if _is_directory_name(model):
        path = Path(model).expanduser()
        if not path.is_dir():
            raise BackendError(f"{kind} {backend}: model directory {path} does not exist; "
                               "point `model` at a directory written by save_pretrained or "
                               "`hf download ... --local-dir`, or at a Hugging Face id")
        return ModelSource(model, path, None, weights_digest(path, allow_patterns), local=True)

    from huggingface_hub import snapshot_download

    offline = offline_requested(local_files_only)
    if revision is None:
        log.warning("%s %s: %s has no pinned revision; using the default branch (the "
                    "resolved commit is recorded with the results)", kind, backend, model)
    try:
        path = Path(snapshot_download(repo_id=model, revision=revision,
                                      allow_patterns=list(allow_patterns),
                                      ignore_patterns=list(IGNORE_PATTERNS),
                                      local_files_only=offline))
    except Exception as exc:  # network, cache and Hub errors come in many types
        mode = ("offline (HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE or local_files_only), and it "
                "is not in the local cache") \
            if offline else "online, and it could not be downloaded"
        raise BackendError(
            f"{kind} {backend}: cannot load model {model!r} at revision "
            f"{revision or 'main'}: running {mode} ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''}); {_fix_hint(model, revision)}"
        ) from exc
    return ModelSource(model, path, revision, path.name, local=False)


def load_weights(loader: Callable[..., T], source: ModelSource, backend: str,
                 subfolder: str | None = None, kind: str = "backend", **kwargs: Any) -> T:
    """Call ``loader`` (a ``from_pretrained``) on the local snapshot with safetensors only.

    Raises:
        BackendError: the directory lacks the config or the safetensors weights.
    """
    from transformers.utils import logging as hf_logging

    where = source.path / subfolder if subfolder else source.path
    extra = {"subfolder": subfolder} if subfolder else {}
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # carriage-return bars are unreadable in rule logs
    try:
        return loader(str(source.path), use_safetensors=True, **extra, **kwargs)
    except (OSError, ValueError) as exc:
        if any(where.glob("*.safetensors")):
            why = f"{type(exc).__name__}: {str(exc).splitlines()[0]}"
        else:  # pickles are never loaded (nor, from the Hub, downloaded)
            pickled = " (it holds only pickled weights, *.bin)" if any(where.glob("*.bin")) else ""
            why = (f"no *.safetensors weights{pickled}; pick a revision that has them, e.g. the "
                   "Hub's safetensors conversion PR `refs/pr/N`, or convert them locally")
        raise BackendError(f"{kind} {backend}: cannot load {where} from {source.model!r} "
                           f"(revision {source.revision or source.resolved}): {why}") from exc
    finally:
        if bars:
            hf_logging.enable_progress_bar()


def pick_dtype(device: torch.device, bf16: bool, backend: str) -> torch.dtype:
    """bfloat16 when asked for on CUDA; float32 otherwise (bf16 on CPU is slower, not faster)."""
    if bf16 and device.type != "cuda":
        log.warning("backend %s: bf16 applies to CUDA only; running float32 on %s", backend, device)
    return torch.bfloat16 if bf16 and device.type == "cuda" else torch.float32


def is_out_of_memory(exc: BaseException) -> bool:
    """A CUDA (or CPU allocator) out-of-memory error."""
    return isinstance(exc, torch.OutOfMemoryError) or (
        isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower())


def run_halving(fn: Callable[[list[T]], list[R]], items: Sequence[T], batch_size: int,
                backend: str) -> tuple[list[R], int]:
    """``fn`` over ``items`` in consecutive batches of at most ``batch_size``, in order.

    After an out-of-memory error the failed batch is retried at half the size (down to one
    item, which then re-raises as :class:`BackendError`); the smaller size is kept for the rest.
    Returns the results and the batch size that worked, for the caller to keep using.
    """
    size = max(1, int(batch_size))
    out: list[R] = []
    start = 0
    while start < len(items):
        batch = list(items[start:start + size])
        try:
            results = fn(batch)
        except Exception as exc:
            if not is_out_of_memory(exc):
                raise
            if len(batch) == 1:
                raise BackendError(f"backend {backend}: out of memory on a single item; lower "
                                   "chunk_seconds or use a larger GPU") from exc
            size = len(batch) // 2
            log.warning("backend %s: out of memory with a batch of %d; retrying with %d",
                        backend, len(batch), size)
            oom = True
        else:
            oom = False
            out.extend(results)
            start += len(batch)
        if oom and torch.cuda.is_available():
            # outside the except block: the exception no longer pins the failed batch's tensors
            torch.cuda.empty_cache()
    return out, size


def chunk_spans(length: int, chunk: int | None, overlap: int) -> list[tuple[int, int]]:
    """``(start, end)`` windows of at most ``chunk`` samples covering ``length`` samples.

    Neighbours share at least ``overlap`` samples; the last window ends flush with the clip.
    ``chunk=None`` (or a clip no longer than it) gives one window.
    """
    if chunk is None or length <= chunk:
        return [(0, length)]
    if not 0 <= overlap < chunk:
        raise ValueError(f"overlap {overlap} must lie in [0, chunk={chunk})")
    hop = chunk - overlap
    starts = list(range(0, length - chunk, hop)) + [length - chunk]
    return [(s, s + chunk) for s in starts]


def overlap_add(pieces: Sequence[np.ndarray], spans: Sequence[tuple[int, int]], length: int,
                overlap: int) -> np.ndarray:
    """Cross-fade ``pieces`` (one per span of :func:`chunk_spans`) into a clip of ``length``.

    Each piece is weighted by linear ramps of ``overlap`` samples at its inner edges and the
    sum is divided by the summed weights, so unchanged pieces give back the clip exactly.
    """
    if len(pieces) == 1:
        return np.asarray(pieces[0], dtype=np.float32)
    out = np.zeros(length, dtype=np.float64)
    weight = np.zeros(length, dtype=np.float64)
    for k, (piece, (s, e)) in enumerate(zip(pieces, spans, strict=True)):
        w = np.ones(e - s)
        ramp = (np.arange(min(overlap, e - s)) + 0.5) / max(overlap, 1)
        if k > 0:
            w[:len(ramp)] = ramp
        if k < len(pieces) - 1:
            w[len(w) - len(ramp):] = np.minimum(w[len(w) - len(ramp):], ramp[::-1])
        out[s:e] += w * np.asarray(piece, dtype=np.float64)[: e - s]
        weight[s:e] += w
    return (out / weight).astype(np.float32)


def pad_stack(clips: Sequence[np.ndarray], multiple: int = 1, minimum: int = 1,
              ) -> tuple[torch.Tensor, list[int]]:
    """Zero-pad clips to one length (a multiple of ``multiple``, at least ``minimum``).

    Returns:
        ``(batch, lengths)``: a ``(len(clips), samples)`` float32 tensor and the true lengths.
    """
    lengths = [len(c) for c in clips]
    target = max(max(lengths), minimum)
    target = -(-target // multiple) * multiple
    batch = np.zeros((len(clips), target), dtype=np.float32)
    for row, clip in zip(batch, clips, strict=True):
        row[: len(clip)] = clip
    return torch.from_numpy(batch), lengths
