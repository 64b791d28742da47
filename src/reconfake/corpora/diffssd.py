"""DiffSSD (Bhagtani et al. 2024): speech from diffusion-based TTS and voice cloning, with bona fide
speech from LJSpeech and LibriSpeech dev-clean/test-clean.

Source: Hugging Face dataset ``purdueviperlab/diffssd`` (CC BY-NC-ND 4.0): ``generated_speech.tar``
and ``train_val_test_splits.csv``; the real speech is fetched from its own sources (LJSpeech-1.1,
public domain; LibriSpeech, CC BY 4.0). The CSV has the header
``filename,method_name,category,source,set,target`` (target 1 = spoof) and names files as::

    generated_speech/<method>/...              from generated_speech.tar
    real_speech/ljspeech/<ID>.wav              -> LJSpeech-1.1/wavs/<ID>.wav
    real_speech/librispeech/<subset>/...       -> LibriSpeech/<subset>/...

Splits: ``train``, ``val``, ``test`` (the CSV's ``set``). Attack = ``method_name``.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

from reconfake.corpora import ljspeech
from reconfake.corpora.spec import (
    Archive,
    CorpusSpec,
    Entry,
    Options,
    PrepareError,
    find_file,
    read_table,
    report_extra,
)

HF = "https://huggingface.co/datasets/purdueviperlab/diffssd/resolve/main/"
CSV_NAME = "train_val_test_splits.csv"
HEADER = ["filename", "method_name", "category", "source", "set", "target"]
LABELS = {"0": "bonafide", "1": "spoof"}
SETS = {"train": "train", "val": "val", "valid": "val", "validation": "val", "dev": "val",
        "test": "test"}
OPENSLR = "https://www.openslr.org/resources/12/"

SPEC = CorpusSpec(
    name="diffssd",
    title="DiffSSD (+ LJSpeech and LibriSpeech bona fide)",
    homepage="https://huggingface.co/datasets/purdueviperlab/diffssd",
    licence="CC BY-NC-ND 4.0 (DiffSSD); LJSpeech public domain; LibriSpeech CC BY 4.0",
    size_on_disk="18.1 GB + 2.7 GB + 0.7 GB archives; about 22 GB extracted (archives deleted)",
    disk_bytes=45_000_000_000,
    archives=(
        Archive("generated_speech.tar", HF + "generated_speech.tar", size=18_109_329_438,
                sha256="dfda1e001f6af5703424d09400a84bf0ff635c21f40b1b100f874ac76320798b"),
        Archive(CSV_NAME, HF + CSV_NAME, extract="copy", published="hf:purdueviperlab/diffssd"),
        ljspeech.ARCHIVE,
        Archive("dev-clean.tar.gz", OPENSLR + "dev-clean.tar.gz",
                sha256="76f87d090650617fca0cac8f88b9416e0ebf80350acb97b343a85fa903728ab3"),
        Archive("test-clean.tar.gz", OPENSLR + "test-clean.tar.gz",
                sha256="39fde525e59672dc6d1551919b1478f724438a95aa55f874b576be21967e6c23"),
    ),
    splits=("train", "val", "test"),
)


def candidates(root: Path, filename: str) -> list[Path]:
    """Where a CSV ``filename`` may live under ``root`` (first existing wins)."""
    rel = PurePosixPath(filename)
    out = [root / rel]
    parts = rel.parts
    if parts[:2] == ("real_speech", "librispeech"):
        out.append(root.joinpath("LibriSpeech", *parts[2:]))
    elif parts[:2] == ("real_speech", "ljspeech"):
        out.append(root / "LJSpeech-1.1" / "wavs" / rel.name)
        out.append(root.joinpath("LJSpeech-1.1", *parts[2:]))
    elif parts and parts[0] != "generated_speech":
        out.append(root.joinpath("generated_speech", *parts))
    return out


def _speaker(parts: tuple[str, ...]) -> str:
    if parts[:2] == ("real_speech", "librispeech") and len(parts) >= 5:
        return parts[3]
    if parts[:2] == ("real_speech", "ljspeech"):
        return ljspeech.SPEAKER
    return ""


def collect(root: str | os.PathLike[str], options: Options = None) -> dict[str, list[Entry]]:
    """Read ``train_val_test_splits.csv``; bad rows name their line."""
    SPEC.resolve_options(options)
    root = Path(root)
    table = find_file(root, CSV_NAME, depth=2)
    if table is None:
        raise PrepareError(f"{root}: {CSV_NAME} not found; download it into the corpus root")
    out: dict[str, list[Entry]] = {s: [] for s in SPEC.splits}
    for where, (filename, method, _, _, split, target) in read_table(table, HEADER):
        paths = candidates(root, filename)
        path = next((p for p in paths if p.is_file()), paths[0])
        utt = str(PurePosixPath(filename).with_suffix("")).replace("/", "_")
        entry = Entry.labelled(utt, target.strip(), LABELS, method, _speaker(PurePosixPath(filename).parts),
                               path, where)
        if split not in SETS:
            raise PrepareError(f"{where}: unknown set {split!r}; expected one of {sorted(SETS)}")
        out[SETS[split]].append(entry)
    generated = root / "generated_speech"
    if generated.is_dir():
        report_extra(generated, (p for p in generated.rglob("*") if p.is_file()),
                     {e.path for es in out.values() for e in es}, CSV_NAME)
    return out
