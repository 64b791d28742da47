"""The training objective: weighted cross-entropy, plus the terms later issues add (RACL).

``DetectorLoss`` returns every term separately so logs and ablations can see each one.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class DetectorLoss(nn.Module):
    """Weighted CE over (spoof, bona fide); ``ce_weights`` follows SSL-AASIST's [0.1, 0.9]."""

    def __init__(self, ce_weights: tuple[float, float] = (0.1, 0.9)):
        super().__init__()
        self.register_buffer("ce_weights", torch.tensor(ce_weights, dtype=torch.float32))

    def forward(self, embedding: torch.Tensor, logits: torch.Tensor, labels: torch.Tensor,
                groups: torch.Tensor) -> dict[str, torch.Tensor]:
        """Loss terms; ``total`` is what is minimised. ``groups`` ties clips to their source."""
        ce = F.cross_entropy(logits, labels, weight=self.ce_weights)
        return {"total": ce, "ce": ce}
