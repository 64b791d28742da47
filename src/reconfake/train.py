"""Train one detector: a corpus split plus (optionally) hard-sample shards, with dev-EER
early stopping, a checkpoint every epoch and exact resumption after a kill.

Every source of randomness in epoch ``e`` (batch order, crops, dropout) is seeded from
``(seed, e)``, so a run resumed from ``last.pt`` ends with the same weights as one that was
never interrupted.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from reconfake.detector.data import (
    BONAFIDE,
    AudioStore,
    Item,
    fixed_crop,
    items_from_manifest,
    items_from_shard,
    stack,
)
from reconfake.detector.inference import CHECKPOINT_FORMAT, bonafide_scores
from reconfake.detector.losses import DetectorLoss
from reconfake.detector.registry import build_model
from reconfake.fileio import atomic_path, write_text_atomic
from reconfake.metrics import compute_eer
from reconfake.progress import Progress

log = logging.getLogger("reconfake")


@dataclass
class TrainOptions:
    """Training settings (``training`` in the config)."""

    epochs: int = 8
    batch_size: int = 16
    lr: float = 1e-3
    weight_decay: float = 1e-4
    crop_samples: int = 32000
    eval_samples: int = 64600
    ce_weights: list[float] = field(default_factory=lambda: [0.1, 0.9])
    patience: int = 3
    seed: int = 0
    threads: int = 2
    max_steps_per_epoch: int | None = None
    sample_rate: int = 16000

    @classmethod
    def from_dict(cls, options: dict[str, Any] | None) -> TrainOptions:
        """Build from a dict; unknown keys are an error naming them."""
        options = dict(options or {})
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(options) - known)
        if unknown:
            raise ValueError(f"unknown training option(s) {unknown}; allowed: {sorted(known)}")
        return cls(**options)


def _fingerprint(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _dev_eer(model: torch.nn.Module, items: list[Item], store: AudioStore, n: int) -> float:
    waves = stack([fixed_crop(store.load(it), n) for it in items])
    scores = bonafide_scores(model, waves)
    labels = np.array([it.label for it in items])
    return compute_eer(scores[labels == BONAFIDE], scores[labels != BONAFIDE])[0]


def train_detector(
    train_manifest: str | os.PathLike[str],
    dev_manifest: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    shards: list[str] | None = None,
    architecture: str = "mel_cnn",
    arch_options: dict[str, Any] | None = None,
    options: dict[str, Any] | None = None,
) -> Path:
    """Train and write ``out_dir/model.pt`` (best dev EER) and ``out_dir/train_log.csv``."""
    opts = TrainOptions.from_dict(options)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(max(1, opts.threads))
    shards = list(shards or [])
    items = items_from_manifest(train_manifest)
    for shard in shards:
        items += items_from_shard(shard)
    dev_items = items_from_manifest(dev_manifest)
    n_bona = sum(it.label == BONAFIDE for it in items)
    log.info("training %s on %d clips (%d bona fide, %d spoof; %d from %d shard(s)), dev %d",
             architecture, len(items), n_bona, len(items) - n_bona,
             sum(it.row is not None for it in items), len(shards), len(dev_items))
    store = AudioStore(opts.sample_rate)
    fingerprint = _fingerprint(str(train_manifest), str(dev_manifest), shards, architecture,
                               arch_options, asdict(opts))

    torch.manual_seed(opts.seed)
    model = build_model(architecture, arch_options)
    loss_fn = DetectorLoss(tuple(opts.ce_weights))
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=opts.lr, weight_decay=opts.weight_decay)
    history: list[dict[str, Any]] = []
    best = {"dev_eer": float("inf"), "epoch": -1, "state_dict": None}
    start_epoch = 0

    last = out_dir / "last.pt"
    if last.exists():
        state = torch.load(last, map_location="cpu", weights_only=True)
        if state.get("fingerprint") == fingerprint:
            model.load_state_dict(state["state_dict"])
            optimizer.load_state_dict(state["optimizer"])
            history, best = state["history"], state["best"]
            start_epoch = state["epoch"] + 1
            log.info("resuming from %s after epoch %d", last, state["epoch"])
        else:
            log.info("ignoring %s: it was made with other inputs or settings", last)

    group_ids = {g: i for i, g in enumerate(sorted({it.group for it in items}))}
    steps = (len(items) + opts.batch_size - 1) // opts.batch_size
    if opts.max_steps_per_epoch:
        steps = min(steps, opts.max_steps_per_epoch)
    for epoch in range(start_epoch, opts.epochs):
        if epoch - best["epoch"] > opts.patience and best["epoch"] >= 0:
            log.info("early stop: dev EER has not improved for %d epochs", opts.patience)
            break
        torch.manual_seed(opts.seed * 100003 + epoch)
        rng = np.random.default_rng([opts.seed, epoch])
        order = rng.permutation(len(items))
        model.train()
        t0 = time.perf_counter()
        sums: dict[str, float] = {}
        progress = Progress(f"epoch {epoch + 1}/{opts.epochs}", steps * opts.batch_size, "clips")
        for step in range(steps):
            batch = [items[i] for i in order[step * opts.batch_size:(step + 1) * opts.batch_size]]
            waves = stack([fixed_crop(store.load(it), opts.crop_samples, rng) for it in batch])
            labels = torch.tensor([it.label for it in batch])
            groups = torch.tensor([group_ids[it.group] for it in batch])
            embedding, logits = model(waves)
            terms = loss_fn(embedding, logits, labels, groups)
            optimizer.zero_grad()
            terms["total"].backward()
            optimizer.step()
            for k, v in terms.items():
                sums[k] = sums.get(k, 0.0) + float(v.detach())
            progress.update(len(batch), " ".join(f"{k}={v / (step + 1):.4f}"
                                                 for k, v in sums.items()))
        dev_eer = _dev_eer(model, dev_items, store, opts.eval_samples)
        record = {"epoch": epoch, **{k: v / steps for k, v in sums.items()},
                  "dev_eer_percent": 100 * dev_eer, "seconds": time.perf_counter() - t0}
        history.append(record)
        log.info("epoch %d: %s", epoch + 1, json.dumps(record))
        if dev_eer < best["dev_eer"]:
            best = {"dev_eer": dev_eer, "epoch": epoch,
                    "state_dict": {k: v.clone() for k, v in model.state_dict().items()}}
        with atomic_path(last) as tmp:
            torch.save({"fingerprint": fingerprint, "epoch": epoch, "history": history,
                        "best": best, "state_dict": model.state_dict(),
                        "optimizer": optimizer.state_dict()}, tmp)

    final = out_dir / "model.pt"
    with atomic_path(final) as tmp:
        torch.save({"format": CHECKPOINT_FORMAT, "architecture": architecture,
                    "arch_options": dict(arch_options or {}), "state_dict": best["state_dict"],
                    "best_epoch": best["epoch"], "dev_eer": best["dev_eer"],
                    "train_options": asdict(opts), "train_manifest": str(train_manifest),
                    "shards": shards, "history": history}, tmp)
    keys = list(history[0]) if history else ["epoch"]
    lines = [",".join(keys)] + [",".join(f"{r.get(k, '')}" for k in keys) for r in history]
    write_text_atomic(out_dir / "train_log.csv", "\n".join(lines) + "\n")
    log.info("best dev EER %.2f %% at epoch %d -> %s", 100 * best["dev_eer"],
             best["epoch"] + 1, final)
    return final
