"""The one device resolver: a config's ``device`` (``auto``, ``cpu``, ``cuda``, ``cuda:N``)
to a :class:`torch.device`, for training, scoring and the reconstruction backends alike."""

from __future__ import annotations

import torch


def resolve_device(name: str | None, owner: str = "device",
                   error: type[Exception] = ValueError) -> torch.device:
    """``auto`` (or empty) is CUDA when torch sees a GPU, else the CPU.

    Args:
        name: ``auto``, ``cpu``, ``cuda`` or ``cuda:N`` (case and surrounding spaces ignored).
        owner: who asks (``training``, ``backend encodec``...), named first in errors.
        error: the exception type raised (a backend raises its ``BackendError``).

    Raises:
        ValueError: (or ``error``) an unknown name, or CUDA asked for while torch sees no
            CUDA GPU.
    """
    key = (name or "auto").strip().lower()
    if key == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if key != "cpu" and not (key == "cuda" or key.startswith("cuda:") and key[5:].isdigit()):
        raise error(f"{owner}: device {name!r}; use auto, cpu or cuda[:N]")
    if key.startswith("cuda") and not torch.cuda.is_available():
        raise error(f"{owner}: device {name!r} asked for, but torch sees no CUDA GPU (a "
                    "CPU build of torch, or no GPU); use device auto or cpu, or install a CUDA "
                    "build of torch")
    return torch.device(key)
