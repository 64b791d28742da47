"""Checkpoints and batched scoring shared by training (dev EER) and ``reconfake score``."""

from __future__ import annotations

import ctypes
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from reconfake.detector.fairseq_convert import convert_release
from reconfake.detector.registry import build_model
from reconfake.detector.state_dicts import check_state_dict

CHECKPOINT_FORMAT = "reconfake-detector-v1"


def load_checkpoint(path: str | os.PathLike[str],
                    architecture: str | None = None,
                    arch_options: dict[str, Any] | None = None) -> tuple[nn.Module, dict[str, Any]]:
    """Load a reconfake checkpoint, or a bare state dict with ``architecture`` named.

    A released SSL-AASIST model (``LA_model.pth``: fairseq front-end under ``ssl_model.model.*``,
    back-end at top level) loads as ``ssl_aasist`` with its own fine-tuned front-end, the
    architecture read off the file (see :mod:`reconfake.detector.fairseq_convert`);
    ``arch_options`` then take ``frontend_config`` and ``normalize_input`` only.

    Loading never unpickles code (``weights_only=True``). A state dict that does not fit the
    architecture fails with the missing and unexpected keys named.
    """
    path = Path(path)
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError as exc:
        raise FileNotFoundError(f"{path}: checkpoint not found") from exc
    except Exception as exc:
        raise ValueError(f"{path}: not a loadable weights file ({exc})") from exc
    release = None
    if isinstance(blob, dict) and blob.get("format") == CHECKPOINT_FORMAT:
        if architecture and architecture != blob["architecture"]:
            raise ValueError(f"{path}: checkpoint is architecture {blob['architecture']!r}, "
                             f"not {architecture!r}")
        name, options, state = blob["architecture"], blob.get("arch_options", {}), \
            blob["state_dict"]
        meta = {k: v for k, v in blob.items() if k not in ("state_dict", "optimizer")}
    else:
        if not isinstance(blob, dict):
            raise ValueError(f"{path}: not a state dict ({type(blob).__name__})")
        state = {k.removeprefix("module."): v for k, v in blob.items()}
        blob = None  # the release's front-end tensors are freed once converted
        release = convert_release(path, state, arch_options, architecture)
        if release is not None:  # released SSL-AASIST weights, converted
            model, state, meta = release
            name = meta["architecture"]
        elif not architecture:
            raise ValueError(f"{path}: a bare state dict; say which architecture it is "
                             "(--architecture)")
        else:
            name, options, meta = architecture, arch_options or {}, {"architecture": architecture}
    if release is None:
        model = build_model(name, options)
    check_state_dict(model.state_dict(), state,
                     f"{path}: state dict does not fit architecture {name!r}")
    model.load_state_dict(state)
    check = getattr(model, "check_checkpoint_metadata", None)
    if check is not None:  # e.g. the frozen front-end must be the one trained with
        check(meta, str(path))
    model.eval()
    return model, meta


def retain_freed_memory() -> bool:
    """Ask glibc's malloc to keep freed memory for reuse instead of handing it back to the
    kernel; True if it took the settings (glibc only; elsewhere nothing changes).

    Inference allocates and frees the same few-MB tensors thousands of times per clip. By
    default glibc returns them to the kernel (blocks over its mmap threshold, and heap tops
    over its trim threshold), so every new tensor is page-faulted in again and zeroed by the
    kernel: system time, and most of the time of cheap element-wise ops (SELU on a fresh
    4.7 MB tensor measured 17.7 ms, against 6.7 ms with freed memory kept). The cost: the
    process keeps its peak memory until it exits, which a scoring run does anyway.
    """
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3  # from glibc's malloc.h
    mmap_ok = mallopt(m_mmap_threshold, 32 << 20)  # 32 MiB: the largest glibc accepts
    trim_ok = mallopt(m_trim_threshold, 1 << 30)
    return bool(mmap_ok and trim_ok)


def clip_parallel(model: nn.Module) -> bool:
    """Whether :func:`bonafide_scores` runs ``model`` one clip per CPU thread: models that
    say so (``clip_parallel_inference``, raw AASIST), on the CPU."""
    device = next(model.parameters()).device
    return device.type == "cpu" and bool(getattr(model, "clip_parallel_inference", False))


@torch.inference_mode()
def _one_clip_score(model: nn.Module, wave: torch.Tensor) -> float:
    _, logits = model(wave.unsqueeze(0))
    return float(logits[0, 1])


def _single_threaded() -> None:
    torch.set_num_threads(1)


@torch.inference_mode()
def bonafide_scores(model: nn.Module, waves: torch.Tensor, batch_size: int = 16) -> np.ndarray:
    """Bona fide logits (the score; higher = bona fide) of ``(n, samples)`` audio, computed
    on the model's device.

    On the CPU, a model with ``clip_parallel_inference`` (raw AASIST) is run one clip at a time
    on each of ``torch.get_num_threads()`` threads, every op single-threaded, instead of in
    batches with each op split across the threads: batch-of-one maps stay in cache, and no op
    waits at a thread barrier, which on a shared machine (another process holding a core)
    stalled the many small graph-attention ops for milliseconds each. A clip's score then no
    longer depends on the batch it came in, and equals the batched score to float rounding
    (about 1e-7).
    """
    model.eval()
    if clip_parallel(model) and len(waves):
        threads = torch.get_num_threads()
        if threads == 1:
            return np.array([_one_clip_score(model, w) for w in waves], dtype=np.float32)
        try:
            with ThreadPoolExecutor(threads, initializer=_single_threaded) as pool:
                scores = list(pool.map(lambda w: _one_clip_score(model, w), waves))
        finally:
            torch.set_num_threads(threads)  # the workers set the process-wide count to 1
        return np.array(scores, dtype=np.float32)
    device = next(model.parameters()).device
    out = []
    for start in range(0, len(waves), batch_size):
        _, logits = model(waves[start:start + batch_size].to(device))
        out.append(logits[:, 1].float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros(0, dtype=np.float32)
