"""The results of a run: EER per model (rows) and eval set (columns, plus the mean), per
attack, as CSV and Markdown, with the bar chart, the DET curves and the learned layer weights
of every model that has them.

Score files are named ``<model>/<eval_set>.csv``, layer-weight files
``<model>/layer_weights.json`` (written by training for ssl_aasist with softmax or SLS
aggregation only; a missing one means the model has none). Reported figures from the paper,
when given, are added as a separate row marked *reported*, never mixed with reproduced ones.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
from pathlib import Path

import numpy as np

from reconfake.evaluate import evaluate_rows, read_scores
from reconfake.fileio import write_text_atomic
from reconfake.plots import det_curves, eer_bars, layer_weights_plot

log = logging.getLogger("reconfake")

REPORT_FILES = {
    "table_csv": "table.csv", "table_md": "table.md", "per_attack_csv": "eer_per_attack.csv",
    "per_attack_md": "eer_per_attack.md", "bar_png": "eer_by_paradigm.png",
    "det_png": "det_curves.png", "layer_weights_png": "layer_weights.png",
    "layer_weights_csv": "layer_weights.csv", "benchmarks_csv": "benchmarks.csv",
    "benchmarks_md": "benchmarks.md",
}
#: columns of Snakemake's benchmark files that the summary keeps (seconds, MB, load %, s)
BENCHMARK_COLUMNS = ("s", "max_rss", "mean_load", "cpu_time")


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
                 reported_label: str = "paper (reported)",
                 layer_weights: list[str] | None = None,
                 benchmarks: str | os.PathLike[str] | None = None) -> dict[str, Path]:
    """Write every report file into ``out_dir``; returns their paths by key.

    ``layer_weights``: candidate ``<model>/layer_weights.json`` files (missing ones are
    skipped); the layer-weight figure and CSV are written even when none exists.
    """
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
    write_layer_weights(layer_weights or [], paths["layer_weights_png"],
                        paths["layer_weights_csv"], model_order, note)
    header, rows = benchmark_rows(benchmarks)
    write_text_atomic(paths["benchmarks_csv"], _csv_text(header, rows))
    write_text_atomic(paths["benchmarks_md"], _markdown(header, rows))
    return paths


def benchmark_rows(folder: str | os.PathLike[str] | None) -> tuple[list[str], list[list[object]]]:
    """One row per Snakemake benchmark file under ``folder`` (``<stage>/<job>.tsv``): stage,
    job, wall seconds, peak RSS (MB), mean CPU load (%) and CPU seconds of its last run."""
    header = ["stage", "job", "wall_s", "max_rss_mb", "mean_load_pct", "cpu_s"]
    rows: list[list[object]] = []
    if folder is None or not Path(folder).is_dir():
        return header, rows
    for path in sorted(Path(folder).rglob("*.tsv")):
        relative = path.relative_to(folder).with_suffix("")
        with path.open(newline="") as handle:
            records = list(csv.DictReader(handle, delimiter="\t"))
        if not records or any(c not in records[-1] for c in BENCHMARK_COLUMNS):
            raise ValueError(f"{path}: not a Snakemake benchmark file (expected columns "
                             f"{', '.join(BENCHMARK_COLUMNS)})")
        last = records[-1]
        values = []
        for column in BENCHMARK_COLUMNS:
            try:
                values.append(round(float(last[column]), 2))
            except ValueError:  # Snakemake writes NA where it could not measure
                values.append(None)
        rows.append([relative.parts[0], "/".join(relative.parts[1:]), *values])
    return header, rows


def read_layer_weights(files: list[str], model_order: list[str] | None = None,
                       ) -> dict[str, dict[str, object]]:
    """The ``layer_weights.json`` records that exist, by model (the file's folder name), in
    ``model_order`` (others after it, by name). A missing file is a model without learned
    layer weights; a malformed one is an error naming it."""
    records: dict[str, dict[str, object]] = {}
    for f in files:
        path = Path(f)
        if not path.exists():
            continue
        record = json.loads(path.read_text())
        layers, weights = record.get("layers"), record.get("weights")
        if not isinstance(layers, list) or not isinstance(weights, list) or not weights \
                or len(layers) != len(weights):
            raise ValueError(f"{path}: expected 'layers' and 'weights' lists of equal length")
        model = path.parent.name
        if model in records:
            raise ValueError(f"{path}: two layer-weight files for model {model!r}")
        records[model] = record
    order = {m: i for i, m in enumerate(model_order or [])}
    return dict(sorted(records.items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0])))


def write_layer_weights(files: list[str], png: str | os.PathLike[str],
                        csv_path: str | os.PathLike[str], model_order: list[str] | None = None,
                        banner: str = "") -> dict[str, dict[str, object]]:
    """One figure with the layer weights of every model that has them, and a long CSV
    (model, layer, weight); a placeholder figure and a header-only CSV when none has."""
    records = read_layer_weights(files, model_order)
    log.info("layer weights: %s", ", ".join(records) if records else
             "no model with learned layer weights")
    rows = [[m, layer, w] for m, r in records.items()
            for layer, w in zip(r["layers"], r["weights"], strict=True)]
    write_text_atomic(csv_path, _csv_text(["model", "layer", "weight"], rows))
    layer_weights_plot(records, Path(png), banner)
    return records
