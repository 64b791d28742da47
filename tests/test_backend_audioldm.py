"""The AudioLDM SDEdit backend on random-weight twins in the diffusers repository layout."""

import numpy as np
import pytest
import torch

from reconfake.paradigms.audioldm import MAX_GAIN, sdedit_timesteps
from reconfake.paradigms.registry import BackendError, build_backend
from reconfake.reconstruct import reconstruct_shard
from reconfake.shards import shard_info
from reconfake.testing.checks import assert_shard
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


def test_batch_equals_single(backend):
    a, b, c = voiced(0.5, seed=1), voiced(0.52, f0=190, seed=2), voiced(0.3, seed=3)
    batched = backend.reconstruct([a, b, c])  # a and b share a padded size, c runs alone
    for got, x in zip(batched, (a, b, c), strict=True):
        want = backend.reconstruct([x])[0]
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-5 * np.abs(want).max())


def test_strength_zero_is_a_vae_round_trip(twin):
    backend = build_backend("audioldm", {"model": str(twin), "strength": 0.0})
    assert backend.timesteps == []
    x = voiced(0.4)
    assert np.array_equal(backend.reconstruct([x])[0], backend.reconstruct([x])[0])


def test_lengths_short_silent_and_clipped(backend):
    short = voiced(0.004)  # 64 samples, less than one analysis window
    silent = np.zeros(SR // 4, dtype=np.float32)
    clipped = np.clip(voiced(0.35) * 10, -1, 1)
    outs = backend.reconstruct([short, silent, clipped])
    assert [len(o) for o in outs] == [64, SR // 4, len(clipped)]
    assert all(np.all(np.isfinite(o)) for o in outs)
    # silence gets the capped gain (+40 dB), so the vocoder's |tanh| <= 1 comes back below 0.01
    assert np.max(np.abs(outs[1])) <= 1 / MAX_GAIN


def test_long_clip_is_chunked(twin):
    x = voiced(1.6, seed=4)
    backend = build_backend("audioldm", {"model": str(twin), "steps": 2, "chunk_seconds": 0.6,
                                         "overlap_seconds": 0.1})
    assert backend.chunk == 9600 and backend.overlap == 1600
    y = backend.reconstruct([x])[0]
    assert len(y) == len(x) and np.sqrt(np.mean(y[-SR // 4:] ** 2)) > 1e-3


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


def test_shard_contents_and_metadata(tmp_path, make_manifest, twin):
    manifest = make_manifest(n=3, seconds=0.4)
    out = tmp_path / "audioldm.parquet"
    options = {"model": str(twin), "steps": 2, "batch_size": 2}
    assert reconstruct_shard(manifest, "audioldm", out, options)["rows"] == 3
    clips = assert_shard(out, manifest, "audioldm", twin)
    assert clips[0].row["paradigm"] == "diffusion"
    settings = shard_info(out)["settings"]
    assert settings["timesteps"] == [251, 1] and settings["mel_spec"]["n_mels"] == 64
    assert settings["scheduler"]["beta_schedule"] == "scaled_linear"
