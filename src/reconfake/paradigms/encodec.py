"""Codec paradigm: EnCodec (Defossez et al. 2022) through transformers' ``EncodecModel``.

Default checkpoint ``facebook/encodec_24khz`` (24 kHz mono, hop 320 samples = 75 frames/s,
residual VQ of up to 32 codebooks of 1024 entries; 1.5, 3, 6, 12 or 24 kbps). A clip is
resampled to the model's rate by the caller, encoded at ``bandwidth`` kbps (6 by default:
8 codebooks) and decoded. The pip ``encodec`` package is not used: it hard-requires torchaudio.

Clips of a batch are zero-padded to a common length with a padding mask; the 24 kHz model is
causal, so padding only touches the last frame of the shorter clips. Clips shorter than one
frame are padded to one frame and trimmed back.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from reconfake.paradigms.hf_loading import load_weights, pad_stack
from reconfake.paradigms.pretrained import COMMON_DEFAULTS, PretrainedBackend
from reconfake.paradigms.registry import BackendError, register

MODEL_ID = "facebook/encodec_24khz"
# last commit changing weights or config (2023-06-16; later commits touch only the README)
MODEL_REVISION = "e5e900dde49c9faa32f4e3f6b07ea1894263b78a"


@register
class EncodecBackend(PretrainedBackend):
    """EnCodec encode/decode at ``bandwidth`` kbps (one of the model's target bandwidths).

    Options: ``bandwidth`` (kbps, default 6.0) and the shared options of
    :mod:`reconfake.paradigms.pretrained` (``model``, ``revision``, ``local_files_only``,
    ``bf16``, ``batch_size``, ``chunk_seconds``, ``overlap_seconds``, ``num_threads``).
    """

    name = "encodec"
    paradigm = "codec"
    default_model = MODEL_ID
    default_revision = MODEL_REVISION
    licence = "MIT (facebookresearch/encodec; the 24 kHz card names none, the 48 kHz one MIT)"
    defaults: ClassVar[dict[str, Any]] = {**COMMON_DEFAULTS, "bandwidth": 6.0}

    def load(self, path: Path) -> None:
        from transformers import EncodecModel

        self.model = load_weights(EncodecModel.from_pretrained, self.source, self.name)
        self.place(self.model)
        config = self.model.config
        self.sample_rate = int(config.sampling_rate)
        if config.audio_channels != 1:
            raise BackendError(f"backend encodec: {self.source.model} has {config.audio_channels} "
                               "channels; use a mono model such as facebook/encodec_24khz")
        self.hop = int(np.prod(config.upsampling_ratios))
        self.bandwidth = float(self.options["bandwidth"])
        bandwidths = [float(b) for b in config.target_bandwidths]
        if self.bandwidth not in bandwidths:
            raise BackendError(f"backend encodec: bandwidth {self.bandwidth} kbps not offered by "
                               f"{self.source.model}; use one of {bandwidths}")
        self.num_quantizers = self.model.quantizer.get_num_quantizers_for_bandwidth(self.bandwidth)
        # chunked models (48 kHz) need whole chunks; the 24 kHz one takes any length
        self.minimum = config.chunk_length or self.hop

    def forward(self, clips: list[np.ndarray]) -> list[np.ndarray]:
        x, lengths = pad_stack(clips, multiple=self.hop, minimum=self.minimum)
        mask = torch.zeros(x.shape, dtype=torch.bool)
        for row, n in zip(mask, lengths, strict=True):
            row[:n] = True
        audio = self.model(self.to_model(x[:, None]), padding_mask=mask[:, None].to(self.torch_device),
                           bandwidth=self.bandwidth).audio_values
        audio = audio[:, 0].float().cpu().numpy()
        return [a[:n] for a, n in zip(audio, lengths, strict=True)]

    @torch.inference_mode()
    def bare_forward(self, clip: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(np.asarray(clip, dtype=np.float32))[None, None]
        return self.model(self.to_model(x), bandwidth=self.bandwidth).audio_values[0, 0].float().cpu().numpy()

    def model_settings(self) -> dict[str, Any]:
        config = self.model.config
        return {"bandwidth_kbps": self.bandwidth, "num_quantizers": self.num_quantizers,
                "codebook_size": int(config.codebook_size), "hop_length": self.hop,
                "frame_rate": math.ceil(self.sample_rate / self.hop)}
