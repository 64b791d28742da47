"""The HiFi-GAN backend: SpeechT5's mel analysis, and a random-weight SpeechT5HifiGan twin (what
only HiFi-GAN does; the contract all pretrained backends keep is in
tests/test_backend_contract.py)."""

import math

import numpy as np
import pytest
import torch

from reconfake.paradigms.hifigan import SILENCE, SPEECHT5_MEL, speecht5_log_mel
from reconfake.paradigms.registry import BackendError, build_backend
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


def test_other_mel_layout_is_refused(tmp_path):
    from transformers import SpeechT5HifiGan, SpeechT5HifiGanConfig

    config = SpeechT5HifiGanConfig(model_in_dim=64, upsample_initial_channel=32,
                                   upsample_rates=[5, 4, 2, 2, 2],
                                   upsample_kernel_sizes=[10, 8, 4, 4, 4],
                                   resblock_kernel_sizes=[3], resblock_dilation_sizes=[[1]])
    SpeechT5HifiGan(config).save_pretrained(tmp_path / "m")
    with pytest.raises(BackendError, match="takes 64 mels at hop 160.*needs its own analysis"):
        build_backend("hifigan", {"model": str(tmp_path / "m")})


def test_first_window_of_a_chunked_clip_equals_the_whole(twin):
    x = voiced(1.5, seed=3)
    y = build_backend("hifigan", {"model": str(twin), "chunk_seconds": 0.5,
                                  "overlap_seconds": 0.1}).reconstruct([x])[0]
    whole = build_backend("hifigan", {"model": str(twin)}).reconstruct([x])[0]
    # inside the first window, away from its end, chunking changes nothing
    np.testing.assert_allclose(y[:5000], whole[:5000], atol=1e-4 * np.abs(whole).max())
    assert math.isclose(float(np.std(y[-4000:])), float(np.std(whole[-4000:])), rel_tol=0.5)
