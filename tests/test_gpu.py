"""reconfake on a CUDA GPU: the code paths CPU-only CI cannot run, with their numbers asserted.

On a machine with an NVIDIA GPU, from the repository root (a few minutes; random weights,
synthetic audio, no network, nothing from ``../shared``)::

    pytest tests/test_gpu.py

Without CUDA (``torch.cuda.is_available()`` false) every test skips, saying so. Two variables
change what runs:

* ``RECONFAKE_TEST_DEVICE`` (default ``cuda``): ``cpu`` runs the same control flow on the CPU,
  to test this suite itself on a machine without a GPU (the CUDA-only steps, bf16, float16 and
  the caching allocator's out-of-memory, then skip with the reason); ``cuda:N`` picks a GPU.
* ``RECONFAKE_TEST_TWINS`` (default ``real`` on CUDA, ``tiny`` on the CPU): the size of the
  backends' random-weight twins (``reconfake.testing.twins``); real size has the real
  architectures' arithmetic, so the tolerances below hold for the real models' kernels.

Throughput and peak memory are measured by ``scripts/bench_gpu.py``, not here.
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from reconfake.audio import resample, write_audio
from reconfake.paradigms.hf_loading import run_halving
from reconfake.paradigms.registry import build_backend
from reconfake.testing.checks import assert_shard
from reconfake.testing.twins import twin_kernels, twin_options
from tests.conftest import SR, SSL_TINY_ARCH, voiced

DEVICE = os.environ.get("RECONFAKE_TEST_DEVICE", "cuda").strip().lower()
if DEVICE != "cpu" and DEVICE.split(":")[0] != "cuda":
    raise ValueError(f"RECONFAKE_TEST_DEVICE={DEVICE!r}: use cuda, cuda:N or cpu")
CUDA = DEVICE.startswith("cuda")
REAL_SIZE = os.environ.get("RECONFAKE_TEST_TWINS", "real" if CUDA else "tiny") == "real"
BACKENDS = ("encodec", "dac", "hifigan", "audioldm")

pytestmark = pytest.mark.skipif(
    CUDA and not torch.cuda.is_available(),
    reason="no CUDA GPU (torch.cuda.is_available() is false); on a GPU machine run "
           "`pytest tests/test_gpu.py`, or set RECONFAKE_TEST_DEVICE=cpu to run its control flow "
           "on the CPU")
needs_cuda = pytest.mark.skipif(not CUDA, reason="CUDA only (RECONFAKE_TEST_DEVICE=cpu)")

# -- tolerances -----------------------------------------------------------------------------
# Outputs are audio in [-1, 1], so differences are absolute. On an H200 with real-size twins
# (docs/gpu_check_h200.md) batch-vs-single differed by at most 4e-4 and CUDA-vs-CPU by 2.6e-4:
# cuDNN picks other kernels (TF32 convolutions by default) for other shapes, which is float
# noise. 2e-3 (-54 dBFS) leaves 5x headroom for other GPUs and stays 10x below the padding leak
# this check once caught (0.02 for DAC, 0.23 for HiFi-GAN, before the receptive-field context).
BATCH_TOL = 2e-3
DEVICE_TOL = 2e-3
# bfloat16 keeps 8 significant bits (0.4 % per rounding) and the error compounds over tens of
# layers, and for AudioLDM over the diffusion steps: measured 0.3-3 % RMS relative to float32
# on the H200. 10 % still fails a wrong cast or scale, which gives differences of order 100 %.
BF16_RMS_TOL = 0.1
# AASIST scores are logits of order 1; batch 16 vs one at a time differed by 3.3e-5 on the
# H200 (other kernels for other batch shapes); 1e-4 is the bound the workflow relies on when
# it scores in batches. CUDA vs CPU differed by 1e-5; 1e-3 allows other GPUs' kernels.
SCORE_BATCH_TOL = 1e-4
SCORE_DEVICE_TOL = 1e-3


@pytest.fixture(scope="module")
def device() -> str:
    """The device under test: ``cuda`` unless RECONFAKE_TEST_DEVICE says otherwise."""
    return DEVICE


@pytest.fixture(scope="module", autouse=True)
def _cpu_kernels():
    """Tiny twins on the CPU run far faster on one thread without oneDNN (see twin_kernels)."""
    if CUDA or REAL_SIZE:
        yield
    else:
        with twin_kernels():
            yield


@pytest.fixture(scope="module", params=BACKENDS)
def twin(request, tmp_path_factory) -> tuple[str, dict]:
    """``(backend name, options)`` of a random-weight twin, built once for the module."""
    name = request.param
    return name, twin_options(name, tmp_path_factory.mktemp(name) / "model", real_size=REAL_SIZE)


def on(name: str, options: dict, device: str, **extra):
    """Backend ``name`` on ``device``, with batches through the model (``model_batch`` =
    ``batch_size``, the CUDA default, also on the CPU)."""
    backend = build_backend(name, {**options, **extra}, device=device)
    backend.model_batch = backend.batch_size
    return backend


@pytest.fixture(scope="module")
def built(twin, device):
    """``(name, backend, clips at its rate, batched outputs)``: each twin's batched run once."""
    name, options = twin
    backend = on(name, options, device)
    n, low, high = (8, 1.0, 3.0) if CUDA else (4, 0.5, 0.8)
    if name == "audioldm" and CUDA:  # a diffusion model at real size: fewer clips
        n //= 2
    clips = [resample(voiced(low + (high - low) * i / (n - 1), f0=110 + 20 * i, seed=i), SR,
                      backend.sample_rate) for i in range(n)]
    outputs = batched(backend, clips)
    return name, backend, clips, outputs


