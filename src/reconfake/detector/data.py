"""Training clips from manifests and shards: labels, groups, loading and cropping.

Each item knows where its audio lives (a file named by a manifest, or a FLAC row of a
shard), its label (1 = bona fide, 0 = spoof), its attack and its *group*: the utt_id of the
source clip, so a bona fide clip and its reconstructions share a group, and
:func:`group_batches` keeps a group inside one batch. :func:`bonafide_batches` also puts at
least ``min_bonafide`` bona fide clips (each with its reconstructions) in every batch, so
RACL's bona fide anchors always have a positive; :func:`batch_pair_stats` measures that.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import torch

from reconfake.audio import load_audio
from reconfake.manifest import read_manifest
from reconfake.shards import read_shard_columns

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
    table = read_shard_columns(path, ["utt_id", "label", "attack", "source_utt_id"])
    return [Item(u, BONAFIDE if lab == "bonafide" else SPOOF, a, s, str(path), i)
            for i, (u, lab, a, s) in enumerate(zip(*(table.column(c).to_pylist()
                                                    for c in table.column_names), strict=True))]


class AudioStore:
    """Loads items' audio at one rate; optionally keeps decoded clips in memory."""

    def __init__(self, sample_rate: int = 16000, cache: bool = True):
        self.sample_rate = sample_rate
        self.cache = cache
        self._clips: dict[str, np.ndarray] = {}
        self._shards: dict[str, pa.Table] = {}  # each shard's memory-mapped audio column

    def _shard_bytes(self, path: str, row: int) -> bytes:
        if path not in self._shards:
            self._shards[path] = read_shard_columns(path, ["audio"], memory_map=True)
        return self._shards[path].column("audio")[row]["bytes"].as_py()

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


