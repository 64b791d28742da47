"""Train one detector: a corpus split plus (optionally) hard-sample shards, with dev-EER
early stopping, a checkpoint every epoch and exact resumption after a kill.

Every source of randomness in epoch ``e`` (batch order, crops, RawBoost, dropout) is seeded
from ``(seed, e)``, so a run resumed from ``last.pt`` ends with the same weights as one that
was never interrupted.

Batches keep a bona fide clip together with its own reconstructions (their ``group`` is the
source utt_id; :func:`~reconfake.detector.data.group_batches`), and with RACL on every batch
holds at least two bona fide clips (:func:`~reconfake.detector.data.bonafide_batches`), so
every bona fide anchor has a positive; the log and ``train_log.csv`` report how often that
held. A clip and its reconstructions share their random crop offset and RawBoost draws, so
a pair differs only by the generator. With a
frozen SSL front-end and no waveform augmentation, ``feature_cache`` stores the front-end's
layer outputs once (float16) and trains the rest from them. On CUDA the forward pass runs
under automatic mixed precision (float16 with a gradient scaler) unless ``amp`` is off.
After training, models with learned layer weights get ``layer_weights.json`` and
``layer_weights.png`` beside ``model.pt``.
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
from torch import nn

from reconfake.detector.data import (
    BONAFIDE,
    AudioStore,
    Item,
    batch_pair_stats,
    bonafide_batches,
    fixed_crop,
    items_from_manifest,
    items_from_shard,
    pair_crop_offsets,
    stack,
)
from reconfake.detector.feature_cache import FeatureCache
from reconfake.detector.inference import CHECKPOINT_FORMAT
from reconfake.detector.losses import DetectorLoss
from reconfake.detector.rawboost import RawBoost
from reconfake.detector.registry import build_model
from reconfake.devices import resolve_device
from reconfake.fileio import atomic_path, write_text_atomic
from reconfake.metrics import compute_eer
from reconfake.options import reject_unknown
from reconfake.plots import layer_weights_plot
from reconfake.progress import Progress

log = logging.getLogger("reconfake")

# Options that change how fast a run goes, not what it computes: a resumed run may differ.
_EXECUTION_ONLY = ("threads", "device")


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
    random_crop: bool = True  # False: the first crop_samples of each clip, as SSL-AASIST
    group_batches: bool = True  # keep each source clip with its reconstructions
    # bona fide clips (with their reconstructions) guaranteed per batch; None = 2 when a RACL
    # term is on (its anchors need a positive), else 0 (plain grouped shuffle)
    bonafide_per_batch: int | None = None
    rawboost: int | str = 0  # RawBoost algo 0-8 or name (0 = off); see detector/rawboost.py
    rawboost_params: dict[str, Any] = field(default_factory=dict)
    racl_enh: bool = False  # add L_enh (see detector/losses.py)
    racl_enh_weight: float = 0.1
    racl_temperature: float = 0.5
    racl_hard_negative_weight: float = 2.0
    racl_reg: bool = False  # add L_reg
    racl_reg_weight: float = 0.1
    device: str = "auto"  # auto | cpu | cuda
    amp: bool = True  # mixed precision on CUDA
    feature_cache: str | None = None  # folder for cached front-end outputs; None = off
    frontend_lr: float = 1e-6  # Adam rate of a trainable front-end (detector frontend_trainable)

    @classmethod
    def from_dict(cls, options: dict[str, Any] | None) -> TrainOptions:
        """Build from a dict; unknown keys are an error naming them."""
        options = dict(options or {})
        reject_unknown(options, cls.__dataclass_fields__, "training options")
        opts = cls(**options)
        if opts.bonafide_per_batch is not None and opts.bonafide_per_batch < 0:
            raise ValueError(f"training option bonafide_per_batch must be >= 0 or null, got "
                             f"{opts.bonafide_per_batch}")
        return opts

    def min_bonafide(self) -> int:
        """Bona fide clips every batch must hold (``bonafide_per_batch`` resolved)."""
        if self.bonafide_per_batch is not None:
            return self.bonafide_per_batch
        return 2 if (self.racl_enh or self.racl_reg) else 0

    def identity(self) -> dict[str, Any]:
        """The options that determine the trained weights (for resume fingerprints)."""
        d = {k: v for k, v in asdict(self).items() if k not in _EXECUTION_ONLY}
        d["feature_cache"] = bool(self.feature_cache)  # where it lives does not matter
        return d


def _fingerprint(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


class _BatchSource:
    """Model inputs for a batch of items: waveforms (cropped, maybe RawBoosted) or cached
    front-end features; ``forward`` feeds them to the matching half of the model."""

    def __init__(self, store: AudioStore, opts: TrainOptions, device: torch.device,
                 augment: RawBoost | None, cache: FeatureCache | None):
        self.store, self.opts, self.device = store, opts, device
        self.augment, self.cache = augment, cache

    def waves(self, batch: list[Item], length: int,
              rng: np.random.Generator | None = None) -> torch.Tensor:
        return stack([fixed_crop(self.store.load(it), length, rng) for it in batch])

    def train_inputs(self, batch: list[Item], rng: np.random.Generator,
                     aug_rng: np.random.Generator) -> torch.Tensor:
        if self.cache is not None:
            return self.cache.load(batch, self.opts.crop_samples).to(self.device)
        clips = [self.store.load(it) for it in batch]
        groups = [it.group for it in batch]
        length = self.opts.crop_samples
        # A clip and its reconstructions (one group) get the same crop offset and the same
        # RawBoost draws, so the pair differs only by what the generator changed.
        starts = pair_crop_offsets([len(c) for c in clips], groups, length, rng) \
            if self.opts.random_crop else [0] * len(clips)
        waves = [fixed_crop(c, length, start=s) for c, s in zip(clips, starts, strict=True)]
        if self.augment is not None:
            seeds = {g: int(aug_rng.integers(2**63)) for g in dict.fromkeys(groups)}
            waves = [self.augment(w, np.random.default_rng(seeds[g]))
                     for w, g in zip(waves, groups, strict=True)]
        return stack(waves).to(self.device)

    def eval_inputs(self, batch: list[Item]) -> torch.Tensor:
        if self.cache is not None:
            return self.cache.load(batch, self.opts.eval_samples).to(self.device)
        return self.waves(batch, self.opts.eval_samples).to(self.device)

    def forward(self, model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return model.forward_features(x) if self.cache is not None else model(x)


def _dev_metrics(model: nn.Module, items: list[Item], source: _BatchSource) -> tuple[float, float]:
    """Official-protocol EER and mean (unweighted) cross-entropy on the dev items (first
    ``eval_samples`` of each clip). The cross-entropy breaks EER ties: a dev set the model
    already separates (EER 0) still tells a confident model from a barely separating one."""
    model.eval()
    logits = []
    with torch.inference_mode():
        for start in range(0, len(items), source.opts.batch_size):
            x = source.eval_inputs(items[start:start + source.opts.batch_size])
            logits.append(source.forward(model, x)[1].float().cpu())
    all_logits = torch.cat(logits)
    labels = np.array([it.label for it in items])
    score = all_logits[:, 1].numpy()
    ce = float(torch.nn.functional.cross_entropy(all_logits, torch.as_tensor(labels)))
    return compute_eer(score[labels == BONAFIDE], score[labels != BONAFIDE])[0], ce


def _param_groups(model: nn.Module, opts: TrainOptions) -> list[dict[str, Any]]:
    """Adam parameter groups: the trained head at ``lr``; a trainable front-end (detector
    option ``frontend_trainable``, registered as ``ssl_model``) at ``frontend_lr``, as
    SSL-AASIST fine-tunes XLS-R at 1e-6 while a fresh back-end needs a far larger rate."""
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    frontend = [p for n, p in named if n.startswith("ssl_model.")]
    head = [p for n, p in named if not n.startswith("ssl_model.")]
    groups: list[dict[str, Any]] = [{"params": head, "lr": opts.lr}]
    if frontend:
        groups.append({"params": frontend, "lr": opts.frontend_lr})
        log.info("%d trainable parameters at lr %g, front-end %d at lr %g",
                 sum(p.numel() for p in head), opts.lr, sum(p.numel() for p in frontend),
                 opts.frontend_lr)
    else:
        log.info("%d trainable parameters", sum(p.numel() for p in head))
    return groups


def _fill_cache(model: nn.Module, cache: FeatureCache, items: list[Item], dev_items: list[Item],
                source: _BatchSource, use_amp: bool) -> dict[str, Any]:
    opts = source.opts

    def compute(length: int):
        def run(batch: list[Item]) -> torch.Tensor:
            with torch.autocast(source.device.type, dtype=torch.float16, enabled=use_amp):
                return model.layer_features(source.waves(batch, length).to(source.device))
        return run

    train_fill = cache.fill(items, opts.crop_samples, compute(opts.crop_samples),
                            opts.batch_size, "caching front-end features (train)")
    dev_fill = cache.fill(dev_items, opts.eval_samples, compute(opts.eval_samples),
                          opts.batch_size, "caching front-end features (dev)")
    info = {"dir": str(cache.dir), "disk_bytes": cache.disk_bytes(),
            "computed": train_fill.computed + dev_fill.computed,
            "reused": train_fill.clips + dev_fill.clips - train_fill.computed - dev_fill.computed,
            "seconds": train_fill.seconds + dev_fill.seconds}
    log.info("feature cache %s: computed %d clips in %.1f s, reused %d; %.1f MB on disk",
             cache.dir, info["computed"], info["seconds"], info["reused"],
             info["disk_bytes"] / 2**20)
    return info


def _layer_weights(model: nn.Module, dev_items: list[Item],
                   source: _BatchSource) -> np.ndarray | None:
    """The model's layer weights (SLS gates averaged over the dev clips), if it has any."""
    if not hasattr(model, "layer_weights") or model.aggregation.mode == "last":
        return None
    if model.aggregation.mode == "softmax":
        return model.layer_weights().numpy()
    model.eval()
    total, count = None, 0
    with torch.inference_mode():
        for start in range(0, len(dev_items), source.opts.batch_size):
            x = source.eval_inputs(dev_items[start:start + source.opts.batch_size])
            feats = x if source.cache is not None else model.layer_features(x)
            w = model.layer_weights(feats).numpy() * len(feats)
            total, count = (w if total is None else total + w), count + len(feats)
    return total / count


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
    device = resolve_device(opts.device, "training")
    use_amp = opts.amp and device.type == "cuda"
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(max(1, opts.threads))
    shards = list(shards or [])
    items = items_from_manifest(train_manifest)
    for shard in shards:
        items += items_from_shard(shard)
    dev_items = items_from_manifest(dev_manifest)
    n_bona = sum(it.label == BONAFIDE for it in items)
    log.info("training %s on %s on %d clips (%d bona fide, %d spoof; %d from %d shard(s)), "
             "dev %d", architecture, device, len(items), n_bona, len(items) - n_bona,
             sum(it.row is not None for it in items), len(shards), len(dev_items))
    store = AudioStore(opts.sample_rate)
    fingerprint = _fingerprint(str(train_manifest), str(dev_manifest), shards, architecture,
                               arch_options, opts.identity())

    torch.manual_seed(opts.seed)
    model = build_model(architecture, arch_options).to(device)
    loss_fn = DetectorLoss(tuple(opts.ce_weights), enh=opts.racl_enh,
                           enh_weight=opts.racl_enh_weight, temperature=opts.racl_temperature,
                           hard_negative_weight=opts.racl_hard_negative_weight,
                           reg=opts.racl_reg, reg_weight=opts.racl_reg_weight).to(device)
    augment = None if opts.rawboost in (0, "none", None) else \
        RawBoost(opts.rawboost, opts.sample_rate, opts.rawboost_params)
    cache = None
    if opts.feature_cache:
        if not hasattr(model, "layer_features"):
            raise ValueError(f"feature_cache needs a model with a frozen SSL front-end "
                             f"(ssl_aasist); {architecture!r} has none: set it to null")
        if getattr(model, "frontend_trainable", False):
            raise ValueError("feature_cache stores the outputs of a frozen front-end, but the "
                             "detector option frontend_trainable: true changes them every step: "
                             "set training option feature_cache: null (or frontend_trainable: "
                             "false)")
        if augment is not None:
            raise ValueError("feature_cache stores front-end outputs of clean audio, but RawBoost "
                             "changes the audio every epoch: turn one of them off")
        if opts.random_crop:
            log.info("feature cache on: each clip uses its first %d samples (no random crops)",
                     opts.crop_samples)
        cache = FeatureCache(opts.feature_cache, model.cache_key())
    source = _BatchSource(store, opts, device, augment, cache)
    optimizer = torch.optim.Adam(_param_groups(model, opts), lr=opts.lr,
                                 weight_decay=opts.weight_decay)
    scaler = torch.amp.GradScaler("cuda") if use_amp else None
    history: list[dict[str, Any]] = []
    best: dict[str, Any] = {"dev_eer": float("inf"), "epoch": -1, "state_dict": None}
    start_epoch = 0

    last = out_dir / "last.pt"
    if last.exists():
        state = torch.load(last, map_location=device, weights_only=True)
        if state.get("fingerprint") == fingerprint:
            model.load_state_dict(state["state_dict"])
            optimizer.load_state_dict(state["optimizer"])
            if scaler is not None and state.get("scaler"):
                scaler.load_state_dict(state["scaler"])
            history, best = state["history"], state["best"]
            start_epoch = state["epoch"] + 1
            log.info("resuming from %s after epoch %d", last, state["epoch"])
        else:
            log.info("ignoring %s: it was made with other inputs or settings", last)

    cache_info = _fill_cache(model, cache, items, dev_items, source, use_amp) if cache else None
    group_ids = {g: i for i, g in enumerate(sorted({it.group for it in items}))}
    labels_list = [it.label for it in items]
    # group_batches: false shuffles clips one by one (each its own group); the pair sharing
    # of crops and RawBoost draws still follows the real groups.
    batch_groups = [it.group if opts.group_batches else str(i) for i, it in enumerate(items)]
    log.info("batches hold >= %d bona fide clip(s) each%s", opts.min_bonafide(),
             " (RACL anchors need a positive)" if opts.min_bonafide() else "")
    for epoch in range(start_epoch, opts.epochs):
        if epoch - best["epoch"] > opts.patience and best["epoch"] >= 0:
            log.info("early stop: dev EER (then dev cross-entropy) has not improved for %d epochs",
                     opts.patience)
            break
        torch.manual_seed(opts.seed * 100003 + epoch)
        rng = np.random.default_rng([opts.seed, epoch])
        aug_rng = np.random.default_rng([opts.seed, epoch, 1])
        batches = bonafide_batches(batch_groups, labels_list, opts.batch_size, rng,
                                   opts.min_bonafide())
        batches = batches[:opts.max_steps_per_epoch] if opts.max_steps_per_epoch else batches
        pairs = batch_pair_stats(batches, labels_list)
        model.train()
        t0 = time.perf_counter()
        sums: dict[str, float] = {}
        progress = Progress(f"epoch {epoch + 1}/{opts.epochs}", sum(map(len, batches)), "clips")
        for step, indices in enumerate(batches):
            batch = [items[i] for i in indices]
            x = source.train_inputs(batch, rng, aug_rng)
            labels = torch.tensor([it.label for it in batch], device=device)
            groups = torch.tensor([group_ids[it.group] for it in batch], device=device)
            with torch.autocast(device.type, dtype=torch.float16, enabled=use_amp):
                embedding, logits = source.forward(model, x)
                terms = loss_fn(embedding, logits, labels, groups)
            optimizer.zero_grad()
            if scaler is not None:
                scaler.scale(terms["total"]).backward()
                scaler.step(optimizer)
                scaler.update()
            else:
                terms["total"].backward()
                optimizer.step()
            for k, v in terms.items():
                sums[k] = sums.get(k, 0.0) + float(v.detach())
            progress.update(len(batch), " ".join(f"{k}={v / (step + 1):.4f}"
                                                 for k, v in sums.items()))
        train_seconds = time.perf_counter() - t0
        dev_eer, dev_ce = _dev_metrics(model, dev_items, source)
        record = {"epoch": epoch, **{k: v / len(batches) for k, v in sums.items()},
                  "dev_eer_percent": 100 * dev_eer, "dev_ce": dev_ce, **pairs,
                  "seconds": time.perf_counter() - t0, "clips_per_s": progress.done / train_seconds}
        history.append(record)
        log.info("epoch %d: %s", epoch + 1, json.dumps(record))
        if (dev_eer, dev_ce) < (best["dev_eer"], best.get("dev_ce", float("inf"))):
            best = {"dev_eer": dev_eer, "dev_ce": dev_ce, "epoch": epoch,
                    "state_dict": {k: v.detach().cpu().clone()
                                   for k, v in model.state_dict().items()}}
        with atomic_path(last) as tmp:
            torch.save({"fingerprint": fingerprint, "epoch": epoch, "history": history,
                        "best": best, "state_dict": model.state_dict(),
                        "optimizer": optimizer.state_dict(),
                        "scaler": scaler.state_dict() if scaler is not None else None}, tmp)

    extra: dict[str, Any] = {}
    if best["state_dict"] is not None:
        model.load_state_dict(best["state_dict"])
    if hasattr(model, "checkpoint_metadata"):
        extra.update(model.checkpoint_metadata())
    weights = _layer_weights(model, dev_items, source)
    if weights is not None:
        extra["layer_weights"] = _save_layer_weights(model, weights, out_dir)
    else:  # always written (a declared workflow output): this model has no learned weights
        mode = getattr(getattr(model, "aggregation", None), "mode", None)
        write_text_atomic(out_dir / "layer_weights.json",
                          json.dumps({"aggregation": mode, "weights": None}) + "\n")
    if augment is not None:
        extra["rawboost"] = augment.describe()
    if cache_info is not None:
        extra["feature_cache"] = cache_info

    final = out_dir / "model.pt"
    with atomic_path(final) as tmp:
        torch.save({"format": CHECKPOINT_FORMAT, "architecture": architecture,
                    "arch_options": dict(arch_options or {}), "state_dict": best["state_dict"],
                    "best_epoch": best["epoch"], "dev_eer": best["dev_eer"],
                    "train_options": asdict(opts), "train_manifest": str(train_manifest),
                    "shards": shards, "history": history, **extra}, tmp)
    keys = list(history[0]) if history else ["epoch"]
    lines = [",".join(keys)] + [",".join(f"{r.get(k, '')}" for k in keys) for r in history]
    write_text_atomic(out_dir / "train_log.csv", "\n".join(lines) + "\n")
    log.info("best dev EER %.2f %% at epoch %d -> %s", 100 * best["dev_eer"],
             best["epoch"] + 1, final)
    return final


def _save_layer_weights(model: nn.Module, weights: np.ndarray, out_dir: Path) -> dict[str, Any]:
    """Write ``layer_weights.json`` and ``layer_weights.png``; return what was written."""
    mode = model.aggregation.mode
    frontend = getattr(model, "frontend_source", "")
    trained = (getattr(model, "checkpoint_metadata", dict)().get("frontend") or {}).get(
        "trained", True)
    record = {"aggregation": mode, "frontend": frontend, "frontend_trained": bool(trained),
              "layers": list(range(1, len(weights) + 1)),
              "weights": [round(float(w), 6) for w in weights],
              "meaning": "softmax weight per layer" if mode == "softmax"
              else "SLS sigmoid gate per layer, mean over the dev clips"}
    write_text_atomic(out_dir / "layer_weights.json", json.dumps(record, indent=2) + "\n")
    layer_weights_plot({out_dir.name: record}, out_dir / "layer_weights.png")
    log.info("layer weights (%s): %s -> %s", mode, record["weights"],
             out_dir / "layer_weights.png")
    return record
