"""LJSpeech-1.1: the bona fide side of WaveFake and (with LibriSpeech) of DiffSSD.

Source: keithito.com/LJ-Speech-Dataset, ``LJSpeech-1.1.tar.bz2`` (public domain). Layout::

    LJSpeech-1.1/metadata.csv      ``ID|transcription|normalized transcription`` (no header)
    LJSpeech-1.1/wavs/<ID>.wav     22.05 kHz WAV, 13 100 clips of one speaker
"""

from __future__ import annotations

import csv
from pathlib import Path

from reconfake.corpora.spec import Archive, Entry, PrepareError, find_folder, read_table

SPEAKER = "LJ"
COUNT = 13_100

ARCHIVE = Archive(
    "LJSpeech-1.1.tar.bz2", "https://data.keithito.com/data/speech/LJSpeech-1.1.tar.bz2",
    size=2_748_572_632,
    sha256="be1a30453f28eb8dd26af4101ae40cbf2c50413b1bb21936cbcdc6fae3de8aa5",
)


def locate(root: Path) -> Path:
    """The ``LJSpeech-1.1`` folder under ``root``."""
    folder = find_folder(root, "LJSpeech-1.1", depth=2)
    if folder is None or not (folder / "metadata.csv").is_file():
        raise PrepareError(f"{root}: no LJSpeech-1.1/metadata.csv found; extract LJSpeech-1.1.tar.bz2 "
                           "into the corpus root")
    return folder


def bonafide_entries(root: Path, prefix: str = "") -> list[Entry]:
    """One bona fide entry per line of ``metadata.csv`` (3 ``|``-separated fields)."""
    folder = locate(root)
    meta = folder / "metadata.csv"
    rows = read_table(meta, ("ID", "text", "normalized text"), delimiter="|", header=False,
                      quoting=csv.QUOTE_NONE)
    return [Entry(f"{prefix}{utt}", "bonafide", "bonafide", SPEAKER, folder / "wavs" / f"{utt}.wav", where)
            for where, (utt, _, _) in rows]
