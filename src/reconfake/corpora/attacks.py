"""Spoof "attack" generators for the offline demo corpus.

Each attack stands in for one family of synthetic-speech artefacts, so that a detector can be
trained on some attacks and evaluated on unseen others. Every attack is a pure function
``(audio, sample_rate, rng) -> audio``: float32 mono in, float32 mono of the same length out,
finite, peak-normalised to the input's peak, all randomness drawn from ``rng`` (a fixed seed
gives identical output). Everything is implemented here from numpy/scipy alone.

Attacks (see :data:`ATTACK_DESCRIPTIONS`):

* ``lpc_vocoder`` -- LPC analysis/resynthesis from a pulse-train or noise excitation.
* ``harmonic_noise`` -- harmonic-plus-noise resynthesis from f0 and a spectral envelope.
* ``random_phase`` -- STFT magnitude kept, phase replaced by random phase.
* ``mulaw_8k`` -- 8 kHz, 8-bit mu-law round trip (telephone codec).
* ``spectral_smear`` -- log-magnitude spectrogram smoothed over 5 frames, original phase.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.linalg import solve_toeplitz
from scipy.ndimage import maximum_filter1d, median_filter, uniform_filter1d
from scipy.signal import istft, lfilter, stft

from reconfake.audio import fit_length, pad_to_at_least, resample, validate

Attack = Callable[[np.ndarray, int, np.random.Generator], np.ndarray]

_F0_MIN = 60.0
_F0_MAX = 400.0
_EPS = 1e-10


# --------------------------------------------------------------------------- shared helpers


def _prepare(audio: np.ndarray, name: str) -> np.ndarray:
    x = np.asarray(audio)
    if x.ndim != 1:
        raise ValueError(f"attack {name}: expected mono audio of shape (n,), got {x.shape}")
    validate(x, f"attack {name} input")
    return x.astype(np.float64)


def _finish(y: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Fit ``y`` to the reference length and scale it to the reference's peak; float32 out."""
    n = len(reference)
    y = np.asarray(y, dtype=np.float64)
    y = fit_length(y, n)
    y = np.nan_to_num(y, nan=0.0, posinf=0.0, neginf=0.0)
    peak_out = float(np.max(np.abs(y)))
    peak_in = float(np.max(np.abs(reference)))
    if peak_out > 0.0:
        y = y * (peak_in / peak_out)
    return y.astype(np.float32)


