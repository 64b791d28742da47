"""Multi-layer aggregation: one feature sequence from the stack of a front-end's layer outputs.

Input ``(batch, layers, frames, dim)``, output ``(batch, frames, dim)``. Three modes:

* ``last``: the last layer only (the SSL-AASIST baseline; no parameters).
* ``softmax``: a learned weight per layer, softmax-normalised, shared by all clips (the
  SUPERB weighted sum); the weights start equal.
* ``sls``: SLS (Zhang et al., 2024): each layer's time mean goes through one shared
  ``Linear(dim, 1)`` and a sigmoid, giving a per-clip gate per layer; the output is the
  gated sum of the layers (the gates are not normalised, as in SLS).

``layer_norm=True`` normalises each layer over its feature dimension first (no parameters),
which evens out the growing scale of the residual stream in pre-norm transformers.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

MODES = ("last", "softmax", "sls")


class LayerAggregation(nn.Module):
    """Combine ``(B, L, T, D)`` layer outputs into ``(B, T, D)``."""

    def __init__(self, mode: str, num_layers: int, dim: int, layer_norm: bool = False):
        super().__init__()
        if mode not in MODES:
            raise ValueError(f"unknown aggregation {mode!r}; choose one of {', '.join(MODES)}")
        self.mode = mode
        self.num_layers = num_layers
        self.layer_norm = layer_norm
        if mode == "softmax":
            self.layer_logits = nn.Parameter(torch.zeros(num_layers))
        elif mode == "sls":
            self.gate = nn.Linear(dim, 1)

    def layers_used(self) -> list[int]:
        """0-based indices of the layers this mode reads (``last`` needs one)."""
        return [self.num_layers - 1] if self.mode == "last" else list(range(self.num_layers))

    def _normed(self, layers: Tensor) -> Tensor:
        return F.layer_norm(layers, layers.shape[-1:]) if self.layer_norm else layers

    def weights(self, layers: Tensor) -> Tensor:
        """Per-clip layer weights ``(B, L_used)`` that ``forward`` applies to ``layers``."""
        return self._weights(self._normed(layers))

    def _weights(self, normed: Tensor) -> Tensor:
        batch = normed.shape[0]
        if self.mode == "last":
            return normed.new_ones(batch, 1)
        if self.mode == "softmax":
            return torch.softmax(self.layer_logits, dim=0).expand(batch, -1)
        return torch.sigmoid(self.gate(normed.mean(dim=2))).squeeze(-1)

    def forward(self, layers: Tensor) -> Tensor:
        if layers.shape[1] != len(self.layers_used()):
            raise ValueError(f"aggregation {self.mode!r} expects {len(self.layers_used())} "
                             f"layers, got {layers.shape[1]}")
        normed = self._normed(layers)
        if self.mode == "last":
            return normed[:, 0]
        return torch.einsum("bl,bltd->btd", self._weights(normed).to(normed.dtype), normed)
