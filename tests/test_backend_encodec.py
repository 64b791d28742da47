"""The EnCodec backend on a random-weight twin: what only EnCodec does (its frame rate and
bandwidths). The contract all pretrained backends keep is in tests/test_backend_contract.py."""

import pytest

from reconfake.paradigms.registry import BackendError, build_backend
from reconfake.testing.fixtures import twin_fixtures

_fast_kernels, backend_name, twin, backend = twin_fixtures("encodec")


def test_frame_rate_and_default_bandwidth(backend):
    assert backend.sample_rate == 24000 and backend.hop == 320  # 75 frames/s
    assert backend.num_quantizers == 8  # 6 kbps / (75 frames/s x 10 bits)


def test_bandwidth_sets_codebooks_and_unknown_is_named(twin):
    assert build_backend("encodec", {"model": str(twin), "bandwidth": 1.5}).num_quantizers == 2
    with pytest.raises(BackendError, match=r"bandwidth 2.0 kbps not offered.*1.5, 3.0, 6.0"):
        build_backend("encodec", {"model": str(twin), "bandwidth": 2.0})
