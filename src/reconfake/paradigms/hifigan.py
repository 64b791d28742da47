"""Vocoder paradigm: HiFi-GAN (Kong et al. 2020) resynthesis from the mel spectrogram.

Default checkpoint ``microsoft/speecht5_hifigan`` through transformers' ``SpeechT5HifiGan``
(16 kHz, 80 mel bands in, 256 samples out per frame, ~13 M parameters). Its main branch holds
only a pickled ``pytorch_model.bin``; the pinned revision is the Hub's safetensors conversion
(``refs/pr/1``).

The mel analysis is the one the checkpoint was trained on, i.e. what transformers'
``SpeechT5FeatureExtractor`` computes for SpeechT5 targets (checked against its source and its
output in the tests):

* 16 kHz audio, no pre-emphasis and no waveform normalisation;
* periodic Hann window of 64 ms = 1024 samples, FFT size 1024, hop 16 ms = 256 samples,
  centred frames with reflect padding, magnitude (power 1) spectrum;
* 80 mel bands from 80 to 7600 Hz, Slaney mel scale with Slaney (area) normalisation;
* ``log10(max(mel, 1e-10))``.

The vocoder standardises that log-mel itself with its ``mean``/``scale`` buffers when its config
sets ``normalize_before`` (true for the SpeechT5 checkpoint), so the features go in
unstandardised; the buffers come from the checkpoint and are checked by the tests. Mels of a
batch are padded with the silence value ``log10(1e-10) = -10``; the output is trimmed to the
clip's length (``frames * 256 >= samples``). The generator is not causal: its receptive
field (:func:`receptive_frames` times the hop) is the backend's ``context``, the silence every
window gets after it so that batching changes no output. BigVGAN is not offered: its
checkpoints are 22/24/44 kHz only.
"""

from __future__ import annotations

import math
from dataclasses import asdict
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from reconfake.features import MelSpec
from reconfake.paradigms.hf_loading import load_weights
from reconfake.paradigms.pretrained import COMMON_DEFAULTS, PretrainedBackend
from reconfake.paradigms.registry import BackendError, register

MODEL_ID = "microsoft/speecht5_hifigan"
# refs/pr/1: "Adding `safetensors` variant of this model" (main has only pytorch_model.bin)
MODEL_REVISION = "6f01b211b404df2e0a0a20ca79628a757bb35854"

#: SpeechT5FeatureExtractor defaults: hop 16 ms and window 64 ms at 16 kHz, fmin 80, fmax 7600
SPEECHT5_MEL = MelSpec(sample_rate=16000, n_fft=1024, win_length=1024, hop_length=256, n_mels=80,
                       fmin=80.0, fmax=7600.0, floor=1e-10)
SILENCE = math.log10(SPEECHT5_MEL.floor)


def speecht5_log_mel(clip: np.ndarray | torch.Tensor, spec: MelSpec = SPEECHT5_MEL) -> torch.Tensor:
    """The vocoder's input for one clip: log10 mel, ``(frames, n_mels)``."""
    x = torch.as_tensor(np.asarray(clip, dtype=np.float32)) if isinstance(clip, np.ndarray) else clip
    if x.shape[-1] < spec.min_samples:  # a tensor: pad_to_at_least's operation, in torch
        x = torch.nn.functional.pad(x, (0, spec.min_samples - x.shape[-1]))
    return (spec.log_mel(x) / math.log(10.0)).transpose(-1, -2)


def receptive_frames(config: Any) -> int:
    """Input frames on either side that one output sample of a HiFi-GAN generator depends on
    (rounded up, plus one): conv_pre, then per stage the transposed convolution and the widest
    residual block (each dilated conv followed by an undilated one), then conv_post."""
    frames = (7 - 1) / 2  # conv_pre (kernel 7 in transformers' SpeechT5HifiGan)
    rate = 1
    for up, kernel in zip(config.upsample_rates, config.upsample_kernel_sizes, strict=True):
        frames += math.ceil(kernel / up) / 2 / rate
        rate *= up
        widest = max(sum((k - 1) / 2 * (d + 1) for d in dilations)
                     for k, dilations in zip(config.resblock_kernel_sizes,
                                             config.resblock_dilation_sizes, strict=True))
        frames += widest / rate
    frames += (7 - 1) / 2 / rate  # conv_post
    return math.ceil(frames) + 1


@register
class HifiganBackend(PretrainedBackend):
    """Mel analysis (SpeechT5 settings) then HiFi-GAN synthesis.

    Options: the shared options of :mod:`reconfake.paradigms.pretrained`.
    """

    name = "hifigan"
    paradigm = "vocoder"
    default_model = MODEL_ID
    default_revision = MODEL_REVISION
    licence = "MIT (microsoft/speecht5_hifigan model card)"
    defaults: ClassVar[dict[str, Any]] = dict(COMMON_DEFAULTS)

    def load(self, path: Path) -> None:
        from transformers import SpeechT5HifiGan

        self.model = load_weights(SpeechT5HifiGan.from_pretrained, self.source, self.name)
        self.place(self.model)
        config = self.model.config
        self.sample_rate = int(config.sampling_rate)
        self.hop = int(np.prod(config.upsample_rates))
        spec = SPEECHT5_MEL
        if (config.model_in_dim, self.hop, self.sample_rate) != \
                (spec.n_mels, spec.hop_length, spec.sample_rate):
            raise BackendError(
                f"backend hifigan: {self.source.model} takes {config.model_in_dim} mels at hop "
                f"{self.hop} and {self.sample_rate} Hz, but this backend computes SpeechT5's "
                f"features ({spec.n_mels} mels, hop {spec.hop_length}, {spec.sample_rate} Hz); "
                "a vocoder trained on other features needs its own analysis")
        self.spec = spec
        self.context = receptive_frames(config) * self.hop

    def _vocode(self, mels: torch.Tensor) -> torch.Tensor:
        return self.model(self.to_model(mels)).float().cpu()

    def forward(self, clips: list[np.ndarray]) -> list[np.ndarray]:
        mels = [speecht5_log_mel(c, self.spec) for c in clips]
        frames = max(m.shape[0] for m in mels)
        batch = torch.full((len(mels), frames, self.spec.n_mels), SILENCE)
        for row, mel in zip(batch, mels, strict=True):
            row[: mel.shape[0]] = mel
        audio = self._vocode(batch).numpy()
        return [a[: len(c)] for a, c in zip(audio, clips, strict=True)]

    @torch.inference_mode()
    def bare_forward(self, clip: np.ndarray) -> np.ndarray:
        return self._vocode(speecht5_log_mel(clip, self.spec)[None])[0].numpy()

    def model_settings(self) -> dict[str, Any]:
        return {"mel_spec": asdict(self.spec), "log": "log10",
                "normalize_before": bool(self.model.config.normalize_before)}
