"""The SemantiCodec backend: the error without its package, and the plumbing around a stand-in.

The real ``semanticodec`` package (git-only, needs torchaudio) cannot be installed beside this
project's CPU torch, so its architecture has no twin here. A stand-in module with the package's
API (``SemantiCodec(token_rate, semantic_vocab_size, ddim_sample_step, cfg_scale,
checkpoint_path)``, ``encode(path)``, ``decode(tokens)``) checks everything around it: weights
staging from a repository-shaped directory, temporary WAVs, per-clip seeding, alignment, shards.
"""

import sys
import types
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from reconfake.paradigms.hf_loading import weights_digest
from reconfake.paradigms.registry import BackendError, build_backend
from reconfake.paradigms.semanticodec import checkpoint_files
from reconfake.reconstruct import reconstruct_shard
from tests.conftest import SR, voiced
from tests.twins import assert_shard


class StandInCodec:
    """The package's API: tokens are the samples, decoding halves them and adds seeded noise."""

    made: list["StandInCodec"] = []

    def __init__(self, token_rate, semantic_vocab_size, ddim_sample_step=50, cfg_scale=2.0,
                 checkpoint_path=None, cache_path="pretrained"):
        folder = Path(checkpoint_path)
        for name in checkpoint_files(token_rate, semantic_vocab_size):
            assert (folder / name).read_bytes() == b"weights of " + name.encode()
        self.args = (token_rate, semantic_vocab_size, ddim_sample_step, cfg_scale)
        self.device = torch.device("cuda")  # the package picks CUDA when it can
        self.encoder, self.decoder = torch.nn.Linear(1, 1), torch.nn.Linear(1, 1)
        StandInCodec.made.append(self)

    def encode(self, filepath: str) -> torch.Tensor:
        audio, rate = sf.read(filepath, dtype="float32")
        assert rate == SR
        return torch.from_numpy(audio)[None, :, None]

    def decode(self, tokens: torch.Tensor) -> np.ndarray:
        noise = torch.randn(tokens.shape[1]) * 1e-3
        return (0.5 * tokens[0, :, 0] + noise)[None, None].numpy()


@pytest.fixture
def stand_in(monkeypatch):
    module = types.ModuleType("semanticodec")
    module.SemantiCodec = StandInCodec
    monkeypatch.setitem(sys.modules, "semanticodec", module)
    return StandInCodec


def make_repository(root: Path, token_rate: int = 100, vocab: int = 16384) -> Path:
    for name, rel in checkpoint_files(token_rate, vocab).items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"weights of " + name.encode())
    (root / "semanticodec_tokenrate_25").mkdir()  # other settings are not needed
    return root


def test_missing_package_explains_the_git_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "semanticodec", None)  # import fails even if installed
    with pytest.raises(BackendError) as info:
        build_backend("semanticodec", {"model": str(tmp_path)})
    message = str(info.value)
    assert "not on PyPI" in message and "github.com/haoheliu/SemantiCodec-inference" in message
    assert "pip install git+https://github.com/haoheliu/SemantiCodec-inference.git" in message


def test_checkpoint_files_follow_the_package_layout():
    assert checkpoint_files(100, 16384) == {
        "encoder.ckpt": "semanticodec_tokenrate_100/encoder.ckpt",
        "decoder.ckpt": "semanticodec_tokenrate_100/decoder.ckpt",
        "codebook_idx/combine_512_audioset_dominate/codebook_8192_0.npy":
            "codebook_idx/combine_512_audioset_dominate/codebook_8192_0.npy"}
    assert "combine_128_audioset_dominate/codebook_2048_0" in str(checkpoint_files(25, 4096))


def test_stand_in_round_trip_is_aligned_and_seeded(stand_in, tmp_path):
    repo = make_repository(tmp_path / "repo")
    backend = build_backend("semanticodec", {"model": str(repo), "ddim_sample_step": 10})
    codec = stand_in.made[-1]
    assert codec.args == (100, 16384, 10, 2.0) and codec.device == torch.device("cpu")
    assert backend.sample_rate == 16000 and backend.chunk is None
    x, short = voiced(0.7, seed=1), voiced(0.002)
    y, y_short = backend.reconstruct([x, short])
    assert len(y) == len(x) and len(y_short) == 32
    np.testing.assert_allclose(y, 0.5 * x, atol=5e-3)
    assert np.array_equal(backend.reconstruct([x])[0], y)  # same clip, same noise
    other = build_backend("semanticodec", {"model": str(repo), "seed": 7}).reconstruct([x])[0]
    assert not np.array_equal(other, y)
    meta = backend.metadata()
    assert meta["model_id"] == str(repo)
    assert meta["revision"] == weights_digest(repo, backend.allow_patterns())
    assert meta["revision"] != weights_digest(tmp_path / "repo" / "semanticodec_tokenrate_25")
    assert meta["settings"]["token_rate"] == 100 and meta["settings"]["semantic_vocab_size"] == 16384


def test_settings_and_layout_are_checked(stand_in, tmp_path):
    repo = make_repository(tmp_path / "repo")
    with pytest.raises(BackendError, match="token_rate 40"):
        build_backend("semanticodec", {"model": str(repo), "token_rate": 40})
    with pytest.raises(BackendError, match="bf16 is not supported"):
        build_backend("semanticodec", {"model": str(repo), "bf16": True})
    with pytest.raises(BackendError, match="semanticodec_tokenrate_50/encoder.ckpt is missing"):
        build_backend("semanticodec", {"model": str(repo), "token_rate": 50, "semantic_vocab_size": 8192})


def test_shard_with_the_stand_in(stand_in, tmp_path, make_manifest):
    repo = make_repository(tmp_path / "repo")
    manifest = make_manifest(n=3, seconds=0.4)
    out = tmp_path / "semanticodec.parquet"
    assert reconstruct_shard(manifest, "semanticodec", out, {"model": str(repo)})["rows"] == 3
    for clip in assert_shard(out, manifest, "semanticodec", repo):
        assert clip.row["paradigm"] == "diffusion"