def _frames(x: np.ndarray, frame: int, hop: int) -> np.ndarray:
    """Frames centred on ``t * hop`` (zero-padded at the edges), shape ``(n_frames, frame)``."""
    n_frames = len(x) // hop + 1
    padded = np.pad(x, (frame // 2, frame // 2 + hop))
    idx = np.arange(n_frames)[:, None] * hop + np.arange(frame)[None, :]
    return padded[idx]


def _lpc(frames: np.ndarray, order: int) -> tuple[np.ndarray, np.ndarray]:
    """Autocorrelation-method LPC per frame: ``(a, gain)`` with ``a[:, 0] == 1``."""
    n_fft = 1 << int(np.ceil(np.log2(2 * frames.shape[1])))
    spec = np.fft.rfft(frames, n_fft, axis=1)
    r = np.fft.irfft(np.abs(spec) ** 2, n_fft, axis=1)[:, : order + 1]
    r[:, 0] = r[:, 0] * (1.0 + 1e-4) + _EPS  # white-noise correction keeps the system stable
    a = np.zeros((len(frames), order + 1))
    gain = np.zeros(len(frames))
    a[:, 0] = 1.0
    for i, ri in enumerate(r):
        coeffs = solve_toeplitz(ri[:order], -ri[1 : order + 1])
        a[i, 1:] = coeffs
        gain[i] = np.sqrt(max(ri[0] + np.dot(coeffs, ri[1 : order + 1]), _EPS))
    return a, gain


def _pitch_track(x: np.ndarray, sample_rate: int, hop: int) -> np.ndarray:
    """Autocorrelation f0 per hop-spaced frame (Hz); 0 where unvoiced or quiet."""
    frame = int(round(0.04 * sample_rate))
    frames = _frames(x, frame, hop) * np.hanning(frame)[None, :]
    n_fft = 1 << int(np.ceil(np.log2(2 * frame)))
    r = np.fft.irfft(np.abs(np.fft.rfft(frames, n_fft, axis=1)) ** 2, n_fft, axis=1)[:, :frame]
    window_r = np.correlate(np.hanning(frame), np.hanning(frame), mode="full")[frame - 1 :]
    r = r / np.maximum(window_r[None, :], _EPS)  # unbias: long lags see less overlap
    energy = r[:, 0]
    lag_min = int(sample_rate / _F0_MAX)
    lag_max = min(int(sample_rate / _F0_MIN), frame - 1)
    seg = r[:, lag_min : lag_max + 1] / np.maximum(energy[:, None], _EPS)
    rows = np.arange(len(seg))
    best = np.argmax(seg, axis=1)
    strength = seg[rows, best]
    # octave-error guard: prefer a lag 1/2 or 1/3 as long when it correlates almost as well
    first_best, first_strength = best, strength
    for divisor in (2, 3):
        cand = np.round((first_best + lag_min) / divisor).astype(int) - lag_min
        ok = cand >= 0
        cand_strength = np.where(ok, seg[rows, np.clip(cand, 0, None)], -np.inf)
        better = ok & (cand_strength >= 0.9 * first_strength)
        best = np.where(better, cand, best)
        strength = np.where(better, cand_strength, strength)
    lag = (best + lag_min).astype(np.float64)
    # parabolic interpolation of the peak for sub-sample lags
    inner = (best > 0) & (best < seg.shape[1] - 1)
    i = np.flatnonzero(inner)
    y0, y1, y2 = seg[i, best[i] - 1], seg[i, best[i]], seg[i, best[i] + 1]
    denom = y0 - 2 * y1 + y2
    lag[i] += np.where(np.abs(denom) > _EPS, 0.5 * (y0 - y2) / np.where(denom == 0, 1, denom), 0)
    loud = energy > energy.max() * 10 ** (-40 / 10)
    voiced = (strength > 0.45) & loud
    f0 = np.where(voiced, sample_rate / lag, 0.0)
    smoothed = median_filter(f0, size=5, mode="nearest")
    return np.where(voiced & (smoothed > 0), smoothed, 0.0)


def _match_frame_energy(y: np.ndarray, x: np.ndarray, hop: int) -> np.ndarray:
    """Scale ``y`` by a smooth gain curve so its short-time RMS follows ``x``'s."""
    frame = 2 * hop

    def rms(s: np.ndarray) -> np.ndarray:
        return np.sqrt(np.mean((_frames(s, frame, hop) * np.hanning(frame)) ** 2, axis=1))

    gain = rms(x) / np.maximum(rms(y), 1e-8)
    gain = np.minimum(gain, 20.0)
    t = np.arange(len(gain)) * hop
    return y * np.interp(np.arange(len(y)), t, gain)


# --------------------------------------------------------------------------- attacks


def lpc_vocoder(audio: np.ndarray, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """Order-16 LPC over 25 ms frames, resynthesised from pulse-train/noise excitation."""
    x = _prepare(audio, "lpc_vocoder")
    hop = max(1, int(round(0.01 * sample_rate)))
    frame = int(round(0.025 * sample_rate))
    order = 16
    emphasised = lfilter([1.0, -0.97], [1.0], x)
    a, gain = _lpc(_frames(emphasised, frame, hop) * np.hamming(frame)[None, :], order)
    gain = gain / np.sqrt(np.sum(np.hamming(frame) ** 2))  # per-sample residual RMS
    f0 = _pitch_track(x, sample_rate, hop)
    n_frames = len(f0)
    noise = rng.standard_normal(n_frames * hop)
    out = np.zeros(n_frames * hop)
    state = np.zeros(order)
    phase = 0.0
    for t in range(n_frames):
        block = slice(t * hop, (t + 1) * hop)
        if f0[t] > 0:
            period = sample_rate / f0[t]
            phases = phase + np.arange(1, hop + 1) / period
            excitation = np.diff(np.floor(np.concatenate(([phase], phases)))) * np.sqrt(period)
            phase = phases[-1] % 1.0
        else:
            excitation = noise[block]
        out[block], state = lfilter([gain[t]], a[t], excitation, zi=state)
    out = lfilter([1.0], [1.0, -0.97], out)
    return _finish(out, x)


def harmonic_noise(audio: np.ndarray, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """Harmonics of f0 up to 4 kHz sampled from the spectrum, shaped noise above and unvoiced."""
    x = _prepare(audio, "harmonic_noise")
    hop = max(1, int(round(0.01 * sample_rate)))
    frame = int(round(0.04 * sample_rate))
    n_fft = 1 << int(np.ceil(np.log2(frame)))
    window = np.hanning(frame)
    mag = np.abs(np.fft.rfft(_frames(x, frame, hop) * window[None, :], n_fft, axis=1))
    f0 = _pitch_track(x, sample_rate, hop)
    n_frames = len(f0)
    n = len(x)
    bin_hz = sample_rate / n_fft
    max_voiced_hz = min(4000.0, 0.45 * sample_rate)

    # Harmonic part: amplitude of harmonic k = spectral peak near k * f0, interpolated per sample;
    # the phase integrates an f0 contour bridged across unvoiced gaps so it stays continuous.
    t_frames = np.arange(n_frames) * hop
    t_samples = np.arange(n)
    voiced = f0 > 0
    harmonic = np.zeros(n)
    if voiced.any():
        f0_cont = np.interp(t_samples, t_frames[voiced], f0[voiced])
        phase = 2 * np.pi * np.cumsum(f0_cont) / sample_rate
        rows = np.arange(n_frames)
        # per frame, the largest magnitude within +-f0/2 of each bin (frames grouped by width)
        half = np.maximum(1, np.round(0.5 * f0 / bin_hz)).astype(int)
        local_max = np.zeros_like(mag)
        for h in np.unique(half[voiced]):
            sel = voiced & (half == h)
            local_max[sel] = maximum_filter1d(mag[sel], size=2 * h + 1, axis=1, mode="nearest")
        # linear interpolation from frame to sample rate, shared by all harmonics
        left = np.minimum(t_samples // hop, n_frames - 1)
        right = np.minimum(left + 1, n_frames - 1)
        frac = (t_samples - left * hop) / hop
        for k in range(1, int(max_voiced_hz / f0[voiced].min()) + 1):
            fk = k * f0
            active = voiced & (fk < max_voiced_hz)
            centre = np.clip(np.round(fk / bin_hz).astype(int), 0, mag.shape[1] - 1)
            amp = np.where(active, 2.0 * local_max[rows, centre] / window.sum(), 0.0)
            harmonic += (amp[left] + (amp[right] - amp[left]) * frac) * np.cos(k * phase)

    # Noise part: white noise shaped by the cepstrally smoothed envelope, above the harmonic
    # band in voiced frames and across the whole band in unvoiced frames.
    log_mag = np.log(mag + _EPS)
    cep = np.fft.irfft(log_mag, n_fft, axis=1)
    lifter = max(8, int(round(0.0015 * sample_rate)))  # ~1.5 ms quefrency cut-off
    cep[:, lifter:-lifter] = 0.0
    envelope = np.exp(np.fft.rfft(cep, n_fft, axis=1).real)
    freqs = np.arange(mag.shape[1]) * bin_hz
    band = np.where(voiced[:, None], (freqs[None, :] >= max_voiced_hz).astype(np.float64), 1.0)
    noise = rng.standard_normal(n + n_fft)
    _, _, z = stft(noise, fs=sample_rate, window="hann", nperseg=frame, noverlap=frame - hop,
                   nfft=n_fft, boundary="zeros", padded=True)
    z = z / (np.abs(z) + _EPS)  # unit-magnitude noise spectrum with random phase
    m = min(z.shape[1], n_frames)
    # scipy's stft divides by sum(window); match the unnormalised magnitudes in ``mag``
    z[:, :m] *= (envelope * band)[:m].T / window.sum()
    z[:, m:] = 0.0
    _, noise_part = istft(z, fs=sample_rate, window="hann", nperseg=frame, noverlap=frame - hop,
                          nfft=n_fft, boundary=True)
    noise_part = fit_length(noise_part, n)
    y = _match_frame_energy(harmonic + noise_part, x, hop)
    return _finish(y, x)


def random_phase(audio: np.ndarray, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """STFT magnitude (32 ms frames) with uniform random phase; one overlap-add, no Griffin-Lim."""
    x = _prepare(audio, "random_phase")
    frame = 1 << int(round(np.log2(0.032 * sample_rate)))
    hop = frame // 4
    _, _, z = stft(pad_to_at_least(x, frame), fs=sample_rate, window="hann", nperseg=frame,
                   noverlap=frame - hop)
    phase = rng.uniform(-np.pi, np.pi, size=z.shape)
    _, y = istft(np.abs(z) * np.exp(1j * phase), fs=sample_rate, window="hann", nperseg=frame,
                 noverlap=frame - hop)
    return _finish(y, x)


def mulaw_8k(audio: np.ndarray, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """Resample to 8 kHz, 8-bit mu-law (mu = 255) quantise with dither, resample back."""
    x = _prepare(audio, "mulaw_8k")
    narrow = min(8000, sample_rate)
    low = resample(x, sample_rate, narrow).astype(np.float64)
    scale = float(np.max(np.abs(low))) / 0.9  # codec input level: peak at -1 dBFS
    low = low / max(scale, _EPS)
    mu = 255.0
    companded = np.sign(low) * np.log1p(mu * np.abs(low)) / np.log1p(mu)
    dither = rng.uniform(-0.5, 0.5, size=companded.shape) / 128.0  # +-half an 8-bit step
    codes = np.clip(np.round((companded + dither) * 127.5 - 0.5), -128, 127)
    decoded = (codes + 0.5) / 127.5
    expanded = np.sign(decoded) * np.expm1(np.abs(decoded) * np.log1p(mu)) / mu
    y = resample(expanded * scale, narrow, sample_rate)
    return _finish(y, x)


def spectral_smear(audio: np.ndarray, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """Log-magnitude (25 ms frames, 10 ms hop) averaged over 5 frames; original phase kept."""
    x = _prepare(audio, "spectral_smear")
    frame = int(round(0.025 * sample_rate))
    hop = max(1, int(round(0.01 * sample_rate)))
    n_fft = 1 << int(np.ceil(np.log2(frame)))
    opts = dict(fs=sample_rate, window="hann", nperseg=frame, noverlap=frame - hop, nfft=n_fft)
    _, _, z = stft(pad_to_at_least(x, frame), **opts)
    smeared = uniform_filter1d(np.log(np.abs(z) + 1e-7), size=5, axis=1, mode="nearest")
    _, y = istft(np.exp(smeared) * np.exp(1j * np.angle(z)), **opts)
    return _finish(y, x)


#: name -> attack function
ATTACKS: dict[str, Attack] = {
    "lpc_vocoder": lpc_vocoder,
    "harmonic_noise": harmonic_noise,
    "random_phase": random_phase,
    "mulaw_8k": mulaw_8k,
    "spectral_smear": spectral_smear,
}

#: name -> one-line description of the artefact it imitates
ATTACK_DESCRIPTIONS: dict[str, str] = {
    "lpc_vocoder": "LPC-16 vocoder, 25 ms frames, pulse-train/noise excitation (robotic TTS)",
    "harmonic_noise": "harmonic-plus-noise resynthesis from f0 and spectral envelope (HNM vocoder)",
    "random_phase": "STFT magnitude with random phase, no Griffin-Lim (phase-less vocoder buzz)",
    "mulaw_8k": "8 kHz 8-bit mu-law round trip (telephone codec)",
    "spectral_smear": "log-spectrogram averaged over 5 frames (over-smoothed acoustic model)",
}


def apply_attack(name: str, audio: np.ndarray, sample_rate: int,
                 rng: np.random.Generator) -> np.ndarray:
    """Run the attack called ``name``; a clear error lists the known names."""
    try:
        attack = ATTACKS[name]
    except KeyError:
        raise KeyError(f"unknown attack {name!r}; known attacks: {sorted(ATTACKS)}") from None
    return attack(audio, sample_rate, rng)
