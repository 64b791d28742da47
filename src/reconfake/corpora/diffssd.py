"""DiffSSD (Bhagtani et al. 2024): speech from diffusion-based TTS and voice cloning, with bona fide
speech from LJSpeech and the LibriSpeech dev-clean, dev-other, test-clean and test-other subsets.

Source: Hugging Face dataset ``purdueviperlab/diffssd`` (CC BY-NC-ND 4.0, its dataset card):
``generated_speech.tar`` (18 109 329 438 bytes, sha256 from the LFS pointer of commit 3272fa8)
and ``train_val_test_splits.csv``; the real speech is fetched from its own sources (LJSpeech-1.1,
public domain; LibriSpeech from openslr.org/12, CC BY 4.0, sha256 as torchaudio's LibriSpeech
loader lists them). Public download scripts unpack ``generated_speech.tar`` with ``tar -xz``, so
it is opened whatever its compression. The CSV has the header
``filename,method_name,category,source,set,target`` (target 1 = spoof) and names files as::

    generated_speech/<method>/...              from generated_speech.tar
    real_speech/ljspeech/<ID>.wav              -> LJSpeech-1.1/wavs/<ID>.wav
    real_speech/librispeech/<subset>/...       -> LibriSpeech/<subset>/...

Option ``revision`` (default ``main``): the Hub revision of ``purdueviperlab/diffssd`` to
fetch; its full commit id is not in the public material checked (the file listing shows main at
``c6a83c4``, and ``generated_speech.tar`` was added in commit 3272fa815d1787d584952a084f58a26632ed9b5a),
so the commit actually fetched is resolved from the Hub and recorded in the download marker and
the manifests' metadata (``revisions``).

Splits: ``train``, ``val``, ``test`` (the CSV's ``set``). Attack = ``method_name``. Known counts
(over all three splits): 94 226 rows = 70 000 synthetic + 24 226 real, the real ones 13 100
LJSpeech + 2 703 dev-clean + 2 864 dev-other + 2 620 test-clean + 2 939 test-other (the
subsets' published sizes); each source's count is checked as well.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from pathlib import Path, PurePosixPath

from reconfake.corpora import ljspeech
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

HF = "https://huggingface.co/datasets/purdueviperlab/diffssd/resolve/main/"
CSV_NAME = "train_val_test_splits.csv"
HEADER = ["filename", "method_name", "category", "source", "set", "target"]
LABELS = {"0": "bonafide", "1": "spoof"}
SETS = {"train": "train", "val": "val", "valid": "val", "validation": "val", "dev": "val",
        "test": "test"}
OPENSLR = "https://www.openslr.org/resources/12/"
# sha256 of the LibriSpeech subsets DiffSSD draws its bona fide speech from
LIBRISPEECH = {
    "dev-clean": "76f87d090650617fca0cac8f88b9416e0ebf80350acb97b343a85fa903728ab3",
    "dev-other": "12661c48e8c3fe1de2c1caa4c3e135193bfb1811584f11f569dd12645aa84365",
    "test-clean": "39fde525e59672dc6d1551919b1478f724438a95aa55f874b576be21967e6c23",
    "test-other": "d09c181bba5cf717b3dee7d4d592af11a3ee3a09e08ae025c5506f6ebe961c29",
}
# real rows per source folder of the CSV (LJSpeech; the LibriSpeech subsets' utterance counts)
REAL_SOURCES = {"ljspeech": 13_100, "librispeech/dev-clean": 2_703, "librispeech/dev-other": 2_864,
                "librispeech/test-clean": 2_620, "librispeech/test-other": 2_939}
SYNTHETIC = 70_000

log = logging.getLogger("reconfake")

SPEC = CorpusSpec(
    name="diffssd",
    title="DiffSSD (+ LJSpeech and LibriSpeech bona fide)",
    homepage="https://huggingface.co/datasets/purdueviperlab/diffssd",
    licence="CC BY-NC-ND 4.0 (DiffSSD); LJSpeech public domain; LibriSpeech CC BY 4.0",
    size_on_disk=("18.1 GB + 2.7 GB + 1.3 GB archives (LibriSpeech: four subsets); about 23 GB extracted "
                  "(archives deleted)"),
    disk_bytes=45_000_000_000,
    archives=(
        Archive("generated_speech.tar", HF + "generated_speech.tar", size=18_109_329_438,
                sha256="dfda1e001f6af5703424d09400a84bf0ff635c21f40b1b100f874ac76320798b"),
        Archive(CSV_NAME, HF + CSV_NAME, extract="copy", published="hf:purdueviperlab/diffssd"),
        ljspeech.ARCHIVE,
        *(Archive(f"{subset}.tar.gz", f"{OPENSLR}{subset}.tar.gz", sha256=digest)
          for subset, digest in LIBRISPEECH.items()),
    ),
    splits=("train", "val", "test"),
    hf_repo="purdueviperlab/diffssd",
    options={"revision": "main"},
    known_counts={"all": {"total": sum(REAL_SOURCES.values()) + SYNTHETIC,
                          "bonafide": sum(REAL_SOURCES.values()), "spoof": SYNTHETIC}},
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


def _source(filename: str) -> str:
    """``ljspeech``, ``librispeech/<subset>`` or ``generated`` for a CSV file name."""
    parts = PurePosixPath(filename).parts
    if parts[:2] == ("real_speech", "librispeech") and len(parts) > 2:
        return f"librispeech/{parts[2]}"
    if parts[:2] == ("real_speech", "ljspeech"):
        return "ljspeech"
    return "generated"


def _check_sources(found: Counter) -> None:
    """Warn when the real rows of a source differ from its published size."""
    wrong = {s: (found.get(s, 0), n) for s, n in REAL_SOURCES.items() if found.get(s, 0) != n}
    if wrong:
        log.warning("diffssd: real clips per source differ from the published sizes (fine for a "
                    "subset): %s", ", ".join(f"{s} {got} (published {n})" for s, (got, n) in wrong.items()))
    else:
        log.info("diffssd: real clips per source match the published sizes")


def collect(root: str | os.PathLike[str], options: Options = None) -> dict[str, list[Entry]]:
    """Read ``train_val_test_splits.csv``; bad rows name their line."""
    SPEC.resolve_options(options)
    root = Path(root)
    table = find_file(root, CSV_NAME, depth=2)
    if table is None:
        raise PrepareError(f"{root}: {CSV_NAME} not found; download it into the corpus root")
    out: dict[str, list[Entry]] = {s: [] for s in SPEC.splits}
    real: Counter = Counter()
    for where, (filename, method, _, _, split, target) in read_table(table, HEADER):
        paths = candidates(root, filename)
        path = next((p for p in paths if p.is_file()), paths[0])
        utt = str(PurePosixPath(filename).with_suffix("")).replace("/", "_")
        entry = Entry.labelled(utt, target.strip(), LABELS, method,
                               _speaker(PurePosixPath(filename).parts), path, where)
        if entry.label == "bonafide":
            real[_source(filename)] += 1
        if split not in SETS:
            raise PrepareError(f"{where}: unknown set {split!r}; expected one of {sorted(SETS)}")
        out[SETS[split]].append(entry)
    _check_sources(real)
    generated = root / "generated_speech"
    if generated.is_dir():
        report_extra(generated, (p for p in generated.rglob("*") if p.is_file()),
                     {e.path for es in out.values() for e in es}, CSV_NAME)
    return out


CORPORA.register(SPEC.name)(Corpus(SPEC, collect))
