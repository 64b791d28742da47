"""In-the-Wild (Müller et al., Interspeech 2022): real and deepfake speech of public figures.

Source: Hugging Face dataset ``mueller91/In-The-Wild``, ``release_in_the_wild.zip`` (CC BY-SA 4.0;
also at deepfake-total.com/in_the_wild). Layout after extraction::

    release_in_the_wild/meta.csv           header ``file,speaker,label``; label bona-fide|spoof
    release_in_the_wild/<n>.wav            16 kHz WAV

One split, ``eval`` (31 779 clips: 19 963 bona fide, 11 816 spoof). The corpus does not name the
generator of its spoofs, so their attack is ``unknown``.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

from reconfake.corpora.spec import (
    Archive,
    CorpusSpec,
    Entry,
    Options,
    PrepareError,
    bonafide_or,
    find_file,
    label_of,
    prepare_corpus,
    report_extra,
)

HEADER = ["file", "speaker", "label"]
LABELS = {"bona-fide": "bonafide", "spoof": "spoof"}
UNKNOWN_ATTACK = "unknown"

SPEC = CorpusSpec(
    name="in_the_wild",
    title="In-the-Wild",
    homepage="https://huggingface.co/datasets/mueller91/In-The-Wild",
    licence="CC BY-SA 4.0",
    size_on_disk="about 8 GB archive, about 8 GB extracted (archive deleted after extraction)",
    disk_bytes=17_000_000_000,
    archives=(
        Archive("release_in_the_wild.zip",
                "https://huggingface.co/datasets/mueller91/In-The-Wild/resolve/main/release_in_the_wild.zip",
                published="hf:mueller91/In-The-Wild"),
    ),
    splits=("eval",),
    known_counts={"eval": {"total": 31_779, "bonafide": 19_963, "spoof": 11_816}},
)


def locate(root: str | os.PathLike[str]) -> Path:
    """``meta.csv`` under ``root``."""
    meta = find_file(Path(root), "meta.csv", depth=2)
    if meta is None:
        raise PrepareError(f"{root}: no meta.csv found; the root must hold the extracted "
                           "release_in_the_wild.zip (release_in_the_wild/ or its parent)")
    return meta


def collect(root: str | os.PathLike[str], options: Options = None) -> dict[str, list[Entry]]:
    """Read ``meta.csv``; a row with the wrong number of fields or label names its line."""
    SPEC.resolve_options(options)
    meta = locate(root)
    folder = meta.parent
    entries = []
    with open(meta, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header != HEADER:
            raise PrepareError(f"{meta}:1: expected the header {','.join(HEADER)!r}, got {header!r}")
        for row in reader:
            where = f"{meta}:{reader.line_num}"
            if not row:
                continue
            if len(row) != 3:
                raise PrepareError(f"{where}: expected 3 fields 'file,speaker,label', got {len(row)}: "
                                   f"{row!r}")
            name, speaker, key = row
            label = label_of(key, LABELS, where)
            entries.append(Entry(Path(name).stem, label, bonafide_or(UNKNOWN_ATTACK, label),
                                 speaker, folder / name, where))
    report_extra(folder, folder.glob("*.wav"), {e.path for e in entries}, meta.name)
    return {"eval": entries}


def prepare(root: str | os.PathLike[str], out_dir: str | os.PathLike[str], *, strict: bool = False,
            **options) -> dict[str, Path]:
    """Write the ``eval`` manifest of an extracted release_in_the_wild.zip under ``root``."""
    return prepare_corpus(SPEC, collect(root, options), root, out_dir, strict)
