"""Griffin-Lim mel inversion and the ``griffinlim`` vocoder backend."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from reconfake.features import MelSpec, log_mel_distance
from reconfake.paradigms.griffinlim import analysable, mel_to_audio, mel_to_magnitude
from reconfake.paradigms.registry import BackendError, build_backend
from tests.conftest import SR, harmonic

SPEC = MelSpec()

# Measured on 12 random clips of this generator (1-2 s, f0 80-300 Hz, noise 0.001-0.05):
# Griffin-Lim from the mel lands at log-mel distance 0.13-0.23 (32 iterations, momentum 0.99;
# for reference, Griffin-Lim from the *true* STFT magnitude reaches ~0.06, so the mel's lost
# detail costs more than the phase search), while unrelated noise of the same power sits at
# 1.8-3.2. 0.3 is the measured worst case plus ~30% margin and still ~6x below noise.
MAX_INVERSION_DISTANCE = 0.3


@pytest.mark.parametrize("seed,f0,noise", [(0, (110, 220), 0.01), (1, (180, 140), 0.03),
                                           (2, (90, 300), 0.002)])
def test_inversion_is_close_and_far_closer_than_noise(seed, f0, noise):
    x = harmonic(1.5, f0, seed, noise)
    y = mel_to_audio(SPEC.log_mel(x), SPEC).numpy()
    assert y.dtype == np.float32 and np.all(np.isfinite(y))
    assert abs(len(y) - len(x)) < SPEC.hop_length
    d = log_mel_distance(x, y)
    unrelated = np.random.default_rng(seed).standard_normal(len(x)).astype(np.float32) * x.std()
    assert d < MAX_INVERSION_DISTANCE
    assert d < 0.2 * log_mel_distance(x, unrelated)


def test_iterations_matter():
    x = harmonic(1.0, seed=4)
    log_mel = SPEC.log_mel(x)
    random_phase = log_mel_distance(x, mel_to_audio(log_mel, SPEC, n_iter=0).numpy())
    converged = log_mel_distance(x, mel_to_audio(log_mel, SPEC, n_iter=32).numpy())
    assert converged < 0.5 * random_phase  # measured: ~0.9 with random phase, ~0.2 after 32


def test_deterministic_under_seed():
    log_mel = SPEC.log_mel(harmonic(1.0, seed=5))
    a = mel_to_audio(log_mel, SPEC, n_iter=8, seed=3)
    b = mel_to_audio(log_mel, SPEC, n_iter=8, seed=3)
    c = mel_to_audio(log_mel, SPEC, n_iter=8, seed=4)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_magnitude_fit_is_non_negative_and_matches_the_mel():
    log_mel = SPEC.log_mel(harmonic(1.0, seed=6))
    mag = mel_to_magnitude(log_mel, SPEC)
    assert mag.shape == (SPEC.n_fft // 2 + 1, log_mel.shape[-1]) and bool((mag >= 0).all())
    refit = torch.log(torch.clamp(SPEC.filterbank() @ mag, min=SPEC.floor))
    coarse = mel_to_magnitude(log_mel, SPEC, nnls_iter=0)
    coarse_refit = torch.log(torch.clamp(SPEC.filterbank() @ coarse, min=SPEC.floor))
    error = float((refit - log_mel).abs().mean())
    assert error < 0.05  # measured ~0.025 after 64 NNLS updates, ~0.22 from the clamped pinv
    assert error < float((coarse_refit - log_mel).abs().mean())


def test_batched_mels():
    log_mel = SPEC.log_mel(np.stack([harmonic(0.5, seed=7), harmonic(0.5, seed=8)]))
    y = mel_to_audio(log_mel, SPEC, n_iter=4)
    assert y.shape == (2, (log_mel.shape[-1] - 1) * SPEC.hop_length)


def test_backend_keeps_lengths_and_handles_short_and_silent_clips():
    backend = build_backend("griffinlim", {"n_iter": 16})
    clips = [harmonic(1.3, seed=9), harmonic(0.01, seed=10), np.zeros(SR // 2, np.float32)]
    outs = backend.reconstruct(clips)
    assert [len(o) for o in outs] == [len(c) for c in clips]
    assert all(o.dtype == np.float32 and np.all(np.isfinite(o)) for o in outs)
    assert log_mel_distance(clips[0], outs[0]) < MAX_INVERSION_DISTANCE
    again = build_backend("griffinlim", {"n_iter": 16}).reconstruct(clips[:1])[0]
    assert np.array_equal(outs[0], again)


def test_backend_metadata_and_options():
    backend = build_backend("griffinlim", {"n_iter": 8, "momentum": 0.0})
    meta = backend.metadata()
    assert meta["backend"] == "griffinlim" and meta["paradigm"] == "vocoder"
    assert meta["settings"]["n_iter"] == 8 and meta["settings"]["momentum"] == 0.0
    assert meta["settings"]["mel_spec"]["n_mels"] == SPEC.n_mels
    with pytest.raises(BackendError, match="unknown option"):
        build_backend("griffinlim", {"n_iters": 8})
    with pytest.raises(BackendError, match="momentum"):
        build_backend("griffinlim", {"momentum": 1.5})


def test_short_clips_are_padded_to_the_stft_minimum():
    assert SPEC.min_samples == 513 and MelSpec(n_fft=400).min_samples == 201
    short = analysable(np.ones(100, dtype=np.float64), SPEC)
    assert short.dtype == np.float32 and short.shape == (513,)
    assert short[:100].tolist() == [1.0] * 100 and not short[100:].any()
    assert analysable(np.ones((1, 600)), SPEC).shape == (600,)
    # clips shorter than the minimum: both cut to the shorter one, then zero-padded to 513
    a, b = np.full(300, 0.1, dtype=np.float32), np.full(200, 0.1, dtype=np.float32)
    assert log_mel_distance(a, b) == pytest.approx(
        log_mel_distance(np.pad(a[:200], (0, 313)), np.pad(b, (0, 313))), abs=0)
