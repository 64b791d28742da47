"""The one loader, the one resampler and FLAC encoding."""

import numpy as np
import pytest
import soundfile as sf

from reconfake.audio import AudioError, encode_flac, load_audio, resample, write_audio
from tests.conftest import SR, voiced


def test_resample_keeps_frequency_and_length():
    t = np.arange(22050) / 22050
    x = np.sin(2 * np.pi * 440 * t).astype(np.float32)
    y = resample(x, 22050, SR)
    assert y.dtype == np.float32
    assert len(y) == SR
    spectrum = np.abs(np.fft.rfft(y))
    assert np.argmax(spectrum) == pytest.approx(440, abs=1)


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
