"""The SemantiCodec backend: the error without its package, the plumbing around a stand-in, and
the real package with random full-size weights where it is installed.

The real ``semanticodec`` package (git-only, needs torchaudio 2.9 with torch 2.9.1) cannot be
installed beside this project's torch 2.13, so its tests skip here; they run in the environment
``make semanticodec-env`` builds (``scripts/setup_semanticodec_env.sh``)::

    PYTHONPATH=src .venv-semanticodec/bin/python -m pytest tests/test_backend_semanticodec.py

A stand-in package with the parts the backend calls (constants, ``extract_kaldi_fbank_feature``,
``overlap_add_waveform``, ``SemantiCodec`` with ``encoder`` and ``decoder``) checks everything
around them in any environment: weights staging from a repository-shaped directory, windows,
per-clip seeding, alignment, shards.
"""

import importlib.util
import math
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
import yaml

from reconfake.paradigms import pretrained
from reconfake.paradigms.hf_loading import weights_digest
from reconfake.paradigms.registry import BackendError, build_backend, clip_seed
from reconfake.paradigms.semanticodec import MODEL_ID, MODEL_REVISION, checkpoint_files
from reconfake.reconstruct import reconstruct_shard
from reconfake.testing.checks import assert_shard
from reconfake.testing.twins import semanticodec_weights
from tests.conftest import REPO, SR, voiced

# -- a stand-in package ------------------------------------------------------------------------

FRAME = 160  # stand-in "filterbank": 10 ms frames of raw samples, 1024 to a 10.24 s window


def stand_in_fbank(waveform, sampling_rate, target_length=1024):
    assert sampling_rate == SR and waveform.shape[1] == target_length * FRAME
    return {"ta_kaldi_fbank": waveform.reshape(target_length, FRAME)}


class StandInEncoder(torch.nn.Linear):
    """Tokens are the samples, 320 (20 ms) to a token, 512 tokens to a window."""

    def __init__(self):
        super().__init__(1, 1)

    def forward(self, windows):
        assert windows.shape[1:] == (1024, FRAME)
        return windows.reshape(len(windows), 512, 2 * FRAME)

    def token_to_quantized_feature(self, tokens):
        assert tokens.shape[0] == 1  # the package's reshape(1, ...)
        return tokens

    def long_token_split_window(self, tokens, window_length=512, overlap=0.0625):
        assert tokens.shape[1] <= window_length  # the stand-in's clips fit one window
        return [tokens]


class StandInDecoder(torch.nn.Linear):
    """Decoding halves the samples and adds noise from torch's global generator."""

    def __init__(self):
        super().__init__(1, 1)
        self.device = torch.device("cuda")  # LatentDiffusion picks CUDA when it can
        self.batches: list[int] = []

    def generate_sample(self, latent, ddim_steps, unconditional_guidance_scale):
        self.batches.append(len(latent))
        flat = latent.reshape(len(latent), 1, -1)
        return (0.5 * flat + 1e-3 * torch.randn(flat.shape)).numpy()


class StandInCodec:
    made: list["StandInCodec"] = []

    def __init__(self, token_rate, semantic_vocab_size, ddim_sample_step=50, cfg_scale=2.0,
                 checkpoint_path=None, cache_path="pretrained"):
        folder = Path(checkpoint_path)
        for name in checkpoint_files(token_rate, semantic_vocab_size):
            assert (folder / name).read_bytes() == b"weights of " + name.encode()
        self.args = (token_rate, semantic_vocab_size, ddim_sample_step, cfg_scale)
        self.stack_factor_K = 100 / token_rate
        self.ddim_sample_step, self.cfg_scale = ddim_sample_step, cfg_scale
        self.device = torch.device("cuda")  # the package picks CUDA when it can
        self.encoder, self.decoder = StandInEncoder(), StandInDecoder()
        StandInCodec.made.append(self)


def stand_in_overlap_add(windows, overlap_duration=0.64):
    assert len(windows) == 1
    return windows[0]


@pytest.fixture
def stand_in(monkeypatch):
    parts = {"semanticodec": {"SemantiCodec": StandInCodec},
             "semanticodec.main": {"SEGMENT_DURATION": 10.24, "MEL_TARGET_LENGTH": 1024,
                                   "AUDIOMAE_PATCH_DURATION": 0.16, "SEGMENT_OVERLAP_RATIO": 0.0625},
             "semanticodec.utils": {"extract_kaldi_fbank_feature": stand_in_fbank},
             "semanticodec.modules.decoder.latent_diffusion.models.ddpm":
                 {"overlap_add_waveform": stand_in_overlap_add}}
    for name, attrs in parts.items():
        module = types.ModuleType(name)
        module.__dict__.update(attrs)
        monkeypatch.setitem(sys.modules, name, module)
    sys.modules["semanticodec"].main = sys.modules["semanticodec.main"]
    return StandInCodec


