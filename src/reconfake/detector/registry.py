"""The architecture registry: detector models picked by name from the config or the CLI.

Every architecture is an ``nn.Module`` whose ``forward(waveform)`` takes ``(batch, samples)``
float audio at 16 kHz and returns ``(embedding, logits)``; logits column 1 is bona fide, so
the score (higher = bona fide) is ``logits[:, 1]``. Builders receive the architecture's
options and may reject unknown ones.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

Builder = Callable[..., nn.Module]
_BUILDERS: dict[str, Builder] = {}


def register_architecture(name: str) -> Callable[[Builder], Builder]:
    """Decorator adding a builder under ``name``."""

    def wrap(builder: Builder) -> Builder:
        if name in _BUILDERS:
            raise ValueError(f"two architectures are named {name!r}")
        _BUILDERS[name] = builder
        return builder

    return wrap


def _discover() -> None:
    # Importing the modules runs their @register_architecture decorators.
    from reconfake.detector import architectures  # noqa: F401


def architectures() -> list[str]:
    """Names of all registered architectures."""
    _discover()
    return sorted(_BUILDERS)


def build_model(name: str, options: dict[str, Any] | None = None) -> nn.Module:
    """Build architecture ``name``; unknown names list the known ones."""
    _discover()
    if name not in _BUILDERS:
        raise ValueError(f"unknown architecture {name!r}; known: {', '.join(sorted(_BUILDERS))}")
    return _BUILDERS[name](**(options or {}))
