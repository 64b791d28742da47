"""The contract every pretrained Hugging Face backend keeps, checked once per backend on its
random-weight twin (encodec, dac, hifigan, audioldm): loading and metadata, lengths and dtype,
batching, chunking, out-of-memory halving, shards, the Hub cache, offline and refusal errors.

What only one backend does (codebooks, mel analysis, diffusion schedule) is tested in its own
``tests/test_backend_<name>.py``; the shared helpers' pure functions are tested here once.
"""

import logging
import shutil
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
import torch

from reconfake.paradigms import hf_loading
from reconfake.paradigms.registry import BackendError, backend_class, build_backend
from reconfake.reconstruct import reconstruct_shard
from reconfake.shards import shard_info
from reconfake.testing.checks import assert_shard
from reconfake.testing.fixtures import twin_fixtures
from tests.conftest import voiced


@dataclass(frozen=True)
class Case:
    """What a backend's twin is, and what its shards must record."""

    rate: int  # the model's sample rate
    paradigm: str
    short: int  # samples of a clip shorter than one model frame
    settings: dict[str, Any]  # recorded in a shard's settings, built with SHARD_OPTIONS
    options: dict[str, Any] = field(default_factory=dict)  # for speed, on every build here


CASES = {
    # 6 kbps / (75 frames/s x 10 bits) = 8 codebooks
    "encodec": Case(24000, "codec", 12, {"bandwidth_kbps": 6.0, "num_quantizers": 8,
                                         "frame_rate": 75, "context_samples": 0}),
    # 4 books x 6 bits x 50 frames/s; receptive field of the 16 kHz strides, worked by hand
    "dac": Case(16000, "codec", 80, {"bitrate_kbps": pytest.approx(1.2), "context_samples": 6004}),
    "hifigan": Case(16000, "vocoder", 160, {"log": "log10", "normalize_before": True,
                                            "mel_spec": {"hop_length": 256}}),
    # strength 0.5, 2 steps: the last 2 of a 4-step DDIM schedule (steps_offset 1)
    "audioldm": Case(16000, "diffusion", 64, {"timesteps": [251, 1], "condition": "empty_text",
                                              "mel_spec": {"n_mels": 64},
                                              "scheduler": {"beta_schedule": "scaled_linear"}},
                     options={"steps": 2}),
}
MODEL_BATCH = 4
SHARD_OPTIONS = {"batch_size": 2}

_fast_kernels, backend_name, twin, backend = twin_fixtures(
    tuple(CASES), per_backend={k: c.options for k, c in CASES.items()}, model_batch=MODEL_BATCH)


@pytest.fixture
def case(backend_name) -> Case:
    return CASES[backend_name]


def fresh(name: str, twin, **options) -> Any:
    """Backend ``name`` newly built on ``twin`` with the case's options and ``options``."""
    return build_backend(name, {"model": str(twin), **CASES[name].options, **options})


def clip(case: Case, seconds: float, seed: int = 0, f0: float = 140.0) -> np.ndarray:
    return voiced(seconds, f0=f0 + 10 * seed, seed=seed, sr=case.rate)


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


def is_subset(want: dict, got: dict) -> bool:
    return all(is_subset(v, got.get(k, {})) if isinstance(v, dict) else got.get(k) == v
               for k, v in want.items())


def test_twin_loads_like_a_checkpoint(backend_name, backend, twin, case):
    assert backend.sample_rate == case.rate and backend.device == "cpu"
    assert backend.model_batch == MODEL_BATCH
    assert fresh(backend_name, twin).model_batch == 1  # the CPU default
    meta = backend.metadata()
    assert meta["backend"] == backend_name and meta["paradigm"] == case.paradigm
    assert meta["model_id"] == str(twin)
    assert meta["revision"] == hf_loading.weights_digest(twin, backend.allow_patterns())
    settings = meta["settings"]
    assert settings["sample_rate"] == case.rate and settings["requested_revision"] is None
    assert settings["device"] == "cpu" and settings["dtype"] == "float32"


