"""CodecFake of Wu et al. (Interspeech 2024, arXiv 2406.07237): VCTK re-synthesised by 15 neural
codecs, labels genuine|spoofing. Not to be confused with Xie et al.'s CodecFake
(:mod:`reconfake.corpora.codecfake_xie`); results name the one they used.

Source: Hugging Face dataset ``rogertseng/CodecFake`` (CC BY 4.0): Parquet shards
``data/train-XXXXX-of-NNNNN.parquet`` with columns ``audio`` {bytes, path}, ``label``,
``speaker_id``, ``codec_name``; one published split, ``train`` (707 872 clips). The shard list and
their sha256 come from the Hub API; a mirror folder is listed directly, an http mirror needs the
``num_shards`` option. Download unpacks every shard into plain files (no re-encoding)::

    audio/<codec_name>/<file>          (bona fide clips under audio/genuine/ when unnamed)
    index/<shard>.csv                  file,label,speaker_id,codec_name

Option ``revision`` (default ``main``; no commit is published where this was checked): the Hub
revision whose shards are listed and fetched; the commit it resolved to is recorded in the
download marker and the manifest's metadata (``revisions``).

Split: ``train`` (the dataset's only split; the study uses it as an evaluation set).
Attack = codec name.
"""

from __future__ import annotations

import csv
import logging
import os
import re
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from reconfake.corpora.extract import ArchiveError, ensure_free_space
from reconfake.corpora.registry import CORPORA
from reconfake.corpora.spec import (
    Archive,
    Corpus,
    CorpusSpec,
    Entry,
    Options,
    PrepareError,
    read_table,
    report_extra,
)
from reconfake.fileio import atomic_path
from reconfake.progress import Progress

log = logging.getLogger("reconfake")

REPO = "rogertseng/CodecFake"
RESOLVE = f"https://huggingface.co/datasets/{REPO}/resolve/main/"
COLUMNS = ("audio", "label", "speaker_id", "codec_name")
INDEX_HEADER = ["file", "label", "speaker_id", "codec_name"]
LABELS = {"genuine": "bonafide", "spoofing": "spoof"}
AUDIO_SUFFIXES = (".wav", ".flac", ".mp3", ".ogg")


def list_archives(spec: CorpusSpec, mirror: str | None, options: Mapping[str, Any]) -> list[Archive]:
    """The Parquet shards: from the Hub API, a mirror folder, or ``num_shards`` for http mirrors."""
    from reconfake.corpora.download import HF_TREE_API, DownloadError, http_json, mirror_location

    shards = options.get("num_shards")
    if shards:
        names = [f"data/train-{i:05d}-of-{shards:05d}.parquet" for i in range(shards)]
        return [Archive(n, RESOLVE + n, extract="custom", published=f"hf:{REPO}") for n in names]
    if mirror:
        probe = mirror_location(Archive("data", ""), mirror)
        if not isinstance(probe, Path):
            raise ValueError("codecfake_wu: an http(s) mirror cannot be listed; set the corpus option "
                             "num_shards to the number of data/train-*.parquet shards it holds")
        names = sorted(f"data/{p.name}" for p in probe.glob("train-*.parquet"))
        if not names:
            raise ValueError(f"codecfake_wu: no data/train-*.parquet shards in the mirror {probe}")
        return [Archive(n, RESOLVE + n, extract="custom") for n in names]
    url = HF_TREE_API.format(repo=REPO, folder="data",
                             revision=urllib.parse.quote(str(options.get("revision") or "main"), safe=""))
    try:
        listing = http_json(url)
    except (OSError, ValueError) as exc:
        raise DownloadError(f"codecfake_wu: cannot list the Parquet shards at {url} ({exc}); offline? "
                            "use a mirror folder, or an http mirror with the num_shards option") from exc
    archives = []
    for item in listing:
        path = item.get("path", "")
        if item.get("type") == "file" and path.endswith(".parquet"):
            lfs = item.get("lfs") or {}
            archives.append(Archive(path, RESOLVE + path, size=lfs.get("size", item.get("size")),
                                    sha256=lfs.get("oid"), extract="custom"))
    return sorted(archives, key=lambda a: a.name)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name).strip("._") or "x"