def make_repository(root: Path, token_rate: int = 100, vocab: int = 16384) -> Path:
    for name, rel in checkpoint_files(token_rate, vocab).items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(b"weights of " + name.encode())
    (root / "semanticodec_tokenrate_25").mkdir()  # other settings are not needed
    return root


@pytest.mark.parametrize("error", [ImportError, OSError])
def test_missing_package_explains_the_install(monkeypatch, tmp_path, error):
    """No package, or a torchaudio whose extension fails to load (OSError)."""
    import builtins

    real_import = builtins.__import__

    def failing(name, *args, **kwargs):
        if name.startswith("semanticodec"):
            raise error("libtorchaudio.so: undefined symbol" if error is OSError else name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", failing)
    with pytest.raises(BackendError) as info:
        build_backend("semanticodec", {"model": str(tmp_path)})
    message = str(info.value)
    assert "not on PyPI" in message and "github.com/haoheliu/SemantiCodec-inference" in message
    assert "make semanticodec-env" in message and "torchaudio==2.9.1" in message
    assert error.__name__ in message


def test_checkpoint_files_follow_the_package_layout():
    assert checkpoint_files(100, 16384) == {
        "encoder.ckpt": "semanticodec_tokenrate_100/encoder.ckpt",
        "decoder.ckpt": "semanticodec_tokenrate_100/decoder.ckpt",
        "codebook_idx/combine_512_audioset_dominate/codebook_8192_0.npy":
            "codebook_idx/combine_512_audioset_dominate/codebook_8192_0.npy"}
    assert "combine_128_audioset_dominate/codebook_2048_0" in str(checkpoint_files(25, 4096))


class _Asked(Exception):
    pass


def test_default_id_gets_the_pinned_revision(stand_in, monkeypatch):
    asked = []

    def fake_resolve(backend, model, revision, *args, **kwargs):
        asked.append((model, revision))
        raise _Asked

    monkeypatch.setattr(pretrained, "resolve_model", fake_resolve)
    for options in ({}, {"model": MODEL_ID}, {"model": "someone/other"}):
        with pytest.raises(_Asked):
            build_backend("semanticodec", options, device="cpu")
    assert asked == [(MODEL_ID, MODEL_REVISION)] * 2 + [("someone/other", None)]
    assert len(MODEL_REVISION) == 40
    spec = yaml.safe_load((REPO / "config.paper.yaml").read_text())["reconstruction"]["backends"]
    assert spec["semanticodec"]["options"]["model"] == MODEL_ID
    assert spec["semanticodec"]["options"]["revision"] == MODEL_REVISION


def test_stand_in_round_trip_is_aligned_and_seeded(stand_in, tmp_path):
    repo = make_repository(tmp_path / "repo")
    backend = build_backend("semanticodec", {"model": str(repo), "ddim_sample_step": 10}, device="cpu")
    codec = stand_in.made[-1]
    assert codec.args == (100, 16384, 10, 2.0) and codec.device == torch.device("cpu")
    assert codec.decoder.device == torch.device("cpu")  # the DDIM sampler's device
    assert backend.sample_rate == 16000 and backend.chunk is None and backend.model_batch == 1
    x, short = voiced(0.7, seed=1), voiced(0.002)
    y, y_short = backend.reconstruct([x, short])
    assert len(y) == len(x) and len(y_short) == 32
    np.testing.assert_allclose(y, 0.5 * x, atol=5e-3)
    assert codec.decoder.batches == [1, 1]  # one window per model call on CPU
    assert np.array_equal(backend.reconstruct([x])[0], y)  # same clip, same noise
    other = build_backend("semanticodec", {"model": str(repo), "seed": 7}).reconstruct([x])[0]
    assert not np.array_equal(other, y)
    meta = backend.metadata()
    assert meta["model_id"] == str(repo)
    assert meta["revision"] == weights_digest(repo, backend.allow_patterns())
    assert meta["revision"] != weights_digest(tmp_path / "repo" / "semanticodec_tokenrate_25")
    assert meta["settings"]["token_rate"] == 100 and meta["settings"]["semantic_vocab_size"] == 16384
    assert meta["settings"]["window_seconds"] == 10.24


def test_stand_in_batches_windows(stand_in, tmp_path):
    repo = make_repository(tmp_path / "repo")
    backend = build_backend("semanticodec", {"model": str(repo), "model_batch": 3}, device="cpu")
    clips = [voiced(s, seed=i) for i, s in enumerate((0.3, 0.9, 0.5, 0.2))]
    out = backend.reconstruct(clips)
    assert [len(y) for y in out] == [len(c) for c in clips]
    for x, y in zip(clips, out, strict=True):
        np.testing.assert_allclose(y, 0.5 * x, atol=5e-3)
    assert stand_in.made[-1].decoder.batches == [3, 1]


def test_settings_and_layout_are_checked(stand_in, tmp_path):
    repo = make_repository(tmp_path / "repo")
    with pytest.raises(BackendError, match="token_rate 40"):
        build_backend("semanticodec", {"model": str(repo), "token_rate": 40})
    with pytest.raises(BackendError, match="bf16 is not supported"):
        build_backend("semanticodec", {"model": str(repo), "bf16": True})
    with pytest.raises(BackendError, match="ddim_sample_step 3 is not one the package can sample"):
        build_backend("semanticodec", {"model": str(repo), "ddim_sample_step": 3})
    for steps in (1, 2, 10, 25, 50, 200):
        build_backend("semanticodec", {"model": str(repo), "ddim_sample_step": steps})
    with pytest.raises(BackendError, match="semanticodec_tokenrate_50/encoder.ckpt is missing"):
        build_backend("semanticodec", {"model": str(repo), "token_rate": 50, "semantic_vocab_size": 8192})


def test_shard_with_the_stand_in(stand_in, tmp_path, make_manifest):
    repo = make_repository(tmp_path / "repo")
    manifest = make_manifest(n=3, seconds=0.4)
    out = tmp_path / "semanticodec.parquet"
    assert reconstruct_shard(manifest, "semanticodec", out, {"model": str(repo)})["rows"] == 3
    for clip in assert_shard(out, manifest, "semanticodec", repo):
        assert clip.row["paradigm"] == "diffusion"


# -- the real package, random full-size weights ------------------------------------------------

def _package_missing() -> str | None:
    try:
        if importlib.util.find_spec("semanticodec") is None:
            return "the semanticodec package is not installed (make semanticodec-env builds its venv)"
        import semanticodec  # noqa: F401  (imports torchaudio, timm, vector_quantize_pytorch)
    except (ImportError, OSError) as exc:
        return f"the semanticodec package does not import: {type(exc).__name__}: {exc}"
    return None


MISSING = _package_missing()
needs_package = pytest.mark.skipif(MISSING is not None, reason=MISSING or "")


@pytest.fixture(scope="module")
def real_weights(tmp_path_factory):
    return semanticodec_weights(tmp_path_factory.mktemp("semanticodec") / "repo")


@pytest.fixture(scope="module")
def real_backend(real_weights):
    torch.set_num_threads(min(2, torch.get_num_threads()))
    return build_backend("semanticodec", {"model": str(real_weights), "ddim_sample_step": 2},
                         device="cpu")


def _package_load_audio(monkeypatch, tmp_path, codec, clip):
    """The package's own load_audio on ``clip`` written to a file. torchaudio >= 2.9 reads files
    through TorchCodec, absent here, so torchaudio.load is replaced by soundfile for this."""
    import semanticodec.main as package

    path = tmp_path / "clip.wav"
    sf.write(path, clip, SR, subtype="FLOAT")
    monkeypatch.setattr(package.torchaudio, "load",
                        lambda p: (torch.from_numpy(sf.read(p, dtype="float32")[0])[None], SR))
    return str(path)


@needs_package
def test_real_package_features_equal_its_load_audio(real_backend, monkeypatch, tmp_path):
    for seconds in (0.05, 3.4, 10.24, 12.0):  # a window boundary and two windows
        x = voiced(seconds, seed=3)
        mel, keep = real_backend.features(x)
        ref_mel, ref_keep = real_backend.codec.load_audio(
            _package_load_audio(monkeypatch, tmp_path, real_backend.codec, x))
        assert torch.equal(mel, ref_mel) and keep == math.ceil(ref_keep), seconds


@needs_package
def test_real_package_round_trip_equals_its_encode_decode(real_backend, monkeypatch, tmp_path):
    codec = real_backend.codec
    assert codec.device == torch.device("cpu") and codec.decoder.device == torch.device("cpu")
    assert next(codec.decoder.parameters()).device == torch.device("cpu")
    x = voiced(1.3, seed=5)
    y = real_backend.reconstruct([x])[0]
    assert y.shape == x.shape and np.isfinite(y).all() and np.abs(y).max() > 0
    path = _package_load_audio(monkeypatch, tmp_path, codec, x)
    with torch.inference_mode():
        torch.manual_seed(clip_seed(0, x))
        ref = codec.decode(codec.encode(path))  # the package's own path, through a file
    ref = np.asarray(ref, dtype=np.float32).reshape(-1)[: len(x)]
    np.testing.assert_array_equal(y[: len(ref)], ref)


@needs_package
def test_real_package_shard(real_weights, tmp_path, make_manifest):
    """The workflow's path: FLAC manifest in, Parquet shard out, through the real package."""
    manifest = make_manifest(n=2, seconds=0.6)
    out = tmp_path / "semanticodec.parquet"
    options = {"model": str(real_weights), "ddim_sample_step": 1, "model_batch": 2}
    assert reconstruct_shard(manifest, "semanticodec", out, options, device="cpu")["rows"] == 2
    for clip in assert_shard(out, manifest, "semanticodec", real_weights):
        assert clip.row["paradigm"] == "diffusion"
