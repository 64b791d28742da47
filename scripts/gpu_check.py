"""One prepared check of reconfake on a CUDA GPU: the code paths that CPU-only CI cannot run.

Run once on a machine with one NVIDIA GPU (a few minutes; random weights, synthetic audio,
no network, no files from ``shared/``), from the repository root::

    PYTHONPATH=src:. python3 scripts/gpu_check.py --out OUT_DIR

It writes ``OUT_DIR/gpu_check.json`` (every figure, and the traceback of whatever failed)
and ``OUT_DIR/gpu_check.md`` (a summary), rewritten after every step, so a run cut short
still leaves what it measured. Sections (``--sections`` picks some):

* ``env``: torch / CUDA / cuDNN versions, the GPU, its memory, package versions.
* ``backends``: encodec, dac, hifigan and audioldm at real size with random weights
  (``reconfake.testing.twins``; audioldm conditioned on zeros as in ``scripts/bench_backends.py``),
  built by ``build_backend(..., device="cuda")``: throughput of batched ``reconstruct``
  (the CUDA default ``model_batch``) in fp32 and bf16, one clip at a time, peak GPU memory,
  batch-vs-single and CUDA-vs-CPU differences, output lengths and NaNs, and the
  out-of-memory halving of ``run_halving`` (forced once, and once for real under a
  lowered memory fraction).
* ``shard``: ``reconstruct_shard`` end to end with encodec on CUDA (FLAC + Parquet).
* ``detector``: ``train_detector`` with the paper's ``ssl_aasist`` (XLS-R 300M architecture,
  random weights; SLS; RACL on): clips/s and peak GPU memory with AMP on and off, through
  the feature cache, at the paper's batch of 14, and a plain loop in bf16 / fp16 / fp32.
* ``score``: official-architecture AASIST (random weights) through ``score_inputs`` and
  ``bonafide_scores`` on CUDA, batch 16 against one clip at a time.

``--device cpu --quick`` runs the same control flow on tiny models and few clips on a CPU
(under three minutes on two cores), to test the script itself before the GPU run.
Each section has a share of ``--budget`` seconds; optional steps are skipped once their
section's share (plus what earlier sections left over) is spent.
"""

from __future__ import annotations

import argparse
import contextlib
import faulthandler
import gc
import json
import logging
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # everything is local; never wait on a network
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
for _p in (REPO / "scripts", REPO, REPO / "src"):  # bench_*, tests.twins and reconfake
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

SR = 16000
SECTIONS = ("env", "backends", "shard", "detector", "score")
# share of the budget per section; a section may also use what earlier ones left over
SHARES = {"env": 0.02, "backends": 0.48, "shard": 0.07, "detector": 0.35, "score": 0.08}
BACKENDS = ("encodec", "dac", "hifigan", "audioldm")
BACKEND_SHARES = {"encodec": 0.2, "dac": 0.25, "hifigan": 0.15, "audioldm": 0.4}

log = logging.getLogger("gpu_check")


