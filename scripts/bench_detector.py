"""Benchmark the detector code on this machine (a benchmark, not a test; figures go to the README).

Two parts:

* ``train``: training clips/s and peak memory (max RSS of a fresh process) of the real-size
  paper detector, XLS-R 300M architecture with random weights (no download), SLS
  aggregation and the AASIST back-end, RACL on, batch 8 of 4-second clips:
    - ``plain``: a plain PyTorch loop running the same front-end with autograd enabled
      (weights left trainable, as loaded) and no caching;
    - ``frozen``: ``reconfake.train.train_detector`` (front-end under no_grad);
    - ``cached``: ``train_detector`` with ``feature_cache``: the fill pass, then an epoch
      from the cache (front-end skipped), and the cache's disk use per clip.
* ``score``: clips/s of the official AASIST (``../shared/reference/aasist/AASIST.pth``)
  through ``reconfake score`` (batches of 16, the default, 4 and 1) next to a
  one-clip-at-a-time loop over the same files, all including decoding and model loading;
  the variants run interleaved ``--repeats`` times and the medians are reported, because
  a shared machine's speed drifts by tens of percent over minutes.

Usage::

    python scripts/bench_detector.py --part all --threads 2 --out bench_detector.json

Every variant runs in its own process so peak memory is its own. Synthetic audio and
random weights only: the timings are those of the real computation, the outputs are not.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
REFERENCE = REPO.parent / "shared" / "reference" / "aasist"
SR = 16000
CLIP_S = 4.0
BATCH = 8

# facebook/wav2vec2-xls-r-300m's architecture (config.json of the hub repository).
XLSR_300M_CONFIG = {
    "hidden_size": 1024, "num_hidden_layers": 24, "num_attention_heads": 16,
    "intermediate_size": 4096, "conv_dim": [512] * 7, "conv_kernel": [10, 3, 3, 3, 3, 2, 2],
    "conv_stride": [5, 2, 2, 2, 2, 2, 2], "num_conv_pos_embeddings": 128,
    "num_conv_pos_embedding_groups": 16, "do_stable_layer_norm": True,
    "feat_extract_norm": "layer", "conv_bias": True, "feat_extract_activation": "gelu",
    "hidden_act": "gelu",
}


def _peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM; ru_maxrss would include the parent's
    size at fork, which Linux carries across exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _write_corpus(folder: Path, n_train: int, n_dev: int, seconds: float) -> tuple[Path, Path]:
    """Manifests of synthetic clips (half bona fide) for the train benchmark."""
    from reconfake.audio import write_audio
    from reconfake.manifest import ClipRow, write_manifest

    rng = np.random.default_rng(0)
    paths = []
    for split, n in (("train", n_train), ("dev", n_dev)):
        rows = []
        for i in range(n):
            t = np.arange(int(seconds * SR)) / SR
            x = 0.3 * np.sin(2 * np.pi * (120 + 10 * i) * t) + 0.05 * rng.standard_normal(len(t))
            rel = f"{split}/{split}_{i:03d}.flac"
            write_audio(folder / rel, x.astype(np.float32), SR)
            label = "bonafide" if i % 2 == 0 else "spoof"
            rows.append(ClipRow(f"{split}_{i:03d}", "bench", split, label,
                                "bonafide" if label == "bonafide" else "A01", "spk", rel, SR,
                                len(t), seconds))
        path = folder / f"{split}.parquet"
        write_manifest(rows, path)
        paths.append(path)
    return paths[0], paths[1]


def _save_xlsr_twin(folder: Path) -> Path:
    """A random-weight Wav2Vec2Model of XLS-R 300M's size, saved as safetensors."""
    import torch
    from transformers import Wav2Vec2Config, Wav2Vec2Model

    torch.manual_seed(0)
    model = Wav2Vec2Model(Wav2Vec2Config(**XLSR_300M_CONFIG))
    model.save_pretrained(folder)
    return folder


# --------------------------------------------------------------------------- child variants


