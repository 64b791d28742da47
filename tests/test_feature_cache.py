"""The feature cache shared by jobs filling it at once: each clip computed once, claims of a
job that stops without storing taken over."""

from __future__ import annotations

import fcntl
import multiprocessing
import os
import threading
import time
from pathlib import Path

import numpy as np
import torch

from reconfake.detector.data import Item
from reconfake.detector.feature_cache import FeatureCache

CROP = 800


def _items(folder: Path, n: int) -> list[Item]:
    folder.mkdir(exist_ok=True)
    items = []
    for i in range(n):
        if not (folder / f"c{i}.wav").exists():  # the clip key hashes size and mtime
            (folder / f"c{i}.wav").write_bytes(bytes([i]) * 10)
        items.append(Item(f"c{i}", 1, "bonafide", f"c{i}", str(folder / f"c{i}.wav")))
    return items


def _features(batch: list[Item]) -> torch.Tensor:
    """(B, 1, 2, 3) features holding each clip's number."""
    return torch.stack([torch.full((1, 2, 3), float(it.utt_id[1:])) for it in batch])


def _fill_job(root: str, folder: str, n: int, log: str, start: float) -> None:
    """One training job's fill: logs what it computed, one line per clip."""
    items = _items(Path(folder), n)

    def compute(batch: list[Item]) -> torch.Tensor:
        with open(log, "a") as handle:
            handle.writelines(f"{it.utt_id}\n" for it in batch)
        time.sleep(0.05)  # a front-end takes a while: the jobs overlap
        return _features(batch)

    time.sleep(max(0.0, start - time.time()))
    stats = FeatureCache(root, "model").fill(items, CROP, compute, batch_size=4)
    with open(log + ".stats", "w") as handle:
        handle.write(f"{stats.clips} {stats.computed}")


def test_two_jobs_filling_at_once_compute_each_clip_once(tmp_path):
    n = 40
    items = _items(tmp_path / "clips", n)  # written once: the jobs see the same files
    ctx = multiprocessing.get_context("spawn")
    start = time.time() + 6  # both jobs start filling together, after their imports
    jobs = [ctx.Process(target=_fill_job, args=(str(tmp_path / "cache"), str(tmp_path / "clips"),
                                                n, str(tmp_path / f"job{j}.log"), start))
            for j in range(2)]
    for job in jobs:
        job.start()
    for job in jobs:
        job.join(120)
        assert job.exitcode == 0
    logs = [(tmp_path / f"job{j}.log").read_text().split() for j in range(2)]
    assert sorted(logs[0] + logs[1], key=lambda u: int(u[1:])) == [f"c{i}" for i in range(n)]
    assert min(len(log) for log in logs) > 0  # the work was shared, not done twice
    stats = [(tmp_path / f"job{j}.log.stats").read_text().split() for j in range(2)]
    assert [s[0] for s in stats] == ["40", "40"]
    assert sum(int(s[1]) for s in stats) == n
    cache = FeatureCache(tmp_path / "cache", "model")
    assert torch.equal(cache.load(items, CROP), _features(items))
    assert list((tmp_path / "cache").rglob("*.lock")) == []


def test_a_claim_released_without_features_is_computed_after_waiting(tmp_path):
    items = _items(tmp_path / "clips", 6)
    cache = FeatureCache(tmp_path / "cache", "model")
    lock = cache.path(items[2], CROP).with_suffix(".lock")
    lock.parent.mkdir(parents=True)
    handle = os.open(lock, os.O_CREAT | os.O_RDWR)
    fcntl.flock(handle, fcntl.LOCK_EX)  # another job's claim on c2 ...
    order: list[str] = []

    def compute(batch: list[Item]) -> torch.Tensor:
        order.extend(it.utt_id for it in batch)
        return _features(batch)

    def give_up() -> None:  # ... which stops without storing c2
        time.sleep(0.5)
        fcntl.flock(handle, fcntl.LOCK_UN)
        os.close(handle)

    releaser = threading.Thread(target=give_up)
    releaser.start()
    started = time.perf_counter()
    stats = cache.fill(items, CROP, compute, batch_size=4)
    waited = time.perf_counter() - started
    releaser.join()
    assert order == ["c0", "c1", "c3", "c4", "c5", "c2"]  # c2 left for the end
    assert (stats.clips, stats.computed) == (6, 6)
    assert waited >= 0.45
    assert np.array_equal(cache.load(items, CROP)[:, 0, 0, 0].numpy(), np.arange(6, dtype=np.float32))
    # a second fill finds everything: nothing computed
    assert cache.fill(items, CROP, compute, batch_size=4).computed == 0