def say(msg: str) -> None:
    print(f"[gpu_check {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def jsonable(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    return repr(obj)


class LogCapture(logging.Handler):
    """Collects the messages of the ``reconfake`` logger (e.g. the OOM-halving warnings)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())

    def count(self, text: str) -> int:
        return sum(text in m for m in self.messages)


class Check:
    """Shared state: options, device, deadlines, results, and the twin folders built so far."""

    def __init__(self, args: argparse.Namespace, workdir: Path):
        self.args = args
        self.quick = args.quick
        self.device = args.device
        self.cuda = args.device.startswith("cuda")
        self.workdir = workdir
        self.start = time.perf_counter()
        self.results: dict[str, Any] = {
            "command": sys.argv, "device": args.device, "quick": args.quick,
            "budget_s": args.budget, "started": time.strftime("%Y-%m-%d %H:%M:%S"),
            "sections": {}}
        self.errors: list[str] = []
        self.twins: dict[str, dict[str, Any]] = {}
        self.xlsr: Path | None = None
        self.section_deadline = math.inf

    # -- time -------------------------------------------------------------------------------

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def deadline_for(self, section: str, selected: list[str]) -> float:
        """Seconds since start by which ``section`` should end (cumulative shares)."""
        total = sum(SHARES[s] for s in selected)
        upto = sum(SHARES[s] for s in selected[: selected.index(section) + 1])
        return self.args.budget * upto / total

    def time_left(self, deadline: float | None = None) -> float:
        return (self.section_deadline if deadline is None else deadline) - self.elapsed()

    # -- results ----------------------------------------------------------------------------

    def step(self, res: dict[str, Any], key: str, fn: Callable[[], Any], optional: bool = False,
             deadline: float | None = None, min_left: float = 0.0) -> Any:
        """Run ``fn`` into ``res[key]``; a failure records its traceback and returns None.
        An optional step is skipped when less than ``min_left`` seconds are left before its
        deadline (default: the section's)."""
        if optional and self.time_left(deadline) <= min_left:
            res[key] = {"skipped": f"time budget spent ({self.elapsed():.0f} s elapsed)"}
            say(f"  {key}: skipped (time budget)")
            return None
        t0 = time.perf_counter()
        say(f"  {key} ...")
        try:
            value = fn()
        except Exception as exc:
            tb = traceback.format_exc()
            res[key] = {"error": f"{type(exc).__name__}: {exc}", "traceback": tb}
            self.errors.append(f"{key}: {type(exc).__name__}: {str(exc)[:300]}")
            say(f"  {key}: FAILED after {time.perf_counter() - t0:.1f} s: {type(exc).__name__}: "
                f"{str(exc)[:300]}")
            print(tb, flush=True)
            value = None
        else:
            res[key] = value
            say(f"  {key}: done in {time.perf_counter() - t0:.1f} s")
        self.save()
        return value

    def save(self) -> None:
        out = Path(self.args.out)
        out.mkdir(parents=True, exist_ok=True)
        self.results["elapsed_s"] = round(self.elapsed(), 1)
        self.results["errors"] = self.errors
        tmp = out / ".gpu_check.json.tmp"
        tmp.write_text(json.dumps(self.results, indent=2, default=jsonable) + "\n")
        tmp.replace(out / "gpu_check.json")
        try:
            text = markdown(self.results)
        except Exception:  # the summary must never lose the JSON
            text = "# GPU check\n\nsummary failed:\n\n```\n" + traceback.format_exc() + "```\n"
        (out / "gpu_check.md").write_text(text)

    # -- torch helpers ----------------------------------------------------------------------

    def sync(self) -> None:
        if self.cuda:
            import torch

            torch.cuda.synchronize()

    def timed(self, fn: Callable[[], Any]) -> tuple[Any, float]:
        self.sync()
        t0 = time.perf_counter()
        value = fn()
        self.sync()
        return value, time.perf_counter() - t0

    def reset_peak(self) -> None:
        if self.cuda:
            import torch

            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()

    def peak_mib(self) -> float | None:
        if not self.cuda:
            return None
        import torch

        torch.cuda.synchronize()
        return round(torch.cuda.max_memory_allocated() / 2**20, 1)

    def allocated_mib(self) -> float | None:
        if not self.cuda:
            return None
        import torch

        return round(torch.cuda.memory_allocated() / 2**20, 1)

    def free(self) -> None:
        gc.collect()
        if self.cuda:
            import torch

            torch.cuda.synchronize()
            torch.cuda.empty_cache()

    # -- weights ----------------------------------------------------------------------------

    def backend_options(self, name: str) -> dict[str, Any]:
        """Options pointing at a random-weight twin (real size unless ``--quick``), built once."""
        if name not in self.twins:
            from bench_backends import build_weights

            kind = "twins" if self.quick else "real-size"
            t0 = time.perf_counter()
            self.twins[name] = build_weights(name, kind, self.workdir / "weights")
            say(f"  built {kind} twin of {name} in {time.perf_counter() - t0:.1f} s")
        return dict(self.twins[name])


# =========================================================================== env


def section_env(ck: Check) -> dict[str, Any]:
    import torch

    res: dict[str, Any] = {"python": platform.python_version(), "platform": platform.platform(),
                           "cpus": os.cpu_count(), "torch": torch.__version__,
                           "torch_cuda": torch.version.cuda,
                           "cuda_available": torch.cuda.is_available(),
                           "env": {k: os.environ.get(k) for k in
                                   ("PYTHONPATH", "HF_HUB_OFFLINE", "CUDA_VISIBLE_DEVICES")}}
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        free, total = torch.cuda.mem_get_info()
        res.update(gpu=torch.cuda.get_device_name(0), gpu_count=torch.cuda.device_count(),
                   capability=list(torch.cuda.get_device_capability(0)),
                   total_memory_gib=round(props.total_memory / 2**30, 2),
                   free_memory_gib=round(free / 2**30, 2), mem_get_info_total_gib=round(total / 2**30, 2),
                   multiprocessors=props.multi_processor_count,
                   cudnn=torch.backends.cudnn.version(),
                   bf16_supported=torch.cuda.is_bf16_supported(),
                   cudnn_allow_tf32=torch.backends.cudnn.allow_tf32,
                   matmul_allow_tf32=torch.backends.cuda.matmul.allow_tf32,
                   cudnn_benchmark=torch.backends.cudnn.benchmark)
    versions: dict[str, str | None] = {}
    for module in ("transformers", "diffusers", "huggingface_hub", "safetensors", "tokenizers",
                   "numpy", "scipy", "pyarrow", "soundfile", "cffi", "matplotlib", "yaml"):
        try:
            mod = __import__(module)
            versions[module] = str(getattr(mod, "__version__", "?"))
            if module == "soundfile":
                versions["libsndfile"] = str(mod.__libsndfile_version__)
        except Exception as exc:
            versions[module] = f"import failed: {type(exc).__name__}: {exc}"
    res["packages"] = versions
    try:
        from reconfake.shards import package_versions

        res["reconfake_shard_package_versions"] = package_versions()  # reconfake itself has no metadata
    except Exception as exc:
        res["reconfake_shard_package_versions"] = f"failed: {type(exc).__name__}: {exc}"
    try:
        smi = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total,memory.used,"
                              "power.limit,clocks.max.sm", "--format=csv"],
                             capture_output=True, text=True, timeout=20)
        res["nvidia_smi"] = smi.stdout.strip() or smi.stderr.strip()
    except Exception as exc:
        res["nvidia_smi"] = f"unavailable: {type(exc).__name__}"
    if ck.cuda and not torch.cuda.is_available():
        raise RuntimeError("--device cuda but torch sees no CUDA device")
    return res


# =========================================================================== backends


def _clips(n: int, low: float, high: float) -> list[np.ndarray]:
    from bench_backends import speechlike

    return [speechlike(low + (high - low) * i / max(1, n - 1), seed=i) for i in range(n)]


def _diff(a: list[np.ndarray], b: list[np.ndarray], tail: int = 0) -> dict[str, float]:
    """Largest |a - b|, its size relative to the largest |a|, and the RMS difference relative
    to the RMS of a; ``tail`` samples at each clip's end are left out of ``max_abs_no_tail``."""
    worst = worst_no_tail = peak = 0.0
    err = ref = 0.0
    for x, y in zip(a, b, strict=True):
        n = min(len(x), len(y))
        d = np.abs(x[:n].astype(np.float64) - y[:n])
        worst = max(worst, float(d.max(initial=0.0)))
        if n > tail:
            worst_no_tail = max(worst_no_tail, float(d[: n - tail].max(initial=0.0)))
        peak = max(peak, float(np.abs(x).max(initial=0.0)))
        err += float((d**2).sum())
        ref += float((x.astype(np.float64) ** 2).sum())
    return {"max_abs": worst, "max_abs_no_tail": worst_no_tail,
            "max_abs_rel_peak": worst / peak if peak else None,
            "rms_rel": math.sqrt(err / ref) if ref else None}