def _variant_plain(frontend: str, steps: int) -> dict:
    """Plain loop: same model, front-end with autograd enabled, no caching."""
    import torch

    from reconfake.detector.losses import DetectorLoss
    from reconfake.detector.ssl_aasist import SSLAASIST

    torch.manual_seed(0)
    model = SSLAASIST(frontend=frontend, aggregation="sls").train()
    fe = model.frontend
    fe.requires_grad_(True)  # as a model comes from from_pretrained
    loss_fn = DetectorLoss(enh=True, reg=True)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4, weight_decay=1e-4)
    labels = torch.tensor([1, 0] * (BATCH // 2))
    groups = torch.arange(BATCH) // 2
    times = []
    for _ in range(steps):
        x = torch.randn(BATCH, int(CLIP_S * SR)) * 0.1
        t0 = time.perf_counter()
        out = fe(x, output_hidden_states=True)
        layers = torch.stack([*out.hidden_states[1:-1], out.last_hidden_state], dim=1)
        embedding, logits = model.forward_features(layers)
        terms = loss_fn(embedding, logits, labels, groups)
        optimizer.zero_grad()
        terms["total"].backward()
        optimizer.step()
        times.append(time.perf_counter() - t0)
    return {"clips_per_s": BATCH * steps / sum(times), "step_seconds": times}


def _variant_train(frontend: str, steps: int, workdir: Path, cache: bool) -> dict:
    """``train_detector`` on synthetic clips, uncached or through the feature cache."""
    from reconfake.train import train_detector

    train, dev = _write_corpus(workdir / "corpus", BATCH * steps, 2, CLIP_S + 0.5)
    options = {"epochs": 2 if cache else 1, "batch_size": BATCH, "lr": 1e-4,
               "crop_samples": int(CLIP_S * SR), "eval_samples": int(CLIP_S * SR),
               "threads": int(os.environ.get("BENCH_THREADS", "2")), "racl_enh": True,
               "racl_reg": True, "patience": 10}
    if cache:
        options["feature_cache"] = str(workdir / "cache")
    import torch

    path = train_detector(train, dev, workdir / "model", [], "ssl_aasist",
                          {"frontend": frontend, "aggregation": "sls"}, options)
    blob = torch.load(path, weights_only=True)
    history = blob["history"]
    result = {"clips_per_s": history[-1]["clips_per_s"],
              "epoch_clips_per_s": [h["clips_per_s"] for h in history]}
    if cache:
        info = blob["feature_cache"]
        result.update(fill_seconds=info["seconds"], fill_clips=info["computed"],
                      fill_clips_per_s=info["computed"] / info["seconds"],
                      disk_mb_per_clip=info["disk_bytes"] / info["computed"] / 2**20)
    return result


# --------------------------------------------------------------------------- scoring


def _write_score_clips(folder: Path, n_clips: int) -> None:
    from reconfake.audio import write_audio

    rng = np.random.default_rng(1)
    for i in range(n_clips):
        write_audio(folder / f"clip{i:03d}.flac",
                    (0.1 * rng.standard_normal(int(4.5 * SR))).astype(np.float32), SR)


def _variant_score(folder: Path, threads: int, batch_size: int | None) -> dict:
    """Official AASIST over ``folder``: ``reconfake score`` (batch_size) or a plain loop."""
    import torch

    from reconfake.audio import load_audio
    from reconfake.cli import main as cli
    from reconfake.detector.data import fixed_crop
    from reconfake.detector.inference import load_checkpoint

    torch.set_num_threads(threads)
    weights = REFERENCE / "AASIST.pth"
    files = sorted(folder.glob("*.flac"))
    t0 = time.perf_counter()
    if batch_size is not None:
        assert cli(["--threads", str(threads), "score", "--checkpoint", str(weights),
                    "--architecture", "aasist", "--output", str(folder.parent / "s.csv"),
                    "--batch-size", str(batch_size), str(folder)]) == 0
    else:
        model, _ = load_checkpoint(weights, "aasist")
        with torch.inference_mode():
            for f in files:
                x, _ = load_audio(f, sample_rate=SR)
                model(torch.from_numpy(fixed_crop(x, 64600))[None])
    return {"clips_per_s": len(files) / (time.perf_counter() - t0)}


def _bench_score(args: argparse.Namespace) -> dict:
    if not (REFERENCE / "AASIST.pth").exists():
        return {"skipped": f"{REFERENCE / 'AASIST.pth'} absent"}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "wavs"
        _write_score_clips(folder, args.score_clips)
        names = ("score-loop", "score-cli16", "score-cli4", "score-cli1")
        runs: dict[str, list[dict]] = {name: [] for name in names}
        for _ in range(args.repeats):  # interleaved: a shared machine's speed drifts
            for name in names:
                runs[name].append(_run_child(name, folder, args, Path(tmp)))

    def median(name: str, key: str) -> float:
        return float(np.median([r[key] for r in runs[name]]))

    loop = median("score-loop", "clips_per_s")
    result: dict = {"clips": args.score_clips, "repeats": args.repeats,
                    "one_at_a_time_clips_per_s": loop,
                    "one_at_a_time_peak_rss_mb": median("score-loop", "peak_rss_mb")}
    for name in names[1:]:
        b = name.removeprefix("score-cli")
        result[f"score_cli_batch{b}_clips_per_s"] = median(name, "clips_per_s")
        result[f"score_cli_batch{b}_vs_loop"] = float(np.median(
            [c["clips_per_s"] / r["clips_per_s"] for c, r in zip(runs[name], runs["score-loop"],
                                                                  strict=True)]))
        result[f"score_cli_batch{b}_peak_rss_mb"] = median(name, "peak_rss_mb")
    return result


# --------------------------------------------------------------------------- driver


def _child(args: argparse.Namespace) -> int:
    os.environ["BENCH_THREADS"] = str(args.threads)
    import torch

    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    if args.variant == "plain":
        result = _variant_plain(args.frontend, args.steps)
    elif args.variant.startswith("score-"):
        batch = args.variant.removeprefix("score-cli")
        result = _variant_score(Path(args.frontend), args.threads,
                                None if args.variant == "score-loop" else int(batch))
    else:
        result = _variant_train(args.frontend, args.steps, Path(args.workdir),
                                cache=args.variant == "cached")
    result.update(peak_rss_mb=_peak_rss_mb(), wall_s=time.perf_counter() - t0)
    print("RESULT " + json.dumps(result))
    return 0


def _run_child(variant: str, source: Path, args: argparse.Namespace, workdir: Path) -> dict:
    """Run one variant in a fresh process (its own peak memory and allocator state)."""
    cmd = [sys.executable, __file__, "--variant", variant, "--frontend", str(source),
           "--steps", str(args.steps), "--threads", str(args.threads), "--workdir",
           str(workdir / variant)]
    print(f"running {variant} ...", file=sys.stderr, flush=True)
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode or not lines:
        sys.stderr.write(proc.stderr[-4000:])
        raise RuntimeError(f"benchmark variant {variant} failed ({proc.returncode})")
    return json.loads(lines[-1][len("RESULT "):])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", choices=("train", "score", "all"), default="all")
    parser.add_argument("--steps", type=int, default=3, help="training steps per variant")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--score-clips", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=3, help="score runs per variant (median)")
    parser.add_argument("--out", help="write the figures as JSON here too")
    parser.add_argument("--variant", help=argparse.SUPPRESS)
    parser.add_argument("--frontend", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.variant:
        return _child(args)

    import torch

    report: dict = {"machine": {"cpu": platform.processor() or platform.machine(),
                                "cores": os.cpu_count(), "threads": args.threads,
                                "torch": torch.__version__, "python": platform.python_version()}}
    if args.part in ("train", "all"):
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            frontend = _save_xlsr_twin(work / "xlsr300m-random")
            train = {v: _run_child(v, frontend, args, work) for v in ("plain", "frozen", "cached")}
        train["frozen_vs_plain_speedup"] = train["frozen"]["clips_per_s"] / \
            train["plain"]["clips_per_s"]
        train["cached_vs_plain_speedup"] = train["cached"]["clips_per_s"] / \
            train["plain"]["clips_per_s"]
        train["cached_vs_frozen_speedup"] = train["cached"]["clips_per_s"] / \
            train["frozen"]["clips_per_s"]
        train["frozen_vs_plain_memory"] = train["frozen"]["peak_rss_mb"] / \
            train["plain"]["peak_rss_mb"]
        train["setup"] = {"batch": BATCH, "clip_seconds": CLIP_S, "steps": args.steps,
                          "model": "XLS-R 300M architecture (random weights) + SLS + AASIST, "
                                   "RACL on"}
        report["train"] = train
    if args.part in ("score", "all"):
        report["score"] = _bench_score(args)
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
