"""Learning-rate sweep of the ssl_aasist back-end on a frozen front-end: dev EER and dev
cross-entropy per epoch for each rate, and (optionally) the EER on an unseen eval set.

Trains one model per rate with the reconfake CLI (the same command a user would run), all
sharing one feature cache, so the front-end runs once. Then writes, under ``--out``:

* ``sweep.csv``: one row per (lr, seed, epoch) with dev_eer_percent, dev_ce and the losses;
* ``summary.md``: a row per rate, means over the seeds (with the range): dev EER and dev CE
  at the first and last epoch, the lowest dev CE, the train CE of the last epoch, and the
  EER on ``--eval`` of the model training kept (best dev EER, ties by dev CE);
* ``lr_sweep.png``: dev EER and dev CE against the epoch, the mean over seeds per rate.

Example (the sweep in docs/detector.md)::

    PYTHONPATH=src nice python scripts/lr_sweep.py --out /tmp/recipe_sweep \\
        --train data/mini/train.parquet --dev data/mini/dev.parquet \\
        --eval data/mini/eval_piper.parquet --feature-cache /tmp/recipe_fc

``--seeds 0 1 2`` repeats the sweep per training seed; ``--plot-only`` redraws from the runs
already in ``--out``.
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
from pathlib import Path

DEFAULT_RATES = ("1e-3", "3e-4", "1e-4", "1e-5", "1e-6")
ARCH = {"frontend": "whisper-tiny.en", "aggregation": "sls",
        "backend": {"proj_dim": 64, "channels": [16, 32]}}


def training_options(lr: float, seed: int, args: argparse.Namespace) -> dict:
    """The embedded default's training options, with the rate varied and no early stop."""
    return {"epochs": args.epochs, "patience": args.epochs, "batch_size": 16, "lr": lr,
            "crop_samples": 32000, "eval_samples": 64600, "seed": seed, "threads": 1,
            "racl_enh": True, "racl_reg": True, "feature_cache": args.feature_cache}


def run_folder(out: Path, rate: str, seed: int) -> Path:
    """Where the run of ``rate`` and ``seed`` lives."""
    return out / (f"lr_{rate}" if seed == 0 else f"lr_{rate}_s{seed}")


def run_one(rate: str, seed: int, args: argparse.Namespace) -> Path:
    """Train (unless done) and score one rate and seed; returns its folder."""
    folder = run_folder(Path(args.out), rate, seed)
    cli = [sys.executable, "-m", "reconfake", "--threads", "1"]
    if not (folder / "model.pt").exists():
        subprocess.run([*cli, "train", "--train", args.train, "--dev", args.dev,
                        "--out-dir", str(folder), "--architecture", "ssl_aasist",
                        "--arch-options", json.dumps(ARCH),
                        "--options", json.dumps(training_options(float(rate), seed, args))],
                       check=True)
    if args.eval and not (folder / "eval.json").exists():
        scores = folder / "eval_scores.csv"
        subprocess.run([*cli, "score", "--checkpoint", str(folder / "model.pt"), "--output",
                        str(scores), "--feature-cache", args.feature_cache, args.eval],
                       check=True)
        result = subprocess.run([*cli, "evaluate", str(scores), "--json"], check=True,
                                capture_output=True, text=True)
        (folder / "eval.json").write_text(result.stdout)
    return folder


def collect(out: Path, rates: list[str], seeds: list[int]) -> tuple[list[dict], list[dict]]:
    """Per-epoch rows and per-rate summaries (over the seeds present) of the runs in ``out``."""
    rows, summary = [], []
    for rate in rates:
        runs = []
        for seed in seeds:
            folder = run_folder(out, rate, seed)
            if not (folder / "train_log.csv").exists():
                continue
            history = list(csv.DictReader((folder / "train_log.csv").open()))
            rows += [{"lr": rate, "seed": seed, **h} for h in history]
            best = min(history, key=lambda h: (float(h["dev_eer_percent"]), float(h["dev_ce"])))
            run = {"first_eer": float(history[0]["dev_eer_percent"]),
                   "last_eer": float(history[-1]["dev_eer_percent"]),
                   "first_ce": float(history[0]["dev_ce"]),
                   "last_ce": float(history[-1]["dev_ce"]),
                   "min_ce": min(float(h["dev_ce"]) for h in history),
                   "train_ce": float(history[-1]["ce"]), "best_epoch": int(best["epoch"]) + 1}
            if (folder / "eval.json").exists():
                run["eval_eer"] = float(json.loads((folder / "eval.json").read_text())["eer_percent"])
            runs.append(run)
        if runs:
            summary.append({"lr": rate, "seeds": len(runs),
                            **{k: [r[k] for r in runs] for k in runs[0]}})
    return rows, summary


