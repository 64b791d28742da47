"""Checkpoints and batched scoring shared by training (dev EER) and ``reconfake score``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from reconfake.detector.fairseq_convert import convert_release
from reconfake.detector.registry import build_model

CHECKPOINT_FORMAT = "reconfake-detector-v1"


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA when available; asking for CUDA without it is an error."""
    if name not in ("auto", "cpu", "cuda") and not name.startswith("cuda:"):
        raise ValueError(f"device {name!r}: use auto, cpu or cuda[:N]")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} asked for, but this torch sees no CUDA device "
                         "(a CPU build of torch, or no GPU); use device: auto or cpu")
    return torch.device(name)


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
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong_shape = [f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}" for k, v in expected.items()
                   if k in state and tuple(state[k].shape) != tuple(v.shape)]
    if missing or unexpected or wrong_shape:
        raise ValueError(
            f"{path}: state dict does not fit architecture {name!r}; "
            f"missing keys: {missing[:10]}; unexpected keys: {unexpected[:10]}; "
            f"shape mismatches (file vs model): {wrong_shape[:10]}"
        )
    model.load_state_dict(state)
    check = getattr(model, "check_checkpoint_metadata", None)
    if check is not None:  # e.g. the frozen front-end must be the one trained with
        check(meta, str(path))
    model.eval()
    return model, meta


@torch.inference_mode()
def bonafide_scores(model: nn.Module, waves: torch.Tensor, batch_size: int = 16) -> np.ndarray:
    """Bona fide logits (the score; higher = bona fide) of ``(n, samples)`` audio, computed
    on the model's device."""
    model.eval()
    device = next(model.parameters()).device
    out = []
    for start in range(0, len(waves), batch_size):
        _, logits = model(waves[start:start + batch_size].to(device))
        out.append(logits[:, 1].float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros(0, dtype=np.float32)
