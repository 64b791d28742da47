"""eSpeak NG stand-in speech: duration, rate, voices, pitch, determinism and error messages."""

from __future__ import annotations

import hashlib
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from reconfake.corpora import tts
from reconfake.corpora.attacks import _pitch_track
from reconfake.features import log_mel_distance

SENTENCE = "The quick brown fox jumps over the lazy dog."


def _digest(x: np.ndarray) -> str:
    return hashlib.sha1(x.tobytes()).hexdigest()


def _median_f0(x: np.ndarray, sample_rate: int = 16000) -> float:
    f0 = _pitch_track(x.astype(np.float64), sample_rate, sample_rate // 100)
    return float(np.median(f0[f0 > 0]))


def test_short_sentence_has_plausible_duration_level_and_trimmed_edges():
    x = tts.synthesize(SENTENCE)
    assert x.dtype == np.float32 and x.ndim == 1
    assert np.all(np.isfinite(x))
    assert 1.5 < len(x) / 16000 < 4.0  # 9 words at 160 wpm: measured 2.74 s
    assert 0.3 < float(np.max(np.abs(x))) <= 1.0  # measured 0.80
    # silence trimmed to ~50 ms: speech starts and ends within 100 ms of the clip edges
    loud = np.flatnonzero(np.abs(x) > 0.01 * np.max(np.abs(x)))
    assert loud[0] < 0.1 * 16000
    assert len(x) - loud[-1] < 0.1 * 16000


def test_sample_rate_is_respected():
    x16 = tts.synthesize("Hello world.", sample_rate=16000)
    x22 = tts.synthesize("Hello world.", sample_rate=22050)
    x8 = tts.synthesize("Hello world.", sample_rate=8000)
    assert len(x22) / len(x16) == pytest.approx(22050 / 16000, rel=0.005)
    assert len(x8) / len(x16) == pytest.approx(0.5, rel=0.005)
    assert tts.native_sample_rate() == 22050


def test_same_arguments_give_byte_identical_audio_whatever_ran_before():
    first = tts.synthesize(SENTENCE, voice="en+f2", pitch=60)
    # eSpeak keeps pitch-flutter/AGC state in C statics; an unrelated call in between must not
    # leak into the next utterance
    tts.synthesize("Something else entirely, longer and louder!", voice="en+m7", pitch=90,
                   volume=180)
    second = tts.synthesize(SENTENCE, voice="en+f2", pitch=60)
    assert _digest(first) == _digest(second)


def test_concurrent_calls_from_threads_are_serialised_and_deterministic():
    voices = ["en", "en+f2", "en+m3"]
    expected = {v: _digest(tts.synthesize("Good evening.", voice=v)) for v in voices}
    with ThreadPoolExecutor(3) as pool:
        got = list(pool.map(lambda v: _digest(tts.synthesize("Good evening.", voice=v)),
                            voices * 3))
    assert got == [expected[v] for v in voices * 3]


def test_rate_changes_duration():
    slow = tts.synthesize(SENTENCE, rate_wpm=100)
    fast = tts.synthesize(SENTENCE, rate_wpm=300)
    assert len(slow) / len(fast) > 2.3  # measured 4.21 s / 1.51 s = 2.8


def test_pitch_parameter_moves_f0():
    low = tts.synthesize(SENTENCE, pitch=10)
    high = tts.synthesize(SENTENCE, pitch=90)
    assert _digest(low) != _digest(high)
    assert _median_f0(high) > 1.4 * _median_f0(low)


def test_male_and_female_variants_differ():
    male = tts.synthesize(SENTENCE, voice="en+m3")
    female = tts.synthesize(SENTENCE, voice="en+f2")
    assert _median_f0(female) > 1.5 * _median_f0(male)  # measured ~197 Hz vs ~105 Hz
    assert log_mel_distance(male, female) > 0.5


def test_every_listed_english_voice_works_and_sounds_different():
    digests = set()
    for voice in tts.ENGLISH_VOICES:
        x = tts.synthesize("Good morning.", voice=voice)
        assert 0.3 < len(x) / 16000 < 3.0, voice
        assert float(np.max(np.abs(x))) > 0.1, voice
        digests.add(_digest(x))
    assert len(digests) == len(tts.ENGLISH_VOICES)


def test_voice_and_variant_listings_match_the_shipped_data():
    voices = tts.list_voices()
    assert {"en", "en-us", "en-gb-x-rp", "en-gb-scotland", "en-029"} <= set(voices)
    assert len(voices) > 100
    variants = tts.list_variants()
    assert {"m1", "m3", "m7", "f2", "f4", "f5"} <= set(variants)
    for voice in tts.ENGLISH_VOICES:
        base, _, variant = voice.partition("+")
        assert base in voices
        assert not variant or variant in variants


@pytest.mark.parametrize("kwargs", [
    {"text": ""}, {"text": "   "}, {"voice": "xx-no-such-voice"}, {"pitch": 101},
    {"pitch_range": -1}, {"rate_wpm": 20}, {"volume": 300}, {"sample_rate": 0},
])
def test_bad_arguments_raise_value_error(kwargs):
    args = {"text": "Hello."} | kwargs
    with pytest.raises(ValueError):
        tts.synthesize(**args)


def test_missing_library_names_the_fix(monkeypatch):
    import espeakng_loader

    monkeypatch.setattr(tts, "_private_copy", None)
    monkeypatch.setattr(espeakng_loader, "get_library_path", lambda: "/nonexistent/libespeak.so")
    with pytest.raises(RuntimeError, match="espeakng-loader"):
        tts.synthesize("Hello.")


def test_missing_package_names_the_fix(monkeypatch):
    monkeypatch.setitem(sys.modules, "espeakng_loader", None)
    with pytest.raises(RuntimeError, match="pip install"):
        tts.synthesize("Hello.")
