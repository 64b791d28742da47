"""The results of a run: EER per model (rows) and eval set (columns, plus the mean), per
attack, as CSV and Markdown, with the bar chart and DET curves.

Score files are named ``<model>/<eval_set>.csv``. Reported figures from the paper, when
given, are added as a separate row marked *reported*, never mixed with reproduced ones.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import numpy as np

from reconfake.evaluate import evaluate_rows, read_scores
from reconfake.fileio import write_text_atomic
from reconfake.plots import det_curves, eer_bars

REPORT_FILES = {
    "table_csv": "table.csv", "table_md": "table.md", "per_attack_csv": "eer_per_attack.csv",
    "per_attack_md": "eer_per_attack.md", "bar_png": "eer_by_paradigm.png",
    "det_png": "det_curves.png",
}


def _csv_text(header: list[str], rows: list[list[object]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue()


def _markdown(header: list[str], rows: list[list[object]], note: str = "") -> str:
    lines = [f"> {line}" for line in note.splitlines()] + [""] if note else []
    lines += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join("" if c is None else str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def write_report(score_files: list[str], out_dir: str | os.PathLike[str],
                 model_order: list[str], eval_sets: list[str],
                 paradigms: dict[str, str] | None = None, note: str = "",
                 reported: dict[str, float] | None = None,
                 reported_label: str = "paper (reported)") -> dict[str, Path]:
    """Write every report file into ``out_dir``; returns their paths by key."""
    out_dir = Path(out_dir)
    paradigms = paradigms or {}
    by_key = {(Path(f).parent.name, Path(f).stem): f for f in score_files}
    missing = [(m, e) for m in model_order for e in eval_sets if (m, e) not in by_key]
    if missing:
        raise ValueError(f"no score file for (model, eval set): {missing}")
    results, arrays = {}, {}
    for (m, e), f in by_key.items():
        rows = read_scores(f)
        results[(m, e)] = evaluate_rows(rows)
        s = np.array([float(r["score"]) for r in rows])
        bona = np.array([r["label"] == "bonafide" for r in rows])
        arrays.setdefault(m, {})[e] = (s[bona], s[~bona])

    header = ["model", "paradigm"] + [f"{e} EER%" for e in eval_sets] + ["mean EER%"]
    table: list[list[object]] = []
    for m in model_order:
        eers = [results[(m, e)].eer_percent for e in eval_sets]
        table.append([m, paradigms.get(m, "-")] + [round(v, 3) for v in eers]
                     + [round(float(np.mean(eers)), 3)])
    md_rows = list(table)
    if reported:
        values = [reported.get(e) for e in eval_sets]
        known = [v for v in values if v is not None]
        mean = round(float(np.mean(known)), 3) if len(known) == len(values) else None
        md_rows.append([f"*{reported_label}*", "reported, not reproduced"] + values + [mean])
    paths = {key: out_dir / name for key, name in REPORT_FILES.items()}
    write_text_atomic(paths["table_csv"], _csv_text(header, md_rows))
    write_text_atomic(paths["table_md"], _markdown(header, md_rows, note))

    attack_header = ["model", "eval_set", "attack", "EER%"]
    per_attack = [[m, e, a, round(v, 3)] for m in model_order for e in eval_sets
                  for a, v in results[(m, e)].per_attack.items()]
    write_text_atomic(paths["per_attack_csv"], _csv_text(attack_header, per_attack))
    write_text_atomic(paths["per_attack_md"], _markdown(attack_header, per_attack, note))

    values = np.array([row[2:] for row in table], dtype=float)
    eer_bars(model_order, [str(r[1]) for r in table], eval_sets + ["mean"], values,
             paths["bar_png"], note)
    det_curves(arrays, model_order, eval_sets, paths["det_png"], note)
    return paths
