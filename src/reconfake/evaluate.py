"""``reconfake evaluate``: EER (pooled and per attack) of a score file.

Reads ``utt_id,score,label[,attack]`` CSV (label bonafide|spoof); per-attack EERs compare
every bona fide trial against that attack's spoofs, as the ASVspoof per-attack tables do.
"""

from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass, field

import numpy as np

from reconfake.metrics import compute_eer


@dataclass
class EvalResult:
    """EERs in percent."""

    eer_percent: float
    threshold: float
    n_bonafide: int
    n_spoof: int
    per_attack: dict[str, float] = field(default_factory=dict)


def read_scores(path: str | os.PathLike[str]) -> list[dict[str, str]]:
    """Score rows; errors name the file, the line and the fix."""
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        missing = {"utt_id", "score", "label"} - set(reader.fieldnames or [])
        if missing:
            raise ValueError(f"{path}: missing column(s) {sorted(missing)}; "
                             "expected a header utt_id,score,label[,attack]")
        rows = []
        for line, row in enumerate(reader, start=2):
            if row["label"] not in ("bonafide", "spoof"):
                raise ValueError(f"{path}, line {line}: label {row['label']!r} is not "
                                 "bonafide or spoof")
            try:
                value = float(row["score"])
            except ValueError as exc:
                raise ValueError(f"{path}, line {line}: score {row['score']!r} "
                                 "is not a number") from exc
            if not math.isfinite(value):
                raise ValueError(f"{path}, line {line}: score is {row['score']}")
            rows.append(row)
    return rows


def evaluate_rows(rows: list[dict[str, str]]) -> EvalResult:
    """Pooled and per-attack EER of score rows."""
    scores = np.array([float(r["score"]) for r in rows])
    is_bona = np.array([r["label"] == "bonafide" for r in rows])
    eer, threshold = compute_eer(scores[is_bona], scores[~is_bona])
    result = EvalResult(100 * eer, threshold, int(is_bona.sum()), int((~is_bona).sum()))
    attacks = np.array([r.get("attack") or "" for r in rows])
    for attack in sorted(set(attacks[~is_bona]) - {""}):
        mask = (attacks == attack) & ~is_bona
        result.per_attack[attack] = 100 * compute_eer(scores[is_bona], scores[mask])[0]
    return result


def evaluate_file(path: str | os.PathLike[str]) -> EvalResult:
    """EERs of one score file."""
    return evaluate_rows(read_scores(path))
