"""Throughput and peak GPU memory of reconfake on one CUDA GPU (a benchmark, not a test).

The correctness checks of the GPU paths (batch vs single, CUDA vs CPU, bf16, out-of-memory
halving, shards, training and scoring) are ``tests/test_gpu.py``; this script only measures,
with random weights of the real architectures and synthetic audio (speeds and memory are real,
outputs are not), from the repository root::

    python scripts/bench_gpu.py --out OUT_DIR

Parts (``--parts`` picks some), each figure after a warm-up:

* ``backends``: encodec, dac, hifigan and audioldm at real size (``reconfake.testing.twins``;
  audioldm conditioned on zeros): load time and weights, audio seconds per second and peak
  memory of batched ``reconstruct`` (the CUDA default ``model_batch``) in fp32 and bf16, one
  clip at a time, and the bare forward pass;
* ``shard``: ``reconstruct_shard`` with encodec (FLAC + Parquet, including the model load);
* ``detector``: ``train_detector`` with the paper's ``ssl_aasist`` (XLS-R 300M architecture,
  SLS, RACL on) with AMP on and off, at the paper's batch of 14, and through the feature cache;
* ``score``: official-architecture AASIST through ``score_inputs``, batch 16 and batch 1.

Writes ``OUT_DIR/bench_gpu.json`` (rewritten after every part) and prints a Markdown summary
(``OUT_DIR/bench_gpu.md``). ``--device cpu`` runs it on the CPU, peak memory then absent.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # everything is local; never wait on a network

import bench_backends  # noqa: E402  (beside this script; puts ../src on sys.path)
import bench_detector  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

SR = 16000
PARTS = ("backends", "shard", "detector", "score")
BACKENDS = ("encodec", "dac", "hifigan", "audioldm")


class Meter:
    """Times a call with the device synchronised and reads its peak GPU memory."""

    def __init__(self, device: str):
        self.cuda = device.startswith("cuda")

    def free(self) -> None:
        gc.collect()
        if self.cuda:
            torch.cuda.synchronize()
            torch.cuda.empty_cache()

    def __call__(self, fn: Callable[[], Any]) -> tuple[Any, float, float | None]:
        """``(value, seconds, peak MiB)`` of ``fn()``."""
        if self.cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        value = fn()
        if self.cuda:
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
        peak = round(torch.cuda.max_memory_allocated() / 2**20, 1) if self.cuda else None
        return value, seconds, peak

    def allocated_mib(self) -> float | None:
        return round(torch.cuda.memory_allocated() / 2**20, 1) if self.cuda else None


def batched(backend: Any, clips: list[np.ndarray]) -> list[np.ndarray]:
    """``reconstruct`` on ``batch_size`` clips a call, as ``reconstruct_shard`` calls it."""
    out: list[np.ndarray] = []
    for i in range(0, len(clips), backend.batch_size):
        out.extend(backend.reconstruct(clips[i:i + backend.batch_size]))
    return out


def bench_backend(name: str, args: argparse.Namespace, meter: Meter, work: Path) -> dict[str, Any]:
    from reconfake.audio import resample
    from reconfake.paradigms.registry import build_backend
    from reconfake.testing.twins import twin_options

    options = twin_options(name, work / "weights" / name, real_size=True)
    n = args.audioldm_clips if name == "audioldm" else args.clips
    clips16k = [bench_backends.speechlike(3.0 + 2.0 * i / max(1, n - 1), seed=i) for i in range(n)]
    audio_s = sum(len(c) for c in clips16k) / SR
    res: dict[str, Any] = {"clips": n, "audio_s": audio_s}
    for precision in ("fp32", "bf16"):
        meter.free()
        before = meter.allocated_mib()
        backend, load_s, _ = meter(lambda p=precision: build_backend(
            name, {**options, "bf16": p == "bf16"}, device=args.device))
        backend.model_batch = backend.batch_size  # the CUDA default, also on a CPU
        clips = [resample(c, SR, backend.sample_rate) for c in clips16k]
        if before is not None:
            res[f"weights_mib_{precision}"] = round(meter.allocated_mib() - before, 1)
        res[f"load_s_{precision}"] = load_s
        backend.reconstruct(clips[: backend.batch_size])  # warm-up: kernels, allocator
        modes: dict[str, Callable[[], Any]] = {"batched": lambda b=backend, c=clips: batched(b, c)}
        if precision == "fp32":
            modes["single"] = lambda b=backend, c=clips: [b.reconstruct([x])[0] for x in c]
            modes["bare_forward"] = lambda b=backend, c=clips: [b.bare_forward(x) for x in c]
        for mode, fn in modes.items():
            _, seconds, peak = meter(fn)
            res[f"{mode}_{precision}"] = {"audio_s_per_s": audio_s / seconds, "peak_mib": peak}
        del backend
    return res


def bench_shard(args: argparse.Namespace, meter: Meter, work: Path) -> dict[str, Any]:
    from reconfake.reconstruct import reconstruct_shard
    from reconfake.testing.twins import twin_options

    manifest = bench_backends.make_manifest(work / "shard", args.shard_clips, 4.0)
    options = twin_options("encodec", work / "weights" / "encodec-shard", real_size=True)
    meter.free()
    summary, seconds, peak = meter(lambda: reconstruct_shard(
        manifest, "encodec", work / "shard" / "encodec.parquet", options, device=args.device))
    return {"rows": summary["rows"], "wall_s_including_load": seconds, "peak_mib": peak,
            "audio_s_per_s_including_load": summary["audio_seconds"] / seconds}


def bench_detector_training(args: argparse.Namespace, meter: Meter, work: Path) -> dict[str, Any]:
    from reconfake.train import train_detector

    frontend = bench_detector._save_xlsr_twin(work / "xlsr")
    train, dev = bench_detector._write_corpus(work / "corpus", args.train_clips, args.dev_clips,
                                              4.25)
    base = {"epochs": 2, "batch_size": 8, "lr": 1e-4, "crop_samples": 64000,
            "eval_samples": 64000, "racl_enh": True, "racl_reg": True, "patience": 10,
            "device": args.device, "threads": max(2, min(8, (os.cpu_count() or 4) // 2))}
    big = {**base, "batch_size": 14, "epochs": 1, "max_steps_per_epoch": 3}
    runs = {"amp": {**base, "amp": True}, "fp32": {**base, "amp": False},
            "batch14_amp": {**big, "amp": True}, "batch14_fp32": {**big, "amp": False},
            "cached_amp": {**base, "amp": True, "feature_cache": str(work / "feature_cache")}}
    res: dict[str, Any] = {"train_clips": args.train_clips, "dev_clips": args.dev_clips}
    for tag, opts in runs.items():
        meter.free()
        path, seconds, peak = meter(lambda t=tag, o=opts: train_detector(
            train, dev, work / "train" / t, [], "ssl_aasist",
            {"frontend": str(frontend), "aggregation": "sls"}, o))
        blob = torch.load(path, map_location="cpu", weights_only=True)
        res[tag] = {"batch_size": opts["batch_size"], "wall_s": seconds, "peak_mib": peak,
                    "epoch_clips_per_s": [h["clips_per_s"] for h in blob["history"]]}
        if "feature_cache" in blob:
            info = blob["feature_cache"]
            res[tag]["feature_cache"] = {
                "fill_clips_per_s": info["computed"] / max(info["seconds"], 1e-9),
                "disk_mib_per_clip": info["disk_bytes"] / max(1, info["computed"]) / 2**20}
    return res


def bench_score(args: argparse.Namespace, meter: Meter, work: Path) -> dict[str, Any]:
    from reconfake.detector.inference import CHECKPOINT_FORMAT
    from reconfake.detector.registry import build_model
    from reconfake.score import score_inputs

    folder = work / "score" / "wavs"
    folder.mkdir(parents=True)
    bench_detector._write_score_clips(folder, args.score_clips)
    torch.manual_seed(0)
    checkpoint = work / "score" / "aasist_random.pt"
    torch.save({"format": CHECKPOINT_FORMAT, "architecture": "aasist", "arch_options": {},
                "state_dict": build_model("aasist", {}).state_dict()}, checkpoint)
    score_inputs(checkpoint, [str(folder)], work / "score" / "warm.csv", device=args.device)
    res: dict[str, Any] = {"clips": args.score_clips}
    for batch_size in (16, 1):
        _, seconds, peak = meter(lambda b=batch_size: score_inputs(
            checkpoint, [str(folder)], work / "score" / f"b{b}.csv", batch_size=b,
            device=args.device))
        res[f"batch{batch_size}"] = {"clips_per_s": args.score_clips / seconds, "peak_mib": peak}
    return res


def markdown(results: dict[str, Any]) -> str:
    def f(v: Any, digits: int = 1) -> str:
        return "-" if v is None else f"{v:.{digits}f}" if isinstance(v, float) else str(v)

    lines = [f"# reconfake GPU benchmark ({results['device']}, {results.get('gpu', 'no GPU')}, "
             f"torch {results['torch']})", ""]
    back = results.get("backends", {})
    if back:
        lines += ["Reconstruction, real-size twins; audio seconds per second (peak MiB).", "",
                  "| backend | load s | weights MiB | batched fp32 | batched bf16 | one at a time "
                  "| bare forward |", "|---|---|---|---|---|---|---|"]
        for name, b in back.items():
            if "error" in b:
                lines.append(f"| {name} | error: {b['error']} | | | | | |")
                continue
            cell = [f"{f(b[k]['audio_s_per_s'])} ({f(b[k]['peak_mib'], 0)})"
                    for k in ("batched_fp32", "batched_bf16", "single_fp32", "bare_forward_fp32")]
            lines.append(f"| {name} | {f(b['load_s_fp32'])} | {f(b.get('weights_mib_fp32'), 0)} | "
                         + " | ".join(cell) + " |")
    for part in ("shard", "detector", "score"):
        if part in results:
            lines += ["", f"## {part}", "", "```", json.dumps(results[part], indent=1), "```"]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for bench_gpu.json/.md")
    parser.add_argument("--device", default="cuda", help="cuda (default), cuda:N or cpu")
    parser.add_argument("--parts", nargs="+", default=list(PARTS), choices=PARTS)
    parser.add_argument("--backends", nargs="+", default=list(BACKENDS), choices=BACKENDS)
    parser.add_argument("--clips", type=int, default=16, help="backend clips (3-5 s)")
    parser.add_argument("--audioldm-clips", type=int, default=8)
    parser.add_argument("--shard-clips", type=int, default=16)
    parser.add_argument("--train-clips", type=int, default=64, help="half bona fide")
    parser.add_argument("--dev-clips", type=int, default=16)
    parser.add_argument("--score-clips", type=int, default=64)
    args = parser.parse_args()
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        parser.error("--device cuda but torch sees no CUDA GPU (use --device cpu)")
    results: dict[str, Any] = {"device": args.device, "torch": torch.__version__,
                               "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    if torch.cuda.is_available():
        results["gpu"] = torch.cuda.get_device_name(0)
    meter = Meter(args.device)
    args.out.mkdir(parents=True, exist_ok=True)

    def save() -> None:
        (args.out / "bench_gpu.json").write_text(json.dumps(results, indent=2) + "\n")

    with tempfile.TemporaryDirectory(prefix="bench-gpu-") as tmp:
        work = Path(tmp)
        for part in args.parts:
            print(f"[bench_gpu] {part} ...", file=sys.stderr, flush=True)
            if part == "backends":
                results["backends"] = {}
                for name in args.backends:
                    try:
                        results["backends"][name] = bench_backend(name, args, meter, work)
                    except Exception as exc:  # one backend's failure keeps the others' figures
                        results["backends"][name] = {"error": f"{type(exc).__name__}: {exc}"}
                    save()
            else:
                runner = {"shard": bench_shard, "detector": bench_detector_training,
                          "score": bench_score}[part]
                results[part] = runner(args, meter, work)
            meter.free()
            save()
    text = markdown(results)
    (args.out / "bench_gpu.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