def fixed_crop(x: np.ndarray, length: int, rng: np.random.Generator | None = None,
               start: int | None = None) -> np.ndarray:
    """Crop to ``length`` samples: at ``start`` if given, else a random offset with ``rng``,
    else the start (official ASVspoof evaluation); shorter clips are repeated until long
    enough. A ``start`` beyond the clip's last full window is clamped to it."""
    if len(x) < length:
        x = np.tile(x, length // len(x) + 1)
    if start is not None:
        start = min(max(int(start), 0), len(x) - length)
    else:
        start = 0 if rng is None or len(x) == length else int(rng.integers(0, len(x) - length + 1))
    return np.ascontiguousarray(x[start:start + length])


def pair_crop_offsets(lengths: list[int], groups: list[str], length: int,
                      rng: np.random.Generator) -> list[int]:
    """One random crop offset per group, shared by its members (a clip and its
    reconstructions), so a pair differs only by what the generator changed, not by which
    second of speech was cut. The offset is drawn within the shortest member (generators
    may add or drop a few samples); tiled short clips start at 0. One draw per group in
    order of first appearance, so the result depends only on the batch and ``rng``."""
    shortest: dict[str, int] = {}
    for n, g in zip(lengths, groups, strict=True):
        shortest[g] = min(shortest.get(g, n), n)
    offsets: dict[str, int] = {}
    for g in dict.fromkeys(groups):
        room = shortest[g] - length
        offsets[g] = int(rng.integers(0, room + 1)) if room > 0 else 0
    return [offsets[g] for g in groups]


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


def bonafide_batches(groups: list[str], labels: list[int], batch_size: int,
                     rng: np.random.Generator, min_bonafide: int = 2) -> list[list[int]]:
    """Batches like :func:`group_batches` in which every batch holds at least
    ``min_bonafide`` bona fide clips, each with its own group (its reconstructions).

    RACL's ``L_enh`` needs a second bona fide clip in the batch for an anchor to have a
    positive, and ``L_reg`` a bona fide class of two. At ASVspoof 2019 LA's 1:9 ratio a
    plain shuffle of 14 gives that in only ~15 % of batches. Here each batch is opened with
    ``min_bonafide`` bona fide groups, then filled from a random stream of all groups, as
    :func:`group_batches` packs them. Bona fide groups not yet placed this epoch are used
    first; once they run out, batches reuse bona fide groups (oversampling, in a fresh
    random order per pass, never twice in one batch). Every group appears at least once per
    epoch and the epoch ends when the stream is exhausted, so when bona fide clips are
    plentiful (e.g. a balanced set) nothing is repeated. ``min_bonafide = 0`` is
    :func:`group_batches`.
    """
    if min_bonafide <= 0:
        return group_batches(groups, batch_size, rng)
    members: dict[str, list[int]] = {}
    for i, group in enumerate(groups):
        members.setdefault(group, []).append(i)
    blocks = [block[start:start + batch_size] for block in members.values()
              for start in range(0, len(block), batch_size)]
    bona = [sum(labels[i] == BONAFIDE for i in b) for b in blocks]
    order = [int(b) for b in rng.permutation(len(blocks))]
    unplaced = [b for b in order if bona[b]]  # bona fide blocks in stream order
    placed: set[int] = set()
    total_bona = sum(bona)
    pool: list[int] = []  # reuse queue, refilled with a fresh permutation per pass

    def next_reuse(exclude: set[int]) -> int | None:
        for _ in range(2):
            for k, b in enumerate(pool):
                if b not in exclude:
                    return pool.pop(k)
            pool.extend(int(b) for b in rng.permutation([b for b in range(len(blocks))
                                                        if bona[b]]))
        return None

    def fits(batch: list[int], b: int) -> bool:
        return len(batch) + len(blocks[b]) <= batch_size

    batches: list[list[int]] = []
    cursor = 0
    while cursor < len(order):
        batch: list[int] = []
        used: set[int] = set()
        fresh = 0  # blocks placed for the first time this epoch: the loop's progress
        have = 0
        while have < min(min_bonafide, total_bona):
            while unplaced and unplaced[0] in placed:
                unplaced.pop(0)
            b = unplaced[0] if unplaced else next_reuse(used)
            if b is None or not fits(batch, b):
                break
            if unplaced and b == unplaced[0]:
                unplaced.pop(0)
                fresh += 1
            batch += blocks[b]
            used.add(b)
            placed.add(b)
            have += bona[b]
        while cursor < len(order):
            b = order[cursor]
            if b in placed:  # opened an earlier batch or this one
                cursor += 1
                continue
            if not fits(batch, b):
                break
            batch += blocks[b]
            used.add(b)
            placed.add(b)
            fresh += 1
            cursor += 1
        if not fresh:
            if cursor >= len(order):
                break  # the stream's tail was all openers already placed: the epoch is over
            # Reused openers left no room for the next group (groups larger than half a
            # batch): start from that group, then reuse what still fits.
            head = order[cursor]
            batch, used = list(blocks[head]), {head}
            placed.add(head)
            cursor += 1
            while sum(bona[u] for u in used) < min(min_bonafide, total_bona):
                b = next_reuse(used)
                if b is None or not fits(batch, b):
                    break
                batch += blocks[b]
                used.add(b)
        batches.append(batch)
    return batches


def batch_pair_stats(batches: list[list[int]], labels: list[int]) -> dict[str, float]:
    """How often RACL's bona fide anchors have a positive: the share of batches with at
    least two bona fide clips (``pair_batches``), the share of bona fide clip presentations
    that have another bona fide clip and a spoof in their batch (``anchors_with_positive``),
    and bona fide presentations per distinct bona fide clip (``bonafide_views``; above 1
    when the sampler reuses them)."""
    n_pair = presented = anchors = 0
    seen: set[int] = set()
    for batch in batches:
        n_bona = sum(labels[i] == BONAFIDE for i in batch)
        has_spoof = n_bona < len(batch)
        n_pair += n_bona >= 2
        presented += n_bona
        anchors += n_bona if n_bona >= 2 and has_spoof else 0
        seen.update(i for i in batch if labels[i] == BONAFIDE)
    return {"pair_batches": n_pair / max(len(batches), 1),
            "anchors_with_positive": anchors / max(presented, 1),
            "bonafide_views": presented / max(len(seen), 1)}


def stack(waves: list[np.ndarray]) -> torch.Tensor:
    """A batch tensor from equal-length clips."""
    return torch.from_numpy(np.stack(waves).astype(np.float32))


def list_audio_files(folder: str | os.PathLike[str]) -> list[Path]:
    """Audio files under ``folder`` (recursive, sorted)."""
    suffixes = {".wav", ".flac", ".ogg", ".mp3"}
    return sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in suffixes)
