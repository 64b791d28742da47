"""Codec paradigm: the Descript Audio Codec (Kumar et al. 2023) through transformers' ``DacModel``.

Default checkpoint ``descript/dac_16khz`` (16 kHz mono, strides 2-4-5-8 = hop 320 samples,
50 frames/s, 12 codebooks of 1024 entries = 6 kbps). The ``descript-audio-codec`` package is
not used (its audiotools dependency pins an old protobuf). ``n_quantizers`` keeps the first
codebooks only (``None``: all of them); each codebook adds 0.5 kbps at 16 kHz.

Clips are zero-padded to a multiple of the hop (and, in a batch, to a common length); the model
returns a few samples fewer or more than it was given, so outputs are trimmed or padded to
the input length. DAC is not causal: in a batch, the zeros after a shorter clip reach back
about one receptive field (a few hundred samples) into its tail.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from reconfake.audio import fit_length
from reconfake.paradigms.hf_loading import load_weights, pad_stack
from reconfake.paradigms.pretrained import COMMON_DEFAULTS, PretrainedBackend
from reconfake.paradigms.registry import BackendError, register

MODEL_ID = "descript/dac_16khz"
# "Upload model" commit with model.safetensors, config.json and preprocessor_config.json
MODEL_REVISION = "acb84794f91a14b051b9f535461c104892749e1d"


def receptive_samples(config: Any) -> int:
    """Samples on either side that one output sample of a DAC autoencoder depends on (an upper
    bound): per encoder block three residual units (kernel 7, dilations 1, 3, 9) then a
    stride-s convolution of kernel 2s; the decoder mirrors it; kernel-7/3 convolutions at the
    ends. The backend's ``context``."""
    total, rate = 3, 1  # input conv, kernel 7
    for stride in config.downsampling_ratios:
        total += 39 * rate + stride * rate
        rate *= stride
    total += rate + 3 * rate  # encoder output conv (kernel 3), decoder input conv (kernel 7)
    for stride in config.upsampling_ratios:
        total += rate
        rate //= stride
        total += 39 * rate
    return total + 3  # decoder output conv, kernel 7


@register
class DacBackend(PretrainedBackend):
    """DAC encode/decode with the first ``n_quantizers`` codebooks.

    Options: ``n_quantizers`` (``None`` = all) and the shared options of
    :mod:`reconfake.paradigms.pretrained`.
    """

    name = "dac"
    paradigm = "codec"
    default_model = MODEL_ID
    default_revision = MODEL_REVISION
    licence = "MIT (descript-audio-codec code and weights)"
    defaults: ClassVar[dict[str, Any]] = {**COMMON_DEFAULTS, "n_quantizers": None}

    def load(self, path: Path) -> None:
        from transformers import DacModel

        self.model = load_weights(DacModel.from_pretrained, self.source, self.name)
        self.place(self.model)
        config = self.model.config
        self.sample_rate = int(config.sampling_rate)
        self.hop = int(np.prod(config.downsampling_ratios))
        self.context = receptive_samples(config)
        n_q = self.options["n_quantizers"]
        self.n_quantizers = int(config.n_codebooks) if n_q is None else int(n_q)
        if not 1 <= self.n_quantizers <= config.n_codebooks:
            raise BackendError(f"backend dac: n_quantizers {n_q} outside 1..{config.n_codebooks} "
                               f"for {self.source.model}")

    def _codec(self, x: torch.Tensor) -> torch.Tensor:
        encoded = self.model.encode(self.to_model(x[:, None]), n_quantizers=self.n_quantizers)
        return self.model.decode(encoded.quantized_representation).audio_values.float().cpu()

    def forward(self, clips: list[np.ndarray]) -> list[np.ndarray]:
        x, lengths = pad_stack(clips, multiple=self.hop, minimum=self.hop)
        audio = self._codec(x).numpy()
        return [fit_length(a, n) for a, n in zip(audio, lengths, strict=True)]

    @torch.inference_mode()
    def bare_forward(self, clip: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(np.asarray(clip, dtype=np.float32))[None]
        return self._codec(x)[0].numpy()

    def model_settings(self) -> dict[str, Any]:
        config = self.model.config
        bits = int(np.log2(config.codebook_size))
        return {"n_quantizers": self.n_quantizers, "codebook_size": int(config.codebook_size),
                "hop_length": self.hop,
                "bitrate_kbps": self.n_quantizers * bits * self.sample_rate / self.hop / 1000}