def _suffix(data: bytes, name: str) -> str:
    suffix = Path(name).suffix.lower()
    if suffix in AUDIO_SUFFIXES:
        return suffix
    if data[:4] == b"RIFF":
        return ".wav"
    if data[:4] == b"fLaC":
        return ".flac"
    if data[:4] == b"OggS":
        return ".ogg"
    return ".wav"


def unpack(path: Path, root: Path, archive: Archive) -> None:
    """Write the audio of one Parquet shard as files and its metadata as ``index/<shard>.csv``."""
    try:
        shard = pq.ParquetFile(path)
    except Exception as exc:
        raise ArchiveError(f"{path}: not a readable Parquet file ({exc}); delete it and download "
                           "again") from exc
    missing = [c for c in COLUMNS if c not in shard.schema_arrow.names]
    if missing:
        raise ArchiveError(f"{path}: column(s) {missing} missing; expected {list(COLUMNS)}")
    ensure_free_space(root, path.stat().st_size, f"unpacking {archive.name}")
    stem = Path(archive.name).name.removesuffix(".parquet")
    progress = Progress(f"unpacking {archive.name}", shard.metadata.num_rows, unit="clips", interval=10.0)
    rows, seen = [], set()
    index = 0
    for batch in shard.iter_batches(batch_size=256, columns=list(COLUMNS)):
        for item in batch.to_pylist():
            audio = item["audio"] or {}
            data = audio.get("bytes")
            if not data:
                raise ArchiveError(f"{path}: row {index} has no audio bytes")
            codec = _safe(item["codec_name"] or "genuine")
            base = _safe(Path(audio.get("path") or f"{stem}-{index:06d}").name)
            name = Path(base).stem + _suffix(data, base)
            rel = f"audio/{codec}/{name}"
            if rel in seen:  # same file name twice in one codec: keep both
                rel = f"audio/{codec}/{Path(name).stem}-{stem}-{index:06d}{Path(name).suffix}"
            seen.add(rel)
            target = root / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            rows.append([rel, item["label"], item["speaker_id"] or "", item["codec_name"] or ""])
            index += 1
            progress.update()
    with atomic_path(root / "index" / f"{stem}.csv") as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(INDEX_HEADER)
            writer.writerows(rows)


SPEC = CorpusSpec(
    name="codecfake_wu",
    title="CodecFake (Wu et al. 2024)",
    homepage=f"https://huggingface.co/datasets/{REPO}",
    licence="CC BY 4.0 (VCTK-derived)",
    size_on_disk="101.7 GB of Parquet shards, about 100 GB of audio after unpacking (shards deleted)",
    disk_bytes=110_000_000_000,
    archives=(),
    splits=("train",),
    options={"num_shards": None, "revision": "main"},
    known_counts={"train": {"total": 707_872}},
    hf_repo=REPO,
    list_archives=list_archives,
    unpack=unpack,
)


def collect(root: str | os.PathLike[str], options: Options = None) -> dict[str, list[Entry]]:
    """Read the ``index/*.csv`` files written when the shards were unpacked."""
    SPEC.resolve_options(options)
    root = Path(root)
    indexes = sorted((root / "index").glob("*.csv"))
    if not indexes:
        raise PrepareError(f"{root / 'index'}: no shard index found; run the download first (it unpacks "
                           "the Parquet shards)")
    entries = []
    for index in indexes:
        for where, (rel, key, speaker, codec) in read_table(index, INDEX_HEADER):
            utt = "_".join(Path(rel).with_suffix("").parts[1:])
            entries.append(Entry.labelled(utt, key, LABELS, codec or "unknown", speaker, root / rel, where))
    audio = root / "audio"
    if audio.is_dir():
        report_extra(audio, (p for p in audio.rglob("*") if p.is_file()), {e.path for e in entries},
                     "the shard index")
    return {"train": entries}


CORPORA.register(SPEC.name)(Corpus(SPEC, collect))
