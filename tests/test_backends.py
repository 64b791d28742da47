"""The backend registry and the offline codec and vocoder backends."""

import numpy as np
import pytest

from reconfake.features import log_mel_distance
from reconfake.paradigms.registry import (
    BackendError,
    available_backends,
    backend_class,
    build_backend,
)
from tests.conftest import SR, voiced


def test_registry_lists_every_paradigm():
    backends = available_backends()
    assert {"opus", "world"} <= set(backends)
    assert {cls.paradigm for cls in backends.values()} >= {"codec", "vocoder"}


def test_unknown_backend_and_option_are_named():
    with pytest.raises(BackendError, match="unknown backend 'nope'; known: .*opus"):
        backend_class("nope")
    with pytest.raises(BackendError, match="unknown option.*bitrat.*allowed: batch_size, bitrate"):
        build_backend("opus", {"bitrat": 1})


@pytest.mark.parametrize("name,max_distance", [("opus", 2.0), ("world", 1.2)])
def test_reconstruction_is_close_aligned_and_different(name, max_distance):
    x = voiced(1.3, seed=3)
    backend = build_backend(name)
    y = backend.reconstruct([x])[0]
    assert y.shape == x.shape and y.dtype == np.float32 and np.all(np.isfinite(y))
    d = log_mel_distance(x, y)
    noise = np.random.default_rng(0).standard_normal(len(x)).astype(np.float32) * 0.1
    assert 0.05 < d < max_distance
    assert d < log_mel_distance(x, noise)  # closer to the source than unrelated noise
    # aligned in time: the cross-correlation peaks within 3 ms of zero lag
    lag = np.argmax(np.correlate(y[4000:12000], x[4000 - 48:12000 + 48], "valid")) - 48
    assert abs(lag) <= 48


@pytest.mark.parametrize("name", ["opus", "world"])
def test_short_silent_and_clipped_clips(name):
    backend = build_backend(name)
    short = voiced(0.01)  # shorter than one codec frame
    silent = np.zeros(SR // 2, dtype=np.float32)
    clipped = np.clip(voiced(0.5) * 10, -1, 1)
    outs = backend.reconstruct([short, silent, clipped])
    assert [len(o) for o in outs] == [len(short), len(silent), len(clipped)]
    assert all(np.all(np.isfinite(o)) for o in outs)


@pytest.mark.parametrize("name", ["opus", "world"])
def test_deterministic(name):
    x = voiced(0.6, seed=1)
    a = build_backend(name).reconstruct([x])[0]
    b = build_backend(name).reconstruct([x])[0]
    assert np.array_equal(a, b)


def test_opus_lower_bitrate_is_further():
    x = voiced(1.5, seed=2)
    low = build_backend("opus", {"bitrate": 6000}).reconstruct([x])[0]
    high = build_backend("opus", {"bitrate": 64000}).reconstruct([x])[0]
    assert log_mel_distance(x, high) < log_mel_distance(x, low)


def test_opus_backend_is_the_shared_round_trip_fed_floats():
    from reconfake.codecs import codec_roundtrip

    x = voiced(0.7, seed=3)
    out = build_backend("opus", {"bitrate": 6000}).reconstruct([x])[0]
    assert np.array_equal(out, codec_roundtrip(x, SR, "opus", 6000, sample_format="flt"))
    # libopus' first format is s16: the default feeds integers, a different (valid) coding
    assert not np.array_equal(out, codec_roundtrip(x, SR, "opus", 6000))
    with pytest.raises(ValueError, match=r"encoder libopus takes \['s16', 'flt'\], not 'dbl'"):
        codec_roundtrip(x, SR, "opus", 6000, sample_format="dbl")


def test_metadata_records_settings():
    meta = build_backend("opus", {"bitrate": 8000}).metadata()
    assert meta["backend"] == "opus" and meta["paradigm"] == "codec"
    assert meta["settings"]["bitrate"] == 8000 and meta["model_id"] == "libopus"


def test_static_table_matches_the_classes():
    """The table the workflow plans with (no imports) says what the classes say."""
    from reconfake.paradigms.registry import BACKENDS, backend_info, check_options

    for name, cls in available_backends().items():
        info = backend_info(name)
        assert (cls.name, cls.__module__) == (name, f"reconfake.paradigms.{info.module}")
        assert (info.paradigm, info.trainable) == (cls.paradigm, cls.trainable)
        assert info.options == frozenset(cls.defaults), name
    assert sorted(BACKENDS) == sorted(available_backends())
    check_options("opus", {"bitrate": 6000})
    with pytest.raises(BackendError, match="opus: unknown option.*bitrat.*allowed: batch_size, bitrate"):
        check_options("opus", {"bitrat": 1})