def _batched(backend: Any, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """``backend.reconstruct`` on ``batch_size`` clips per call, as reconstruct_shard calls it."""
    out: list[np.ndarray] = []
    for i in range(0, len(inputs), backend.batch_size):
        out.extend(backend.reconstruct(inputs[i:i + backend.batch_size]))
    return out


def _checks(inputs: list[np.ndarray], outputs: list[np.ndarray]) -> dict[str, Any]:
    return {"lengths_equal": all(len(x) == len(y) for x, y in zip(inputs, outputs, strict=True)),
            "finite": all(bool(np.all(np.isfinite(y))) for y in outputs),
            "output_rms": float(np.sqrt(np.mean(np.concatenate(outputs) ** 2)))}


def _build(ck: Check, name: str, options: dict[str, Any], device: str | None = None) -> Any:
    from reconfake.paradigms.registry import build_backend

    backend = build_backend(name, options, device=device or ck.device)
    if backend.torch_device.type == "cpu":  # the CUDA default, so batches go through the model
        backend.model_batch = backend.batch_size
    return backend


def _forced_oom(ck: Check, backend: Any, inputs: list[np.ndarray],
                reference: list[np.ndarray]) -> dict[str, Any]:
    """Make the backend's forward raise torch.cuda.OutOfMemoryError for batches above two
    windows and check that run_halving still returns every clip at its length."""
    import torch

    capture = LogCapture()
    logging.getLogger("reconfake").addHandler(capture)
    original = backend.forward
    sizes: list[int] = []

    def forward(clips: list[np.ndarray]) -> list[np.ndarray]:
        sizes.append(len(clips))
        if len(clips) > 2:
            raise torch.cuda.OutOfMemoryError(f"gpu_check: forced OOM for {len(clips)} windows")
        return original(clips)

    backend.forward = forward  # instance attribute: _forward_checked calls self.forward
    try:
        outputs, seconds = ck.timed(lambda: _batched(backend, inputs))
    finally:
        del backend.forward
        logging.getLogger("reconfake").removeHandler(capture)
    return {"model_batch": backend.model_batch, "forward_calls_by_size": sizes,
            "forced_ooms": sum(s > 2 for s in sizes),
            "halving_warnings": capture.count("out of memory with a batch"),
            "clips_back": len(outputs), "clips_in": len(inputs), "seconds": seconds,
            **_checks(inputs, outputs), "vs_single": _diff(reference, outputs)}


def _real_oom(ck: Check, backend: Any, inputs: list[np.ndarray], reference: list[np.ndarray],
              batch_peak_mib: float, base_mib: float) -> dict[str, Any]:
    """A real CUDA OOM: cap this process's GPU memory (set_per_process_memory_fraction) between
    what a batch of ``model_batch`` windows and half of one need, then run the batches."""
    import torch

    capture = LogCapture()
    logging.getLogger("reconfake").addHandler(capture)
    ck.free()
    now = torch.cuda.memory_allocated() / 2**20
    activations = max(1.0, batch_peak_mib - base_mib)
    limit_mib = now + 0.55 * activations
    total = torch.cuda.get_device_properties(0).total_memory / 2**20
    fraction = limit_mib / total
    torch.cuda.set_per_process_memory_fraction(fraction)
    try:
        outputs, seconds = ck.timed(lambda: _batched(backend, inputs))
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0)
        logging.getLogger("reconfake").removeHandler(capture)
        ck.free()
    return {"limit_mib": round(limit_mib, 1), "fraction": fraction, "allocated_before_mib": round(now, 1),
            "batch_activation_mib": round(activations, 1),
            "halving_warnings": capture.count("out of memory with a batch"),
            "warnings": [m for m in capture.messages if "out of memory" in m][:5],
            "model_batch_after": backend.model_batch, "seconds": seconds,
            **_checks(inputs, outputs), "vs_single": _diff(reference, outputs)}