def test_lengths_short_silent_and_clipped(backend, case):
    short = clip(case, case.short / case.rate)  # less than one model frame
    silent = np.zeros(case.rate // 4, dtype=np.float32)
    clipped = np.clip(clip(case, 0.33) * 10, -1, 1)  # not a multiple of any hop here
    outs = backend.reconstruct([short, silent, clipped])
    assert [len(o) for o in outs] == [case.short, case.rate // 4, len(clipped)]
    assert all(o.dtype == np.float32 and np.all(np.isfinite(o)) for o in outs)


def test_batch_equals_single_and_is_deterministic(backend_name, backend, twin, case):
    # audioldm: a and b share a padded size (8-frame multiple), c runs alone; the others pad
    clips = [clip(case, 0.5, 1), clip(case, 0.52, 2, f0=190), clip(case, 0.3, 3)]
    batched = backend.reconstruct(clips)
    singles = [backend.reconstruct([x])[0] for x in clips]
    for got, want in zip(batched, singles, strict=True):  # tails too: padding changes nothing
        assert np.max(np.abs(got - want)) <= 1e-5 * np.max(np.abs(want)) + 1e-7
    again = fresh(backend_name, twin).reconstruct([clips[0]])[0]
    assert np.array_equal(again, singles[0])
    assert np.max(np.abs(singles[0])) > 1e-3  # audible, not silence
    assert not np.allclose(singles[0], clips[0], atol=1e-3)  # it did reconstruct


def test_long_clip_is_chunked_not_cropped(backend_name, twin, case):
    x = clip(case, 1.6, 4)
    chunked = fresh(backend_name, twin, chunk_seconds=0.5, overlap_seconds=0.1)
    assert chunked.chunk == case.rate // 2 and chunked.overlap == case.rate // 10
    y = chunked.reconstruct([x])[0]
    whole = fresh(backend_name, twin).reconstruct([x])[0]
    tail = slice(len(x) - case.rate // 4, len(x))
    assert len(y) == len(x)
    assert rms(y[tail]) > 0.3 * rms(whole[tail]) > 0


def test_out_of_memory_halves_the_batch(backend_name, backend, case, monkeypatch, caplog):
    monkeypatch.setattr(backend, "model_batch", 4)  # restored after the test: the fixture is shared
    clips = [clip(case, 0.3 + 0.05 * i, i) for i in range(4)]
    singles = [backend.reconstruct([c])[0] for c in clips]
    sizes = []
    cls = backend_class(backend_name)
    real_forward = cls.forward

    def forward(self, batch):
        sizes.append(len(batch))
        if len(batch) > 1:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real_forward(self, batch)

    monkeypatch.setattr(cls, "forward", forward)
    with caplog.at_level(logging.WARNING, logger="reconfake"):
        outs = backend.reconstruct(clips)
    assert sizes == [4, 2, 1, 1, 1, 1]
    assert f"backend {backend_name}: out of memory with a batch of 4; retrying with 2" in caplog.text
    for got, want in zip(outs, singles, strict=True):
        np.testing.assert_allclose(got, want, atol=1e-6)
    assert backend.model_batch == 1  # the size that worked is kept: no new OOM on the next call
    sizes.clear()
    backend.reconstruct(clips[:2])
    assert sizes == [1, 1]
    monkeypatch.setattr(cls, "forward", lambda self, batch: (_ for _ in ()).throw(
        torch.OutOfMemoryError("out of memory")))
    with pytest.raises(BackendError, match="out of memory on a single item"):
        backend.reconstruct(clips[:1])


def test_shard_contents_and_metadata(tmp_path, make_manifest, backend_name, twin, case):
    manifest = make_manifest(n=3, seconds=0.4)
    out = tmp_path / f"{backend_name}.parquet"
    options = {"model": str(twin), **case.options, **SHARD_OPTIONS}
    assert reconstruct_shard(manifest, backend_name, out, options)["rows"] == 3
    clips = assert_shard(out, manifest, backend_name, twin)
    assert {c.row["paradigm"] for c in clips} == {case.paradigm}
    settings = shard_info(out)["settings"]
    assert is_subset(case.settings, settings), {k: settings.get(k) for k in case.settings}


def test_crash_mid_shard_leaves_no_partial_shard(tmp_path, make_manifest, backend_name, twin,
                                                 case, monkeypatch):
    manifest = make_manifest(n=4, seconds=0.3)
    out = tmp_path / "crash.parquet"
    calls = []
    cls = backend_class(backend_name)
    real_forward = cls.forward

    def flaky(self, batch):
        calls.append(len(batch))
        if len(calls) == 2:
            raise RuntimeError("simulated crash in the second batch")
        return real_forward(self, batch)

    monkeypatch.setattr(cls, "forward", flaky)
    options = {"model": str(twin), **case.options, **SHARD_OPTIONS}
    with pytest.raises(RuntimeError, match="simulated crash"):
        reconstruct_shard(manifest, backend_name, out, options)
    assert not out.exists() and list(tmp_path.glob("crash*")) == []
    monkeypatch.setattr(cls, "forward", real_forward)
    assert reconstruct_shard(manifest, backend_name, out, options)["rows"] == 4


def test_hub_id_loads_from_the_cache_offline(tmp_path, backend_name, backend, twin, case,
                                             monkeypatch):
    """The Hub-id path (snapshot_download, offline) on a cache laid out as the Hub writes it."""
    import huggingface_hub.constants

    commit = "0123456789abcdef0123456789abcdef01234567"
    repo_id = f"reconfake-test/{backend_name}-twin"
    repo = tmp_path / "hub" / f"models--reconfake-test--{backend_name}-twin"
    shutil.copytree(twin, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for revision in ("main", commit):
        hub = build_backend(backend_name, {"model": repo_id, "revision": revision, **case.options})
        meta = hub.metadata()
        assert meta["model_id"] == repo_id and meta["revision"] == commit
        assert meta["settings"]["requested_revision"] == revision
    x = clip(case, 0.3)
    assert np.array_equal(hub.reconstruct([x])[0], backend.reconstruct([x])[0])


def test_offline_unreachable_id_names_the_id_and_the_fix(backend_name, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(BackendError) as info:
        build_backend(backend_name, {"model": "reconfake-test/no-such-model", "revision": "abc123"})
    message = str(info.value)
    assert message.startswith(f"backend {backend_name}: ")
    assert "'reconfake-test/no-such-model' at revision abc123" in message
    assert "offline" in message and "not in the local cache" in message
    assert "hf download reconfake-test/no-such-model --revision abc123" in message
    assert "model: DIR" in message


def test_pickle_only_and_missing_directories_are_refused(tmp_path, backend_name, twin):
    from safetensors.torch import load_file

    pickled = tmp_path / "pickled"
    shutil.copytree(twin, pickled)
    converted = 0
    for weights in pickled.rglob("*.safetensors"):  # the same weights as pickles, as old repos hold
        torch.save(load_file(weights), weights.with_suffix(".bin"))
        weights.unlink()
        converted += 1
    assert converted >= 1
    with pytest.raises(BackendError, match=r"no \*\.safetensors weights \(it holds only pickled"):
        build_backend(backend_name, {"model": str(pickled)})
    with pytest.raises(BackendError, match="model directory .*nowhere does not exist"):
        build_backend(backend_name, {"model": str(tmp_path / "nowhere")})


def test_device_and_options_are_checked(backend_name, twin):
    with pytest.raises(BackendError, match=f"backend {backend_name}: unknown option.*batch_sise"):
        build_backend(backend_name, {"model": str(twin), "batch_sise": 4})
    with pytest.raises(BackendError, match="device 'tpu'"):
        build_backend(backend_name, {"model": str(twin)}, device="tpu")
    if not torch.cuda.is_available():
        with pytest.raises(BackendError, match="no CUDA GPU"):
            build_backend(backend_name, {"model": str(twin)}, device="cuda")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert build_backend(backend_name, {"model": str(twin), **CASES[backend_name].options},
                         device="auto").device.startswith(expected)


# -- the shared helpers' pure functions, once --------------------------------------------------

def test_chunk_spans_and_overlap_add_rebuild_a_clip():
    spans = hf_loading.chunk_spans(1000, 300, 50)
    assert spans[0] == (0, 300) and spans[-1] == (700, 1000)
    assert all(b[0] < a[1] - 49 for a, b in zip(spans, spans[1:], strict=False))  # overlap >= 50
    x = np.random.default_rng(0).standard_normal(1000).astype(np.float32)
    rebuilt = hf_loading.overlap_add([x[s:e] for s, e in spans], spans, 1000, 50)
    np.testing.assert_allclose(rebuilt, x, atol=1e-6)
    assert hf_loading.chunk_spans(200, 300, 50) == [(0, 200)]
    assert hf_loading.chunk_spans(200, None, 50) == [(0, 200)]
