"""The trainable ``mel_diffusion`` backend: fit, save, load through the registry, SDEdit."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from reconfake.features import log_mel_distance
from reconfake.paradigms.registry import BackendError, backend_class, build_backend
from tests.conftest import harmonic

FIT_STEPS = 12


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model fitted for a few steps only (seconds): enough to exercise every code path."""
    clips = [harmonic(1.0 + 0.25 * i, (90 + 20 * i, 200 - 10 * i), seed=i) for i in range(6)]
    clips.append(harmonic(0.3, seed=9))  # shorter than one patch: padded with silence
    out = tmp_path_factory.mktemp("fit") / "model"
    backend_class("mel_diffusion").fit(clips, out, steps=FIT_STEPS, batch_size=4, seed=0)
    return out


def test_fit_writes_a_loadable_model(model_dir: Path):
    for rel in ("unet/config.json", "unet/diffusion_pytorch_model.safetensors",
                "scheduler/scheduler_config.json", "mel_diffusion.json"):
        assert (model_dir / rel).is_file(), rel
    assert [p.name for p in model_dir.parent.iterdir()] == ["model"]  # no temporaries left
    config = json.loads((model_dir / "mel_diffusion.json").read_text())
    assert len(config["mel_mean"]) == len(config["mel_std"]) == config["mel_spec"]["n_mels"]
    assert min(config["mel_std"]) > 0 and config["patch_frames"] == 64
    training = config["training"]
    assert training["steps"] == FIT_STEPS and training["batch_size"] == 4
    assert training["n_clips"] == 7 and len(training["loss_curve"]) == FIT_STEPS
    # even a dozen steps learn: the noise-prediction loss falls from ~1 (measured ~1.1 -> ~0.4)
    assert training["loss_end"] < 0.8 * training["loss_start"]


def test_fit_rejects_unknown_options(tmp_path: Path):
    with pytest.raises(BackendError, match=r"mel_diffusion fit: unknown option\(s\) stepz; allowed: "):
        backend_class("mel_diffusion").fit([harmonic(1.0)], tmp_path / "m", stepz=3)
    assert not (tmp_path / "m").exists()


def test_reconstruct_keeps_lengths_and_is_finite(model_dir: Path):
    backend = build_backend("mel_diffusion", {"model": str(model_dir), "steps": 3})
    clips = [harmonic(1.0, seed=20), harmonic(0.3, seed=21), harmonic(3.0, (150, 100), seed=22),
             harmonic(0.01, seed=23)]  # 1 s, shorter than a patch, several patches, tiny
    outs = backend.reconstruct(clips)
    assert [len(o) for o in outs] == [len(c) for c in clips]
    assert all(o.dtype == np.float32 and np.all(np.isfinite(o)) for o in outs)
    assert all(np.abs(o).max() > 0 for o in outs)


def test_deterministic_and_independent_of_batch(model_dir: Path):
    options = {"model": str(model_dir), "steps": 2, "gl_iter": 8}
    x, other = harmonic(1.2, seed=30), harmonic(0.7, seed=31)
    alone = build_backend("mel_diffusion", options).reconstruct([x])[0]
    again = build_backend("mel_diffusion", options).reconstruct([x])[0]
    batched = build_backend("mel_diffusion", options).reconstruct([other, x])[1]
    assert np.array_equal(alone, again)
    np.testing.assert_allclose(batched, alone, atol=1e-4)  # same noise; only float reordering
    reseeded = build_backend("mel_diffusion", {**options, "seed": 1}).reconstruct([x])[0]
    assert not np.array_equal(alone, reseeded)


def test_larger_strength_moves_further(model_dir: Path):
    x = harmonic(1.5, (120, 180), seed=40)
    distances = []
    for strength in (0.0, 0.3, 0.8):
        backend = build_backend("mel_diffusion",
                                {"model": str(model_dir), "strength": strength, "steps": 3})
        distances.append(log_mel_distance(x, backend.reconstruct([x])[0]))
    # strength 0 is the Griffin-Lim round trip alone (~0.17); noise then adds distance
    assert distances[0] < 0.3
    assert distances[0] < distances[1] < distances[2]


def test_metadata_and_options(model_dir: Path):
    backend = build_backend("mel_diffusion", {"model": str(model_dir), "strength": 0.4})
    meta = backend.metadata()
    assert meta["backend"] == "mel_diffusion" and meta["paradigm"] == "diffusion"
    assert meta["model_id"] == str(model_dir) and len(meta["revision"]) == 64
    settings = meta["settings"]
    assert settings["strength"] == 0.4 and settings["steps"] == 10
    assert settings["model"] == str(model_dir) and settings["training"]["steps"] == FIT_STEPS
    json.dumps(meta)  # serialisable for the shard header
    with pytest.raises(BackendError, match="model"):
        build_backend("mel_diffusion")
    with pytest.raises(BackendError, match="strength"):
        build_backend("mel_diffusion", {"model": str(model_dir), "strength": 1.5})
    with pytest.raises(BackendError, match="unknown option"):
        build_backend("mel_diffusion", {"model": str(model_dir), "strenght": 0.5})
