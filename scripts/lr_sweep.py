"""Learning-rate sweep of the ssl_aasist back-end on a frozen front-end: dev EER and dev
cross-entropy per epoch for each rate, and (optionally) the EER on an unseen eval set.

Trains one model per rate with the reconfake CLI (the same command a user would run), all
sharing one feature cache, so the front-end runs once. Then writes, under ``--out``:

* ``sweep.csv``: one row per (lr, epoch) with dev_eer_percent, dev_ce and the train losses;
* ``summary.md``: a table per rate (best epoch, its dev EER / dev CE, last-epoch values,
  eval EER when scored);
* ``lr_sweep.png``: dev EER and dev CE against the epoch, one line per rate.

Example (the sweep in docs/detector.md)::

    PYTHONPATH=src nice python scripts/lr_sweep.py --out /tmp/recipe_sweep \\
        --train data/mini/train.parquet --dev data/mini/dev.parquet \\
        --eval data/mini/eval_piper.parquet --feature-cache /tmp/recipe_fc

``--plot-only`` redraws from the runs already in ``--out``.
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


def training_options(lr: float, args: argparse.Namespace) -> dict:
    """The embedded default's training options, with the rate varied and no early stop."""
    return {"epochs": args.epochs, "patience": args.epochs, "batch_size": 16, "lr": lr,
            "crop_samples": 32000, "eval_samples": 64600, "seed": args.seed, "threads": 1,
            "racl_enh": True, "racl_reg": True, "feature_cache": args.feature_cache}


def run_one(rate: str, args: argparse.Namespace) -> Path:
    """Train (unless done) and score one rate; returns its folder."""
    folder = Path(args.out) / f"lr_{rate}"
    cli = [sys.executable, "-m", "reconfake", "--threads", "1"]
    if not (folder / "model.pt").exists():
        subprocess.run([*cli, "train", "--train", args.train, "--dev", args.dev,
                        "--out-dir", str(folder), "--architecture", "ssl_aasist",
                        "--arch-options", json.dumps(ARCH),
                        "--options", json.dumps(training_options(float(rate), args))],
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


def collect(out: Path, rates: list[str]) -> tuple[list[dict], list[dict]]:
    """Per-epoch rows and per-rate summaries of the runs present in ``out``."""
    rows, summary = [], []
    for rate in rates:
        log = out / f"lr_{rate}" / "train_log.csv"
        if not log.exists():
            continue
        history = list(csv.DictReader(log.open()))
        for h in history:
            rows.append({"lr": rate, **h})
        best = min(history, key=lambda h: (float(h["dev_eer_percent"]), float(h["dev_ce"])))
        record = {"lr": rate, "best_epoch": int(best["epoch"]) + 1,
                  "best_dev_eer": float(best["dev_eer_percent"]),
                  "best_dev_ce": float(best["dev_ce"]),
                  "last_dev_eer": float(history[-1]["dev_eer_percent"]),
                  "last_dev_ce": float(history[-1]["dev_ce"]),
                  "first_dev_ce": float(history[0]["dev_ce"]),
                  "last_train_ce": float(history[-1]["ce"])}
        evaluation = out / f"lr_{rate}" / "eval.json"
        if evaluation.exists():
            record["eval_eer"] = float(json.loads(evaluation.read_text())["eer_percent"])
        summary.append(record)
    return rows, summary


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
    lines = [f"| Adam lr | best epoch | dev EER % (best) | dev CE (best) | dev EER % (ep. last) "
             f"| dev CE (ep. 1 -> last) | train CE (last) | {eval_name} EER % |",
             "|---|---|---|---|---|---|---|---|"]
    for s in summary:
        ev = f"{s['eval_eer']:.2f}" if "eval_eer" in s else "-"
        lines.append(f"| {s['lr']} | {s['best_epoch']} | {s['best_dev_eer']:.2f} | "
                     f"{s['best_dev_ce']:.4f} | {s['last_dev_eer']:.2f} | "
                     f"{s['first_dev_ce']:.4f} -> {s['last_dev_ce']:.4f} | "
                     f"{s['last_train_ce']:.4f} | {ev} |")
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))

    fig, (ax_eer, ax_ce) = plt.subplots(1, 2, figsize=(10, 4))
    for s in summary:
        hist = [r for r in rows if r["lr"] == s["lr"]]
        epochs = [int(r["epoch"]) + 1 for r in hist]
        ax_eer.plot(epochs, [float(r["dev_eer_percent"]) for r in hist], marker="o",
                    label=f"lr {s['lr']}")
        ax_ce.plot(epochs, [float(r["dev_ce"]) for r in hist], marker="o", label=f"lr {s['lr']}")
    ax_eer.set(xlabel="epoch", ylabel="dev EER (%)", title="dev EER")
    ax_ce.set(xlabel="epoch", ylabel="dev cross-entropy", title="dev CE (unweighted)",
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
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--plot-only", action="store_true")
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if not args.plot_only:
        for rate in args.rates:
            run_one(rate, args)
    rows, summary = collect(out, args.rates)
    write_outputs(out, rows, summary, Path(args.eval).stem if args.eval else "eval")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
