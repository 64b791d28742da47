"""The results table and plots: EER per model (rows) and eval set (columns, plus the mean).

Score files are named ``<model>/<eval_set>.csv``. Writes ``table.csv``, ``table.md``,
``eer_per_attack.csv`` and ``eer_by_paradigm.png`` into the output folder.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import numpy as np

from reconfake.evaluate import evaluate_file
from reconfake.fileio import atomic_path, write_text_atomic


def collect(score_files: list[str]) -> dict[str, dict[str, object]]:
    """``{model: {eval_set: EvalResult}}`` from score file paths."""
    results: dict[str, dict[str, object]] = {}
    for f in score_files:
        path = Path(f)
        results.setdefault(path.parent.name, {})[path.stem] = evaluate_file(path)
    return results


def _csv_text(header: list[str], rows: list[list[object]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


def write_report(score_files: list[str], out_dir: str | os.PathLike[str],
                 model_order: list[str], eval_sets: list[str],
                 paradigms: dict[str, str] | None = None, note: str = "") -> dict[str, Path]:
    """Write the table (CSV, Markdown), the per-attack table and the bar chart."""
    out_dir = Path(out_dir)
    paradigms = paradigms or {}
    results = collect(score_files)
    missing = [(m, e) for m in model_order for e in eval_sets if e not in results.get(m, {})]
    if missing:
        raise ValueError(f"no score file for (model, eval set): {missing}")
    header = ["model", "paradigm"] + [f"{e} EER%" for e in eval_sets] + ["mean EER%"]
    table: list[list[object]] = []
    for m in model_order:
        eers = [results[m][e].eer_percent for e in eval_sets]
        table.append([m, paradigms.get(m, "-")] + [round(v, 3) for v in eers]
                     + [round(float(np.mean(eers)), 3)])
    paths = {"table_csv": out_dir / "table.csv", "table_md": out_dir / "table.md",
             "per_attack_csv": out_dir / "eer_per_attack.csv",
             "bar_png": out_dir / "eer_by_paradigm.png"}
    write_text_atomic(paths["table_csv"], _csv_text(header, table))
    md = ([f"> {line}" for line in note.splitlines()] + [""] if note else []) + [
        "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    md += ["| " + " | ".join(str(c) for c in row) + " |" for row in table]
    write_text_atomic(paths["table_md"], "\n".join(md) + "\n")
    per_attack = [[m, e, a, round(v, 3)] for m in model_order for e in eval_sets
                  for a, v in results[m][e].per_attack.items()]
    write_text_atomic(paths["per_attack_csv"],
                      _csv_text(["model", "eval_set", "attack", "EER%"], per_attack))
    _bar_chart(table, eval_sets, paths["bar_png"], note)
    return paths


def _bar_chart(table: list[list[object]], eval_sets: list[str], path: Path, note: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = eval_sets + ["mean"]
    models = [f"{row[0]}\n({row[1]})" for row in table]
    values = np.array([row[2:] for row in table], dtype=float)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.6 * len(models) + 2), 4.5), dpi=120)
    width = 0.8 / len(columns)
    x = np.arange(len(models))
    for j, col in enumerate(columns):
        bars = ax.bar(x + (j - (len(columns) - 1) / 2) * width, values[:, j], width, label=col)
        ax.bar_label(bars, fmt="%.1f", fontsize=7)
    ax.set_xticks(x, models)
    ax.set_ylabel("EER (%)  lower is better")
    ax.set_title("EER by training paradigm" + (" — STAND-IN DATA" if note else ""))
    ax.legend(fontsize=8)
    if note:
        fig.text(0.01, 0.01, note.splitlines()[0][:150], fontsize=7, color="firebrick")
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
