"""The architecture registry: detector models picked by name from the config or the CLI.

Every architecture is an ``nn.Module`` whose ``forward(waveform)`` takes ``(batch, samples)``
float audio at 16 kHz and returns ``(embedding, logits)``; logits column 1 is bona fide, so
the score (higher = bona fide) is ``logits[:, 1]``. Each model module registers a builder,
called with the architecture's options, under its name with ``@ARCHITECTURES.register(name)``;
this file holds only the name -> module table, so listing the names imports no torch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from reconfake.registry import LazyRegistry

if TYPE_CHECKING:
    from torch import nn

Builder = Callable[..., "nn.Module"]

ARCHITECTURES: LazyRegistry[Builder] = LazyRegistry("architecture", {
    "mel_cnn": "reconfake.detector.mel_cnn",
    "aasist": "reconfake.detector.aasist",
    "aasist-l": "reconfake.detector.aasist",
    "ssl_aasist": "reconfake.detector.ssl_aasist",
})


def architectures() -> list[str]:
    """Names of all architectures (imports nothing)."""
    return sorted(ARCHITECTURES.names())


def build_model(name: str, options: dict[str, Any] | None = None) -> nn.Module:
    """Build architecture ``name``; unknown names list the known ones."""
    return ARCHITECTURES.get(name)(**(options or {}))
