"""Griffin-Lim vocoder: a training-free stand-in for a neural vocoder.

A clip is analysed to a natural-log mel spectrogram with the shared :class:`MelSpec`, and
resynthesised from the mel alone: the mel is mapped back to a linear STFT magnitude by a
non-negative least-squares fit of the mel filterbank (pseudo-inverse, clamped, then refined
by multiplicative NNLS updates), and a phase is found by the fast Griffin-Lim algorithm
(Perraudin, Balazs & Sondergaard 2013: Griffin-Lim with momentum). The result keeps the
mel envelope and loses the fine phase structure and the detail the 80 mel bands discard,
which is what a mel vocoder does to a clip. :func:`mel_to_audio` is also the waveform
decoder of the ``mel_diffusion`` backend.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from functools import lru_cache
from typing import Any, ClassVar

import numpy as np
import torch

from reconfake.audio import pad_to_at_least
from reconfake.devices import resolve_device
from reconfake.features import MelSpec
from reconfake.paradigms.registry import Backend, BackendError, register

DEFAULT_N_ITER = 32
DEFAULT_MOMENTUM = 0.99
DEFAULT_NNLS_ITER = 64


@lru_cache(maxsize=8)
def _filterbank_inverse(spec: MelSpec) -> tuple[torch.Tensor, torch.Tensor]:
    """The mel filterbank ``(n_mels, bins)`` and its Moore-Penrose pseudo-inverse."""
    fb = spec.filterbank().to(torch.float64)
    return fb.to(torch.float32), torch.linalg.pinv(fb).to(torch.float32)


def mel_to_magnitude(log_mel: torch.Tensor, spec: MelSpec,
                     nnls_iter: int = DEFAULT_NNLS_ITER) -> torch.Tensor:
    """Linear STFT magnitude ``(..., n_fft//2+1, frames)`` whose mel best matches ``log_mel``.

    Starts from the clamped pseudo-inverse of the filterbank and refines it with ``nnls_iter``
    multiplicative updates of non-negative least squares (Lee & Seung), which keep every
    bin non-negative; bins no filter covers stay at zero.
    """
    fb, fb_pinv = _filterbank_inverse(spec)
    fb = fb.to(log_mel.device)
    fb_pinv = fb_pinv.to(log_mel.device)
    mel = torch.exp(log_mel.to(torch.float32))
    floor = spec.floor * 1e-3
    mag = torch.clamp(torch.matmul(fb_pinv, mel), min=floor)
    if nnls_iter > 0:
        numer = torch.matmul(fb.T, mel)
        for _ in range(nnls_iter):
            denom = torch.matmul(fb.T, torch.matmul(fb, mag))
            mag = mag * numer / torch.clamp(denom, min=1e-12)
    covered = (fb.sum(dim=0) > 0).to(mag.dtype)[:, None]
    return mag * covered


def griffin_lim(magnitude: torch.Tensor, spec: MelSpec, n_iter: int = DEFAULT_N_ITER,
                momentum: float = DEFAULT_MOMENTUM, seed: int = 0,
                length: int | None = None) -> torch.Tensor:
    """Waveform whose STFT magnitude approximates ``magnitude`` ``(..., bins, frames)``.

    Fast Griffin-Lim (momentum ``momentum``; 0 gives the classic algorithm) from a random
    phase drawn from ``seed``, with the STFT settings of ``spec`` (centred Hann frames).
    """
    if not 0.0 <= momentum <= 1.0:
        raise ValueError(f"griffin_lim momentum must lie in [0, 1], got {momentum}")
    window = torch.hann_window(spec.win_length, dtype=magnitude.dtype, device=magnitude.device)
    frames = magnitude.shape[-1]
    if length is None:
        length = (frames - 1) * spec.hop_length
    generator = torch.Generator().manual_seed(int(seed))
    phase = torch.rand(magnitude.shape, generator=generator, dtype=magnitude.dtype)
    angles = torch.polar(torch.ones_like(phase), 2 * np.pi * phase).to(magnitude.device)
    stft_args = {"n_fft": spec.n_fft, "hop_length": spec.hop_length,
                 "win_length": spec.win_length, "window": window, "center": True}
    # reflect padding (as in MelSpec) needs more samples than half a frame; tiny clips use zeros
    pad_mode = "reflect" if length > spec.n_fft // 2 else "constant"
    shape = magnitude.shape
    mag = magnitude.reshape(-1, shape[-2], frames)
    angles = angles.reshape(mag.shape)
    previous = torch.zeros_like(angles)
    for _ in range(n_iter):
        audio = torch.istft(mag * angles, length=length, **stft_args)
        rebuilt = torch.stft(audio, pad_mode=pad_mode, return_complex=True, **stft_args)
        angles = rebuilt - previous * (momentum / (1.0 + momentum)) if momentum else rebuilt
        angles = angles / (angles.abs() + 1e-16)
        previous = rebuilt
    audio = torch.istft(mag * angles, length=length, **stft_args)
    return audio.reshape(*shape[:-2], audio.shape[-1])


def mel_to_audio(log_mel: torch.Tensor, spec: MelSpec, n_iter: int = DEFAULT_N_ITER,
                 seed: int = 0, momentum: float = DEFAULT_MOMENTUM,
                 nnls_iter: int = DEFAULT_NNLS_ITER) -> torch.Tensor:
    """Invert a natural-log mel spectrogram (as :meth:`MelSpec.log_mel` makes) to a waveform.

    Args:
        log_mel: ``(..., n_mels, frames)`` natural-log mel magnitudes.
        spec: the analysis that produced ``log_mel``; its STFT settings are reused.
        n_iter: Griffin-Lim iterations.
        seed: seed of the initial random phase; the output is a function of the inputs.
        momentum: fast Griffin-Lim momentum (0 = classic Griffin-Lim).
        nnls_iter: multiplicative NNLS refinements of the mel-to-linear mapping.

    Returns:
        ``(..., (frames - 1) * hop_length)`` float32 waveform.
    """
    if log_mel.shape[-2] != spec.n_mels:
        raise ValueError(f"log_mel has {log_mel.shape[-2]} bands; the MelSpec has {spec.n_mels}")
    magnitude = mel_to_magnitude(log_mel, spec, nnls_iter=nnls_iter)
    return griffin_lim(magnitude, spec, n_iter=n_iter, momentum=momentum, seed=seed)


def analysable(clip: np.ndarray, spec: MelSpec) -> np.ndarray:
    """``clip`` as float32, zero-padded to the shortest length a centred STFT can reflect."""
    return pad_to_at_least(np.asarray(clip, dtype=np.float32).reshape(-1), spec.min_samples)


def set_threads(options: dict[str, Any]) -> None:
    """Apply ``options["num_threads"]`` to torch when given; otherwise leave torch's default."""
    threads = options.get("num_threads")
    if threads:
        torch.set_num_threads(int(threads))


@register
class GriffinLimBackend(Backend):
    """Mel analysis then Griffin-Lim resynthesis (no model, no training).

    Options: ``n_iter`` (Griffin-Lim iterations), ``momentum`` (fast Griffin-Lim; 0 is the
    classic algorithm), ``nnls_iter`` (mel-to-linear refinements), ``seed`` (phase seed),
    ``num_threads`` (torch threads; ``None`` leaves torch's default), ``batch_size`` (clips
    per call in the workflow).
    """

    name = "griffinlim"
    paradigm = "vocoder"
    stand_in_for = "neural vocoders (HiFi-GAN)"
    defaults: ClassVar[dict[str, Any]] = {"n_iter": DEFAULT_N_ITER, "momentum": DEFAULT_MOMENTUM,
                                          "nnls_iter": DEFAULT_NNLS_ITER, "seed": 0,
                                          "num_threads": None, "batch_size": 16}

    def __init__(self, device: str = "cpu", **options: Any):
        super().__init__(device=device, **options)
        self.device = str(resolve_device(device, f"backend {self.name}", BackendError))
        self.spec = MelSpec(sample_rate=self.sample_rate)
        self.n_iter = int(self.options["n_iter"])
        self.momentum = float(self.options["momentum"])
        self.nnls_iter = int(self.options["nnls_iter"])
        self.seed = int(self.options["seed"])
        if self.n_iter < 0 or self.nnls_iter < 0:
            raise BackendError("griffinlim: n_iter and nnls_iter must be >= 0")
        if not 0.0 <= self.momentum <= 1.0:
            raise BackendError(f"griffinlim: momentum must lie in [0, 1], got {self.momentum}")
        set_threads(self.options)

    def reconstruct_batch(self, batch: Sequence[np.ndarray]) -> list[np.ndarray]:
        outputs = []
        with torch.inference_mode():
            for clip in batch:
                x = torch.from_numpy(analysable(clip, self.spec)).to(self.device)
                log_mel = self.spec.log_mel(x)
                audio = mel_to_audio(log_mel, self.spec, n_iter=self.n_iter, seed=self.seed,
                                     momentum=self.momentum, nnls_iter=self.nnls_iter)
                outputs.append(audio.cpu().numpy().astype(np.float32))
        return outputs

    def metadata(self) -> dict[str, Any]:
        meta = super().metadata()
        meta.update(model_id="griffin-lim (fast, Perraudin et al. 2013)",
                    revision=f"torch {torch.__version__}")
        meta["settings"] = {**meta["settings"], "mel_spec": asdict(self.spec)}
        return meta
