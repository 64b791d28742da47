"""CodecFake of Xie et al. (arXiv 2405.04880): VCTK and AISHELL-3 re-synthesised by 7 neural
codecs (C1-C7) plus audio-language-model fakes (A1-A3). Not to be confused with Wu et al.'s
CodecFake (:mod:`reconfake.corpora.codecfake_wu`); results name the one they used.

Source: Zenodo records 11171708, 11171720, 11171724 (train, a 20-volume split zip, and labels),
11169872 (dev, split zip), 11169781 (C1-C6, A1-A3) and 11125029 (C7); CC BY 4.0. Layout::

    label/{train,dev,C1,...,C7,A1,A2,A3}.txt    lines ``FILE real|fake TAG``
    train/*.wav  dev/*.wav  C1/*.wav ... A3/*.wav

Splits: ``train``, ``dev``, one per test condition (``C1``...``C7``, ``A1``...``A3``) and
``test`` (all ten conditions). Attack: the TAG column in train/dev, the condition in test splits.
Zenodo publishes an md5 per file; it is fetched and checked for official downloads.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from reconfake.corpora.spec import (
    Archive,
    CorpusSpec,
    Entry,
    Options,
    PrepareError,
    find_folder,
    read_fields,
    report_extra,
)

CONDITIONS = ("C1", "C2", "C3", "C4", "C5", "C6", "C7", "A1", "A2", "A3")
LABELS = {"real": "bonafide", "fake": "spoof"}
TRAIN_VOLUMES = tuple(f"train_split.z{i:02d}" for i in range(1, 20))
DEV_VOLUMES = ("dev_split.z01", "dev_split.z02")


def _zenodo(record: str, name: str, **kwargs) -> Archive:
    return Archive(name, f"https://zenodo.org/records/{record}/files/{name}?download=1",
                   published=f"zenodo:{record}", **kwargs)


def _train_volume_record(i: int) -> str:
    return "11171708" if i <= 6 else "11171720" if i <= 14 else "11171724"


SPEC = CorpusSpec(
    name="codecfake_xie",
    title="CodecFake (Xie et al. 2024)",
    homepage="https://github.com/xieyuankun/Codecfake",
    licence="CC BY 4.0",
    size_on_disk="roughly 150 GB extracted (estimate from 1.15 M clips; archives deleted after extraction)",
    disk_bytes=320_000_000_000,
    archives=(
        _zenodo("11171708", "label.zip"),
        *(_zenodo(_train_volume_record(i), v, extract="volume") for i, v in enumerate(TRAIN_VOLUMES, 1)),
        _zenodo("11171708", "train_split.zip", volumes=TRAIN_VOLUMES),
        *(_zenodo("11169872", v, extract="volume") for v in DEV_VOLUMES),
        _zenodo("11169872", "dev_split.zip", volumes=DEV_VOLUMES),
        *(_zenodo("11125029" if c == "C7" else "11169781", f"{c}.zip") for c in CONDITIONS),
    ),
    splits=("train", "dev", *CONDITIONS, "test"),
    known_counts={
        "train": {"total": 740_747}, "dev": {"total": 92_596},
        **{c: {"total": 26_456} for c in CONDITIONS[:6]},
        "C7": {"total": 145_505}, "A1": {"total": 8_902}, "A2": {"total": 8_902}, "A3": {"total": 99_112},
        "test": {"total": 6 * 26_456 + 145_505 + 2 * 8_902 + 99_112},
    },
)


def speaker_of(stem: str) -> str:
    """VCTK (``p276``) or AISHELL-3 (``SSB0544``) speaker from a file name; empty if unknown."""
    for part in stem.split("_"):
        if re.fullmatch(r"p\d{3}", part):
            return part
        if re.fullmatch(r"SSB\d{4}\d*", part):
            return part[:7]
    return ""


def _read_labels(root: Path, name: str) -> tuple[Path, list[tuple[str, str, str, str]]]:
    label_dir = find_folder(root, "label", depth=3)
    if label_dir is None:
        raise PrepareError(f"{root}: no label folder found; extract label.zip into the corpus root")
    path = label_dir / f"{name}.txt"
    if not path.is_file():
        raise PrepareError(f"{path}: label file missing; label.zip holds one per split and condition")
    return path, [(*fields, where) for where, fields in read_fields(path, "FILE real|fake TAG")]


def collect(root: str | os.PathLike[str], options: Options = None) -> dict[str, list[Entry]]:
    """Read every label file into entries."""
    SPEC.resolve_options(options)
    root = Path(root)
    out: dict[str, list[Entry]] = {}
    for split in ("train", "dev", *CONDITIONS):
        label_path, rows = _read_labels(root, split)
        audio = find_folder(root, split, depth=3)
        if audio is None:
            raise PrepareError(f"{root}: no {split}/ audio folder found; extract its archive into the "
                               "corpus root")
        entries = []
        for name, key, tag, where in rows:
            stem = Path(name).stem
            attack = tag if split in ("train", "dev") else split
            utt = stem if split in ("train", "dev") else f"{split}_{stem}"
            entries.append(Entry.labelled(utt, key, LABELS, attack, speaker_of(stem), audio / name, where))
        report_extra(audio, audio.glob("*.wav"), {e.path for e in entries}, label_path.name)
        out[split] = entries
    out["test"] = [e for c in CONDITIONS for e in out[c]]
    return out
