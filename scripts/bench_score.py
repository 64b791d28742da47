"""Benchmark ``reconfake score`` against the official AASIST evaluation loop on the same clips.

A benchmark, not a test; figures go to the README. Both score N synthetic 16-kHz FLAC clips
(4 s by default) with the released AASIST weights, each in a fresh process started from here,
the two alternating (official, reconfake, official, reconfake...) ``--repeats`` times so that
a shared machine's drifting load falls on both alike:

* ``official``: the evaluation loop of clovaai/aasist's ``main.py`` (``produce_evaluation_file``:
  its ``Dataset_ASVspoof2019_devNeval``, a ``DataLoader`` with the config's batch size (24),
  ``shuffle=False``, ``pin_memory=True``, ``model(batch_x)`` under ``torch.no_grad()``), with its
  ``models/AASIST.py`` and ``config/AASIST.conf`` imported from ``--official-repo``. The loop is
  restated here because ``main.py`` itself imports tensorboard and torchcontrib (training only).
* ``reconfake``: ``reconfake score --architecture aasist`` on the same files.

Each run's wall time (process start to exit: imports, model loading and decoding included),
user and system CPU time (``wait4``), peak RSS (the child's VmHWM) and clips/s are printed
with medians and spread (min-max), the ratio of the medians, and the largest difference
between the two runs' scores. Both use ``--threads`` (2) threads for torch.

Usage::

    nice -n 10 python scripts/bench_score.py --official-repo /tmp/aasist --clips 64 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
WEIGHTS = REPO.parent / "shared" / "reference" / "aasist" / "AASIST.pth"
SR = 16000


def _peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM; ru_maxrss would carry the parent's size)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def write_clips(folder: Path, n: int, seconds: float) -> list[str]:
    """``n`` speech-like clips (glide + harmonics + noise) as ``folder/flac/<key>.flac``."""
    import soundfile as sf

    (folder / "flac").mkdir(parents=True, exist_ok=True)
    keys = []
    for i in range(n):
        rng = np.random.default_rng(i)
        t = np.arange(int(seconds * SR)) / SR
        f0 = np.linspace(100 + 3 * i, 180 + 2 * i, len(t))
        phase = 2 * np.pi * np.cumsum(f0) / SR
        x = sum(np.sin(k * phase) / k for k in range(1, 30))
        x = x * (0.3 + 0.7 * np.sin(2 * np.pi * 2 * t) ** 2) + 0.05 * rng.standard_normal(len(t))
        key = f"clip_{i:04d}"
        sf.write(folder / "flac" / f"{key}.flac", (0.4 * x / np.max(np.abs(x))).astype(np.float32),
                 SR, subtype="PCM_16")
        keys.append(key)
    return keys


def child_official(repo: Path, folder: Path, weights: Path, threads: int, out: Path) -> None:
    """The official evaluation loop (``main.py``'s ``get_loader`` and
    ``produce_evaluation_file``), scores to ``out`` as ``key score`` lines."""
    import torch
    from torch.utils.data import DataLoader

    sys.path.insert(0, str(repo))
    from importlib import import_module

    from data_utils import Dataset_ASVspoof2019_devNeval

    torch.set_num_threads(threads)
    config = json.loads((repo / "config" / "AASIST.conf").read_text())
    module = import_module(f"models.{config['model_config']['architecture']}")
    model = module.Model(config["model_config"])
    model.load_state_dict(torch.load(weights, map_location="cpu"))
    keys = sorted(p.stem for p in (folder / "flac").glob("*.flac"))
    loader = DataLoader(Dataset_ASVspoof2019_devNeval(list_IDs=keys, base_dir=folder),
                        batch_size=config["batch_size"], shuffle=False, drop_last=False,
                        pin_memory=True)
    model.eval()
    names, scores = [], []
    for batch_x, utt_id in loader:
        with torch.no_grad():
            _, batch_out = model(batch_x)
            batch_score = (batch_out[:, 1]).data.cpu().numpy().ravel()
        names.extend(utt_id)
        scores.extend(batch_score.tolist())
    out.write_text("".join(f"{k} {s}\n" for k, s in zip(names, scores, strict=True)))


def child_reconfake(folder: Path, weights: Path, threads: int, out: Path,
                    batched: bool = False, untiled: bool = False) -> None:
    from reconfake.cli import main

    if untiled:  # ablation: clip-parallel, but every residual block on its whole map
        import reconfake.detector.aasist as aasist

        aasist.TILED_BLOCKS = 0

    if batched:  # ablation: tiled blocks and malloc kept, but batches of 16, ops on all threads
        from reconfake.detector.aasist import RawAASIST
        from reconfake.detector.inference import retain_freed_memory

        RawAASIST.clip_parallel_inference = False
        retain_freed_memory()

    code = main(["--threads", str(threads), "score", "--checkpoint", str(weights),
                 "--architecture", "aasist", "--output", str(out), str(folder / "flac")])
    if code:
        raise SystemExit(code)


def read_scores(path: Path) -> dict[str, float]:
    text = path.read_text().splitlines()
    if text and text[0].startswith("utt_id"):
        return {row.split(",")[0]: float(row.split(",")[1]) for row in text[1:]}
    return {row.split()[0]: float(row.split()[1]) for row in text}


def run_child(variant: str, args: argparse.Namespace, folder: Path, out: Path) -> dict:
    cmd = [sys.executable, __file__, "--child", variant, "--folder", str(folder),
           "--weights", str(args.weights), "--threads", str(args.threads), "--scores", str(out)]
    if args.official_repo:
        cmd += ["--official-repo", str(args.official_repo)]
    env = {**os.environ, "PYTHONPATH": str(REPO / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    out.unlink(missing_ok=True)
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    stdout, stderr = proc.stdout.read(), proc.stderr.read()
    if proc.returncode:
        raise RuntimeError(f"{variant} failed ({proc.returncode}):\n{stderr[-3000:]}")
    child = json.loads(stdout.strip().splitlines()[-1])
    return {"wall_s": wall, "user_s": usage.ru_utime, "sys_s": usage.ru_stime,
            "peak_rss_mb": child["peak_rss_mb"], "clips_per_s": args.clips / wall}


def summary(runs: list[dict]) -> dict:
    return {k: {"median": statistics.median(r[k] for r in runs), "min": min(r[k] for r in runs),
                "max": max(r[k] for r in runs)} for k in runs[0]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--official-repo", type=Path, help="a checkout of clovaai/aasist")
    ap.add_argument("--clips", type=int, default=64)
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--weights", type=Path, default=WEIGHTS)
    ap.add_argument("--variants", default="official,reconfake",
                    help="comma-separated: official, reconfake, and two ablations: "
                         "reconfake-batched (the same code and malloc settings scoring batches "
                         "of 16, ops on all threads), reconfake-untiled (clip-parallel, blocks "
                         "on whole maps)")
    ap.add_argument("--out", type=Path, help="write the results as JSON here")
    ap.add_argument("--child", choices=["official", "reconfake", "reconfake-batched",
                                        "reconfake-untiled"],
                    help=argparse.SUPPRESS)
    ap.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--scores", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        if args.child == "official":
            child_official(args.official_repo, args.folder, args.weights, args.threads, args.scores)
        else:
            child_reconfake(args.folder, args.weights, args.threads, args.scores,
                            batched=args.child == "reconfake-batched",
                            untiled=args.child == "reconfake-untiled")
        print(json.dumps({"peak_rss_mb": _peak_rss_mb()}))
        return
    variants = args.variants.split(",")
    if "official" in variants and not args.official_repo:
        ap.error("--official-repo is needed for the official variant")
    results: dict[str, list[dict]] = {v: [] for v in variants}
    with tempfile.TemporaryDirectory(prefix="bench_score_") as tmp:
        folder = Path(tmp)
        write_clips(folder, args.clips, args.seconds)
        scores = {}
        for r in range(args.repeats):
            for v in variants:  # alternating, so drifting load hits both alike
                out = folder / f"{v}.scores"
                res = run_child(v, args, folder, out)
                results[v].append(res)
                scores[v] = read_scores(out)
                print(f"repeat {r} {v:9s} " + " ".join(f"{k} {x:.2f}" for k, x in res.items()),
                      flush=True)
    report: dict = {"clips": args.clips, "seconds": args.seconds, "threads": args.threads,
                    "repeats": args.repeats, "load_average": os.getloadavg(),
                    "runs": results, "summary": {v: summary(rs) for v, rs in results.items()}}
    a = variants[0]
    for b in variants[1:]:  # each against the first (official): wall ratio, score agreement
        pair = [x["wall_s"] / y["wall_s"] for x, y in zip(results[a], results[b], strict=True)]
        report[f"{a}_over_{b}"] = {
            "wall_ratio_of_medians": report["summary"][a]["wall_s"]["median"] /
            report["summary"][b]["wall_s"]["median"],
            "wall_ratio_per_pair": {"median": statistics.median(pair), "min": min(pair),
                                    "max": max(pair)},
            "max_abs_score_diff": float(max(abs(scores[a][k] - scores[b][k])
                                            for k in sorted(scores[a])))}
    print(json.dumps({k: v for k, v in report.items() if k != "runs"}, indent=1))
    if args.out:
        args.out.write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
