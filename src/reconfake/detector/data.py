"""Training clips from manifests and shards: labels, groups, loading and cropping.

Each item knows where its audio lives (a file named by a manifest, or a FLAC row of a
shard), its label (1 = bona fide, 0 = spoof), its attack and its *group*: the utt_id of the
source clip, so a bona fide clip and its reconstructions share a group, and
:func:`group_batches` keeps a group inside one batch.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import torch

from reconfake.audio import load_audio
from reconfake.manifest import read_manifest

BONAFIDE, SPOOF = 1, 0


@dataclass(frozen=True)
class Item:
    """One training or scoring clip."""

    utt_id: str
    label: int
    attack: str
    group: str
    path: str  # audio file, or the shard file when ``row`` is set
    row: int | None = None


def items_from_manifest(path: str | os.PathLike[str]) -> list[Item]:
    """Items of a corpus manifest (each clip is its own group)."""
    return [Item(r.utt_id, BONAFIDE if r.label == "bonafide" else SPOOF, r.attack, r.utt_id,
                 r.path) for r in read_manifest(path)]


def items_from_shard(path: str | os.PathLike[str]) -> list[Item]:
    """Items of a hard-sample shard, grouped with their source clips."""
    table = pq.read_table(path, columns=["utt_id", "label", "attack", "source_utt_id"])
    return [Item(u, BONAFIDE if lab == "bonafide" else SPOOF, a, s, str(path), i)
            for i, (u, lab, a, s) in enumerate(zip(*(table.column(c).to_pylist()
                                                    for c in table.column_names), strict=True))]


class AudioStore:
    """Loads items' audio at one rate; optionally keeps decoded clips in memory."""

    def __init__(self, sample_rate: int = 16000, cache: bool = True):
        self.sample_rate = sample_rate
        self.cache = cache
        self._clips: dict[str, np.ndarray] = {}
        self._shards: dict[str, pq.ParquetFile] = {}

    def _shard_bytes(self, path: str, row: int) -> bytes:
        table = pq.read_table(path, columns=["audio"], memory_map=True) \
            if path not in self._shards else self._shards[path]
        self._shards[path] = table
        return table.column("audio")[row]["bytes"].as_py()

    def load(self, item: Item) -> np.ndarray:
        """Decoded float32 mono audio of ``item``."""
        if item.utt_id in self._clips:
            return self._clips[item.utt_id]
        name = f"{item.path} ({item.utt_id})"
        source = self._shard_bytes(item.path, item.row) if item.row is not None else item.path
        x, _ = load_audio(source, sample_rate=self.sample_rate, name=name)
        if self.cache:
            self._clips[item.utt_id] = x
        return x


def fixed_crop(x: np.ndarray, length: int, rng: np.random.Generator | None = None) -> np.ndarray:
    """Crop to ``length`` samples: random offset with ``rng``, else the start (official
    ASVspoof evaluation); shorter clips are repeated until long enough."""
    if len(x) < length:
        x = np.tile(x, length // len(x) + 1)
    start = 0 if rng is None or len(x) == length else int(rng.integers(0, len(x) - length + 1))
    return np.ascontiguousarray(x[start:start + length])


def group_batches(groups: list[str], batch_size: int,
                  rng: np.random.Generator) -> list[list[int]]:
    """Item indices in batches of at most ``batch_size`` that keep each group together.

    Groups are visited in a random order and packed greedily; a group larger than a batch is
    split into batch-sized runs. When every group is a single item this is exactly
    ``rng.permutation(n)`` cut into consecutive batches.
    """
    members: dict[str, list[int]] = {}
    for i, group in enumerate(groups):
        members.setdefault(group, []).append(i)
    blocks = list(members.values())
    batches: list[list[int]] = []
    current: list[int] = []
    for b in rng.permutation(len(blocks)):
        block = blocks[b]
        for start in range(0, len(block), batch_size):
            run = block[start:start + batch_size]
            if len(current) + len(run) > batch_size:
                batches.append(current)
                current = []
            current = current + run
    if current:
        batches.append(current)
    return batches


def stack(waves: list[np.ndarray]) -> torch.Tensor:
    """A batch tensor from equal-length clips."""
    return torch.from_numpy(np.stack(waves).astype(np.float32))


def list_audio_files(folder: str | os.PathLike[str]) -> list[Path]:
    """Audio files under ``folder`` (recursive, sorted)."""
    suffixes = {".wav", ".flac", ".ogg", ".mp3"}
    return sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in suffixes)
