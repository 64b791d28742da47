"""The one audio loader, the one resampler, and FLAC bytes in and out.

Everything that reads or writes audio in reconfake goes through here, so that validation
(empty, silent, NaN, undecodable, unexpected rate) and resampling behave the same everywhere.
Audio is float32 mono in [-1, 1] at an explicit sample rate.
"""

from __future__ import annotations

import io
import math
import os
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from reconfake.fileio import atomic_path

SILENCE_PEAK = 1e-5  # a clip whose peak is below this carries no signal


class AudioError(ValueError):
    """A clip that cannot be used; the message names the file and the fix."""


def validate(x: np.ndarray, name: str) -> np.ndarray:
    """Check a decoded clip; raise :class:`AudioError` naming ``name`` when it is unusable."""
    if x.size == 0:
        raise AudioError(f"{name}: empty audio (0 samples); remove it from the manifest or re-extract it")
    if not np.all(np.isfinite(x)):
        bad = int(np.size(x) - np.count_nonzero(np.isfinite(x)))
        raise AudioError(f"{name}: {bad} NaN/inf samples; the file is corrupt, re-extract it")
    if float(np.max(np.abs(x))) < SILENCE_PEAK:
        raise AudioError(
            f"{name}: silent (peak below {SILENCE_PEAK:g}); remove it or set "
            "audio.bad_audio: skip in the config to skip such clips"
        )
    return x


def fit_length(x: np.ndarray, length: int) -> np.ndarray:
    """``x`` cut or zero-padded at the end of its last axis to ``length`` samples.

    The dtype is kept; a cut returns a view. Aligns an output to its input's length.
    """
    x = np.asarray(x)
    if length < 0:
        raise ValueError(f"fit_length: length {length} is negative")
    if x.shape[-1] >= length:
        return x[..., :length]
    return np.pad(x, [(0, 0)] * (x.ndim - 1) + [(0, length - x.shape[-1])])


def pad_to_at_least(x: np.ndarray, length: int) -> np.ndarray:
    """``x`` zero-padded at the end of its last axis to at least ``length`` samples
    (``x`` itself when it is long enough); the dtype is kept. E.g. the shortest clip a
    centred, reflect-padded STFT accepts (:attr:`reconfake.features.MelSpec.min_samples`)."""
    x = np.asarray(x)
    return fit_length(x, length) if x.shape[-1] < length else x


def pad_to_multiple(x: np.ndarray, multiple: int) -> np.ndarray:
    """``x`` zero-padded at the end of its last axis to a multiple of ``multiple`` samples
    (whole codec or analysis frames); the dtype is kept."""
    if multiple < 1:
        raise ValueError(f"pad_to_multiple: multiple {multiple} must be >= 1")
    x = np.asarray(x)
    return fit_length(x, x.shape[-1] + (-x.shape[-1]) % multiple)


RESAMPLER = f"soxr {soxr.__version__} soxr_hq (librosa's default)"  # recorded with scores/shards


def resample(x: np.ndarray, sr_from: int, sr_to: int) -> np.ndarray:
    """Resample along the last axis from ``sr_from`` to ``sr_to``; float32 out.

    This is ``librosa.resample(x, orig_sr=sr_from, target_sr=sr_to)`` with librosa's default
    ``res_type="soxr_hq"``: soxr at HQ quality on float32 samples, the output cut or zero-padded
    to ``ceil(n * sr_to / sr_from)`` samples. The field's detectors (AASIST, SSL-AASIST,
    Whisper front-ends) were trained and are evaluated on audio loaded this way, and the choice
    matters where vocoder artefacts live: scipy's ``resample_poly`` (used before) keeps
    7.6-8 kHz at -2.4 to -6 dB and aliases 8-8.5 kHz into it at about -6 dB, where soxr_hq is
    down 25 dB at 7.8 kHz and 110 dB at 8 kHz (``scripts/measure_resampler.py``), which moved
    official AASIST scores by up to 0.4.
    """
    x = np.asarray(x, dtype=np.float32)
    if sr_from == sr_to:
        return x.copy()
    n_out = math.ceil(x.shape[-1] * sr_to / sr_from)
    if x.shape[-1] == 0:
        return np.zeros((*x.shape[:-1], 0), dtype=np.float32)
    # soxr takes (frames,) or (frames, channels): channels last, so other leading axes are
    # flattened into channels and the time axis moved first
    frames = x.reshape(-1, x.shape[-1]).T if x.ndim > 1 else x
    y = soxr.resample(np.ascontiguousarray(frames), int(sr_from), int(sr_to), quality="soxr_hq")
    y = y.T.reshape(*x.shape[:-1], -1) if x.ndim > 1 else y
    return np.ascontiguousarray(fit_length(y, n_out), dtype=np.float32)


