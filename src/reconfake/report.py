"""The results of a run: EER per model (rows) and eval set (columns, plus the mean), per
attack, as CSV and Markdown, with the bar chart, the DET curves and the learned layer weights
of every model that has them.

Score files are named ``<model>/<eval_set>.csv``, layer-weight files
``<model>/layer_weights.json`` (written by training for every model; ``"weights": null``, or a
missing file, means the model has none). Reported figures from the paper,
when given, are added as a separate row marked *reported*, never mixed with reproduced ones.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from reconfake.evaluate import evaluate_rows, read_scores
from reconfake.fileio import write_text_atomic
from reconfake.metrics import eer_replicates, percentile_interval
from reconfake.plots import det_curves, eer_bars, layer_weights_plot, seed_points

log = logging.getLogger("reconfake")

REPORT_FILES = {
    "table_csv": "table.csv", "table_md": "table.md", "per_attack_csv": "eer_per_attack.csv",
    "per_attack_md": "eer_per_attack.md", "bar_png": "eer_by_paradigm.png",
    "det_png": "det_curves.png", "layer_weights_png": "layer_weights.png",
    "layer_weights_csv": "layer_weights.csv", "benchmarks_csv": "benchmarks.csv",
    "benchmarks_md": "benchmarks.md", "seeds_csv": "seeds.csv", "seeds_md": "seeds.md",
    "seeds_png": "seeds.png",
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
                 benchmarks: str | os.PathLike[str] | Sequence[str] | None = None,
                 n_boot: int = 1000,
                 seed_groups: dict[str, list[list[Any]]] | None = None) -> dict[str, Path]:
    """Write every report file into ``out_dir``; returns their paths by key.

    ``seed_groups``: model -> ``[[seed, model name], ...]``, its runs with different training
    seeds (default: each model alone, its seed unknown) for the seeds table.
    ``layer_weights``: candidate ``<model>/layer_weights.json`` files (missing ones, and ones
    whose ``weights`` are null, are skipped); the layer-weight figure and CSV are written even
    when none has weights. ``benchmarks``: a folder or a list of benchmark files.
    """
    out_dir = Path(out_dir)
    paradigms = paradigms or {}
    by_key = {(Path(f).parent.name, Path(f).stem): f for f in score_files}
    missing = [(m, e) for m in model_order for e in eval_sets if (m, e) not in by_key]
    if missing:
        raise ValueError(f"no score file for (model, eval set): {missing}")
    results, arrays, replicates = {}, {}, {}
    for (m, e), f in by_key.items():
        rows = sorted(read_scores(f), key=lambda r: r["utt_id"])  # aligned across models
        results[(m, e)] = evaluate_rows(rows)
        s = np.array([float(r["score"]) for r in rows])
        bona = np.array([r["label"] == "bonafide" for r in rows])
        arrays.setdefault(m, {})[e] = (s[bona], s[~bona])
        replicates[(m, e)] = 100 * eer_replicates(s[bona], s[~bona], n_boot, seed=0)
    paired = {e: len({tuple(sorted(r["utt_id"] for r in read_scores(by_key[(m, e)])))
                      for m in model_order}) == 1 for e in eval_sets}

    table = results_table(model_order, eval_sets, results, replicates, paradigms)
    header = table_header(eval_sets, "baseline" in model_order)
    md_header, md_rows = markdown_table(header, table, eval_sets)
    if reported:
        values = [reported.get(e) for e in eval_sets]
        known = [v for v in values if v is not None]
        mean = round(float(np.mean(known)), 3) if len(known) == len(values) else None
        label = [f"*{reported_label}*", "reported, not reproduced"]
        table.append(label + [c for v in [*values, mean] for c in (v, None, None)]
                     + [None] * (len(header) - 2 - 3 * (len(values) + 1)))
        md_rows.append(label + [*values, mean] + [None] * (len(md_header) - 3 - len(values)))
    ci_note = (f"EER% [95 % interval]: stratified bootstrap over trials ({n_boot} resamples); "
               "delta vs baseline: paired bootstrap on the same trials"
               + ("" if all(paired.values()) else
                  f" (unpaired for {[e for e, ok in paired.items() if not ok]}: trial sets "
                  "differ between models)"))
    paths = {key: out_dir / name for key, name in REPORT_FILES.items()}
    write_text_atomic(paths["table_csv"], _csv_text(header, table))
    write_text_atomic(paths["table_md"], _markdown(md_header, md_rows,
                                                   "\n".join(filter(None, [note, ci_note]))))

    seed_groups = seed_groups or {m: [["-", m]] for m in model_order}
    # in the results table's order (a JSON object on the command line comes sorted by name)
    groups = {m: seed_groups[m] for m in model_order if m in seed_groups}
    groups.update({m: runs for m, runs in seed_groups.items() if m not in groups})
    seeds_header, seeds_rows = seeds_table(groups, eval_sets, results, paradigms)
    write_text_atomic(paths["seeds_csv"], _csv_text(seeds_header, seeds_rows))
    write_text_atomic(paths["seeds_md"], _markdown(seeds_header, seeds_rows, note))
    seed_points(list(groups), [[str(seed) for seed, _ in runs] for runs in groups.values()],
                eval_sets + ["mean"], [_run_eers(runs, eval_sets, results) for runs in
                                       groups.values()], paths["seeds_png"], note)

    attack_header = ["model", "eval_set", "attack", "EER%"]
    per_attack = [[m, e, a, round(v, 3)] for m in model_order for e in eval_sets
                  for a, v in results[(m, e)].per_attack.items()]
    write_text_atomic(paths["per_attack_csv"], _csv_text(attack_header, per_attack))
    write_text_atomic(paths["per_attack_md"], _markdown(attack_header, per_attack, note))

    columns = list(range(2, 2 + 3 * (len(eval_sets) + 1)))
    values = np.array([[row[c] for c in columns] for row in table[:len(model_order)]],
                      dtype=float).reshape(len(model_order), len(eval_sets) + 1, 3)
    eer_bars(model_order, [str(r[1]) for r in table[:len(model_order)]], eval_sets + ["mean"],
             values[:, :, 0], paths["bar_png"], note, intervals=values[:, :, 1:])
    det_curves(arrays, model_order, eval_sets, paths["det_png"], note)
    write_layer_weights(layer_weights or [], paths["layer_weights_png"],
                        paths["layer_weights_csv"], model_order, note)
    header, rows = benchmark_rows(benchmarks)
    write_text_atomic(paths["benchmarks_csv"], _csv_text(header, rows))
    write_text_atomic(paths["benchmarks_md"], _markdown(header, rows))
    return paths


def seeds_table(groups: dict[str, list[list[Any]]], eval_sets: list[str], results: dict,
                paradigms: dict[str, str]) -> tuple[list[str], list[list[object]]]:
    """One row per model: its seeds, then per eval set and for the mean over eval sets the EER
    averaged over its seed runs, and the lowest and highest run."""
    header = ["model", "paradigm", "seeds"]
    for e in [*eval_sets, "mean"]:
        header += [f"{e} EER% mean over seeds", f"{e} min", f"{e} max"]
    rows: list[list[object]] = []
    for model, runs in groups.items():
        missing = [name for _, name in runs for e in eval_sets if (name, e) not in results]
        if missing:
            raise ValueError(f"seed group {model}: no scores for run(s) {sorted(set(missing))}")
        eers = _run_eers(runs, eval_sets, results)
        row: list[object] = [model, paradigms.get(model, "-"), " ".join(str(s) for s, _ in runs)]
        for k in range(eers.shape[1]):
            row += [round(float(eers[:, k].mean()), 3), round(float(eers[:, k].min()), 3),
                    round(float(eers[:, k].max()), 3)]
        rows.append(row)
    return header, rows


def _run_eers(runs: list[list[Any]], eval_sets: list[str], results: dict) -> np.ndarray:
    """EER % of each run (rows) per eval set and their mean (columns)."""
    eers = np.array([[results[(name, e)].eer_percent for e in eval_sets] for _, name in runs])
    return np.concatenate([eers, eers.mean(axis=1, keepdims=True)], axis=1)


def table_header(eval_sets: list[str], with_delta: bool) -> list[str]:
    """CSV columns: per eval set and for the mean, the EER and its 95 % bootstrap interval;
    with a baseline, the paired difference of the mean EER to it."""
    header = ["model", "paradigm"]
    for e in [*eval_sets, "mean"]:
        header += [f"{e} EER%", f"{e} CI95 low", f"{e} CI95 high"]
    if with_delta:
        header += ["mean delta vs baseline", "delta CI95 low", "delta CI95 high"]
    return header


def results_table(model_order: list[str], eval_sets: list[str], results: dict, replicates: dict,
                  paradigms: dict[str, str]) -> list[list[object]]:
    """One row per model: EERs with intervals (see :func:`table_header`)."""
    table: list[list[object]] = []
    mean_reps = {m: np.mean([replicates[(m, e)] for e in eval_sets], axis=0) for m in model_order}
    for m in model_order:
        row: list[object] = [m, paradigms.get(m, "-")]
        for e in eval_sets:
            low, high = percentile_interval(replicates[(m, e)])
            row += [round(results[(m, e)].eer_percent, 3), round(low, 3), round(high, 3)]
        low, high = percentile_interval(mean_reps[m])
        row += [round(float(np.mean([results[(m, e)].eer_percent for e in eval_sets])), 3),
                round(low, 3), round(high, 3)]
        if "baseline" in model_order:
            delta = float(np.mean([results[(m, e)].eer_percent - results[("baseline", e)]
                                   .eer_percent for e in eval_sets]))
            low, high = percentile_interval(mean_reps[m] - mean_reps["baseline"])
            row += [round(delta, 3), round(low, 3), round(high, 3)]
        table.append(row)
    return table


def markdown_table(header: list[str], table: list[list[object]], eval_sets: list[str],
                   ) -> tuple[list[str], list[list[object]]]:
    """The table with each value and its interval in one cell: ``3.2 [1.9, 4.8]``."""
    groups = [*eval_sets, "mean"] + (["delta vs baseline"] if len(header) > 2 + 3 * (
        len(eval_sets) + 1) else [])
    md_header = ["model", "paradigm"] + [f"{g} EER%" if g != "delta vs baseline" else
                                         "mean delta vs baseline" for g in groups]
    md_rows = []
    for row in table:
        cells = row[:2]
        for k in range(len(groups)):
            value, low, high = row[2 + 3 * k: 5 + 3 * k]
            cells.append(f"{value:.2f} [{low:.2f}, {high:.2f}]")
        md_rows.append(cells)
    return md_header, md_rows


def _stage_and_job(path: Path) -> tuple[str, ...]:
    """``.../benchmarks/<stage>/<job...>.tsv`` -> (stage, job parts...)."""
    parts = path.with_suffix("").parts
    if "benchmarks" not in parts[:-1]:
        raise ValueError(f"{path}: expected a path .../benchmarks/<stage>/<job>.tsv")
    cut = len(parts) - 1 - parts[::-1].index("benchmarks")
    return parts[cut + 1:]


def benchmark_rows(source: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None,
                   ) -> tuple[list[str], list[list[object]]]:
    """One row per Snakemake benchmark file: stage, job, wall seconds, peak RSS (MB), mean CPU
    load (%) and CPU seconds of its last run. ``source`` is a folder (every ``<stage>/<job>.tsv``
    under it) or a list of files ``.../benchmarks/<stage>/<job>.tsv`` (each must exist)."""
    header = ["stage", "job", "wall_s", "max_rss_mb", "mean_load_pct", "cpu_s"]
    rows: list[list[object]] = []
    if source is None:
        return header, rows
    if isinstance(source, (str, os.PathLike)):
        folder = Path(source)
        if not folder.is_dir():
            return header, rows
        found = [(p, p.relative_to(folder).with_suffix("").parts) for p in sorted(folder.rglob("*.tsv"))]
    else:
        found = [(Path(p), _stage_and_job(Path(p))) for p in source]
    for path, relative_parts in found:
        relative = Path(*relative_parts)
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
        if isinstance(record, dict) and record.get("weights", ()) is None:
            continue  # written by training for a model without learned layer weights
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
