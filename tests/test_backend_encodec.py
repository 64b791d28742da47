"""The EnCodec backend on a random-weight twin, and the shared loading and batching helpers
(offline errors, safetensors-only loading, chunking, out-of-memory halving, crash safety)."""

import logging

import numpy as np
import pytest
import torch

from reconfake.paradigms import hf_loading
from reconfake.paradigms.encodec import EncodecBackend
from reconfake.paradigms.registry import BackendError, build_backend
from reconfake.reconstruct import reconstruct_shard
from reconfake.testing.checks import assert_shard
from reconfake.testing.fixtures import twin_fixtures
from tests.conftest import voiced

SR = 24000

_fast_kernels, backend_name, twin, backend = twin_fixtures("encodec", model_batch=8)


def clip(seconds: float, seed: int = 0) -> np.ndarray:
    return voiced(seconds, f0=120 + 10 * seed, seed=seed, sr=SR)


def test_twin_loads_like_a_checkpoint(backend, twin):
    assert backend.sample_rate == SR and backend.hop == 320 and backend.device == "cpu"
    assert backend.model_batch == 8
    assert build_backend("encodec", {"model": str(twin)}).model_batch == 1  # CPU default
    meta = backend.metadata()
    assert meta["model_id"] == str(twin) and meta["revision"] == hf_loading.weights_digest(twin)
    assert meta["settings"]["bandwidth_kbps"] == 6.0
    assert meta["settings"]["num_quantizers"] == 8  # 6 kbps / (75 frames/s x 10 bits)
    assert meta["settings"]["frame_rate"] == 75


def test_bandwidth_sets_codebooks_and_unknown_is_named(twin):
    assert build_backend("encodec", {"model": str(twin), "bandwidth": 1.5}).num_quantizers == 2
    with pytest.raises(BackendError, match=r"bandwidth 2.0 kbps not offered.*1.5, 3.0, 6.0"):
        build_backend("encodec", {"model": str(twin), "bandwidth": 2.0})


