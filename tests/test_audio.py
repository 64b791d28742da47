"""The one loader, the one resampler and FLAC encoding."""

import math

import numpy as np
import pytest
import soundfile as sf
import soxr

from reconfake.audio import (
    AudioError,
    encode_flac,
    fit_length,
    load_audio,
    pad_to_at_least,
    pad_to_multiple,
    resample,
    write_audio,
)
from tests.conftest import SR, voiced


def test_resample_keeps_frequency_and_length():
    t = np.arange(22050) / 22050
    x = np.sin(2 * np.pi * 440 * t).astype(np.float32)
    y = resample(x, 22050, SR)
    assert y.dtype == np.float32
    assert len(y) == SR
    spectrum = np.abs(np.fft.rfft(y))
    assert np.argmax(spectrum) == pytest.approx(440, abs=1)


@pytest.mark.parametrize("rate", [22050, 24000, 44100, 48000, 8000])
def test_resample_is_librosa_soxr_hq(rate):
    """Bit for bit what librosa.resample (res_type soxr_hq, its default) gives: soxr HQ on
    float32, cut or padded to ceil(n * 16000 / rate)."""
    x = np.random.default_rng(rate).standard_normal(rate + 7).astype(np.float32) * 0.1
    y = resample(x, rate, SR)
    expected = soxr.resample(x, rate, SR, quality="soxr_hq")
    n = math.ceil(len(x) * SR / rate)
    assert y.dtype == np.float32 and len(y) == n
    assert np.array_equal(y[:len(expected)], expected[:n])
    assert not np.any(y[len(expected):])


def _tone_gain_db(freq, rate):
    x = np.sin(2 * np.pi * freq * np.arange(rate) / rate).astype(np.float32)
    y = resample(x, rate, SR)[SR // 10: -SR // 10].astype(np.float64)
    return 20 * np.log10(np.sqrt(np.mean(y ** 2)) / np.sqrt(0.5) + 1e-30)


@pytest.mark.parametrize("rate", [22050, 48000])
def test_resample_band_edge_and_alias_rejection(rate):
    """soxr_hq's response (scripts/measure_resampler.py: -0.1 dB at 7.45 kHz, -3 dB at 7.61 kHz,
    -51 to -53 dB at 7.9 kHz, tones above 8 kHz aliased at -126 dB or less); the former scipy
    resample_poly was -4.9 dB at 7.9 kHz and aliased 8.01 kHz at -6 dB."""
    assert abs(_tone_gain_db(1000, rate)) < 0.01
    assert abs(_tone_gain_db(7400, rate)) < 0.1
    assert _tone_gain_db(7900, rate) < -45
    assert _tone_gain_db(8200, rate) < -100


def test_resample_2d_resamples_each_row():
    x = np.random.default_rng(0).standard_normal((3, 2205)).astype(np.float32)
    y = resample(x, 22050, SR)
    assert y.shape == (3, 1600) and y.dtype == np.float32
    for row_in, row_out in zip(x, y, strict=True):
        assert np.array_equal(resample(row_in, 22050, SR), row_out)


def test_resample_identity_is_a_copy_of_values():
    x = voiced(0.2)
    assert np.array_equal(resample(x, SR, SR), x)


def test_flac_roundtrip_is_16_bit_exact(tmp_path):
    x = voiced(0.5)
    y, sr = load_audio(encode_flac(x, SR))
    assert sr == SR
    assert np.max(np.abs(y - x)) < 1 / 2**15 + 1e-7


def test_load_resamples_and_downmixes(tmp_path):
    stereo = np.stack([voiced(1.0, sr=8000), voiced(1.0, sr=8000)], axis=1)
    sf.write(tmp_path / "s.wav", stereo, 8000)
    y, sr = load_audio(tmp_path / "s.wav", sample_rate=SR)
    assert sr == SR and y.ndim == 1 and len(y) == SR


@pytest.mark.parametrize("kind,pattern", [
    ("empty", "empty audio"), ("silent", "silent"), ("nan", "NaN"),
    ("corrupt", "cannot decode"), ("missing", "not found"),
])
def test_bad_files_name_the_file(tmp_path, kind, pattern):
    path = tmp_path / f"{kind}.wav"
    if kind == "empty":
        sf.write(path, np.zeros(0, dtype=np.float32), SR)
    elif kind == "silent":
        sf.write(path, np.zeros(SR, dtype=np.float32), SR)
    elif kind == "nan":
        x = voiced(0.2)
        x[10] = np.nan
        sf.write(path, x, SR, subtype="FLOAT")
    elif kind == "corrupt":
        path.write_bytes(b"RIFF\x00\x00garbage" * 10)
    with pytest.raises(AudioError, match=pattern) as info:
        load_audio(path)
    assert str(path) in str(info.value)


def test_wrong_rate_is_an_error(tmp_path):
    write_audio(tmp_path / "x.wav", voiced(0.3, sr=8000), 8000)
    with pytest.raises(AudioError, match="8000 Hz but 16000 Hz"):
        load_audio(tmp_path / "x.wav", expected_rate=SR)


def test_write_audio_leaves_no_temporary(tmp_path):
    write_audio(tmp_path / "a.flac", voiced(0.2), SR)
    assert [p.name for p in tmp_path.iterdir()] == ["a.flac"]
    assert sf.info(tmp_path / "a.flac").format == "FLAC"


def test_fit_length_cuts_or_zero_pads_keeping_dtype():
    x = np.array([1.0, 2.0, 3.0], dtype=np.float64)
    cut = fit_length(x, 2)
    assert cut.dtype == np.float64 and cut.tolist() == [1.0, 2.0]
    assert np.shares_memory(cut, x)  # a cut is a view
    padded = fit_length(x.astype(np.float32), 5)
    assert padded.dtype == np.float32 and padded.tolist() == [1.0, 2.0, 3.0, 0.0, 0.0]
    assert fit_length(x, 3).tolist() == [1.0, 2.0, 3.0]
    assert fit_length(x, 0).shape == (0,)
    stereo = np.arange(6, dtype=np.int16).reshape(2, 3)  # along the last axis
    assert fit_length(stereo, 4).tolist() == [[0, 1, 2, 0], [3, 4, 5, 0]]
    assert fit_length(stereo, 1).tolist() == [[0], [3]]
    with pytest.raises(ValueError, match="length -1 is negative"):
        fit_length(x, -1)


def test_pad_to_at_least_only_pads():
    x = np.array([0.5, -0.5], dtype=np.float32)
    padded = pad_to_at_least(x, 4)
    assert padded.dtype == np.float32 and padded.tolist() == [0.5, -0.5, 0.0, 0.0]
    assert pad_to_at_least(x, 2) is x and pad_to_at_least(x, 1) is x  # never cut
    assert pad_to_at_least(np.zeros(0), 3).tolist() == [0.0, 0.0, 0.0]


def test_pad_to_multiple_pads_whole_frames():
    assert pad_to_multiple(np.ones(5, dtype=np.float32), 4).tolist() == [1, 1, 1, 1, 1, 0, 0, 0]
    assert pad_to_multiple(np.ones(8), 4).shape == (8,)
    assert pad_to_multiple(np.zeros(0), 4).shape == (0,)
    assert pad_to_multiple(np.ones(3, dtype=np.float64), 1).dtype == np.float64
    assert pad_to_multiple(np.ones((2, 3)), 2).shape == (2, 4)
    with pytest.raises(ValueError, match="multiple 0 must be >= 1"):
        pad_to_multiple(np.ones(3), 0)
