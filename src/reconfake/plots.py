"""Figures of the report: EER bars by paradigm, each model's EER per training seed, DET curves
per eval set and the learned front-end layer weights (also drawn per model beside ``model.pt``
after training).

PNG files sized to be read without zooming; a stand-in banner is drawn when given.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import numpy as np

from reconfake.fileio import atomic_path
from reconfake.metrics import compute_eer, det_curve


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path, banner: str) -> None:
    """Write ``fig``; the banner goes below it, wrapped to the figure's width (never cut)."""
    if banner:
        chars = max(60, int(fig.get_figwidth() * 72 / 4.0))  # 7 pt text: ~4 pt a character
        fig.text(0.01, 0.0, textwrap.fill(" ".join(banner.split()), chars), fontsize=7,
                 color="firebrick", va="top")
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", bbox_inches="tight", pad_inches=0.1)
    _pyplot().close(fig)


def eer_bars(models: list[str], paradigms: list[str], columns: list[str], values: np.ndarray,
             path: Path, banner: str = "", intervals: np.ndarray | None = None) -> None:
    """Grouped bars: one group per model, one bar per eval set (and the mean); ``intervals``
    ``(models, columns, 2)`` (low, high) draw error bars."""
    plt = _pyplot()
    labels = [f"{m}\n({p})" for m, p in zip(models, paradigms, strict=True)]
    fig, ax = plt.subplots(figsize=(max(6.0, 1.6 * len(models) + 2), 4.5), dpi=120)
    width = 0.8 / len(columns)
    x = np.arange(len(models))
    for j, col in enumerate(columns):
        yerr = None
        if intervals is not None:
            yerr = np.abs(np.stack([values[:, j] - intervals[:, j, 0],
                                    intervals[:, j, 1] - values[:, j]]))
        bars = ax.bar(x + (j - (len(columns) - 1) / 2) * width, values[:, j], width, label=col,
                      yerr=yerr, capsize=2, error_kw={"elinewidth": 0.8})
        ax.bar_label(bars, fmt="%.1f", fontsize=7)
    ax.set_xticks(x, labels)
    ax.set_ylabel("EER (%), lower is better" + (" (bars: 95 % bootstrap interval)"
                                                 if intervals is not None else ""))
    ax.set_title("EER by training paradigm" + (" (STAND-INS: see note)" if banner else ""))
    ax.legend(fontsize=8)
    fig.tight_layout()
    _save(fig, path, banner)


