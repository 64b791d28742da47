"""The HiFi-GAN backend: SpeechT5's mel analysis, and a random-weight SpeechT5HifiGan twin."""

import math

import numpy as np
import pytest
import torch

from reconfake.paradigms.hifigan import SILENCE, SPEECHT5_MEL, speecht5_log_mel
from reconfake.paradigms.registry import BackendError, build_backend
from reconfake.reconstruct import reconstruct_shard
from reconfake.testing.checks import assert_shard
from reconfake.testing.fixtures import twin_fixtures
from tests.conftest import SR, voiced

_fast_kernels, backend_name, twin, backend = twin_fixtures("hifigan", model_batch=4)


def test_features_match_transformers_speecht5_feature_extractor():
    from transformers import SpeechT5FeatureExtractor

    extractor = SpeechT5FeatureExtractor()  # the checkpoint's preprocessor defaults
    assert (extractor.sample_size, extractor.sample_stride, extractor.n_fft) == (1024, 256, 1024)
    assert (extractor.fmin, extractor.fmax, extractor.num_mel_bins) == (80, 7600, 80)
    x = voiced(0.9, seed=5)
    want = extractor(audio_target=x, sampling_rate=SR)["input_values"][0]
    got = speecht5_log_mel(x).numpy()
    assert got.shape == want.shape == (len(x) // 256 + 1, 80)
    np.testing.assert_allclose(got, want, atol=1e-4)
    assert SILENCE == -10.0 and SPEECHT5_MEL.floor == 1e-10


def test_vocoder_standardises_with_its_checkpoint_buffers(backend):
    config = backend.model.config
    assert config.normalize_before and backend.sample_rate == 16000 and backend.hop == 256
    torch.testing.assert_close(backend.model.mean, torch.linspace(-6.0, -4.0, 80))
    torch.testing.assert_close(backend.model.scale, torch.linspace(1.0, 2.0, 80))
    mel = speecht5_log_mel(voiced(0.3))[None]
    with torch.inference_mode():
        expected = backend.model(mel)
        config.normalize_before = False
        try:
            manual = backend.model((mel - backend.model.mean) / backend.model.scale)
        finally:
            config.normalize_before = True
    torch.testing.assert_close(expected, manual)


def test_lengths_short_silent_and_clipped(backend):
    short = voiced(0.01)  # 160 samples, less than one 256-sample hop
    silent = np.zeros(SR // 3, dtype=np.float32)
    clipped = np.clip(voiced(0.5) * 10, -1, 1)
    outs = backend.reconstruct([short, silent, clipped])
    assert [len(o) for o in outs] == [160, SR // 3, len(clipped)]
    assert all(np.all(np.isfinite(o)) for o in outs)


def test_batch_equals_single_and_is_deterministic(backend, twin):
    a, b = voiced(0.8, seed=1), voiced(0.45, f0=200, seed=2)
    batched = backend.reconstruct([a, b])
    singles = [backend.reconstruct([x])[0] for x in (a, b)]
    for got, want in zip(batched, singles, strict=True):  # tails too: batching changes nothing
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-5 * np.abs(want).max())
    again = build_backend("hifigan", {"model": str(twin)}).reconstruct([a])[0]
    assert np.array_equal(again, singles[0]) and np.abs(singles[0]).max() > 0


def test_other_mel_layout_is_refused(tmp_path):
    from transformers import SpeechT5HifiGan, SpeechT5HifiGanConfig

    config = SpeechT5HifiGanConfig(model_in_dim=64, upsample_initial_channel=32,
                                   upsample_rates=[5, 4, 2, 2, 2],
                                   upsample_kernel_sizes=[10, 8, 4, 4, 4],
                                   resblock_kernel_sizes=[3], resblock_dilation_sizes=[[1]])
    SpeechT5HifiGan(config).save_pretrained(tmp_path / "m")
    with pytest.raises(BackendError, match="takes 64 mels at hop 160.*needs its own analysis"):
        build_backend("hifigan", {"model": str(tmp_path / "m")})


def test_long_clip_is_chunked(twin):
    x = voiced(1.5, seed=3)
    y = build_backend("hifigan", {"model": str(twin), "chunk_seconds": 0.5,
                                  "overlap_seconds": 0.1}).reconstruct([x])[0]
    whole = build_backend("hifigan", {"model": str(twin)}).reconstruct([x])[0]
    assert len(y) == len(x)
    # inside the first window, away from its end, chunking changes nothing
    np.testing.assert_allclose(y[:5000], whole[:5000], atol=1e-4 * np.abs(whole).max())
    assert math.isclose(float(np.std(y[-4000:])), float(np.std(whole[-4000:])), rel_tol=0.5)


def test_shard_contents_and_metadata(tmp_path, make_manifest, twin):
    manifest = make_manifest(n=3, seconds=0.5)
    out = tmp_path / "hifigan.parquet"
    assert reconstruct_shard(manifest, "hifigan", out, {"model": str(twin)})["rows"] == 3
    assert_shard(out, manifest, "hifigan", twin)
    from reconfake.shards import shard_info

    settings = shard_info(out)["settings"]
    assert settings["mel_spec"]["hop_length"] == 256 and settings["log"] == "log10"
    assert settings["normalize_before"] is True
