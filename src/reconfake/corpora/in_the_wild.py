"""In-the-Wild (Müller et al., Interspeech 2022): real and deepfake speech of public figures.

Source: Hugging Face dataset ``mueller91/In-The-Wild``, ``release_in_the_wild.zip`` (CC BY-SA 4.0;
also at deepfake-total.com/in_the_wild). Layout after extraction::

    release_in_the_wild/meta.csv           header ``file,speaker,label``; label bona-fide|spoof
    release_in_the_wild/<n>.wav            16 kHz WAV

Option ``revision`` (default ``main``; no commit of the dataset is published where this was
checked): the Hub revision to fetch; the commit it resolved to is recorded in the download marker
and in the manifest's metadata (``revisions``), so a result names the files it used.

One split, ``eval`` (31 779 clips: 19 963 bona fide, 11 816 spoof). The corpus does not name the
generator of its spoofs, so their attack is ``unknown``.
"""

from __future__ import annotations

import os
from pathlib import Path

from reconfake.corpora.registry import CORPORA
from reconfake.corpora.spec import (
    Archive,
    Corpus,
    CorpusSpec,
    Entry,
    Options,
    PrepareError,
    find_file,
    read_table,
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
    hf_repo="mueller91/In-The-Wild",
    options={"revision": "main"},
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
    entries = [Entry.labelled(Path(name).stem, key, LABELS, UNKNOWN_ATTACK, speaker, folder / name, where)
               for where, (name, speaker, key) in read_table(meta, HEADER)]
    report_extra(folder, folder.glob("*.wav"), {e.path for e in entries}, meta.name)
    return {"eval": entries}


CORPORA.register(SPEC.name)(Corpus(SPEC, collect))