def seed_points(models: list[str], seeds: list[list[str]], columns: list[str],
                eers: list[np.ndarray], path: Path, banner: str = "") -> None:
    """One panel per column (eval set, mean): each model's EER with each training seed as a
    labelled dot and the mean over seeds as a bar. ``eers[i]`` is ``(seeds of model i,
    columns)``; ``seeds[i]`` names them."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(columns), figsize=(max(5.0, 0.9 * len(models) + 1.5)
                                                       * len(columns), 4.2), dpi=120,
                             squeeze=False)
    x = np.arange(len(models))
    for k, (ax, column) in enumerate(zip(axes[0], columns, strict=True)):
        means = np.array([values[:, k].mean() for values in eers])
        ax.bar(x, means, 0.6, color="lightsteelblue", label="mean over seeds")
        for i, values in enumerate(eers):
            ax.scatter(np.full(len(values), x[i]), values[:, k], s=14, color="black", zorder=3)
            for seed, value in zip(seeds[i], values[:, k], strict=True):
                ax.annotate(str(seed), (x[i], value), xytext=(4, 0), textcoords="offset points",
                            fontsize=6, va="center")
        ax.set_xticks(x, models, rotation=30, ha="right", fontsize=7)
        ax.set_title(column)
    axes[0][0].set_ylabel("EER (%), lower is better; dots: one training seed each")
    axes[0][0].legend(fontsize=7)
    fig.suptitle("EER over training seeds" + (" (STAND-INS: see note)" if banner else ""))
    fig.tight_layout()
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
    fig.tight_layout()
    _save(fig, path, banner)


_WEIGHT_MEANING = {"softmax": "softmax weight (sums to 1)", "sls": "SLS gate (dev-clip mean)"}


def frontend_trained(record: dict[str, Any]) -> bool:
    """Whether a ``layer_weights.json`` record comes from a pretrained front-end (records
    without ``frontend_trained`` are judged by name: ``tiny-random`` is untrained)."""
    return bool(record.get("frontend_trained", record.get("frontend") != "tiny-random"))


def layer_weights_plot(records: dict[str, dict[str, Any]], path: Path, banner: str = "") -> None:
    """Learned front-end layer weights: x = transformer layer 1..L, y = weight, one line per
    model (bars when there is one), legend with the model names.

    ``records[model]`` is a ``layer_weights.json`` record (``aggregation``, ``frontend``,
    ``layers``, ``weights``, ``frontend_trained``). The title names the aggregation(s) and
    front-end(s) and marks untrained front-ends. Without records the figure is a placeholder
    saying there is no model with learned layer weights, so the file always exists.
    """
    plt = _pyplot()
    if not records:
        fig, ax = plt.subplots(figsize=(6.4, 2.6), dpi=120)
        ax.axis("off")
        ax.text(0.5, 0.62, "no model with learned layer weights", ha="center", va="center",
                fontsize=14)
        ax.text(0.5, 0.28, "only ssl_aasist with aggregation softmax or sls learns them;\n"
                "mel_cnn and aggregation last read a single layer", ha="center", va="center",
                fontsize=9, color="dimgrey")
        fig.tight_layout()
        _save(fig, path, banner)
        return
    aggregations = sorted({str(r["aggregation"]) for r in records.values()})
    frontends = sorted({str(r["frontend"]) for r in records.values()})
    untrained = sorted({str(r["frontend"]) for r in records.values() if not frontend_trained(r)})
    n_layers = max(len(r["layers"]) for r in records.values())
    fig, ax = plt.subplots(figsize=(max(7.0, 0.32 * n_layers + 4.5), 4.6), dpi=120)
    if len(records) == 1:
        ((model, r),) = records.items()
        ax.bar(r["layers"], r["weights"], color="steelblue", label=model)
    else:
        for model, r in records.items():
            label = model if len(aggregations) == 1 else f"{model} ({r['aggregation']})"
            ax.plot(r["layers"], r["weights"], marker="o", markersize=4, label=label)
    ax.set_xticks(np.arange(1, n_layers + 1))
    ax.set_xlim(0.4, n_layers + 0.6)
    ax.set_ylim(bottom=0)
    ax.set_xlabel("front-end transformer layer (1 = first, L = last)")
    ax.set_ylabel("\n".join(_WEIGHT_MEANING.get(a, f"{a} weight") for a in aggregations))
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, title="model", title_fontsize=8, loc="upper left",
              bbox_to_anchor=(1.01, 1.0))
    fig.suptitle("Learned layer weights" + (" (STAND-INS: see note)" if banner else "")
                 + f"\naggregation {', '.join(aggregations)}; front-end {', '.join(frontends)}",
                 fontsize=11)
    if untrained:
        ax.set_title(f"UNTRAINED random-weight front-end ({', '.join(untrained)}): "
                     "these weights are not a finding", fontsize=9, color="firebrick")
    fig.tight_layout()
    _save(fig, path, banner)


def score_histograms(arrays: dict[str, np.ndarray], path: Path, title: str,
                     banner: str = "") -> None:
    """Overlaid score histograms (one per named score set) on shared bins."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 4.2), dpi=120)
    values = np.concatenate([np.asarray(v, dtype=float) for v in arrays.values()])
    bins = np.linspace(float(values.min()), float(values.max()) + 1e-9, 40)
    for name, v in arrays.items():
        ax.hist(v, bins=bins, histtype="step", linewidth=1.5, density=True,
                label=f"{name} (n={len(v)})")
    ax.set_xlabel("score (bona fide logit; higher = more bona fide)")
    ax.set_ylabel("density")
    ax.set_title(title + (" (STAND-INS: see note)" if banner else ""))
    ax.legend(fontsize=7)
    fig.tight_layout()
    _save(fig, path, banner)
