"""ASVspoof 2019 logical access (LA): the study's training corpus and first evaluation set.

Source: Edinburgh DataShare 10283/3336, ``LA.zip`` (ODC-By 1.0). Layout after extraction::

    LA/ASVspoof2019_LA_cm_protocols/ASVspoof2019.LA.cm.{train.trn,dev.trl,eval.trl}.txt
    LA/ASVspoof2019_LA_{train,dev,eval}/flac/<UTT>.flac       (16 kHz FLAC)

Protocol lines have 5 space-separated fields ``SPEAKER UTT - SYSTEM KEY`` with KEY
``bonafide|spoof`` and SYSTEM ``-`` for bona fide clips, A01-A06 in train/dev, A07-A19 in eval.
Splits: ``train``, ``dev``, ``eval``; attack = system id.
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
    find_folder,
    read_fields,
    report_extra,
)

PROTOCOLS = {
    "train": "ASVspoof2019.LA.cm.train.trn.txt",
    "dev": "ASVspoof2019.LA.cm.dev.trl.txt",
    "eval": "ASVspoof2019.LA.cm.eval.trl.txt",
}
LABELS = {"bonafide": "bonafide", "spoof": "spoof"}

SPEC = CorpusSpec(
    name="asvspoof2019_la",
    title="ASVspoof 2019 LA",
    homepage="https://datashare.ed.ac.uk/handle/10283/3336",
    licence="ODC-By 1.0",
    size_on_disk="7.6 GB (7.1 GiB) archive, about 7.7 GB extracted (archive deleted after extraction)",
    disk_bytes=16_000_000_000,
    archives=(
        Archive("LA.zip", "https://datashare.ed.ac.uk/bitstream/handle/10283/3336/LA.zip"),
    ),
    splits=("train", "dev", "eval"),
    known_counts={
        "train": {"total": 25_380, "bonafide": 2_580, "spoof": 22_800},
        "dev": {"total": 24_844, "bonafide": 2_548, "spoof": 22_296},
        "eval": {"total": 71_237, "bonafide": 7_355, "spoof": 63_882},
    },
    note="DataShare publishes no checksum for LA.zip; the archive's own CRCs are checked on extraction.",
)


def locate(root: str | os.PathLike[str]) -> Path:
    """The ``LA`` folder under ``root`` (``root`` itself may be it)."""
    protocols = find_folder(Path(root), "ASVspoof2019_LA_cm_protocols", depth=3)
    if protocols is None:
        raise PrepareError(f"{root}: no ASVspoof2019_LA_cm_protocols folder found; the root must hold "
                           "the extracted LA.zip (the LA/ folder or its parent)")
    return protocols.parent


def collect(root: str | os.PathLike[str], options: Options = None) -> dict[str, list[Entry]]:
    """Read the CM protocols into entries; malformed lines name file and line."""
    SPEC.resolve_options(options)
    la = locate(root)
    out: dict[str, list[Entry]] = {}
    for split in SPEC.splits:
        protocol = la / "ASVspoof2019_LA_cm_protocols" / PROTOCOLS[split]
        if not protocol.is_file():
            raise PrepareError(f"{protocol}: protocol file missing; the LA.zip extraction is incomplete")
        flac = la / f"ASVspoof2019_LA_{split}" / "flac"
        entries = []
        for where, fields in read_fields(protocol, "SPEAKER UTT - SYSTEM KEY"):
            speaker, utt, _, system, key = fields
            entry = Entry.labelled(utt, key, LABELS, system, speaker, flac / f"{utt}.flac", where)
            if entry.label == "spoof" and system == "-":
                raise PrepareError(f"{where}: spoof trial without a system id: {' '.join(fields)!r}")
            entries.append(entry)
        if flac.is_dir():
            report_extra(flac, flac.glob("*.flac"), {e.path for e in entries}, protocol.name)
        out[split] = entries
    return out


CORPORA.register(SPEC.name)(Corpus(SPEC, collect))
