"""How hard each paradigm's reconstructions are for the baseline detector: the paper's thesis,
measured.

The baseline (trained without hard samples) scores the dev split and each backend's
reconstructions of the dev bona fide clips. Per backend the table gives the EER of dev bona
fide against those reconstructions (with a 95 % stratified bootstrap interval; the lower, the
harder: at 50 % the baseline cannot tell a reconstruction from its source), the share of
reconstructions the baseline accepts as bona fide at its dev EER threshold (dev bona fide vs
the dev spoofs of the seen systems), the mean scores, the median score drop from each source
clip to its reconstruction, and the mean log-mel distance of the reconstructions to their
sources. The dev spoofs themselves are the reference row.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from reconfake.evaluate import read_scores
from reconfake.metrics import compute_eer, eer_replicates, percentile_interval
from reconfake.shards import read_shard_columns

HEADER = ["backend", "paradigm", "n", "EER% vs dev bona fide", "CI95 low", "CI95 high",
          "accepted as bona fide %", "mean score", "median score drop", "mean log-mel distance"]


def _scores(rows: list[dict[str, str]]) -> dict[str, float]:
    return {r["utt_id"]: float(r["score"]) for r in rows}


def hardness_rows(dev_scores: str | os.PathLike[str], reconstructions: dict[str, str],
                  paradigms: dict[str, str] | None = None,
                  shards: dict[str, str] | None = None, n_boot: int = 1000,
                  ) -> tuple[list[list[object]], dict[str, np.ndarray]]:
    """The hardness table (see :data:`HEADER`) and the score arrays for the plot.

    ``dev_scores``: the baseline's score file of the dev split; ``reconstructions``: backend ->
    the baseline's score file of that backend's reconstructions of the dev bona fide clips
    (utt ids ``<source>__<backend>``); ``shards``: backend -> the shard, for log-mel distances.
    """
    paradigms, shards = paradigms or {}, shards or {}
    dev = read_scores(dev_scores)
    bona = {r["utt_id"]: float(r["score"]) for r in dev if r["label"] == "bonafide"}
    spoof = np.array([float(r["score"]) for r in dev if r["label"] == "spoof"])
    if not bona or spoof.size == 0:
        raise ValueError(f"{dev_scores}: hardness needs bona fide and spoof dev trials")
    bona_arr = np.array([bona[k] for k in sorted(bona)])
    _, threshold = compute_eer(bona_arr, spoof)
    arrays = {"dev bona fide": bona_arr, "dev spoof (seen systems)": spoof}

    def row(name: str, paradigm: str, rec: np.ndarray, drop: float | None,
            distance: float | None) -> list[object]:
        eer = 100 * compute_eer(bona_arr, rec)[0]
        low, high = percentile_interval(100 * eer_replicates(bona_arr, rec, n_boot))
        return [name, paradigm, int(rec.size), round(eer, 3), round(low, 3), round(high, 3),
                round(100 * float(np.mean(rec >= threshold)), 2), round(float(np.mean(rec)), 4),
                None if drop is None else round(drop, 4),
                None if distance is None else round(distance, 4)]

    table = [row("dev spoof (seen systems)", "reference", spoof, None, None)]
    for backend, path in reconstructions.items():
        rec = _scores(read_scores(path))
        sources = {k.rsplit("__", 1)[0]: v for k, v in rec.items()}
        unknown = sorted(set(sources) - set(bona))
        if unknown:
            raise ValueError(f"{path}: {len(unknown)} reconstruction(s) of clips that are not "
                             f"dev bona fide, e.g. {unknown[:3]}; expected utt ids "
                             f"'<dev bona fide utt_id>__{backend}'")
        drops = [bona[k] - v for k, v in sources.items()]
        distance = None
        if backend in shards:
            column = read_shard_columns(shards[backend], ["logmel_distance"]).column(0)
            distance = float(np.mean(column.to_numpy()))
        values = np.array([sources[k] for k in sorted(sources)])
        arrays[f"{backend} ({paradigms.get(backend, '?')})"] = values
        table.append(row(backend, paradigms.get(backend, "?"), values,
                         float(np.median(drops)), distance))
    return table, arrays


def write_hardness(dev_scores: str | os.PathLike[str], reconstructions: dict[str, str],
                   out_dir: str | os.PathLike[str], paradigms: dict[str, str] | None = None,
                   shards: dict[str, str] | None = None, note: str = "") -> dict[str, Path]:
    """Write ``hardness.csv``, ``hardness.md`` and ``hardness.png`` into ``out_dir``."""
    from reconfake.fileio import write_text_atomic
    from reconfake.plots import score_histograms
    from reconfake.report import _csv_text, _markdown

    out_dir = Path(out_dir)
    table, arrays = hardness_rows(dev_scores, reconstructions, paradigms, shards)
    paths = {"csv": out_dir / "hardness.csv", "md": out_dir / "hardness.md",
             "png": out_dir / "hardness.png"}
    write_text_atomic(paths["csv"], _csv_text(HEADER, table))
    explain = ("Baseline detector (no hard samples) on the dev bona fide clips and on each "
               "backend's reconstructions of them; lower EER = harder; 50 % = the baseline cannot "
               "tell them apart; accepted = scored above the baseline's dev EER threshold.")
    write_text_atomic(paths["md"], _markdown(HEADER, table, "\n".join(filter(None, [note,
                                                                                     explain]))))
    score_histograms(arrays, paths["png"], "Baseline scores: dev bona fide vs reconstructions",
                     note)
    return paths
