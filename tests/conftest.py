"""Shared test fixtures: audio, manifests and paths the tests make themselves."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from reconfake.audio import write_audio
from reconfake.manifest import ClipRow, write_manifest
from reconfake.reconstruct import reconstruct_shard

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
#: under CI (CI=true) a missing ../shared reference fails its tests instead of skipping them
IN_CI = os.environ.get("CI", "").lower() == "true"


def needs_shared(path: Path) -> pytest.MarkDecorator:
    """Mark a parity test that needs ``path`` (under ../shared): skipped where it is absent on a
    workstation; under ``CI=true`` the test fails instead, naming the path."""
    if path.exists():
        return pytest.mark.needs_shared  # only a label (`pytest -m needs_shared` runs these)
    if IN_CI:
        return pytest.mark.usefixtures("_fail_missing_shared")
    return pytest.mark.skip(reason=f"{path} absent (../shared not laid out)")


@pytest.fixture
def _fail_missing_shared(request: pytest.FixtureRequest) -> None:
    pytest.fail(f"CI=true but the ../shared reference of {request.node.name} is absent "
                f"({SHARED}); parity tests must not skip under CI")
SR = 16000


def voiced(seconds: float = 1.5, f0: float = 140.0, seed: int = 0, sr: int = SR) -> np.ndarray:
    """A speech-like test signal: a harmonic series with vibrato, formant-ish tilt and noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    phase = 2 * np.pi * np.cumsum(f0 * (1 + 0.05 * np.sin(2 * np.pi * 4 * t))) / sr
    x = sum(np.sin(k * phase) / k**1.2 for k in range(1, 20))
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 2.5 * t) ** 2
    x = x * envelope + 0.02 * rng.standard_normal(len(t))
    return (0.5 * x / np.max(np.abs(x))).astype(np.float32)


def harmonic(seconds: float = 1.5, f0: tuple[float, float] = (110.0, 220.0), seed: int = 0,
             noise: float = 0.01) -> np.ndarray:
    """A harmonic series whose f0 glides between ``f0`` with vibrato, an amplitude envelope
    and white noise: speech-like enough for a mel vocoder."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    t = np.arange(n) / SR
    f = np.linspace(*f0, n) * (1 + 0.05 * np.sin(2 * np.pi * 3 * t))
    phase = 2 * np.pi * np.cumsum(f) / SR
    x = sum(np.sin(k * phase + rng.uniform(0, 2 * np.pi)) / k
            for k in range(1, 20) if k * f.max() < SR / 2)
    envelope = 0.5 * (1 + np.sin(2 * np.pi * 2 * t + rng.uniform(0, 2 * np.pi)))
    x = x * (0.2 + envelope) + noise * rng.standard_normal(n)
    return (0.3 * x / np.max(np.abs(x))).astype(np.float32)


@pytest.fixture
def make_manifest(tmp_path: Path):
    """Factory: write a manifest of ``n`` voiced clips (half bona fide) and return its path."""

    def make(name: str = "train", n: int = 6, seconds: float = 1.0, split: str | None = None,
             folder: Path | None = None) -> Path:
        folder = folder or tmp_path / "corpus"
        rows = []
        for i in range(n):
            label = "bonafide" if i % 2 == 0 else "spoof"
            x = voiced(seconds + 0.1 * i, f0=110 + 15 * i, seed=i)
            if label == "spoof":  # a crude, learnable artefact
                x = np.sign(x) * np.abs(x) ** 0.5 * 0.5
            rel = f"{name}/{name}_{i:03d}.flac"
            write_audio(folder / rel, x, SR)
            rows.append(ClipRow(f"{name}_{i:03d}", "toy", split or name, label,
                                "bonafide" if label == "bonafide" else f"A{i % 3:02d}",
                                f"spk{i % 2}", rel, SR, len(x), len(x) / SR))
        path = folder / f"{name}.parquet"
        write_manifest(rows, path)
        return path

    return make


@pytest.fixture
def corpus(tmp_path: Path, make_manifest) -> tuple[Path, Path, Path]:
    """A tiny training set: train and dev manifests and one opus shard of the train clips."""
    train = make_manifest("train", n=8)
    dev = make_manifest("dev", n=4)
    shard = tmp_path / "shard.parquet"
    reconstruct_shard(train, "opus", shard)
    return train, dev, shard


def checkpoint_weights(path: Path) -> dict[str, torch.Tensor]:
    """The state dict saved in a reconfake checkpoint."""
    return torch.load(path, weights_only=True)["state_dict"]


@pytest.fixture
def loopback(tmp_path: Path):
    """A loopback HTTP server over ``tmp_path/www`` (the corpus mirror), stopped afterwards."""
    from tests.corpora_fixtures import serve

    yield from serve(tmp_path / "www")


#: the paper's detector on a very small untrained front-end, fast enough for tests
SSL_TINY_ARCH = {"frontend": "tiny-random", "aggregation": "sls",
                 "tiny": {"hidden_size": 32, "num_hidden_layers": 3, "num_attention_heads": 2,
                          "intermediate_size": 64, "conv_channels": 16, "pos_conv_kernel": 8,
                          "pos_conv_groups": 2}}
