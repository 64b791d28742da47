"""Spoof attack generators: length, finiteness, level, a measured log-mel change, determinism."""

from __future__ import annotations

import numpy as np
import pytest

from reconfake.audio import AudioError, resample
from reconfake.corpora.attacks import ATTACK_DESCRIPTIONS, ATTACKS, apply_attack
from reconfake.corpora.tts import synthesize
from reconfake.features import log_mel_distance

SR = 16000

# Smallest log-mel distance to the input that each attack must reach. Measured on three voices
# (en+m3, en+f2, en-us; the sentence below): lpc_vocoder 0.65-0.75, harmonic_noise 0.42-0.79,
# random_phase 0.46-0.47, mulaw_8k 0.99-1.13, spectral_smear 0.32-0.43. A benign round trip
# (16 -> 44.1 -> 16 kHz resampling) measures 0.013.
MIN_DISTANCE = {
    "lpc_vocoder": 0.45,
    "harmonic_noise": 0.28,
    "random_phase": 0.33,
    "mulaw_8k": 0.7,
    "spectral_smear": 0.22,
}
BENIGN_MAX = 0.05


@pytest.fixture(scope="module")
def clips() -> dict[str, np.ndarray]:
    text = "The quick brown fox jumps over the lazy dog near the river."
    return {voice: synthesize(text, voice=voice, sample_rate=SR) for voice in ("en+m3", "en+f2")}


def test_registry_and_descriptions_agree():
    assert set(ATTACKS) == {"lpc_vocoder", "harmonic_noise", "random_phase", "mulaw_8k",
                            "spectral_smear"}
    assert set(ATTACK_DESCRIPTIONS) == set(ATTACKS) == set(MIN_DISTANCE)
    assert all(d and "\n" not in d for d in ATTACK_DESCRIPTIONS.values())
    with pytest.raises(KeyError, match="known attacks"):
        apply_attack("no_such_attack", np.ones(10, np.float32), SR, np.random.default_rng(0))


def test_benign_processing_stays_below_the_attack_thresholds(clips):
    for x in clips.values():
        round_trip = resample(resample(x, SR, 44100), 44100, SR)
        assert log_mel_distance(x, round_trip) < BENIGN_MAX < min(MIN_DISTANCE.values())


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_attack_keeps_length_level_and_changes_the_sound(name, clips):
    for voice, x in clips.items():
        before = x.copy()
        y = ATTACKS[name](x, SR, np.random.default_rng(7))
        assert np.array_equal(x, before), "the input must not be modified"
        assert y.dtype == np.float32 and y.shape == x.shape
        assert np.all(np.isfinite(y))
        assert float(np.max(np.abs(y))) == pytest.approx(float(np.max(np.abs(x))), rel=1e-4)
        assert float(np.sqrt(np.mean(y**2))) > 0.02, f"{name} on {voice} is near silent"
        distance = log_mel_distance(x, y)
        assert distance > MIN_DISTANCE[name], f"{name} on {voice}: distance {distance:.3f}"


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_attack_is_deterministic_for_a_seed(name, clips):
    x = clips["en+f2"]
    a = ATTACKS[name](x, SR, np.random.default_rng(123))
    b = ATTACKS[name](x, SR, np.random.default_rng(123))
    assert np.array_equal(a, b)
    if name != "spectral_smear":  # the only attack that draws no random numbers
        c = ATTACKS[name](x, SR, np.random.default_rng(124))
        assert not np.array_equal(a, c)


@pytest.mark.parametrize("name", sorted(ATTACKS))
@pytest.mark.parametrize("sample_rate,length", [(8000, 8000), (22050, 22050), (16000, 300)])
def test_attack_handles_other_rates_and_short_clips(name, sample_rate, length):
    t = np.arange(length) / sample_rate
    x = (0.4 * np.sin(2 * np.pi * 140 * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t)))
    x = (x + 0.01 * np.random.default_rng(0).standard_normal(length)).astype(np.float32)
    y = ATTACKS[name](x, sample_rate, np.random.default_rng(0))
    assert y.shape == x.shape and y.dtype == np.float32 and np.all(np.isfinite(y))
    assert float(np.max(np.abs(y))) == pytest.approx(float(np.max(np.abs(x))), rel=1e-4)


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_attack_rejects_silent_input(name):
    with pytest.raises(AudioError, match="silent"):
        ATTACKS[name](np.zeros(4000, np.float32), SR, np.random.default_rng(0))
