"""``reconfake score``: score audio files, folders, manifests or shards with a checkpoint.

Follows the official ASVspoof evaluation protocol: mono, 16 kHz, the first ``eval_samples``
samples (64 600 by default), repeated when shorter; score = bona fide logit.

Inputs are expanded and checked before the checkpoint loads (:mod:`reconfake.score_inputs`:
unique trial ids, every problem reported at once). A clip whose header reads but whose audio
cannot be used (silent, corrupt samples) is reported by name and skipped; the caller exits
non-zero if any failed. Scores are appended to ``<output>.partial`` batch by batch and a run
started again with the same output resumes it (:mod:`reconfake.score_partial`).
"""

from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from reconfake.audio import RESAMPLER, AudioError
from reconfake.detector.data import AudioStore, Item, fixed_crop, stack
from reconfake.detector.feature_cache import FeatureCache
from reconfake.detector.inference import (
    bonafide_scores,
    clip_parallel,
    load_checkpoint,
    retain_freed_memory,
)
from reconfake.devices import resolve_device
from reconfake.progress import Progress
from reconfake.score_inputs import Entry, collect_entries
from reconfake.score_partial import PartialScores

log = logging.getLogger("reconfake")


@dataclass
class ScoreResult:
    """Rows written and failures (``(name, reason)``)."""

    rows: int
    failures: list[tuple[str, str]]


def _settings(checkpoint: str | os.PathLike[str], **options: Any) -> dict[str, Any]:
    """What a partial score file must have been written with to be resumed: the options (inputs
    included) and the checkpoint's identity (path, size, modification time; hashing would read it all)."""
    path = Path(checkpoint)
    try:
        stat = path.stat()
        identity = [stat.st_size, stat.st_mtime_ns]
    except OSError:
        identity = None  # load_checkpoint reports it
    # the resampler too: clips not at the scoring rate score differently with another one
    return {"checkpoint": os.path.abspath(path), "checkpoint_stat": identity,
            "resampler": RESAMPLER, **options}


def score_inputs(checkpoint: str | os.PathLike[str], inputs: list[str],
                 output: str | os.PathLike[str], architecture: str | None = None,
                 eval_samples: int = 64600, batch_size: int = 16, sample_rate: int = 16000,
                 corpus: str | None = None, device: str = "auto",
                 feature_cache: str | os.PathLike[str] | None = None,
                 arch_options: dict[str, Any] | None = None) -> ScoreResult:
    """Score ``inputs`` and write ``output`` CSV (utt_id, score[, label, attack, corpus]),
    rows in input order; ``device`` auto scores on CUDA when there is one. With
    ``feature_cache`` (a model with a frozen front-end only), front-end features are read from /
    written to that cache, which models with the same front-end share (training uses the same
    layout). Raises :class:`reconfake.score_inputs.InputError` before loading the checkpoint
    when any input is missing or unreadable or two clips share a trial id."""
    entries = collect_entries(inputs)
    has_labels = any(e.extra for e in entries)
    fields = ["utt_id", "score"] + (["label", "attack"] if has_labels else []) + \
        (["corpus"] if corpus else [])
    expected = {e.item.utt_id: _row(e, None, has_labels, corpus) for e in entries}
    # The inputs count (folders a/ and b/ holding the same file names give the same trial ids),
    # and so does the feature cache (float16 features score a little differently); the device
    # and batch size do not: they change scores by float noise only, not worth hours of work.
    partial = PartialScores(output, fields, _settings(
        checkpoint, architecture=architecture, eval_samples=eval_samples,
        sample_rate=sample_rate, inputs=sorted(os.path.abspath(p) for p in inputs),
        feature_cache=os.path.abspath(feature_cache) if feature_cache else None,
        **({"arch_options": arch_options} if arch_options else {})))
    done = partial.resume(expected)
    todo = len(entries) - len(done)
    log.info("scoring %d clip(s) from %d input(s) into %s (%d already scored)", len(entries),
             len(inputs), output, len(done))
    failures: list[tuple[str, str]] = []
    with partial:
        if todo:
            failures = _score_pending(checkpoint, architecture, device, feature_cache, entries,
                                      partial, eval_samples, batch_size, sample_rate,
                                      has_labels, corpus, arch_options)
    rows = partial.finish([e.item.utt_id for e in entries])
    return ScoreResult(rows, failures)


