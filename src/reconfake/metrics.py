"""The one EER: equal error rate as the official ASVspoof 2019/2021 evaluation code computes it.

Scores follow the ASVspoof convention (higher = more bona fide). The DET curve sorts all
scores with a stable sort, bona fide trials first among ties, sweeps the threshold over the
sorted scores and takes the point where miss and false-alarm rates are closest; the EER is
the mean of the two rates there. Ties therefore resolve exactly as in the official code.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class DetCurve:
    """Miss (bona fide rejected) and false-alarm (spoof accepted) rates per threshold."""

    miss: np.ndarray
    false_alarm: np.ndarray
    thresholds: np.ndarray


def det_curve(bonafide_scores: np.ndarray, spoof_scores: np.ndarray) -> DetCurve:
    """DET curve of a score set; thresholds ascend, the first lies below every score."""
    bona = np.asarray(bonafide_scores, dtype=np.float64).ravel()
    spoof = np.asarray(spoof_scores, dtype=np.float64).ravel()
    if bona.size == 0 or spoof.size == 0:
        raise ValueError(
            f"EER needs both classes: got {bona.size} bona fide and {spoof.size} spoof scores"
        )
    if not (np.all(np.isfinite(bona)) and np.all(np.isfinite(spoof))):
        raise ValueError("scores contain NaN or inf; the scoring run failed for some trials")
    scores = np.concatenate([bona, spoof])
    is_bona = np.concatenate([np.ones(bona.size), np.zeros(spoof.size)])
    order = np.argsort(scores, kind="mergesort")
    is_bona = is_bona[order]
    # Rejecting every trial with score <= the k-th sorted score:
    bona_rejected = np.cumsum(is_bona)
    spoof_rejected = np.arange(1, scores.size + 1) - bona_rejected
    miss = np.concatenate([[0.0], bona_rejected / bona.size])
    false_alarm = np.concatenate([[1.0], (spoof.size - spoof_rejected) / spoof.size])
    thresholds = np.concatenate([[scores[order[0]] - 0.001], scores[order]])
    return DetCurve(miss, false_alarm, thresholds)


def compute_eer(bonafide_scores: np.ndarray, spoof_scores: np.ndarray) -> tuple[float, float]:
    """Return ``(eer, threshold)``; the EER is a fraction in [0, 1], not a percentage."""
    curve = det_curve(bonafide_scores, spoof_scores)
    i = int(np.argmin(np.abs(curve.miss - curve.false_alarm)))
    return float((curve.miss[i] + curve.false_alarm[i]) / 2), float(curve.thresholds[i])


def eer_replicates(bonafide_scores: np.ndarray, spoof_scores: np.ndarray, n_boot: int = 1000,
                   seed: int = 0) -> np.ndarray:
    """EERs (fractions) of ``n_boot`` stratified bootstrap resamples of the trials.

    Bona fide and spoof trials are resampled with replacement separately, so every replicate
    keeps the class sizes. The draws depend only on ``seed`` and the two class sizes: two
    models scored on the same trials, in the same order, get the same resamples, so the
    difference of their replicates is a paired bootstrap of their EER difference.
    """
    bona = np.asarray(bonafide_scores, dtype=np.float64).ravel()
    spoof = np.asarray(spoof_scores, dtype=np.float64).ravel()
    if n_boot < 1:
        raise ValueError(f"n_boot must be at least 1, got {n_boot}")
    rng = np.random.default_rng(seed)
    out = np.empty(n_boot)
    for b in range(n_boot):
        out[b] = compute_eer(bona[rng.integers(0, bona.size, bona.size)],
                             spoof[rng.integers(0, spoof.size, spoof.size)])[0]
    return out


def percentile_interval(replicates: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """The central ``level`` percentile interval of bootstrap replicates."""
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(np.asarray(replicates, dtype=np.float64), [tail, 100 - tail])
    return float(low), float(high)