def batched(backend, clips: list[np.ndarray]) -> list[np.ndarray]:
    """``reconstruct`` on ``batch_size`` clips a call, as ``reconstruct_shard`` calls it."""
    out: list[np.ndarray] = []
    for i in range(0, len(clips), backend.batch_size):
        out.extend(backend.reconstruct(clips[i:i + backend.batch_size]))
    return out


def max_abs(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    return max(float(np.max(np.abs(x - y))) for x, y in zip(a, b, strict=True))


# -- reconstruction backends ----------------------------------------------------------------

def test_reconstruct_keeps_lengths_and_is_finite(built, device):
    name, backend, clips, outputs = built
    assert backend.device == str(torch.device(device))
    assert backend.metadata()["settings"]["device"] == backend.device
    assert [len(y) for y in outputs] == [len(x) for x in clips]
    assert all(y.dtype == np.float32 and np.all(np.isfinite(y)) for y in outputs)
    assert min(float(np.sqrt(np.mean(y ** 2))) for y in outputs) > 1e-4  # not silence


def test_batch_equals_single(built):
    name, backend, clips, outputs = built
    singles = [backend.reconstruct([x])[0] for x in clips]
    assert max_abs(singles, outputs) <= BATCH_TOL


def test_device_equals_cpu(built, twin):
    name, backend, clips, _ = built
    seconds = 1.0 if name == "audioldm" else 1.5
    pieces = [x[: int(seconds * backend.sample_rate)] for x in clips[:2]]
    here = [backend.reconstruct([p])[0] for p in pieces]
    cpu = build_backend(name, twin[1], device="cpu")
    assert max_abs([cpu.reconstruct([p])[0] for p in pieces], here) <= DEVICE_TOL


def test_bf16_is_close_to_fp32(built, twin, device):
    name, _, clips, outputs = built
    b16 = on(name, twin[1], device, bf16=True)
    got = batched(b16, clips)
    assert [len(y) for y in got] == [len(x) for x in clips]
    assert all(np.all(np.isfinite(y)) for y in got)
    if not CUDA:  # bf16 applies to CUDA only: the CPU runs float32, the same numbers
        assert b16.dtype == torch.float32 and max_abs(got, outputs) == 0.0
        return
    assert b16.dtype == torch.bfloat16
    err = math.sqrt(sum(float(np.sum((y - x) ** 2)) for x, y in zip(outputs, got, strict=True)))
    ref = math.sqrt(sum(float(np.sum(x ** 2)) for x in outputs))
    assert err / ref <= BF16_RMS_TOL


def test_forced_out_of_memory_halves_and_finishes(built, monkeypatch, caplog):
    """The backend's forward raises CUDA's out-of-memory error for more than two windows:
    run_halving halves the batch of 4 to 2, keeps that size, and every clip comes back."""
    name, backend, clips, outputs = built
    assert len(clips) in (4, 8) and len(clips) <= backend.batch_size  # one reconstruct call
    sizes: list[int] = []
    original = backend.forward

    def forward(windows):
        sizes.append(len(windows))
        if len(windows) > 2:
            raise torch.cuda.OutOfMemoryError(f"test: forced OOM for {len(windows)} windows")
        return original(windows)

    monkeypatch.setattr(backend, "forward", forward)  # instance attribute: removed afterwards
    monkeypatch.setattr(backend, "model_batch", 4)
    with caplog.at_level(logging.WARNING, logger="reconfake"):
        got = batched(backend, clips)
    assert sizes == [4] + [2] * (len(clips) // 2) and backend.model_batch == 2
    assert caplog.text.count(f"backend {name}: out of memory with a batch of 4; retrying with 2") == 1
    assert [len(y) for y in got] == [len(x) for x in clips]
    assert max_abs(got, outputs) <= BATCH_TOL


@needs_cuda
def test_real_out_of_memory_halves_and_finishes(device, caplog):
    """A real allocator out-of-memory under a capped memory fraction: a batch of 8 items of
    256 MiB (2 GiB) and of 4 (1 GiB) do not fit 640 MiB above what is reserved, 2 do."""
    torch.cuda.empty_cache()
    unit = 256 * 2**20
    total = torch.cuda.get_device_properties(device).total_memory
    base = torch.cuda.memory_reserved(device)
    sizes: list[int] = []

    def allocate(batch: list[int]) -> list[int]:
        sizes.append(len(batch))
        x = torch.ones(len(batch) * unit // 4, dtype=torch.float32, device=device)
        return [int(x[:1].item()) * i for i in batch]

    torch.cuda.set_per_process_memory_fraction((base + 2.5 * unit) / total, device)
    try:
        with caplog.at_level(logging.WARNING, logger="reconfake"):
            out, size = run_halving(allocate, list(range(8)), 8, "test")
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0, device)
        torch.cuda.empty_cache()
    assert sizes == [8, 4, 2, 2, 2, 2] and size == 2 and out == list(range(8))
    assert "out of memory with a batch of 8; retrying with 4" in caplog.text
    assert "out of memory with a batch of 4; retrying with 2" in caplog.text


def test_reconstruct_shard_writes_the_shard(twin, device, tmp_path, make_manifest):
    from reconfake.reconstruct import reconstruct_shard

    name, options = twin
    manifest = make_manifest(n=4, seconds=1.0 if CUDA else 0.4)
    out = tmp_path / f"{name}.parquet"
    summary = reconstruct_shard(manifest, name, out, {**options, "batch_size": 2}, device=device)
    assert summary["rows"] == 4 and out.stat().st_size > 0
    assert_shard(out, manifest, name, Path(options["model"]), device=str(torch.device(device)))


# -- detector training ----------------------------------------------------------------------

@pytest.mark.parametrize("amp", [True, False], ids=["amp", "fp32"])
def test_train_detector_ssl_aasist_steps_with_finite_loss(amp, device, tmp_path, make_manifest):
    from reconfake.detector.registry import build_model
    from reconfake.train import train_detector

    train, dev = make_manifest("train", n=8), make_manifest("dev", n=4)
    options = {"epochs": 1, "batch_size": 4, "crop_samples": 16000, "eval_samples": 16000,
               "max_steps_per_epoch": 2, "threads": 1, "lr": 1e-3, "racl_enh": True,
               "racl_reg": True, "device": device, "amp": amp}
    path = train_detector(train, dev, tmp_path / "m", [], "ssl_aasist", SSL_TINY_ARCH, options)
    blob = torch.load(path, map_location="cpu", weights_only=True)
    (record,) = blob["history"]
    assert all(math.isfinite(record[k]) for k in ("total", "ce", "enh", "reg", "dev_ce"))
    assert 0 <= record["dev_eer_percent"] <= 100
    torch.manual_seed(0)  # train_detector's seed: the weights it started from
    start = build_model("ssl_aasist", SSL_TINY_ARCH).state_dict()
    trained = blob["state_dict"]
    assert all(torch.isfinite(v).all() for v in trained.values() if v.is_floating_point())
    moved = any(not torch.equal(trained[k], start[k]) for k in trained)
    # float16 on CUDA may skip both steps (the gradient scaler's overflow check), not fp32
    assert moved or (amp and CUDA)


@pytest.mark.parametrize("mode", ["bf16", "fp16", "fp32"])
def test_detector_step_under_autocast(mode, device):
    """Frozen front-end + SLS + AASIST back-end, forward, RACL loss, backward and Adam under
    autocast in each precision (float16 with a gradient scaler, as training runs it)."""
    from reconfake.detector.losses import DetectorLoss
    from reconfake.detector.registry import build_model

    if mode == "fp16" and not CUDA:
        pytest.skip("float16 training (GradScaler) is CUDA's; the CPU trains in float32")
    dev = torch.device(device)
    torch.manual_seed(0)
    model = build_model("ssl_aasist", SSL_TINY_ARCH).to(dev).train()
    loss_fn = DetectorLoss(enh=True, reg=True).to(dev)
    params = [p for p in model.parameters() if p.requires_grad]
    before = [p.detach().clone() for p in params]
    optimizer = torch.optim.Adam(params, lr=1e-3)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(mode)
    scaler = torch.amp.GradScaler("cuda") if mode == "fp16" else None
    labels = torch.tensor([1, 0, 1, 0], device=dev)
    groups = torch.tensor([0, 0, 1, 1], device=dev)
    for _ in range(2):
        x = 0.1 * torch.randn(4, 16000, device=dev)
        with torch.autocast(dev.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            embedding, logits = model(x)
            loss = loss_fn(embedding, logits, labels, groups)["total"]
        assert math.isfinite(float(loss.detach()))
        optimizer.zero_grad()
        if scaler is not None:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            optimizer.step()
    assert all(torch.isfinite(p).all() for p in params)
    moved = any(not torch.equal(p.detach(), b) for p, b in zip(params, before, strict=True))
    # float16: the scaler skips a step whose scaled gradients overflow, and halves its scale
    assert moved or (scaler is not None and scaler.get_scale() < 2.0**16)


# -- scoring --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def aasist_checkpoint(tmp_path_factory) -> Path:
    """The official AASIST architecture with seeded random weights, as a reconfake checkpoint."""
    from reconfake.detector.inference import CHECKPOINT_FORMAT
    from reconfake.detector.registry import build_model

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("aasist") / "aasist_random.pt"
    torch.save({"format": CHECKPOINT_FORMAT, "architecture": "aasist", "arch_options": {},
                "state_dict": build_model("aasist", {}).state_dict()}, path)
    return path


@pytest.fixture(scope="module")
def score_clips(tmp_path_factory) -> Path:
    """17 clips on CUDA (a batch of 16 and a batch of 1), 3 on the CPU, of 2-4.5 s."""
    folder = tmp_path_factory.mktemp("score") / "wavs"
    n = 17 if CUDA else 3
    for i in range(n):
        write_audio(folder / f"clip{i:03d}.flac", voiced(2.0 + 2.5 * i / (n - 1), seed=i), SR)
    return folder


def test_aasist_batch_of_16_equals_one_at_a_time(aasist_checkpoint, score_clips, device):
    from reconfake.audio import load_audio
    from reconfake.detector.data import fixed_crop, list_audio_files, stack
    from reconfake.detector.inference import bonafide_scores, load_checkpoint

    model, _ = load_checkpoint(aasist_checkpoint, "aasist")
    model.to(device)
    waves = stack([fixed_crop(load_audio(f, sample_rate=SR)[0], 64600)
                   for f in list_audio_files(score_clips)])
    batch = bonafide_scores(model, waves, 16)
    single = np.concatenate([bonafide_scores(model, waves[i:i + 1], 1) for i in range(len(waves))])
    assert batch.shape == single.shape == (len(waves),) and np.all(np.isfinite(batch))
    assert float(np.max(np.abs(batch - single))) <= SCORE_BATCH_TOL
    cpu = bonafide_scores(model.to("cpu"), waves[:4], 4)
    assert float(np.max(np.abs(cpu - batch[:4]))) <= SCORE_DEVICE_TOL


def test_score_inputs_batch_of_16_equals_one_at_a_time(aasist_checkpoint, score_clips, device,
                                                       tmp_path):
    from reconfake.score import score_inputs

    scores = {}
    for batch_size in (16, 1):
        out = tmp_path / f"scores_b{batch_size}.csv"
        result = score_inputs(aasist_checkpoint, [str(score_clips)], out, batch_size=batch_size,
                              device=device)
        assert result.rows == len(list(score_clips.iterdir())) and not result.failures
        rows = [line.split(",") for line in out.read_text().splitlines()[1:]]
        scores[batch_size] = {r[0]: float(r[1]) for r in rows}
    assert scores[16].keys() == scores[1].keys()
    assert max(abs(scores[16][k] - scores[1][k]) for k in scores[16]) <= SCORE_BATCH_TOL
