"""A small log-mel CNN detector: the light architecture of the embedded default.

Log-mel (the shared :class:`~reconfake.features.MelSpec`) normalised per utterance, four
convolution blocks, mean+max pooling over time and frequency, a 128-d embedding and a
2-class head (column 1 = bona fide). It trains in minutes on a CPU; the paper's detector
(XLS-R + aggregation + AASIST) drops in behind the same interface.
"""

from __future__ import annotations

import inspect
from typing import Any

import torch
from torch import nn

from reconfake.detector.registry import ARCHITECTURES
from reconfake.features import MelSpec
from reconfake.options import reject_unknown


class MelCNN(nn.Module):
    """Log-mel CNN; ``forward(wave) -> (embedding, logits)``."""

    def __init__(self, channels: tuple[int, ...] = (16, 32, 64, 64), embedding_dim: int = 128,
                 n_mels: int = 64, dropout: float = 0.2, sample_rate: int = 16000):
        super().__init__()
        self.spec = MelSpec(sample_rate=sample_rate, n_fft=512, win_length=400, n_mels=n_mels,
                            fmax=sample_rate / 2)
        self.register_buffer("filterbank", self.spec.filterbank(), persistent=False)
        blocks: list[nn.Module] = []
        c_in = 1
        for c_out in channels:
            blocks += [nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(),
                       nn.MaxPool2d(2)]
            c_in = c_out
        self.encoder = nn.Sequential(*blocks)
        self.embed = nn.Sequential(nn.Linear(2 * c_in, embedding_dim), nn.ReLU(),
                                   nn.Dropout(dropout))
        self.head = nn.Linear(embedding_dim, 2)

    def features(self, wave: torch.Tensor) -> torch.Tensor:
        """Per-utterance mean/variance-normalised log-mel, ``(batch, 1, mels, frames)``."""
        mel = torch.matmul(self.filterbank, self.spec.magnitude(wave))
        logmel = torch.log(torch.clamp(mel, min=self.spec.floor))
        mean = logmel.mean(dim=(-2, -1), keepdim=True)
        std = logmel.std(dim=(-2, -1), keepdim=True) + 1e-5
        return ((logmel - mean) / std).unsqueeze(1)

    def forward(self, wave: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.encoder(self.features(wave))
        pooled = torch.cat([h.mean(dim=(-2, -1)), h.amax(dim=(-2, -1))], dim=1)
        embedding = self.embed(pooled)
        return embedding, self.head(embedding)


@ARCHITECTURES.register("mel_cnn")
def build_mel_cnn(**options: Any) -> MelCNN:
    """The ``mel_cnn`` architecture with ``options`` (the arguments of :class:`MelCNN`)."""
    reject_unknown(options, inspect.signature(MelCNN).parameters, "architecture mel_cnn")
    return MelCNN(**options)
