"""The AudioLDM SDEdit backend on random-weight twins in the diffusers repository layout: what only
AudioLDM does (schedule, condition, seeds, gain). The contract all pretrained backends keep is
in tests/test_backend_contract.py."""

import numpy as np
import pytest
import torch

from reconfake.paradigms.audioldm import MAX_GAIN, sdedit_timesteps
from reconfake.paradigms.registry import BackendError, build_backend
from reconfake.testing.fixtures import twin_fixtures
from reconfake.testing.twins import audioldm_twin
from tests.conftest import SR, voiced

_fast_kernels, backend_name, twin, backend = twin_fixtures("audioldm", steps=4, model_batch=4)


def test_layout_rates_and_schedule(backend):
    assert backend.sample_rate == 16000 and backend.spec.hop_length == 160
    assert backend.spec.n_mels == 64 and backend.frame_multiple == 8  # VAE 4 x UNet 2 (twin)
    # strength 0.5, 4 steps: the last 4 of an 8-step DDIM schedule (steps_offset 1)
    assert backend.timesteps == [376, 251, 126, 1]
    assert backend._padded_frames(SR) == 104  # 101 frames -> next multiple of 8
    settings = backend.metadata()["settings"]
    assert settings["condition"] == "empty_text" and settings["guidance_scale"] == 1.0
    assert settings["scaling_factor"] == pytest.approx(0.9227914)


def test_empty_text_condition_is_a_unit_clap_embedding(backend):
    assert backend.condition.shape == (1, 16)
    assert float(backend.condition.norm()) == pytest.approx(1.0, abs=1e-5)


def test_sdedit_timesteps_follow_strength():
    from diffusers import DDIMScheduler

    scheduler = DDIMScheduler(num_train_timesteps=1000, steps_offset=1)
    assert sdedit_timesteps(scheduler, 10, 0.0) == []
    assert sdedit_timesteps(scheduler, 5, 1.0) == [801, 601, 401, 201, 1]
    assert sdedit_timesteps(scheduler, 2, 0.2) == [101, 1]


def test_seed_fixes_the_output_per_clip(twin, backend):
    x = voiced(0.6, seed=1)
    a = backend.reconstruct([x])[0]
    b = build_backend("audioldm", {"model": str(twin), "steps": 4}).reconstruct([x])[0]
    c = build_backend("audioldm", {"model": str(twin), "steps": 4, "seed": 1}).reconstruct([x])[0]
    assert np.array_equal(a, b) and not np.allclose(a, c)
    assert np.max(np.abs(a)) > 1e-3


def test_strength_zero_is_a_vae_round_trip(twin):
    backend = build_backend("audioldm", {"model": str(twin), "strength": 0.0})
    assert backend.timesteps == []
    x = voiced(0.4)
    assert np.array_equal(backend.reconstruct([x])[0], backend.reconstruct([x])[0])


def test_zero_condition_needs_no_text_encoder(tmp_path):
    twin = audioldm_twin(tmp_path / "no-text", text_encoder=False)
    backend = build_backend("audioldm", {"model": str(twin), "steps": 2, "condition": "zeros"})
    assert torch.count_nonzero(backend.condition) == 0
    assert "text_encoder/*.safetensors" not in backend.allow_patterns()
    assert len(backend.reconstruct([voiced(0.3)])[0]) == int(0.3 * SR)
    with pytest.raises(BackendError, match="no tokenizer"):
        build_backend("audioldm", {"model": str(twin)})
    with pytest.raises(BackendError, match="condition 'text'"):
        build_backend("audioldm", {"model": str(twin), "condition": "text"})


def test_silence_gets_the_capped_gain(backend):
    outs = backend.reconstruct([np.zeros(SR // 4, dtype=np.float32), voiced(0.35)])
    # silence gets the capped gain (+40 dB), so the vocoder's |tanh| <= 1 comes back below 0.01
    assert np.max(np.abs(outs[0])) <= 1 / MAX_GAIN
    assert np.max(np.abs(outs[1])) > 1 / MAX_GAIN  # while speech is scaled back to its level
