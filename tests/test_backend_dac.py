"""The DAC backend on a random-weight twin saved in the descript/dac_16khz format."""

import numpy as np
import pytest

from reconfake.paradigms.registry import BackendError, build_backend
from reconfake.reconstruct import reconstruct_shard
from reconfake.testing.checks import assert_shard
from reconfake.testing.fixtures import twin_fixtures
from reconfake.testing.twins import DAC_TINY
from tests.conftest import SR, voiced

_fast_kernels, backend_name, twin, backend = twin_fixtures("dac", model_batch=4)


def test_rate_hop_and_codebooks(backend):
    assert backend.sample_rate == 16000 and backend.hop == 320
    assert backend.n_quantizers == DAC_TINY["n_codebooks"] == 4
    settings = backend.metadata()["settings"]
    assert settings["bitrate_kbps"] == pytest.approx(4 * 6 * 50 / 1000)  # 4 books x 6 bits x 50/s


def test_n_quantizers_is_checked(twin):
    assert build_backend("dac", {"model": str(twin), "n_quantizers": 2}).n_quantizers == 2
    with pytest.raises(BackendError, match="n_quantizers 5 outside 1..4"):
        build_backend("dac", {"model": str(twin), "n_quantizers": 5})


def test_lengths_short_silent_and_clipped(backend):
    short = voiced(0.005)  # 80 samples, a quarter of a frame
    silent = np.zeros(SR // 4, dtype=np.float32)
    clipped = np.clip(voiced(0.33) * 10, -1, 1)  # not a multiple of the hop
    outs = backend.reconstruct([short, silent, clipped])
    assert [len(o) for o in outs] == [80, SR // 4, len(clipped)]
    assert all(np.all(np.isfinite(o)) for o in outs)


def test_receptive_field_of_the_real_config():
    from transformers import DacConfig

    from reconfake.paradigms.dac import receptive_samples

    # descript/dac_16khz: strides 2, 4, 5, 8; worked by hand from the layer list
    assert receptive_samples(DacConfig(downsampling_ratios=[2, 4, 5, 8],
                                       upsampling_ratios=[8, 5, 4, 2])) == 6004


def test_batch_equals_single_tails_included(backend, twin):
    a, b = voiced(0.6, seed=1), voiced(0.35, f0=180, seed=2)
    batched = backend.reconstruct([a, b])
    singles = [backend.reconstruct([x])[0] for x in (a, b)]
    for got, want in zip(batched, singles, strict=True):
        scale = np.max(np.abs(want))
        assert np.max(np.abs(got - want)) <= 1e-5 * scale
    again = build_backend("dac", {"model": str(twin)}).reconstruct([a])[0]
    assert np.array_equal(again, singles[0])
    # the twin's strides give the same bound as the real model; shards record it
    assert backend.metadata()["settings"]["context_samples"] == 6004


def test_long_clip_is_chunked_with_overlap(twin):
    x = voiced(1.2, seed=4)
    backend = build_backend("dac", {"model": str(twin), "chunk_seconds": 0.6, "overlap_seconds": 0.1})
    y = backend.reconstruct([x])[0]
    whole = build_backend("dac", {"model": str(twin)}).reconstruct([x])[0]
    assert len(y) == len(x)
    # away from the seams, chunk interiors equal the whole-clip reconstruction
    np.testing.assert_allclose(y[2000:6000], whole[2000:6000], atol=1e-3 * np.max(np.abs(whole)))
    assert np.sqrt(np.mean(y[-4000:] ** 2)) > 0.5 * np.sqrt(np.mean(whole[-4000:] ** 2))


def test_shard_contents_and_metadata(tmp_path, make_manifest, twin):
    manifest = make_manifest(n=3, seconds=0.4)
    out = tmp_path / "dac.parquet"
    summary = reconstruct_shard(manifest, "dac", out, {"model": str(twin), "batch_size": 2})
    assert summary["rows"] == 3
    clips = assert_shard(out, manifest, "dac", twin)
    assert clips[0].row["paradigm"] == "codec"
