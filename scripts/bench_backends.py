"""Throughput and peak memory of the pretrained reconstruction backends on this machine.

For each backend, three measurements, each in a fresh process (so each has its own peak RSS,
which includes loading the model), after one warm-up clip:

* ``workflow``: ``reconstruct_shard`` on a manifest of FLAC clips, exactly as the Snakemake
  rule runs it (decode, resample to the model's rate, batched ``reconstruct``, resample back,
  FLAC encode, log-mel distance, Parquet), timed without the model load;
* ``batched``: ``backend.reconstruct`` on the same clips in memory, ``batch_size`` clips per
  call sorted by length, with the backend's default ``model_batch`` (1 on CPU);
* ``padded``: the same with ``model_batch = batch_size``, i.e. zero-padded batches through the
  model (the CUDA default), to show what batching does on this machine;
* ``plain``: a plain loop calling the model alone (``bare_forward``) one clip at a time on
  clips already at the model's rate, i.e. the bare forward pass.

Each is timed ``--repeats`` times and the best run kept (other jobs only slow a run down).

Throughput is audio seconds per wall second; ``workflow / plain`` is the share of the bare
forward throughput that the workflow keeps. Weights: ``--twins`` (tiny random-weight twins,
offline; run without oneDNN, whose per-shape kernel creation dwarfs their compute),
``--real-size`` (random weights with the real checkpoints' configs, offline: the real
compute), or the real Hugging Face ids (default; needs them cached or internet)::

    python scripts/bench_backends.py --real-size --threads 2 --out benchmarks/backends.md

Prints a Markdown table. Linux/macOS only (``resource``).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import multiprocessing
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # tests.twins builds the random-weight models
sys.path.insert(0, str(REPO / "src"))

BACKENDS = ("encodec", "dac", "hifigan", "audioldm")
MODES = ("workflow", "batched", "padded", "plain")
SR = 16000


def speechlike(seconds: float, seed: int) -> np.ndarray:
    """A harmonic series with a gliding f0, a syllable-rate envelope and a little noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    f0 = (110 + 40 * seed % 90) * (1 + 0.08 * np.sin(2 * np.pi * 3 * t))
    phase = 2 * np.pi * np.cumsum(f0) / SR
    x = sum(np.sin(k * phase) / k for k in range(1, 25))
    x = x * (0.3 + np.sin(2 * np.pi * 2.5 * t) ** 2) + 0.01 * rng.standard_normal(len(t))
    return (0.4 * x / np.max(np.abs(x))).astype(np.float32)


def make_manifest(folder: Path, clips: int, seconds: float) -> Path:
    """FLAC clips of 0.75-1.25 x ``seconds`` and their manifest."""
    from reconfake.audio import write_audio
    from reconfake.manifest import ClipRow, write_manifest

    rows = []
    for i in range(clips):
        x = speechlike(seconds * (0.75 + 0.5 * i / max(1, clips - 1)), seed=i)
        rel = f"clip_{i:03d}.flac"
        write_audio(folder / rel, x, SR)
        rows.append(ClipRow(f"bench_{i:03d}", "bench", "train", "bonafide", "bonafide", "spk",
                            rel, SR, len(x), len(x) / SR))
    path = folder / "bench.parquet"
    write_manifest(rows, path)
    return path


def build_weights(name: str, kind: str, root: Path) -> dict[str, Any]:
    """Backend options pointing at the weights to time (twin directory or real id)."""
    if kind == "real":
        return {}
    from tests import twins

    if name == "audioldm":  # no text tower at real size: condition on zeros
        model = twins.audioldm_twin(root / name, real_size=kind == "real-size",
                                    text_encoder=kind == "twins")
        return {"model": str(model), **({} if kind == "twins" else {"condition": "zeros"})}
    return {"model": str(twins.BUILDERS[name](root / name, real_size=kind == "real-size"))}


