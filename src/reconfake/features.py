"""Log-mel analysis shared by the detector, the vocoder and diffusion backends and the
reconstruction distance. One definition, so every stage measures sound the same way."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from reconfake.audio import fit_length, pad_to_at_least


def _hz_to_mel(f: np.ndarray) -> np.ndarray:
    # Slaney's mel scale: linear below 1 kHz, logarithmic above.
    f = np.asarray(f, dtype=np.float64)
    mel = f / (200.0 / 3)
    log_region = f >= 1000.0
    mel[log_region] = 15.0 + np.log(f[log_region] / 1000.0) / (np.log(6.4) / 27.0)
    return mel


def _mel_to_hz(m: np.ndarray) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    f = m * (200.0 / 3)
    log_region = m >= 15.0
    f[log_region] = 1000.0 * np.exp((np.log(6.4) / 27.0) * (m[log_region] - 15.0))
    return f


@lru_cache(maxsize=16)
def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    """Slaney-normalised triangular mel filters, shape ``(n_mels, n_fft // 2 + 1)``."""
    freqs = np.linspace(0, sample_rate / 2, n_fft // 2 + 1)
    edges = _mel_to_hz(np.linspace(_hz_to_mel(np.array([fmin]))[0],
                                   _hz_to_mel(np.array([fmax]))[0], n_mels + 2))
    lower = (freqs[None, :] - edges[:-2, None]) / (edges[1:-1, None] - edges[:-2, None])
    upper = (edges[2:, None] - freqs[None, :]) / (edges[2:, None] - edges[1:-1, None])
    fb = np.maximum(0.0, np.minimum(lower, upper))
    fb *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    return fb.astype(np.float32)


@dataclass(frozen=True)
class MelSpec:
    """Settings of a log-mel analysis (defaults: 16 kHz speech, 10 ms hop, 80 bands)."""

    sample_rate: int = 16000
    n_fft: int = 1024
    win_length: int = 1024
    hop_length: int = 160
    n_mels: int = 80
    fmin: float = 0.0
    fmax: float = 8000.0
    floor: float = 1e-5

    @property
    def min_samples(self) -> int:
        """The shortest clip the centred, reflect-padded STFT accepts (more than half a
        window); shorter clips are zero-padded to it with :func:`reconfake.audio.pad_to_at_least`."""
        return self.n_fft // 2 + 1

    def filterbank(self) -> torch.Tensor:
        """The mel filter matrix as a tensor."""
        return torch.from_numpy(mel_filterbank(self.sample_rate, self.n_fft, self.n_mels,
                                               self.fmin, self.fmax))

    def magnitude(self, audio: torch.Tensor) -> torch.Tensor:
        """STFT magnitude, ``(..., n_fft//2+1, frames)``; centred frames, reflect padding."""
        window = torch.hann_window(self.win_length, device=audio.device, dtype=audio.dtype)
        spec = torch.stft(audio, self.n_fft, self.hop_length, self.win_length, window,
                          center=True, pad_mode="reflect", return_complex=True)
        return spec.abs()

    def log_mel(self, audio: torch.Tensor | np.ndarray) -> torch.Tensor:
        """Natural-log mel spectrogram, ``(..., n_mels, frames)``."""
        x = torch.as_tensor(np.asarray(audio, dtype=np.float32)) if isinstance(audio, np.ndarray) \
            else audio
        fb = self.filterbank().to(x.device, x.dtype)
        mel = torch.matmul(fb, self.magnitude(x))
        return torch.log(torch.clamp(mel, min=self.floor))


def log_mel_distance(reference: np.ndarray, other: np.ndarray, spec: MelSpec | None = None) -> float:
    """Mean absolute log-mel difference between two clips at ``spec.sample_rate`` (lower = closer).

    The clips are aligned by trimming to the shorter one.
    """
    spec = spec or MelSpec()
    n = min(len(reference), len(other))
    a = spec.log_mel(np.asarray(pad_to_at_least(fit_length(reference, n), spec.min_samples),
                                dtype=np.float32))
    b = spec.log_mel(np.asarray(pad_to_at_least(fit_length(other, n), spec.min_samples),
                                dtype=np.float32))
    return float(torch.mean(torch.abs(a - b)))
