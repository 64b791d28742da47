"""A disk cache of frozen front-end outputs, so later epochs and other models skip the front-end.

With a frozen front-end and no waveform augmentation, a clip's layer outputs never change,
so they are computed once and stored in half precision, one ``.npy`` file per clip and crop
length::

    <root>/<model cache key>/<crop samples>/<hh>/<clip key>.npy     (layers, frames, dim)

The model key (:meth:`SSLAASIST.cache_key`) fingerprints the front-end's weights, the input
normalisation and the layers kept; the clip key hashes the audio's location (file or shard
row), utt_id and the file's size and modification time, so rebuilt audio is recomputed. The
per-paradigm models share the root and so reuse the features of the clips they have in
common. Files are written atomically. Jobs filling the cache at the same time (the workflow
trains models that share a front-end in parallel) share the work: a job claims a clip with an
advisory lock (``<clip key>.lock``, released by the kernel if the job dies), computes it,
stores it and only then lets go; a clip claimed by another job is left for the end and read
from the cache once that job has stored it, so each clip is computed once.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from reconfake.detector.data import Item
from reconfake.fileio import atomic_path
from reconfake.progress import Progress

log = logging.getLogger("reconfake")

FP16_MAX = float(np.finfo(np.float16).max)


@dataclass
class FillStats:
    """What one :meth:`FeatureCache.fill` did."""

    clips: int
    computed: int
    seconds: float


class FeatureCache:
    """Per-clip float16 front-end features under ``root/model_key``."""

    def __init__(self, root: str | os.PathLike[str], model_key: str):
        self.dir = Path(root) / model_key
        self._keys: dict[tuple[Item, int], str] = {}

    def _clip_key(self, item: Item, crop: int) -> str:
        if (item, crop) not in self._keys:
            source = Path(item.path)
            stat = source.stat()
            ident = [str(source.resolve()), item.row, item.utt_id, stat.st_size,
                     stat.st_mtime_ns, crop]
            self._keys[(item, crop)] = hashlib.sha1(json.dumps(ident).encode()).hexdigest()[:24]
        return self._keys[(item, crop)]

    def path(self, item: Item, crop: int) -> Path:
        """Where ``item``'s features for a ``crop``-sample input live."""
        key = self._clip_key(item, crop)
        return self.dir / str(crop) / key[:2] / f"{key}.npy"

    def fill(self, items: list[Item], crop: int,
             compute: Callable[[list[Item]], torch.Tensor], batch_size: int = 16,
             label: str = "caching front-end features") -> FillStats:
        """Compute and store the features of every item not cached yet, sharing the work with
        other processes filling the same cache (see the module docstring)."""
        start = time.perf_counter()
        missing = [it for it in items if not self.path(it, crop).exists()]
        progress = Progress(label, len(missing), "clips")
        claimed: list[tuple[Item, int]] = []
        computed = 0

        def flush() -> None:
            nonlocal computed
            if claimed:
                batch = [it for it, _ in claimed]
                try:
                    self.store(batch, crop, compute(batch))
                finally:
                    for it, handle in claimed:
                        self._release(it, crop, handle)
                computed += len(batch)
                progress.update(len(batch))
                claimed.clear()

        def take(item: Item, wait: bool) -> bool:
            """Claim ``item`` for the next batch; ``True`` also when it is cached already,
            ``False`` when another job holds it (only without ``wait``)."""
            handle = None if self.path(item, crop).exists() else self._claim(item, crop, wait)
            if handle is None and not self.path(item, crop).exists():
                return False
            if handle is None or self.path(item, crop).exists():  # another job stored it
                if handle is not None:
                    self._release(item, crop, handle)
                progress.update(1)
                return True
            claimed.append((item, handle))
            if len(claimed) == batch_size:
                flush()
            return True

        later = [it for it in missing if not take(it, wait=False)]
        flush()
        for item in later:  # claimed by other jobs: wait for each, compute what they left
            take(item, wait=True)
            flush()  # never hold a claim while waiting for another job's (no deadlock)
        return FillStats(len(items), computed, time.perf_counter() - start)

    def _claim(self, item: Item, crop: int, wait: bool) -> int | None:
        """Lock ``item``'s claim file; ``None`` if another process holds it and not ``wait``."""
        lock = self.path(item, crop).with_suffix(".lock")
        lock.parent.mkdir(parents=True, exist_ok=True)
        handle = os.open(lock, os.O_CREAT | os.O_RDWR, 0o644)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            os.close(handle)
            return None
        return handle

    def _release(self, item: Item, crop: int, handle: int) -> None:
        """Remove the claim file (the stored ``.npy`` now answers for the clip) and unlock."""
        try:
            os.unlink(self.path(item, crop).with_suffix(".lock"))
        except FileNotFoundError:
            pass
        fcntl.flock(handle, fcntl.LOCK_UN)
        os.close(handle)

    def store(self, items: list[Item], crop: int, features: torch.Tensor) -> None:
        """Write the features ``(B, layers, frames, dim)`` of ``items`` (atomically, float16)."""
        feats = features.float().cpu().numpy()
        peak = float(np.max(np.abs(feats))) if feats.size else 0.0
        if not np.isfinite(peak) or peak > FP16_MAX:
            raise ValueError(f"front-end outputs reach {peak:.3g}, beyond float16 "
                             f"(clips {items[0].utt_id}...); turn feature_cache off or "
                             "set the detector option layer_norm: true")
        for item, feat in zip(items, feats, strict=True):
            target = self.path(item, crop)
            with atomic_path(target) as tmp, open(tmp, "wb") as handle:
                np.save(handle, feat.astype(np.float16))

    def load(self, items: list[Item], crop: int) -> torch.Tensor:
        """Stacked float32 features ``(B, layers, frames, dim)`` of cached items."""
        try:
            arrays = [np.load(self.path(it, crop)) for it in items]
        except FileNotFoundError as exc:
            raise FileNotFoundError(f"{exc.filename}: not in the feature cache; it was removed "
                                    "while training (delete the cache folder and rerun)") from exc
        return torch.from_numpy(np.stack(arrays).astype(np.float32))

    def disk_bytes(self) -> int:
        """Bytes of all cached features under this model key."""
        return sum(p.stat().st_size for p in self.dir.rglob("*.npy")) if self.dir.exists() else 0