def measure(job: dict[str, Any]) -> dict[str, Any]:
    """One measurement in this (fresh) process; see the module docstring."""
    import resource

    import torch

    from reconfake.audio import load_audio, resample
    from reconfake.manifest import read_manifest
    from reconfake.paradigms.registry import build_backend

    if job["threads"]:
        torch.set_num_threads(job["threads"])
    # tiny twins spend their time creating oneDNN kernels for each new shape, not computing
    torch.backends.mkldnn.enabled = job["onednn"]
    backend = build_backend(job["backend"], job["options"], device=job["device"])
    if job["mode"] == "padded":
        backend.model_batch = backend.batch_size
    rows = read_manifest(job["manifest"])
    clips = [load_audio(r.path, sample_rate=SR)[0] for r in rows]
    rate = backend.sample_rate
    backend.reconstruct([resample(clips[0], SR, rate)])  # warm-up: first-call allocations
    audio_s = sum(len(c) for c in clips) / SR
    inputs = sorted((resample(c, SR, rate) for c in clips), key=len)
    import reconfake.reconstruct as rec

    rec.build_backend = lambda *args, **kwargs: backend  # time the rule's path, not the load
    times = []
    for _ in range(job["repeats"]):  # best of N: other jobs on the machine only slow things down
        start = time.perf_counter()
        if job["mode"] == "workflow":
            rec.reconstruct_shard(job["manifest"], job["backend"], job["out"], job["options"],
                                  device=job["device"])
        elif job["mode"] in ("batched", "padded"):
            for i in range(0, len(inputs), backend.batch_size):
                backend.reconstruct(inputs[i:i + backend.batch_size])
        else:
            with torch.inference_mode():
                for x in inputs:
                    backend.bare_forward(x)
        times.append(time.perf_counter() - start)
    elapsed = min(times)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    peak_mib = peak / 2**20 if sys.platform == "darwin" else peak / 1024
    return {"seconds": elapsed, "audio_s": audio_s, "throughput": audio_s / elapsed,
            "peak_rss_mib": peak_mib, "threads": torch.get_num_threads(),
            "device": backend.device, "rate": rate}


def run_job(job: dict[str, Any]) -> dict[str, Any]:
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(measure, job).result()


def table(results: dict[str, dict[str, dict[str, Any]]], kind: str, args: argparse.Namespace) -> str:
    import torch

    first = next(iter(next(iter(results.values())).values()))
    lines = [
        f"Weights: {kind}; {args.clips} clips of {0.75 * args.seconds:.2g}-"
        f"{1.25 * args.seconds:.2g} s, best of {args.repeats}; device {first['device']}, "
        f"{first['threads']} torch threads, {os.cpu_count()} CPUs "
        f"({platform.processor() or platform.machine()}), "
        f"torch {torch.__version__}; load average {args.load_before:.1f} before, "
        f"{os.getloadavg()[0]:.1f} after. Throughput in audio seconds per second.",
        "",
        "| backend | model rate | workflow | in memory | padded batches | plain loop (bare forward) "
        "| workflow / plain | peak RSS workflow | peak RSS plain |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        w, b, d, p = (r.get(m, {"throughput": float("nan")}) for m in MODES)
        lines.append(
            f"| {name} | {p['rate']} Hz | {w['throughput']:.2f} | {b['throughput']:.2f} | "
            f"{d['throughput']:.2f} | {p['throughput']:.2f} | {w['throughput'] / p['throughput']:.0%} | "
            f"{w.get('peak_rss_mib', float('nan')):.0f} MiB | {p['peak_rss_mib']:.0f} MiB |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", nargs="+", default=list(BACKENDS), choices=BACKENDS)
    weights = parser.add_mutually_exclusive_group()
    weights.add_argument("--twins", action="store_true", help="tiny random-weight twins (offline)")
    weights.add_argument("--real-size", action="store_true",
                         help="random weights, real checkpoint configs (offline, real compute)")
    parser.add_argument("--clips", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=3.0, help="mean clip length")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--repeats", type=int, default=2, help="timed runs per measurement (best)")
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    parser.add_argument("--options", default="{}",
                        help='JSON of extra options per backend, e.g. {"audioldm": {"steps": 5}}')
    parser.add_argument("--out", type=Path, default=None, help="also write the table here")
    args = parser.parse_args()
    kind = "twins" if args.twins else "real-size" if args.real_size else "real"
    extra = json.loads(args.options)
    args.load_before = os.getloadavg()[0]  # other jobs on the machine skew the figures
    results: dict[str, dict[str, dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-backends-") as tmp:
        root = Path(tmp)
        manifest = make_manifest(root / "clips", args.clips, args.seconds)
        for name in args.backends:
            options = {**build_weights(name, kind, root / "weights"), **extra.get(name, {})}
            results[name] = {}
            for mode in [m for m in MODES if m in args.modes or m == "plain"]:
                job = {"backend": name, "options": options, "mode": mode, "device": args.device,
                       "manifest": str(manifest), "threads": args.threads, "repeats": args.repeats,
                       "onednn": kind != "twins",
                       "out": str(root / f"{name}.parquet")}
                results[name][mode] = run_job(job)
                print(f"{name} {mode}: {results[name][mode]['throughput']:.2f} audio s/s, peak "
                      f"{results[name][mode]['peak_rss_mib']:.0f} MiB", file=sys.stderr, flush=True)
    text = table(results, kind, args)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