def _to_mono(data: np.ndarray) -> np.ndarray:
    return data.mean(axis=1) if data.ndim == 2 else data


def load_audio(
    source: str | os.PathLike[str] | bytes,
    sample_rate: int | None = None,
    expected_rate: int | None = None,
    name: str | None = None,
    check: bool = True,
) -> tuple[np.ndarray, int]:
    """Decode a file path or encoded bytes to float32 mono.

    Args:
        source: a path, or the encoded bytes of a file (WAV, FLAC, OGG...; raw G.722 by
            path, ``*.g722``).
        sample_rate: resample to this rate; ``None`` keeps the file's rate.
        expected_rate: if set, a file at another rate is an error (manifests record rates).
        name: what to call the clip in error messages (defaults to the path).
        check: validate for empty, silent and non-finite audio.

    Returns:
        ``(audio, rate)`` with ``audio`` float32 of shape ``(num_samples,)``.
    """
    label = name or (str(source) if not isinstance(source, bytes) else "<bytes>")
    try:
        if not isinstance(source, bytes) and str(source).lower().endswith(".g722"):
            from reconfake.av_decode import decode_g722  # raw G.722 (Asterisk prompts): no header

            data, rate = decode_g722(source)
        else:
            handle = io.BytesIO(source) if isinstance(source, bytes) else source
            data, rate = sf.read(handle, dtype="float32", always_2d=False)
    except Exception as exc:  # soundfile raises several types for corrupt input
        if not isinstance(source, bytes) and not Path(source).exists():
            raise AudioError(f"{label}: file not found; check the manifest's path column") from exc
        raise AudioError(f"{label}: cannot decode audio ({exc}); re-extract or remove it") from exc
    if expected_rate is not None and rate != expected_rate:
        raise AudioError(
            f"{label}: sample rate {rate} Hz but {expected_rate} Hz was expected; "
            "re-run the corpus preparation so the manifest matches the files"
        )
    data = _to_mono(np.asarray(data, dtype=np.float32))
    if check:
        validate(data, label)
    if sample_rate is not None and rate != sample_rate:
        data = resample(data, rate, sample_rate)
        rate = sample_rate
    return data, int(rate)


def encode_flac(x: np.ndarray, sample_rate: int) -> bytes:
    """Encode float audio as 16-bit FLAC bytes (clipped to [-1, 1])."""
    buf = io.BytesIO()
    sf.write(buf, np.clip(np.asarray(x, dtype=np.float32), -1.0, 1.0), sample_rate,
             format="FLAC", subtype="PCM_16")
    return buf.getvalue()


def write_audio(path: str | os.PathLike[str], x: np.ndarray, sample_rate: int,
                subtype: str = "PCM_16") -> None:
    """Write a WAV/FLAC file (format from the suffix) atomically."""
    path = Path(path)
    fmt = "FLAC" if path.suffix.lower() == ".flac" else "WAV"
    with atomic_path(path) as tmp:
        data = np.asarray(x, dtype=np.float32)
        if subtype.startswith("PCM"):
            data = np.clip(data, -1.0, 1.0)
        sf.write(str(tmp), data, sample_rate, format=fmt, subtype=subtype)


def probe_audio(path: str | os.PathLike[str]) -> tuple[int, int]:
    """``(rate, frames)`` from a file's header, without decoding the audio (a cheap check that
    a file is audio at all); raises :class:`AudioError` naming the file. Raw G.722 has no
    header: it only has to exist and not be empty."""
    path = Path(path)
    if not path.is_file():
        raise AudioError(f"{path}: file not found; check the path")
    if path.suffix.lower() == ".g722":
        if path.stat().st_size == 0:
            raise AudioError(f"{path}: empty G.722 file; re-extract or remove it")
        return 16000, path.stat().st_size * 2  # 64 kbit/s: one byte per two 16 kHz samples
    try:
        info = sf.info(str(path))
    except Exception as exc:  # soundfile raises several types for non-audio input
        raise AudioError(f"{path}: not a readable audio file ({exc}); re-extract or remove it") \
            from exc
    return int(info.samplerate), int(info.frames)