def _one_backend(ck: Check, name: str, clips16k: list[np.ndarray], res: dict[str, Any],
                 deadline: float) -> None:
    from reconfake.audio import resample
    from reconfake.paradigms.registry import backend_class

    options = ck.step(res, "weights", lambda: ck.backend_options(name))
    if options is None:
        return
    res["weights_options"] = res.pop("weights")
    audio_s = sum(len(c) for c in clips16k) / SR
    state: dict[str, Any] = {}

    def load() -> dict[str, Any]:
        ck.free()
        ck.reset_peak()
        before = ck.allocated_mib()
        backend, seconds = ck.timed(lambda: _build(ck, name, options))
        state["backend"] = backend
        state["inputs"] = [resample(c, SR, backend.sample_rate) for c in clips16k]
        settings = {k: v for k, v in backend.metadata()["settings"].items()
                    if k not in ("scheduler", "mel_spec")}
        return {"load_s": seconds, "device": backend.device, "dtype": str(backend.dtype),
                "sample_rate": backend.sample_rate, "batch_size": backend.batch_size,
                "model_batch": backend.model_batch, "clips": len(clips16k), "audio_s": audio_s,
                "weights_mib": None if before is None else round(ck.allocated_mib() - before, 1),
                "settings": settings}

    if ck.step(res, "load", load) is None:
        return
    inputs = state["inputs"]

    def backend_() -> Any:
        return state["backend"]

    def warm() -> dict[str, Any]:
        _, first = ck.timed(lambda: backend_().reconstruct(inputs[: backend_().batch_size]))
        _, bare = ck.timed(lambda: backend_().bare_forward(inputs[0]))
        return {"first_batch_s": first, "first_bare_s": bare}

    ck.step(res, "warmup", warm)

    def batched() -> dict[str, Any]:
        ck.reset_peak()
        outputs, seconds = ck.timed(lambda: _batched(backend_(), inputs))
        state["batched"] = outputs
        return {"seconds": seconds, "audio_s_per_s": audio_s / seconds, "peak_mib": ck.peak_mib(),
                **_checks(inputs, outputs)}

    fp32 = ck.step(res, "batched_fp32", batched)

    def single() -> dict[str, Any]:
        ck.reset_peak()
        outputs, seconds = ck.timed(lambda: [backend_().reconstruct([x])[0] for x in inputs])
        state["single"] = outputs
        return {"seconds": seconds, "audio_s_per_s": audio_s / seconds, "peak_mib": ck.peak_mib(),
                **_checks(inputs, outputs)}

    one = ck.step(res, "single_fp32", single)

    def bare() -> dict[str, Any]:
        ck.reset_peak()
        outputs, seconds = ck.timed(lambda: [backend_().bare_forward(x) for x in inputs])
        return {"seconds": seconds, "audio_s_per_s": audio_s / seconds, "peak_mib": ck.peak_mib(),
                "length_minus_input": [len(y) - len(x) for x, y in zip(inputs, outputs, strict=True)],
                "finite": all(bool(np.all(np.isfinite(y))) for y in outputs)}

    ck.step(res, "bare_forward_fp32", bare)
    if fp32 and one:
        res["batched_over_single"] = fp32["audio_s_per_s"] / one["audio_s_per_s"]
        tail = int(0.1 * backend_().sample_rate)
        res["batch_vs_single_fp32"] = _diff(state["single"], state["batched"], tail=tail)
    reference = state.get("single") or state.get("batched")
    if reference is not None:
        ck.step(res, "forced_oom", lambda: _forced_oom(ck, backend_(), inputs, reference))
        if ck.cuda and fp32 and name != "audioldm":
            base = res["load"]["weights_mib"] or 0.0
            ck.step(res, "real_oom", lambda: _real_oom(ck, backend_(), inputs, reference,
                                                       fp32["peak_mib"], base),
                    optional=True, deadline=deadline)
    if ck.cuda or ck.quick:  # quick CPU mode compares CPU with CPU, to test the step itself
        def on_cpu() -> dict[str, Any]:
            """The same weights on the CPU: short pieces of clips, one at a time, fp32."""
            n, seconds = (1, 1.0) if name == "audioldm" else (2, 1.5)
            rate = backend_().sample_rate
            pieces = [x[: int(seconds * rate)] for x in inputs[:n]]
            on_cuda = [backend_().reconstruct([p])[0] for p in pieces]
            cpu = _build(ck, name, options, device="cpu")
            try:
                outputs, wall = ck.timed(lambda: [cpu.reconstruct([p])[0] for p in pieces])
            finally:
                del cpu
                gc.collect()
            return {"pieces": n, "piece_seconds": seconds, "cpu_seconds": wall,
                    "cuda_vs_cpu": _diff(outputs, on_cuda), **_checks(pieces, outputs)}

        ck.step(res, "cuda_vs_cpu_fp32", on_cpu, optional=True, deadline=deadline, min_left=10)
    state.pop("backend")
    ck.free()

    if "bf16" in backend_class(name).defaults:
        def bf16() -> dict[str, Any]:
            ck.reset_peak()
            before = ck.allocated_mib()
            b16, load_s = ck.timed(lambda: _build(ck, name, {**options, "bf16": True}))
            try:
                weights = None if before is None else round(ck.allocated_mib() - before, 1)
                ck.timed(lambda: b16.reconstruct(inputs[: b16.batch_size]))  # warm-up
                ck.reset_peak()
                outputs, seconds = ck.timed(lambda: _batched(b16, inputs))
                out = {"dtype": str(b16.dtype), "load_s": load_s, "weights_mib": weights,
                       "seconds": seconds, "audio_s_per_s": audio_s / seconds,
                       "peak_mib": ck.peak_mib(), **_checks(inputs, outputs)}
                if state.get("batched"):
                    out["vs_fp32_batched"] = _diff(state["batched"], outputs)
                if fp32:
                    out["speedup_vs_fp32"] = out["audio_s_per_s"] / fp32["audio_s_per_s"]
                return out
            finally:
                del b16
                ck.free()

        ck.step(res, "batched_bf16", bf16, optional=True, deadline=deadline)
    else:
        res["batched_bf16"] = {"skipped": "backend has no bf16 option"}


def section_backends(ck: Check) -> dict[str, Any]:
    q = ck.quick
    n, low, high = (3, 1.0, 1.5) if q else (ck.args.clips, 3.0, 5.0)
    clips = _clips(n, low, high)
    res: dict[str, Any] = {"clips": n, "seconds_range": [low, high],
                           "audio_s": sum(len(c) for c in clips) / SR,
                           "weights": "tiny twins" if q else "real-size twins (random weights)"}
    names = [b for b in ck.args.backends if b in BACKENDS]
    start = ck.elapsed()
    span = ck.section_deadline - start
    total = sum(BACKEND_SHARES[b] for b in names)
    done = 0.0
    for name in names:
        done += BACKEND_SHARES[name]
        deadline = start + span * done / total
        say(f"backend {name} (until t={deadline:.0f} s)")
        sub: dict[str, Any] = {}
        res[name] = sub
        use = clips
        if name == "audioldm":  # a diffusion model: fewer clips, spread over the lengths
            keep = min(len(clips), ck.args.audioldm_clips)
            use = [clips[round(i * (len(clips) - 1) / max(1, keep - 1))] for i in range(keep)]
            sub["clips_used"] = keep
        if ck.time_left() <= 0:
            sub["skipped"] = "time budget spent"
            continue
        try:
            _one_backend(ck, name, use, sub, deadline)
        except Exception as exc:
            sub["error"] = f"{type(exc).__name__}: {exc}"
            sub["traceback"] = traceback.format_exc()
            ck.errors.append(f"backend {name}: {type(exc).__name__}: {str(exc)[:300]}")
        ck.free()
        ck.save()
    return res


# =========================================================================== shard


def section_shard(ck: Check) -> dict[str, Any]:
    from bench_backends import make_manifest

    from reconfake.manifest import read_manifest
    from reconfake.reconstruct import reconstruct_shard
    from reconfake.shards import iter_shard, shard_info

    res: dict[str, Any] = {"backend": "encodec"}
    n, seconds = (3, 1.0) if ck.quick else (ck.args.shard_clips, 4.0)
    folder = ck.workdir / "shard"
    manifest = ck.step(res, "manifest", lambda: str(make_manifest(folder / "clips", n, seconds)))
    options = ck.step(res, "weights", lambda: ck.backend_options("encodec"))
    if manifest is None or options is None:
        return res

    def run() -> dict[str, Any]:
        ck.free()
        ck.reset_peak()
        out = folder / "encodec.parquet"
        summary, wall = ck.timed(lambda: reconstruct_shard(manifest, "encodec", out, options,
                                                           device=ck.device))
        sources = {r.utt_id: r for r in read_manifest(manifest)}
        clips = list(iter_shard(out))
        info = shard_info(out)
        lengths_ok = all(c.row["num_samples"] == len(c.audio) ==
                         sources[c.row["source_utt_id"]].num_samples for c in clips)
        return {"summary": summary, "wall_s_including_load": wall,
                "audio_s_per_s_including_load": summary["audio_seconds"] / wall,
                "peak_mib": ck.peak_mib(), "rows": len(clips), "manifest_rows": len(sources),
                "lengths_ok": lengths_ok,
                "finite": all(bool(np.all(np.isfinite(c.audio))) for c in clips),
                "logmel_distance": [round(float(c.row["logmel_distance"]), 4) for c in clips],
                "settings_device": info["settings"].get("device"),
                "settings_dtype": info["settings"].get("dtype"),
                "packages": info.get("packages"), "file_mib": out.stat().st_size / 2**20}

    ck.step(res, "reconstruct_shard", run)
    return res


