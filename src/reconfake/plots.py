"""Figures of the report: EER bars by paradigm and DET curves per eval set.

PNG files sized to be read without zooming; a stand-in banner is drawn when given.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from reconfake.fileio import atomic_path
from reconfake.metrics import compute_eer, det_curve


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path, banner: str) -> None:
    if banner:
        fig.text(0.01, 0.005, banner.splitlines()[0][:160], fontsize=7, color="firebrick",
                 va="bottom")
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    _pyplot().close(fig)


def eer_bars(models: list[str], paradigms: list[str], columns: list[str], values: np.ndarray,
             path: Path, banner: str = "") -> None:
    """Grouped bars: one group per model, one bar per eval set (and the mean)."""
    plt = _pyplot()
    labels = [f"{m}\n({p})" for m, p in zip(models, paradigms, strict=True)]
    fig, ax = plt.subplots(figsize=(max(6.0, 1.6 * len(models) + 2), 4.5), dpi=120)
    width = 0.8 / len(columns)
    x = np.arange(len(models))
    for j, col in enumerate(columns):
        bars = ax.bar(x + (j - (len(columns) - 1) / 2) * width, values[:, j], width, label=col)
        ax.bar_label(bars, fmt="%.1f", fontsize=7)
    ax.set_xticks(x, labels)
    ax.set_ylabel("EER (%), lower is better")
    ax.set_title("EER by training paradigm" + (" (STAND-IN DATA)" if banner else ""))
    ax.legend(fontsize=8)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    _save(fig, path, banner)


def det_curves(scores: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]], models: list[str],
               eval_sets: list[str], path: Path, banner: str = "") -> None:
    """DET curves (probit axes), one panel per eval set, every model on each panel.

    ``scores[model][eval_set] = (bonafide_scores, spoof_scores)``.
    """
    from scipy.stats import norm

    plt = _pyplot()
    fig, axes = plt.subplots(1, len(eval_sets), figsize=(4.6 * len(eval_sets), 4.6), dpi=120,
                             squeeze=False)
    ticks = np.array([0.1, 0.5, 1, 2, 5, 10, 20, 40, 60])
    for ax, eval_set in zip(axes[0], eval_sets, strict=True):
        for model in models:
            bona, spoof = scores[model][eval_set]
            curve = det_curve(bona, spoof)
            eps = 0.5 / (len(bona) + len(spoof))  # keep 0 % and 100 % on the probit axes
            fa = norm.ppf(np.clip(curve.false_alarm, eps, 1 - eps))
            miss = norm.ppf(np.clip(curve.miss, eps, 1 - eps))
            eer = 100 * compute_eer(bona, spoof)[0]
            ax.plot(fa, miss, label=f"{model} (EER {eer:.1f} %)")
        ax.plot(norm.ppf(ticks / 100)[[0, -1]], norm.ppf(ticks / 100)[[0, -1]], ":", color="grey")
        ax.set_xticks(norm.ppf(ticks / 100), [f"{t:g}" for t in ticks])
        ax.set_yticks(norm.ppf(ticks / 100), [f"{t:g}" for t in ticks])
        lim = norm.ppf(np.array([0.05, 75]) / 100)
        ax.set_xlim(*lim)
        ax.set_ylim(*lim)
        ax.set_xlabel("false alarm rate: spoof accepted (%)")
        ax.set_ylabel("miss rate: bona fide rejected (%)")
        ax.set_title(f"DET: {eval_set}")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    _save(fig, path, banner)