def _row(entry: Entry, score: float | None, has_labels: bool, corpus: str | None) -> list[str]:
    """A score file row; without ``score``, the row less its score column."""
    values = [entry.item.utt_id] + ([] if score is None else [f"{float(score):.6f}"])
    if has_labels:
        values += [entry.extra.get("label", ""), entry.extra.get("attack", "")]
    return values + ([corpus] if corpus else [])


def _score_pending(checkpoint: str | os.PathLike[str], architecture: str | None, device: str,
                   feature_cache: str | os.PathLike[str] | None, entries: list[Entry],
                   partial: PartialScores, eval_samples: int, batch_size: int, sample_rate: int,
                   has_labels: bool, corpus: str | None,
                   arch_options: dict[str, Any] | None = None) -> list[tuple[str, str]]:
    """Load the model and append the rows :attr:`PartialScores.lines` lacks; the failures."""
    model, _ = load_checkpoint(checkpoint, architecture, arch_options)
    model.to(resolve_device(device, "scoring"))
    if clip_parallel(model):
        retain_freed_memory()  # a scoring process: page faults cost more than kept memory
    cache = None
    if feature_cache:
        if not hasattr(model, "cache_key"):
            raise ValueError(f"{checkpoint}: --feature-cache needs a model with a frozen "
                             "front-end (ssl_aasist)")
        cache = FeatureCache(feature_cache, model.cache_key())
    store = AudioStore(sample_rate, cache=False)
    failures: list[tuple[str, str]] = []
    progress = Progress("scoring", len(entries) - len(partial.lines), "clips")
    log.info(progress.line())
    # Batches are fixed slices of the input order, and a slice with anything left to score is
    # scored whole: batch composition then matches an uninterrupted run, and so do the scores
    # to the last bit (batched kernels may round differently for another batch). Raw AASIST on
    # the CPU is scored one clip at a time (bonafide_scores), so there batches only pace the
    # partial file.
    batches = [entries[start:start + batch_size] for start in range(0, len(entries), batch_size)]
    batches = [b for b in batches if any(e.item.utt_id not in partial.lines for e in b)]

    def load(batch: list[Entry]) -> tuple[list[Entry], list[np.ndarray | None]]:
        ok, waves = [], []
        for entry in batch:
            if cache is not None and cache.path(entry.item, eval_samples).exists():
                waves.append(None)
                ok.append(entry)
                continue
            try:
                waves.append(fixed_crop(store.load(entry.item), eval_samples))
                ok.append(entry)
            except AudioError as exc:
                if entry.item.utt_id not in partial.lines:
                    failures.append((entry.item.path, str(exc)))
                    log.error("cannot score %s", exc)
        return ok, waves

    # The next batch is decoded in a thread while the model scores this one (decoding releases
    # the GIL); one batch ahead at most, so memory stays that of two batches.
    with ThreadPoolExecutor(1, thread_name_prefix="decode") as decoder:
        ahead = decoder.submit(load, batches[0]) if batches else None
        for i, batch in enumerate(batches):
            pending = sum(e.item.utt_id not in partial.lines for e in batch)
            ok, waves = ahead.result()
            ahead = decoder.submit(load, batches[i + 1]) if i + 1 < len(batches) else None
            if ok:
                items = [e.item for e in ok]
                scores = bonafide_scores(model, stack(waves)) if cache is None else \
                    _cached_scores(model, cache, items, waves, eval_samples)
                partial.append([(e.item.utt_id, _row(e, s, has_labels, corpus))
                                for e, s in zip(ok, scores, strict=True)
                                if e.item.utt_id not in partial.lines])
            progress.update(pending)
    return failures


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
