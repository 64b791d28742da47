"""``reconfake score``: score audio files, folders, manifests or shards with a checkpoint.

Follows the official ASVspoof evaluation protocol: mono, 16 kHz, the first ``eval_samples``
samples (64 600 by default), repeated when shorter; score = bona fide logit. A clip that
cannot be decoded is reported by name and skipped; the caller exits non-zero if any failed.
"""

from __future__ import annotations

import csv
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import torch

from reconfake.audio import AudioError
from reconfake.detector.data import (
    AudioStore,
    Item,
    fixed_crop,
    items_from_manifest,
    items_from_shard,
    list_audio_files,
    stack,
)
from reconfake.detector.feature_cache import FeatureCache
from reconfake.detector.inference import bonafide_scores, load_checkpoint, resolve_device
from reconfake.fileio import atomic_path
from reconfake.progress import Progress

log = logging.getLogger("reconfake")


@dataclass
class ScoreResult:
    """Rows written and failures (``(name, reason)``)."""

    rows: int
    failures: list[tuple[str, str]]


def _is_shard(path: Path) -> bool:
    return b"reconfake" in (pq.read_schema(path).metadata or {})


def expand_inputs(inputs: list[str]) -> Iterator[tuple[Item, dict[str, Any]]]:
    """Items to score from files, folders, manifests and shards, with label/attack if known."""
    for raw in inputs:
        path = Path(raw)
        if path.is_dir():
            for f in list_audio_files(path):
                yield Item(f.stem, -1, "", f.stem, str(f)), {}
        elif path.suffix == ".parquet":
            items = items_from_shard(path) if _is_shard(path) else items_from_manifest(path)
            for it in items:
                yield it, {"label": "bonafide" if it.label == 1 else "spoof", "attack": it.attack}
        elif path.exists():
            yield Item(path.stem, -1, "", path.stem, str(path)), {}
        else:
            raise FileNotFoundError(f"{path}: no such file or folder to score")


def score_inputs(checkpoint: str | os.PathLike[str], inputs: list[str],
                 output: str | os.PathLike[str], architecture: str | None = None,
                 eval_samples: int = 64600, batch_size: int = 16, sample_rate: int = 16000,
                 corpus: str | None = None, device: str = "auto",
                 feature_cache: str | os.PathLike[str] | None = None) -> ScoreResult:
    """Score ``inputs`` and write ``output`` CSV (utt_id, score[, label, attack, corpus]);
    ``device`` auto scores on CUDA when there is one. With ``feature_cache`` (a model with a
    frozen front-end only), front-end features are read from / written to that cache, which
    models with the same front-end share (training uses the same layout)."""
    model, _ = load_checkpoint(checkpoint, architecture)
    model.to(resolve_device(device))
    cache = None
    if feature_cache:
        if not hasattr(model, "cache_key"):
            raise ValueError(f"{checkpoint}: --feature-cache needs a model with a frozen "
                             "front-end (ssl_aasist)")
        cache = FeatureCache(feature_cache, model.cache_key())
    entries = list(expand_inputs(inputs))
    store = AudioStore(sample_rate, cache=False)
    has_labels = any(extra for _, extra in entries)
    fields = ["utt_id", "score"] + (["label", "attack"] if has_labels else []) + \
        (["corpus"] if corpus else [])
    failures: list[tuple[str, str]] = []
    progress = Progress("scoring", len(entries), "clips")
    rows = 0
    with atomic_path(output) as tmp, open(tmp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        for start in range(0, len(entries), batch_size):
            chunk, waves = [], []
            for item, extra in entries[start:start + batch_size]:
                if cache is not None and cache.path(item, eval_samples).exists():
                    waves.append(None)
                    chunk.append((item, extra))
                    continue
                try:
                    waves.append(fixed_crop(store.load(item), eval_samples))
                    chunk.append((item, extra))
                except AudioError as exc:
                    failures.append((item.path, str(exc)))
                    log.error("cannot score %s", exc)
            if chunk:
                items = [item for item, _ in chunk]
                scores = bonafide_scores(model, stack(waves)) if cache is None else \
                    _cached_scores(model, cache, items, waves, eval_samples)
                for (item, extra), score in zip(chunk, scores, strict=True):
                    row = {"utt_id": item.utt_id, "score": f"{float(score):.6f}"}
                    if has_labels:
                        row.update(label=extra.get("label", ""), attack=extra.get("attack", ""))
                    if corpus:
                        row["corpus"] = corpus
                    writer.writerow(row)
                    rows += 1
            progress.update(len(entries[start:start + batch_size]))
    return ScoreResult(rows, failures)


@torch.inference_mode()
def _cached_scores(model: torch.nn.Module, cache: FeatureCache, items: list[Item],
                   waves: list[np.ndarray | None], length: int) -> np.ndarray:
    """Bona fide logits through the feature cache: compute and store what is missing
    (``waves`` is None where the cache already has the clip), then run the back-end."""
    model.eval()
    device = next(model.parameters()).device
    todo = [(item, wave) for item, wave in zip(items, waves, strict=True) if wave is not None]
    if todo:
        feats = model.layer_features(stack([w for _, w in todo]).to(device))
        cache.store([item for item, _ in todo], length, feats)
    _, logits = model.forward_features(cache.load(items, length).to(device))
    return logits[:, 1].float().cpu().numpy()
