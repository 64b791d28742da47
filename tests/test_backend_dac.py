"""The DAC backend on a random-weight twin saved in the descript/dac_16khz format: what only DAC
does (codebooks, its receptive field). The contract all pretrained backends keep is in
tests/test_backend_contract.py."""

import numpy as np
import pytest

from reconfake.paradigms.registry import BackendError, build_backend
from reconfake.testing.fixtures import twin_fixtures
from reconfake.testing.twins import DAC_TINY
from tests.conftest import voiced

_fast_kernels, backend_name, twin, backend = twin_fixtures("dac", model_batch=4)


def test_rate_hop_and_codebooks(backend):
    assert backend.sample_rate == 16000 and backend.hop == 320
    assert backend.n_quantizers == DAC_TINY["n_codebooks"] == 4
    settings = backend.metadata()["settings"]
    assert settings["bitrate_kbps"] == pytest.approx(4 * 6 * 50 / 1000)  # 4 books x 6 bits x 50/s
    # the twin's strides give the same bound as the real model; shards record it
    assert settings["context_samples"] == backend.context == 6004


def test_n_quantizers_is_checked(twin):
    assert build_backend("dac", {"model": str(twin), "n_quantizers": 2}).n_quantizers == 2
    with pytest.raises(BackendError, match="n_quantizers 5 outside 1..4"):
        build_backend("dac", {"model": str(twin), "n_quantizers": 5})


def test_receptive_field_of_the_real_config():
    from transformers import DacConfig

    from reconfake.paradigms.dac import receptive_samples

    # descript/dac_16khz: strides 2, 4, 5, 8; worked by hand from the layer list
    assert receptive_samples(DacConfig(downsampling_ratios=[2, 4, 5, 8],
                                       upsampling_ratios=[8, 5, 4, 2])) == 6004


def test_chunk_interiors_equal_the_whole_clip(twin):
    x = voiced(1.2, seed=4)
    backend = build_backend("dac", {"model": str(twin), "chunk_seconds": 0.6, "overlap_seconds": 0.1})
    y = backend.reconstruct([x])[0]
    whole = build_backend("dac", {"model": str(twin)}).reconstruct([x])[0]
    # away from the seams, chunk interiors equal the whole-clip reconstruction: with the
    # receptive-field context, a window does not see past its end
    np.testing.assert_allclose(y[2000:6000], whole[2000:6000], atol=1e-3 * np.max(np.abs(whole)))
    assert np.sqrt(np.mean(y[-4000:] ** 2)) > 0.5 * np.sqrt(np.mean(whole[-4000:] ** 2))