# =========================================================================== detector


def _xlsr(ck: Check) -> Path:
    if ck.xlsr is None:
        import torch
        from bench_detector import XLSR_300M_CONFIG, _save_xlsr_twin
        from transformers import Wav2Vec2Config, Wav2Vec2Model

        folder = ck.workdir / "xlsr"
        t0 = time.perf_counter()
        if ck.quick:
            torch.manual_seed(0)
            small = {**XLSR_300M_CONFIG, "hidden_size": 64, "num_hidden_layers": 4,
                     "num_attention_heads": 2, "intermediate_size": 128, "conv_dim": [32] * 7,
                     "num_conv_pos_embeddings": 16, "num_conv_pos_embedding_groups": 4}
            Wav2Vec2Model(Wav2Vec2Config(**small)).save_pretrained(folder)
        else:
            _save_xlsr_twin(folder)
        say(f"  saved the {'small' if ck.quick else 'XLS-R 300M'} random front-end in "
            f"{time.perf_counter() - t0:.1f} s")
        ck.xlsr = folder
    return ck.xlsr


def _train(ck: Check, tag: str, train: Path, dev: Path, opts: dict[str, Any]) -> dict[str, Any]:
    import torch

    from reconfake.train import train_detector

    ck.free()
    ck.reset_peak()
    out = ck.workdir / "train" / tag
    path, wall = ck.timed(lambda: train_detector(train, dev, out, [], "ssl_aasist",
                                                 {"frontend": str(_xlsr(ck)), "aggregation": "sls"},
                                                 {**opts, "device": ck.device}))
    peak = ck.peak_mib()
    blob = torch.load(path, map_location="cpu", weights_only=True)
    history = blob["history"]
    batch = opts["batch_size"]
    res = {"options": opts, "wall_s": wall, "peak_mib": peak,
           "epoch_clips_per_s": [h["clips_per_s"] for h in history],
           "epoch_steps_per_s": [h["clips_per_s"] / batch for h in history],
           "epoch_seconds_with_dev": [h["seconds"] for h in history],
           "losses_finite": all(math.isfinite(h["total"]) for h in history),
           "last_epoch": {k: v for k, v in history[-1].items()} if history else None,
           "dev_eer": blob["dev_eer"]}
    if "feature_cache" in blob:
        info = blob["feature_cache"]
        res["feature_cache"] = {**info, "fill_clips_per_s": info["computed"] / max(info["seconds"], 1e-9),
                                "disk_mib_per_clip": info["disk_bytes"] / max(1, info["computed"]) / 2**20}
    return res


