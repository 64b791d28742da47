"""``reconfake evaluate``: EER (pooled and per attack) of a score file, and min t-DCF.

Reads ``utt_id,score,label[,attack]`` CSV (label bonafide|spoof); per-attack EERs compare
every bona fide trial against that attack's spoofs, as the ASVspoof per-attack tables do.

With the organisers' ASV scores (ASVspoof 2019 LA), the minimum normalised tandem detection
cost function (t-DCF) is computed as the ASVspoof 2019 evaluation code does (the "legacy"
t-DCF of Kinnunen et al., Odyssey 2018, with the 2019 cost model): the ASV threshold is its
EER threshold on target vs non-target trials, and for every CM threshold ``s``::

    t-DCF(s) = C1 * Pmiss_cm(s) + C2 * Pfa_cm(s),   normalised by min(C1, C2)
    C1 = Ptar * (Cmiss_cm - Cmiss_asv * Pmiss_asv) - Pnon * Cfa_asv * Pfa_asv
    C2 = Cfa_cm * Pspoof * (1 - Pmiss_spoof_asv)

The CM miss/false-alarm rates come from the one DET curve of :mod:`reconfake.metrics`.
"""

from __future__ import annotations

import csv
import math
import os
from dataclasses import dataclass, field

import numpy as np

from reconfake.metrics import compute_eer, det_curve


@dataclass
class EvalResult:
    """EERs in percent."""

    eer_percent: float
    threshold: float
    n_bonafide: int
    n_spoof: int
    per_attack: dict[str, float] = field(default_factory=dict)
    min_tdcf: float | None = None  # with ASV scores only


@dataclass(frozen=True)
class TDCFCostModel:
    """The ASVspoof 2019 cost model (priors sum to one)."""

    Pspoof: float = 0.05
    Ptar: float = 0.9405  # (1 - Pspoof) * 0.99
    Pnon: float = 0.0095  # (1 - Pspoof) * 0.01
    Cmiss_asv: float = 1.0
    Cfa_asv: float = 10.0
    Cmiss_cm: float = 1.0
    Cfa_cm: float = 10.0


@dataclass(frozen=True)
class ASVErrorRates:
    """ASV error rates at its EER threshold (fractions)."""

    threshold: float
    Pfa_asv: float  # non-targets accepted
    Pmiss_asv: float  # targets rejected
    Pmiss_spoof_asv: float  # spoofs rejected by the ASV


def read_asv_scores(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """ASV scores by key (``target``, ``nontarget``, ``spoof``).

    Whitespace-separated lines whose last two fields are ``KEY SCORE``: the 4-column
    ``speaker utt key score`` and the organisers' 3-column file both work.
    """
    scores: dict[str, list[float]] = {"target": [], "nontarget": [], "spoof": []}
    with open(path) as handle:
        for line_no, line in enumerate(handle, start=1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) < 2 or fields[-2] not in scores:
                raise ValueError(f"{path}, line {line_no}: expected '... KEY SCORE' with KEY "
                                 f"target|nontarget|spoof, got {line.strip()!r}")
            try:
                value = float(fields[-1])
            except ValueError as exc:
                raise ValueError(f"{path}, line {line_no}: score {fields[-1]!r} is not a "
                                 "number") from exc
            scores[fields[-2]].append(value)
    missing = [k for k, v in scores.items() if not v]
    if missing:
        raise ValueError(f"{path}: no {' / '.join(missing)} trials; min t-DCF needs target, "
                         "nontarget and spoof ASV scores")
    return {k: np.asarray(v, dtype=np.float64) for k, v in scores.items()}


def asv_error_rates(target: np.ndarray, nontarget: np.ndarray, spoof: np.ndarray) -> ASVErrorRates:
    """ASV false-alarm and miss rates at its EER threshold (accept = score >= threshold)."""
    _, threshold = compute_eer(target, nontarget)
    return ASVErrorRates(threshold, float(np.mean(nontarget >= threshold)),
                         float(np.mean(target < threshold)), float(np.mean(spoof < threshold)))


def min_tdcf(bonafide_cm: np.ndarray, spoof_cm: np.ndarray, asv: ASVErrorRates,
             cost: TDCFCostModel = TDCFCostModel()) -> tuple[float, float]:
    """``(min normalised t-DCF, CM threshold)`` of CM scores given the ASV error rates."""
    if np.unique(np.concatenate([bonafide_cm, spoof_cm])).size < 3:
        raise ValueError("t-DCF needs soft CM scores (at least 3 distinct values), not decisions")
    c1 = cost.Ptar * (cost.Cmiss_cm - cost.Cmiss_asv * asv.Pmiss_asv) \
        - cost.Pnon * cost.Cfa_asv * asv.Pfa_asv
    c2 = cost.Cfa_cm * cost.Pspoof * (1 - asv.Pmiss_spoof_asv)
    if c1 < 0 or c2 < 0:
        raise ValueError(f"t-DCF weights are negative (C1={c1:.4g}, C2={c2:.4g}); check the ASV "
                         "scores")
    if min(c1, c2) == 0:
        raise ValueError("t-DCF is undefined: the ASV rejects every spoof (C2 = 0) or its errors "
                         "cost as much as a CM miss (C1 = 0)")
    curve = det_curve(bonafide_cm, spoof_cm)
    normalised = (c1 * curve.miss + c2 * curve.false_alarm) / min(c1, c2)
    i = int(np.argmin(normalised))
    return float(normalised[i]), float(curve.thresholds[i])


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


def evaluate_rows(rows: list[dict[str, str]],
                  asv_scores: dict[str, np.ndarray] | None = None) -> EvalResult:
    """Pooled and per-attack EER of score rows; pooled min t-DCF when ASV scores are given."""
    scores = np.array([float(r["score"]) for r in rows])
    is_bona = np.array([r["label"] == "bonafide" for r in rows])
    eer, threshold = compute_eer(scores[is_bona], scores[~is_bona])
    result = EvalResult(100 * eer, threshold, int(is_bona.sum()), int((~is_bona).sum()))
    attacks = np.array([r.get("attack") or "" for r in rows])
    for attack in sorted(set(attacks[~is_bona]) - {""}):
        mask = (attacks == attack) & ~is_bona
        result.per_attack[attack] = 100 * compute_eer(scores[is_bona], scores[mask])[0]
    if asv_scores is not None:
        asv = asv_error_rates(asv_scores["target"], asv_scores["nontarget"], asv_scores["spoof"])
        result.min_tdcf = min_tdcf(scores[is_bona], scores[~is_bona], asv)[0]
    return result


def evaluate_file(path: str | os.PathLike[str],
                  asv_scores: str | os.PathLike[str] | None = None) -> EvalResult:
    """EERs of one score file, and min t-DCF given an ASV score file."""
    return evaluate_rows(read_scores(path), read_asv_scores(asv_scores) if asv_scores else None)
