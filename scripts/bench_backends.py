"""Throughput and peak memory of the pretrained reconstruction backends on this machine.

For each backend, four measurements, each in its own process (so each has its own peak RSS,
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

The modes are timed in ``--repeats`` interleaved rounds (each round runs every mode once, so a
busy spell on a shared machine hits them alike) and each keeps its best run.

Throughput is audio seconds per wall second; ``workflow / plain`` is the share of the bare
forward throughput that the workflow keeps. Weights: ``--twins`` (tiny random-weight twins,
offline; run without oneDNN, whose per-shape kernel creation dwarfs their compute),
``--real-size`` (random weights with the real checkpoints' configs, offline: the real
compute), or the real Hugging Face ids (default; needs them cached or internet)::

    python scripts/bench_backends.py --real-size --threads 2 --out benchmarks/backends.md

SemantiCodec is measured only when named (``--backends semanticodec``), with the Python of its
own environment (``make semanticodec-env``); its real-size weights are built by the package's
classes (``reconfake.testing.twins.semanticodec_weights``, about 2.4 GB in the temporary folder)::

    .venv-semanticodec/bin/python scripts/bench_backends.py --real-size --backends semanticodec \
        --threads 1 --clips 2 --seconds 3.4 --modes workflow plain --repeats 1 \
        --options '{"semanticodec": {"ddim_sample_step": 10}}'

Prints a Markdown table. Linux/macOS only (``resource``).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))  # reconfake (and reconfake.testing's twins) uninstalled

BACKENDS = ("encodec", "dac", "hifigan", "audioldm")
#: measured only when named: it needs its own environment (``make semanticodec-env``)
OPTIONAL = ("semanticodec",)
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
    if name == "semanticodec":  # random weights in the package's own format, by its own classes
        if kind == "twins":
            raise SystemExit("semanticodec has no tiny twin (the package fixes the architecture); "
                             "use --real-size")
        from reconfake.testing.twins import semanticodec_weights

        return {"model": str(semanticodec_weights(root / name))}
    from reconfake.testing.twins import twin_options

    return twin_options(name, root / name, real_size=kind == "real-size")


def worker(job: dict[str, Any], conn: Any) -> None:
    """One mode in its own process: load and warm up, then one timed run per "run" message;
    "stop" answers with the peak RSS and facts for the table. See the module docstring."""
    import resource

    import torch

    import reconfake.reconstruct as rec
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
    clips = [load_audio(r.path, sample_rate=SR)[0] for r in read_manifest(job["manifest"])]
    rate = backend.sample_rate
    inputs = sorted((resample(c, SR, rate) for c in clips), key=len)
    rec.build_backend = lambda *args, **kwargs: backend  # time the rule's path, not the load
    backend.reconstruct([inputs[0]])  # warm-up: first-call allocations
    conn.send("ready")
    while conn.recv() == "run":
        start = time.perf_counter()
        if job["mode"] == "workflow":
            rec.reconstruct_shard(job["manifest"], job["backend"], job["out"], job["options"],
                                  device=job["device"])
        elif job["mode"] in ("batched", "padded"):
            for i in range(0, len(inputs), backend.batch_size):
                backend.reconstruct(inputs[i:i + backend.batch_size])
        else:
            for x in inputs:
                backend.bare_forward(x)
        conn.send(time.perf_counter() - start)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    conn.send({"audio_s": sum(len(c) for c in clips) / SR, "threads": torch.get_num_threads(),
               "peak_rss_mib": peak / 2**20 if sys.platform == "darwin" else peak / 1024,
               "device": backend.device, "rate": rate})


def measure_backend(jobs: dict[str, dict[str, Any]], repeats: int) -> dict[str, dict[str, Any]]:
    """Time every mode of one backend, interleaved: each round runs each mode once, so a busy
    spell on the machine hits all modes alike; each mode keeps its best run."""
    context = multiprocessing.get_context("spawn")
    workers: dict[str, Any] = {}
    try:
        for mode, job in jobs.items():  # one after the other: loading competes for cores
            parent, child = context.Pipe()
            process = context.Process(target=worker, args=(job, child), daemon=True)
            process.start()
            workers[mode] = (process, parent)
            if parent.recv() != "ready":
                raise RuntimeError(f"{job['backend']} {mode}: worker failed to start")
        times: dict[str, list[float]] = {mode: [] for mode in jobs}
        for _ in range(repeats):
            for mode, (_, conn) in workers.items():
                conn.send("run")
                times[mode].append(conn.recv())
        results = {}
        for mode, (process, conn) in workers.items():
            conn.send("stop")
            facts = conn.recv()
            process.join()
            best = min(times[mode])
            results[mode] = {**facts, "seconds": best, "throughput": facts["audio_s"] / best}
        return results
    finally:
        for process, _ in workers.values():
            if process.is_alive():
                process.terminate()


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
        def cell(mode: str, key: str = "throughput", unit: str = "", r: dict = r) -> str:
            if mode not in r:
                return "-"
            value = r[mode][key]  # slow backends (SemantiCodec: 0.04) keep 2 significant digits
            return f"{value:.{0 if unit else 2 if value >= 0.1 else 3}f}{unit}"

        ratio = f"{r['workflow']['throughput'] / r['plain']['throughput']:.0%}" \
            if "workflow" in r else "-"
        lines.append(
            f"| {name} | {r['plain']['rate']} Hz | {cell('workflow')} | {cell('batched')} | "
            f"{cell('padded')} | {cell('plain')} | {ratio} | "
            f"{cell('workflow', 'peak_rss_mib', ' MiB')} | {cell('plain', 'peak_rss_mib', ' MiB')} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", nargs="+", default=list(BACKENDS), choices=BACKENDS + OPTIONAL)
    weights = parser.add_mutually_exclusive_group()
    weights.add_argument("--twins", action="store_true", help="tiny random-weight twins (offline)")
    weights.add_argument("--real-size", action="store_true",
                         help="random weights, real checkpoint configs (offline, real compute)")
    parser.add_argument("--clips", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=3.0, help="mean clip length")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds (best run kept)")
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    parser.add_argument("--options", default="{}",
                        help='JSON of extra options per backend, e.g. {"audioldm": {"steps": 5}}')
    parser.add_argument("--out", type=Path, default=None, help="also write the table here")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # clean up workers and temp files
    kind = "twins" if args.twins else "real-size" if args.real_size else "real"
    extra = json.loads(args.options)
    args.load_before = os.getloadavg()[0]  # other jobs on the machine skew the figures
    results: dict[str, dict[str, dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-backends-") as tmp:
        root = Path(tmp)
        manifest = make_manifest(root / "clips", args.clips, args.seconds)
        for name in args.backends:
            options = {**build_weights(name, kind, root / "weights"), **extra.get(name, {})}
            jobs = {mode: {"backend": name, "options": options, "mode": mode,
                           "device": args.device, "manifest": str(manifest),
                           "threads": args.threads, "onednn": kind != "twins",
                           "out": str(root / f"{name}.parquet")}
                    for mode in MODES if mode in args.modes or mode == "plain"}
            results[name] = measure_backend(jobs, args.repeats)
            for mode, r in results[name].items():
                print(f"{name} {mode}: {r['throughput']:.3f} audio s/s ({r['seconds']:.1f} s), peak "
                      f"{r['peak_rss_mib']:.0f} MiB", file=sys.stderr, flush=True)
    text = table(results, kind, args)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