def test_lengths_short_silent_and_clipped(backend):
    short = clip(0.0005)  # 12 samples, shorter than one 320-sample frame
    silent = np.zeros(SR // 3, dtype=np.float32)
    clipped = np.clip(clip(0.4) * 10, -1, 1)
    outs = backend.reconstruct([short, silent, clipped])
    assert [len(o) for o in outs] == [12, SR // 3, len(clipped)]
    assert all(o.dtype == np.float32 and np.all(np.isfinite(o)) for o in outs)


def test_batch_equals_single_and_is_deterministic(backend, twin):
    a, b = clip(1.0, 1), clip(0.55, 2)
    batched = backend.reconstruct([a, b])
    singles = [backend.reconstruct([x])[0] for x in (a, b)]
    for got, want in zip(batched, singles, strict=True):
        # causal model: padding after a clip cannot change it
        assert np.max(np.abs(got - want)) <= 1e-5 * np.max(np.abs(want)) + 1e-7
    again = build_backend("encodec", {"model": str(twin)}).reconstruct([a])[0]
    assert np.array_equal(again, singles[0])
    assert not np.allclose(singles[0], a, atol=1e-3)  # it did reconstruct


def test_long_clip_is_chunked_not_cropped(twin):
    x = clip(1.7, 3)
    chunked = build_backend("encodec", {"model": str(twin), "chunk_seconds": 0.5,
                                        "overlap_seconds": 0.1})
    assert chunked.chunk == 12000 and chunked.overlap == 2400
    y = chunked.reconstruct([x])[0]
    whole = build_backend("encodec", {"model": str(twin)}).reconstruct([x])[0]
    tail = slice(len(x) - SR // 4, len(x))
    assert len(y) == len(x)
    assert np.sqrt(np.mean(y[tail] ** 2)) > 0.3 * np.sqrt(np.mean(whole[tail] ** 2)) > 0


def test_chunk_spans_and_overlap_add_rebuild_a_clip():
    spans = hf_loading.chunk_spans(1000, 300, 50)
    assert spans[0] == (0, 300) and spans[-1] == (700, 1000)
    assert all(b[0] < a[1] - 49 for a, b in zip(spans, spans[1:], strict=False))  # overlap >= 50
    x = np.random.default_rng(0).standard_normal(1000).astype(np.float32)
    rebuilt = hf_loading.overlap_add([x[s:e] for s, e in spans], spans, 1000, 50)
    np.testing.assert_allclose(rebuilt, x, atol=1e-6)
    assert hf_loading.chunk_spans(200, 300, 50) == [(0, 200)]
    assert hf_loading.chunk_spans(200, None, 50) == [(0, 200)]


def test_out_of_memory_halves_the_batch(backend, monkeypatch, caplog):
    monkeypatch.setattr(backend, "model_batch", 4)  # restored after the test: the fixture is shared
    clips = [clip(0.3 + 0.05 * i, i) for i in range(4)]
    singles = [backend.reconstruct([c])[0] for c in clips]
    sizes = []
    real_forward = EncodecBackend.forward

    def forward(self, batch):
        sizes.append(len(batch))
        if len(batch) > 1:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real_forward(self, batch)

    monkeypatch.setattr(EncodecBackend, "forward", forward)
    with caplog.at_level(logging.WARNING, logger="reconfake"):
        outs = backend.reconstruct(clips)
    assert sizes == [4, 2, 1, 1, 1, 1]
    assert "out of memory with a batch of 4; retrying with 2" in caplog.text
    for got, want in zip(outs, singles, strict=True):
        np.testing.assert_allclose(got, want, atol=1e-6)
    assert backend.model_batch == 1  # the size that worked is kept: no new OOM on the next call
    sizes.clear()
    backend.reconstruct(clips[:2])
    assert sizes == [1, 1]
    monkeypatch.setattr(EncodecBackend, "forward", lambda self, batch: (_ for _ in ()).throw(
        torch.OutOfMemoryError("out of memory")))
    with pytest.raises(BackendError, match="out of memory on a single item"):
        backend.reconstruct(clips[:1])


def test_shard_contents_and_metadata(tmp_path, make_manifest, twin):
    manifest = make_manifest(n=4, seconds=0.6)
    out = tmp_path / "encodec.parquet"
    summary = reconstruct_shard(manifest, "encodec", out, {"model": str(twin), "batch_size": 3})
    assert summary["rows"] == 4
    assert_shard(out, manifest, "encodec", twin)


def test_crash_mid_shard_leaves_no_partial_shard(tmp_path, make_manifest, twin, monkeypatch):
    manifest = make_manifest(n=4, seconds=0.5)
    out = tmp_path / "crash.parquet"
    calls = []
    real_forward = EncodecBackend.forward

    def flaky(self, batch):
        calls.append(len(batch))
        if len(calls) == 2:
            raise RuntimeError("simulated crash in the second batch")
        return real_forward(self, batch)

    monkeypatch.setattr(EncodecBackend, "forward", flaky)
    with pytest.raises(RuntimeError, match="simulated crash"):
        reconstruct_shard(manifest, "encodec", out, {"model": str(twin), "batch_size": 2})
    assert not out.exists() and list(tmp_path.glob("crash*")) == []
    monkeypatch.setattr(EncodecBackend, "forward", real_forward)
    assert reconstruct_shard(manifest, "encodec", out, {"model": str(twin)})["rows"] == 4


def test_hub_id_loads_from_the_cache_offline(tmp_path, twin, monkeypatch):
    """The Hub-id path (snapshot_download, offline) on a cache laid out as the Hub writes it."""
    import shutil

    import huggingface_hub.constants

    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / "models--reconfake-test--encodec-twin"
    shutil.copytree(twin, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for revision in ("main", commit):
        backend = build_backend("encodec", {"model": "reconfake-test/encodec-twin",
                                            "revision": revision})
        meta = backend.metadata()
        assert meta["model_id"] == "reconfake-test/encodec-twin" and meta["revision"] == commit
        assert meta["settings"]["requested_revision"] == revision
    x = clip(0.3)
    want = build_backend("encodec", {"model": str(twin)}).reconstruct([x])[0]
    assert np.array_equal(backend.reconstruct([x])[0], want)


def test_offline_unreachable_id_names_the_id_and_the_fix(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(BackendError) as info:
        build_backend("encodec", {"model": "reconfake-test/no-such-model", "revision": "abc123"})
    message = str(info.value)
    assert "'reconfake-test/no-such-model' at revision abc123" in message
    assert "offline" in message and "not in the local cache" in message
    assert "hf download reconfake-test/no-such-model --revision abc123" in message
    assert "model: DIR" in message


def test_pickle_only_and_missing_directories_are_refused(tmp_path, twin):
    from transformers import EncodecModel

    pickled = tmp_path / "pickled"
    pickled.mkdir()
    (pickled / "config.json").write_text((twin / "config.json").read_text())
    torch.save(EncodecModel.from_pretrained(twin).state_dict(), pickled / "pytorch_model.bin")
    with pytest.raises(BackendError, match=r"no \*\.safetensors weights \(it holds only pickled"):
        build_backend("encodec", {"model": str(pickled)})
    with pytest.raises(BackendError, match="model directory .*nowhere does not exist"):
        build_backend("encodec", {"model": str(tmp_path / "nowhere")})


def test_device_and_options_are_checked(twin):
    with pytest.raises(BackendError, match="unknown option.*bandwith"):
        build_backend("encodec", {"model": str(twin), "bandwith": 6.0})
    with pytest.raises(BackendError, match="device 'tpu'"):
        build_backend("encodec", {"model": str(twin)}, device="tpu")
    if not torch.cuda.is_available():
        with pytest.raises(BackendError, match="no CUDA GPU"):
            build_backend("encodec", {"model": str(twin)}, device="cuda")
    assert build_backend("encodec", {"model": str(twin)}, device="auto").device in ("cpu", "cuda")