def _plain_loop(ck: Check, batch: int, crop: int, steps: int) -> dict[str, Any]:
    """Frozen front-end (no_grad) + SLS + AASIST back-end, forward+backward+Adam, in memory."""
    import torch

    from reconfake.detector.losses import DetectorLoss
    from reconfake.detector.ssl_aasist import SSLAASIST

    dev = torch.device(ck.device)
    torch.manual_seed(0)
    model = SSLAASIST(frontend=str(_xlsr(ck)), aggregation="sls").to(dev).train()
    loss_fn = DetectorLoss(enh=True, reg=True).to(dev)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=1e-4)
    labels = torch.tensor([1, 0] * (batch // 2) + [1] * (batch % 2), device=dev)
    groups = torch.arange(batch, device=dev) // 2
    modes = ("bf16", "fp16", "fp32") if ck.cuda else ("fp32", "bf16")
    out: dict[str, Any] = {"batch": batch, "crop_samples": crop, "timed_steps": steps,
                           "trainable_params": sum(p.numel() for p in params)}
    for mode in modes:
        dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(mode)
        scaler = torch.amp.GradScaler("cuda") if mode == "fp16" and ck.cuda else None

        def one_step(dtype: torch.dtype | None = dtype, scaler: Any = scaler) -> float:
            x = torch.randn(batch, crop, device=dev) * 0.1
            with torch.autocast(dev.type, dtype=dtype or torch.float32, enabled=dtype is not None):
                embedding, logits = model(x)
                loss = loss_fn(embedding, logits, labels, groups)["total"]
            optimizer.zero_grad()
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
            else:
                loss.backward()
                optimizer.step()
            return float(loss.detach())

        try:
            ck.free()
            for _ in range(2):
                one_step()
            ck.reset_peak()
            losses, seconds = ck.timed(lambda: [one_step() for _ in range(steps)])
            out[mode] = {"clips_per_s": batch * steps / seconds, "steps_per_s": steps / seconds,
                         "peak_mib": ck.peak_mib(), "losses_finite": all(map(math.isfinite, losses))}
        except Exception as exc:
            out[mode] = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
            ck.errors.append(f"plain_loop {mode}: {type(exc).__name__}: {str(exc)[:300]}")
    return out


def section_detector(ck: Check) -> dict[str, Any]:
    from bench_detector import _write_corpus

    q = ck.quick
    batch = 4 if q else 8
    crop = 16000 if q else 64000
    n_train, n_dev = (8, 4) if q else (ck.args.train_clips, ck.args.dev_clips)
    # one thread in quick mode: OpenMP barriers cost more than they save on a busy small CPU
    threads = 1 if q else max(2, min(8, (os.cpu_count() or 4) // 2))
    res: dict[str, Any] = {"model": ("small " if q else "XLS-R 300M architecture, ") +
                           "random weights + SLS + AASIST back-end, RACL on",
                           "train_clips": n_train, "dev_clips": n_dev, "crop_samples": crop,
                           "threads": threads}
    ck.step(res, "frontend_twin", lambda: str(_xlsr(ck)))
    corpus = ck.step(res, "corpus", lambda: [str(p) for p in _write_corpus(
        ck.workdir / "corpus", n_train, n_dev, crop / SR + 0.25)])
    if corpus is None or ck.xlsr is None:
        return res
    train, dev = map(Path, corpus)
    base = {"epochs": 2, "batch_size": batch, "lr": 1e-4, "crop_samples": crop,
            "eval_samples": crop, "threads": threads, "racl_enh": True, "racl_reg": True,
            "patience": 10}
    amp = ck.step(res, "train_amp", lambda: _train(ck, "amp", train, dev, {**base, "amp": True}))
    fp32 = ck.step(res, "train_fp32", lambda: _train(ck, "fp32", train, dev, {**base, "amp": False}),
                   optional=True)
    if amp and fp32:
        res["amp_speedup_last_epoch"] = amp["epoch_clips_per_s"][-1] / fp32["epoch_clips_per_s"][-1]
    big = {**base, "batch_size": 14, "epochs": 1, "max_steps_per_epoch": 3}
    ck.step(res, "train_batch14_amp", lambda: _train(ck, "b14amp", train, dev, {**big, "amp": True}),
            optional=True)
    cached = ck.step(res, "train_cached_amp", lambda: _train(
        ck, "cached", train, dev, {**base, "amp": True,
                                   "feature_cache": str(ck.workdir / "feature_cache")}), optional=True)
    if amp and cached:
        res["cached_speedup_last_epoch"] = cached["epoch_clips_per_s"][-1] / amp["epoch_clips_per_s"][-1]
    ck.step(res, "plain_loop", lambda: _plain_loop(ck, batch, crop, 3 if q else 8), optional=True)
    ck.step(res, "train_batch14_fp32", lambda: _train(ck, "b14fp32", train, dev,
                                                      {**big, "amp": False}), optional=True)
    return res


# =========================================================================== score


def section_score(ck: Check) -> dict[str, Any]:
    import torch
    from bench_detector import _write_score_clips

    from reconfake.audio import load_audio
    from reconfake.detector.data import fixed_crop, list_audio_files, stack
    from reconfake.detector.inference import CHECKPOINT_FORMAT, bonafide_scores, load_checkpoint
    from reconfake.detector.registry import build_model
    from reconfake.score import score_inputs

    n = 2 if ck.quick else ck.args.score_clips
    res: dict[str, Any] = {"architecture": "aasist (official architecture, random weights)",
                           "clips": n, "eval_samples": 64600}
    folder = ck.workdir / "score" / "wavs"

    def prepare() -> str:
        folder.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(0)
        model = build_model("aasist", {})
        path = ck.workdir / "score" / "aasist_random.pt"
        torch.save({"format": CHECKPOINT_FORMAT, "architecture": "aasist", "arch_options": {},
                    "state_dict": model.state_dict()}, path)
        _write_score_clips(folder, n)
        return str(path)

    checkpoint = ck.step(res, "prepare", prepare)
    if checkpoint is None:
        return res

    def read_csv(path: Path) -> dict[str, float]:
        lines = path.read_text().splitlines()[1:]
        return {ln.split(",")[0]: float(ln.split(",")[1]) for ln in lines}

    def cli_path() -> dict[str, Any]:
        out: dict[str, Any] = {}
        csv = {}
        score_inputs(checkpoint, [str(folder)], folder.parent / "warm.csv", batch_size=16,
                     device=ck.device)  # warm-up: CUDA context, cuDNN
        for bs in (16, 1):
            ck.reset_peak()
            target = folder.parent / f"scores_b{bs}.csv"
            result, seconds = ck.timed(lambda bs=bs, target=target: score_inputs(
                checkpoint, [str(folder)], target, batch_size=bs, device=ck.device))
            csv[bs] = read_csv(target)
            out[f"batch{bs}"] = {"rows": result.rows, "failures": len(result.failures),
                                 "seconds": seconds, "clips_per_s": n / seconds,
                                 "peak_mib": ck.peak_mib()}
        out["batch16_over_batch1"] = out["batch16"]["clips_per_s"] / out["batch1"]["clips_per_s"]
        out["max_abs_score_diff_b16_vs_b1"] = max(abs(csv[16][k] - csv[1][k]) for k in csv[16])
        return out

    ck.step(res, "score_inputs", cli_path)

    def model_only() -> dict[str, Any]:
        model, _ = load_checkpoint(checkpoint, "aasist")
        model.to(ck.device)
        waves = stack([fixed_crop(load_audio(f, sample_rate=SR)[0], 64600)
                       for f in list_audio_files(folder)])
        bonafide_scores(model, waves[:16], 16)  # warm-up
        ck.reset_peak()
        batch_scores, t16 = ck.timed(lambda: bonafide_scores(model, waves, 16))
        peak16 = ck.peak_mib()
        ck.reset_peak()
        single, t1 = ck.timed(lambda: np.concatenate([bonafide_scores(model, waves[i:i + 1], 1)
                                                       for i in range(len(waves))]))
        out = {"batch16": {"seconds": t16, "clips_per_s": n / t16, "peak_mib": peak16},
               "batch1": {"seconds": t1, "clips_per_s": n / t1, "peak_mib": ck.peak_mib()},
               "batch16_over_batch1": t1 / t16,
               "max_abs_score_diff_b16_vs_b1": float(np.abs(batch_scores - single).max()),
               "scores_finite": bool(np.all(np.isfinite(batch_scores)))}
        if ck.cuda or ck.quick:
            model.to("cpu")
            k = min(4, n)
            cpu_scores = bonafide_scores(model, waves[:k], k)
            out["max_abs_score_diff_cuda_vs_cpu"] = float(np.abs(cpu_scores - batch_scores[:k]).max())
            out["score_range"] = [float(batch_scores.min()), float(batch_scores.max())]
        return out

    ck.step(res, "bonafide_scores", model_only)
    return res


# =========================================================================== summary


def _f(value: Any, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, float):
        if value != 0 and (abs(value) < 10 ** -digits or abs(value) >= 1e6):
            return f"{value:.2e}"
        return f"{value:.{digits}f}"
    return str(value)


def _get(d: Any, *keys: str) -> Any:
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


def _status(d: Any) -> str:
    if not isinstance(d, dict):
        return "-"
    if "error" in d:
        return "ERROR"
    if "skipped" in d:
        return "skipped"
    return "ok"


def markdown(r: dict[str, Any]) -> str:
    s = r["sections"]
    env = _get(s, "env", "result") or {}
    lines = ["# reconfake GPU check", "",
             f"Device {r['device']}{' (quick mode)' if r['quick'] else ''}; GPU {env.get('gpu', '-')}, "
             f"{env.get('total_memory_gib', '-')} GiB; torch {env.get('torch', '-')} (CUDA "
             f"{env.get('torch_cuda', '-')}, cuDNN {env.get('cudnn', '-')}); started {r['started']}, "
             f"{r.get('elapsed_s', '-')} s elapsed. Random weights and synthetic audio: speeds and "
             "memory are real, outputs are not.", "",
             "| section | status | seconds |", "|---|---|---|"]
    for name, sec in s.items():
        lines.append(f"| {name} | {sec.get('status', '-')} | {_f(sec.get('seconds'), 1)} |")
    back = _get(s, "backends", "result")
    if isinstance(back, dict):
        lines += ["", "## Reconstruction backends", "",
                  f"{back.get('clips')} clips of {back.get('seconds_range')} s "
                  f"({_f(back.get('audio_s'), 1)} s of audio; audioldm fewer), {back.get('weights')}. "
                  "Throughput in audio seconds per second.", "",
                  "| backend | load s | batched fp32 | batched bf16 | one at a time | bare forward | "
                  "batched / single | weights MiB | peak MiB batched | peak MiB single | "
                  "peak MiB bf16 | batch vs single max abs | bf16 vs fp32 rms rel | CUDA vs CPU max abs "
                  "| lengths, finite | forced OOM: ooms/warnings/clips | real OOM: warnings, lengths |",
                  "|" + "---|" * 17]
        for name in BACKENDS:
            b = back.get(name)
            if not isinstance(b, dict):
                continue
            if "error" in b or "skipped" in b:
                lines.append(f"| {name} | {_status(b)} " + "| " * 15 + "|")
                continue
            fo, ro = b.get("forced_oom") or {}, b.get("real_oom") or {}
            checks = [_get(b, k, "lengths_equal") for k in ("batched_fp32", "single_fp32")] + \
                [_get(b, k, "finite") for k in ("batched_fp32", "single_fp32")]
            real = "-" if not ro else ("ERROR" if "error" in ro else "skipped" if "skipped" in ro else
                                       f"{ro.get('halving_warnings')}, {_f(ro.get('lengths_equal'))}")
            forced = "-" if not fo else ("ERROR" if "error" in fo else
                                         f"{fo.get('forced_ooms')}/{fo.get('halving_warnings')}/"
                                         f"{fo.get('clips_back')} of {fo.get('clips_in')}")

            def speed(key: str, b: dict = b) -> str:
                v = b.get(key)
                return _status(v) if _status(v) != "ok" else _f(v.get("audio_s_per_s"), 1)

            lines.append(
                f"| {name} | {_f(_get(b, 'load', 'load_s'), 1)} | {speed('batched_fp32')} | "
                f"{speed('batched_bf16')} | {speed('single_fp32')} | {speed('bare_forward_fp32')} | "
                f"{_f(b.get('batched_over_single'))} | {_f(_get(b, 'load', 'weights_mib'), 0)} | "
                f"{_f(_get(b, 'batched_fp32', 'peak_mib'), 0)} | "
                f"{_f(_get(b, 'single_fp32', 'peak_mib'), 0)} | "
                f"{_f(_get(b, 'batched_bf16', 'peak_mib'), 0)} | "
                f"{_f(_get(b, 'batch_vs_single_fp32', 'max_abs'), 5)} | "
                f"{_f(_get(b, 'batched_bf16', 'vs_fp32_batched', 'rms_rel'), 4)} | "
                f"{_f(_get(b, 'cuda_vs_cpu_fp32', 'cuda_vs_cpu', 'max_abs'), 5)} | "
                f"{'yes' if all(c is True for c in checks) else 'NO'} | {forced} | {real} |")
    shard = _get(s, "shard", "result", "reconstruct_shard")
    if isinstance(shard, dict):
        lines += ["", "## reconstruct_shard (encodec)", ""]
        if "error" in shard:
            lines.append(f"ERROR: {shard['error']}")
        else:
            lines.append(f"{shard.get('rows')} rows of {shard.get('manifest_rows')}, "
                         f"{_f(shard.get('wall_s_including_load'), 1)} s including the model load "
                         f"({_f(shard.get('audio_s_per_s_including_load'), 1)} audio s/s), peak "
                         f"{_f(shard.get('peak_mib'), 0)} MiB; lengths ok {_f(shard.get('lengths_ok'))}, "
                         f"finite {_f(shard.get('finite'))}; metadata device "
                         f"{shard.get('settings_device')}, dtype {shard.get('settings_dtype')}.")
    det = _get(s, "detector", "result")
    if isinstance(det, dict):
        lines += ["", "## Detector training (ssl_aasist)", "",
                  f"{det.get('model')}; {det.get('train_clips')} train / {det.get('dev_clips')} dev "
                  f"clips, crop {det.get('crop_samples')} samples.", "",
                  "| run | batch | clips/s per epoch | steps/s last epoch | peak MiB | wall s | "
                  "losses finite |", "|---|---|---|---|---|---|---|"]
        for key in ("train_amp", "train_fp32", "train_batch14_amp", "train_batch14_fp32",
                    "train_cached_amp"):
            t = det.get(key)
            if not isinstance(t, dict):
                continue
            if _status(t) != "ok":
                lines.append(f"| {key} | {_status(t)} | | | | | |")
                continue
            cps = ", ".join(_f(v, 1) for v in t.get("epoch_clips_per_s", []))
            lines.append(f"| {key} | {_get(t, 'options', 'batch_size')} | {cps} | "
                         f"{_f((t.get('epoch_steps_per_s') or [None])[-1])} | {_f(t.get('peak_mib'), 0)} | "
                         f"{_f(t.get('wall_s'), 1)} | {_f(t.get('losses_finite'))} |")
        fc = _get(det, "train_cached_amp", "feature_cache")
        if fc:
            lines.append(f"\nFeature cache: filled {fc.get('computed')} clips in "
                         f"{_f(fc.get('seconds'), 1)} s "
                         f"({_f(fc.get('fill_clips_per_s'), 1)} clips/s), "
                         f"{_f(fc.get('disk_mib_per_clip'), 2)} MiB per clip.")
        pl = det.get("plain_loop")
        if isinstance(pl, dict) and _status(pl) == "ok":
            parts = []
            for mode in ("bf16", "fp16", "fp32"):
                m = pl.get(mode)
                if isinstance(m, dict):
                    parts.append(f"{mode}: " + ("ERROR" if "error" in m else
                                                f"{_f(m.get('clips_per_s'), 1)} clips/s, peak "
                                                f"{_f(m.get('peak_mib'), 0)} MiB"))
            lines.append(f"\nPlain loop (batch {pl.get('batch')}, in memory): " + "; ".join(parts) + ".")
    sc = _get(s, "score", "result")
    if isinstance(sc, dict):
        lines += ["", "## Scoring (AASIST)", ""]
        for key, what in (("score_inputs", "score_inputs (decode + model)"),
                          ("bonafide_scores", "bonafide_scores (model only)")):
            v = sc.get(key)
            if not isinstance(v, dict):
                continue
            if _status(v) != "ok":
                lines.append(f"- {what}: {_status(v)}")
                continue
            lines.append(f"- {what}: batch 16 {_f(_get(v, 'batch16', 'clips_per_s'), 1)} clips/s, one at "
                         f"a time {_f(_get(v, 'batch1', 'clips_per_s'), 1)} clips/s "
                         f"(x{_f(v.get('batch16_over_batch1'))}); max |score b16 - b1| "
                         f"{_f(v.get('max_abs_score_diff_b16_vs_b1'), 6)}"
                         + (f"; max |CUDA - CPU| {_f(v.get('max_abs_score_diff_cuda_vs_cpu'), 6)}"
                            if "max_abs_score_diff_cuda_vs_cpu" in v else ""))
    if r.get("errors"):
        lines += ["", "## Errors", ""] + [f"- {e}" for e in r["errors"]]
    return "\n".join(lines) + "\n"


# =========================================================================== driver

RUNNERS: dict[str, Callable[[Check], dict[str, Any]]] = {
    "env": section_env, "backends": section_backends, "shard": section_shard,
    "detector": section_detector, "score": section_score}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, help="folder for gpu_check.json and gpu_check.md")
    parser.add_argument("--device", default="cuda", help="cuda (default), cuda:N or cpu")
    parser.add_argument("--quick", action="store_true",
                        help="tiny models and few clips (to test the script on a CPU)")
    parser.add_argument("--sections", nargs="+", default=list(SECTIONS), choices=SECTIONS)
    parser.add_argument("--backends", nargs="+", default=list(BACKENDS), choices=BACKENDS)
    parser.add_argument("--budget", type=float, default=330.0,
                        help="seconds for the whole run; optional steps are skipped past it")
    parser.add_argument("--clips", type=int, default=16, help="backend clips (3-5 s)")
    parser.add_argument("--audioldm-clips", type=int, default=8)
    parser.add_argument("--shard-clips", type=int, default=16)
    parser.add_argument("--train-clips", type=int, default=64, help="half bona fide")
    parser.add_argument("--dev-clips", type=int, default=16)
    parser.add_argument("--score-clips", type=int, default=64)
    parser.add_argument("--workdir", default=None, help="scratch folder (default: a temporary one)")
    args = parser.parse_args()

    logging.basicConfig(level=logging.INFO, stream=sys.stdout,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    for noisy in ("httpx", "urllib3", "filelock"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    selected = [s for s in SECTIONS if s in args.sections]
    # if a step hangs, show where: every thread's stack on stderr 90 s after the budget
    faulthandler.dump_traceback_later(args.budget + 90, exit=False)
    with tempfile.TemporaryDirectory(prefix="gpu-check-", dir=args.workdir) as tmp:
        ck = Check(args, Path(tmp))
        say(f"sections {selected}, device {args.device}, quick {args.quick}, budget {args.budget:.0f} s, "
            f"workdir {tmp}, out {args.out}")
        for name in selected:
            ck.section_deadline = ck.deadline_for(name, selected)
            entry: dict[str, Any] = {"status": "running"}
            ck.results["sections"][name] = entry
            say(f"== section {name} (t={ck.elapsed():.0f} s, until t={ck.section_deadline:.0f} s)")
            t0 = time.perf_counter()
            if ck.elapsed() > args.budget and name != "env":
                entry.update(status="skipped", reason="time budget spent")
                ck.save()
                continue
            try:
                entry["result"] = {}
                with _kernels(ck):
                    entry["result"] = RUNNERS[name](ck)
                entry["status"] = "ok"
            except Exception as exc:
                entry.update(status="error", error=f"{type(exc).__name__}: {exc}",
                             traceback=traceback.format_exc())
                ck.errors.append(f"section {name}: {type(exc).__name__}: {str(exc)[:300]}")
                print(entry["traceback"], flush=True)
            entry["seconds"] = round(time.perf_counter() - t0, 1)
            if entry["status"] == "ok" and _has_error(entry["result"]):
                entry["status"] = "ok, with failed steps"
            ck.free()
            ck.save()
            say(f"== section {name}: {entry['status']} in {entry['seconds']} s")
        ck.save()
    print((Path(args.out) / "gpu_check.md").read_text(), flush=True)
    say(f"done in {ck.elapsed():.0f} s; {len(ck.errors)} error(s); results in {args.out}")
    return 1 if ck.errors else 0


def _kernels(ck: Check) -> contextlib.AbstractContextManager:
    """Tiny models on a CPU (quick mode) run far faster on one thread without oneDNN."""
    if ck.quick and not ck.cuda:
        from reconfake.testing.twins import twin_kernels

        return twin_kernels()
    return contextlib.nullcontext()


def _has_error(d: Any) -> bool:
    if isinstance(d, dict):
        return "error" in d or any(_has_error(v) for v in d.values())
    if isinstance(d, list):
        return any(_has_error(v) for v in d)
    return False


if __name__ == "__main__":
    sys.exit(main())