def _cell(values: list[float], digits: int) -> str:
    mean = sum(values) / len(values)
    if len(values) == 1:
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ({min(values):.{digits}f}-{max(values):.{digits}f})"


def write_outputs(out: Path, rows: list[dict], summary: list[dict], eval_name: str) -> None:
    """``sweep.csv``, ``summary.md`` and ``lr_sweep.png``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = list(dict.fromkeys(k for r in rows for k in r))
    with (out / "sweep.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, keys)
        writer.writeheader()
        writer.writerows(rows)
    lines = ["| Adam lr | seeds | dev EER % ep. 1 | dev EER % ep. last | dev CE ep. 1 | "
             f"dev CE ep. last | lowest dev CE | train CE ep. last | {eval_name} EER % |",
             "|---|---|---|---|---|---|---|---|---|"]
    for s in summary:
        ev = _cell(s["eval_eer"], 1) if "eval_eer" in s else "-"
        lines.append(f"| {s['lr']} | {s['seeds']} | {_cell(s['first_eer'], 2)} | "
                     f"{_cell(s['last_eer'], 2)} | {_cell(s['first_ce'], 3)} | "
                     f"{_cell(s['last_ce'], 3)} | {_cell(s['min_ce'], 3)} | "
                     f"{_cell(s['train_ce'], 4)} | {ev} |")
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))

    fig, (ax_eer, ax_ce) = plt.subplots(1, 2, figsize=(10, 4))
    for s in summary:
        hist = [r for r in rows if r["lr"] == s["lr"]]
        epochs = sorted({int(r["epoch"]) + 1 for r in hist})

        def mean(key: str, hist: list[dict] = hist, epochs: list[int] = epochs) -> list[float]:
            return [sum(float(r[key]) for r in hist if int(r["epoch"]) + 1 == e)
                    / sum(1 for r in hist if int(r["epoch"]) + 1 == e) for e in epochs]

        label = f"lr {s['lr']}"
        ax_eer.plot(epochs, mean("dev_eer_percent"), marker="o", label=label)
        ax_ce.plot(epochs, mean("dev_ce"), marker="o", label=label)
    ax_eer.set(xlabel="epoch", ylabel="dev EER (%)", title="dev EER (mean over seeds)")
    ax_ce.set(xlabel="epoch", ylabel="dev cross-entropy", title="dev CE, unweighted (mean over seeds)",
              yscale="log")
    for ax in (ax_eer, ax_ce):
        ax.grid(alpha=0.3)
    ax_ce.legend(fontsize=8)
    fig.suptitle("ssl_aasist back-end LR sweep (frozen Whisper tiny.en, SLS, half width, Adam)",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(out / "lr_sweep.png", dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    """Command line: run the sweep (unless ``--plot-only``), then write the outputs."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True)
    p.add_argument("--train", default="data/mini/train.parquet")
    p.add_argument("--dev", default="data/mini/dev.parquet")
    p.add_argument("--eval", default=None, help="manifest scored by each model (optional)")
    p.add_argument("--feature-cache", default="results/feature_cache")
    p.add_argument("--rates", nargs="+", default=list(DEFAULT_RATES))
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--plot-only", action="store_true")
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if not args.plot_only:
        for seed in args.seeds:
            for rate in args.rates:
                run_one(rate, seed, args)
    rows, summary = collect(out, args.rates, args.seeds)
    write_outputs(out, rows, summary, Path(args.eval).stem if args.eval else "eval")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
