"""CodecFake of Xie et al. (arXiv 2405.04880): VCTK and AISHELL-3 re-synthesised by 7 neural
codecs (C1-C7) plus audio-language-model fakes (A1-A3). Not to be confused with Wu et al.'s
CodecFake (:mod:`reconfake.corpora.codecfake_wu`); results name the one they used.

Source, from the dataset's README (github.com/xieyuankun/Codecfake, commit 6ee54a9 of
2024-09-28, which replaced the May 2024 records) and its issue threads:

- release ``2024-09`` (default): Zenodo 13838106 (``label.zip``, ``train_split.zip`` and
  ``train_split.z01``-``z05``), 13841652 (``z06``-``z10``), 13853860 (``z11``-``z16``),
  13841216 (``dev_split.zip``, ``dev_split.z01``-``z02``), 13838823 (``C1.zip``-``C6.zip``,
  ``A1.zip``-``A3.zip``) and 11125029 (``C7.zip``). Its split zips wrap one more zip each,
  ``data7/xyk/codecfake/upload_zenodo/train.zip`` (and ``dev.zip``), "absolute paths zipped in
  by mistake" (issue #9); download unpacks the inner zip through the same safe extraction.
- release ``2024-05``: the first records, 11171708 (``label.zip``, ``train_split.zip``,
  ``z01``-``z06``), 11171720 (``z07``-``z14``), 11171724 (``z15``-``z19``), 11169872 (dev),
  11169781 (C1-C6, A1-A3), 11125029 (C7); for copies still held (option ``release: 2024-05``).

Licence: CC BY-NC-ND 4.0, as the README states since commit 6ee54a9. Zenodo publishes an md5
per file; it is fetched and checked for official downloads. Layout after extraction::

    label/{train,dev,C1,...,C7,A1,A2,A3}.txt    lines ``FILE real|fake TAG``
    train/*.wav  dev/*.wav  C1/*.wav ... A3/*.wav

A3 is incomplete as distributed: ``label/A3.txt`` names 99 112 clips, but ``A3.zip`` holds only
the 49 838 fakes; the 49 274 real AudioCaps clips are not redistributed for copyright reasons
(the authors point to AudioCaps' YouTube list instead: issue #8, answered 2024-10-07; #11 is
cited for the same by the issue this module was fixed for, not read here). ``prepare`` therefore
keeps A3's fakes only, logs the real rows it leaves out, and notes it in the A3 manifest. With
``a3_bonafide: true`` (real clips fetched by the user and placed in ``A3/`` under the label
file's names) they are included and required.

Splits: ``train``, ``dev``, one per test condition (``C1``...``C7``, ``A1``...``A3``) and
``test`` = C1-C7, A1 and A2, the nine conditions distributed in full (322 045 clips), so it is
the same for every user. Attack: the TAG column in train/dev, the condition in test splits.
Counts per split: the README's directory tree (740 747 train, 92 596 dev, 26 456 per C1-C6,
145 505 C7, 8 902 per A1/A2, 99 112 A3 of which 49 274 real, issue #8).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from reconfake.corpora.registry import CORPORA
from reconfake.corpora.spec import (
    Archive,
    Corpus,
    CorpusSpec,
    Entry,
    Options,
    PrepareError,
    find_folder,
    names_list,
    read_fields,
    report_extra,
)

log = logging.getLogger("reconfake")

CONDITIONS = ("C1", "C2", "C3", "C4", "C5", "C6", "C7", "A1", "A2", "A3")
TEST_CONDITIONS = CONDITIONS[:-1]  # A3 lacks its real half as distributed (see the docstring)
LABELS = {"real": "bonafide", "fake": "spoof"}
RELEASES = ("2024-09", "2024-05")
A3_REAL = 49_274  # real AudioCaps rows of label/A3.txt that A3.zip does not hold (issue #8)
A3_FAKE = 49_838


def _zenodo(record: str, name: str, **kwargs: Any) -> Archive:
    return Archive(name, f"https://zenodo.org/records/{record}/files/{name}?download=1",
                   published=f"zenodo:{record}", **kwargs)


def _release(volumes: int, train_records: tuple[tuple[str, int], ...], dev: str, test: str,
             nested: bool) -> tuple[Archive, ...]:
    """Archives of one release; ``train_records`` = (record, last volume it holds), in order."""
    train_volumes = tuple(f"train_split.z{i:02d}" for i in range(1, volumes + 1))
    dev_volumes = ("dev_split.z01", "dev_split.z02")

    def record_of(i: int) -> str:
        return next(rec for rec, last in train_records if i <= last)

    first = train_records[0][0]  # label.zip and train_split.zip sit with the first volumes
    return (
        _zenodo(first, "label.zip"),
        *(_zenodo(record_of(i), v, extract="volume") for i, v in enumerate(train_volumes, 1)),
        _zenodo(first, "train_split.zip", volumes=train_volumes, nested=nested),
        *(_zenodo(dev, v, extract="volume") for v in dev_volumes),
        _zenodo(dev, "dev_split.zip", volumes=dev_volumes, nested=nested),
        *(_zenodo("11125029" if c == "C7" else test, f"{c}.zip") for c in CONDITIONS),
    )


ARCHIVES = {
    "2024-09": _release(16, (("13838106", 5), ("13841652", 10), ("13853860", 16)), "13841216",
                        "13838823", nested=True),
    "2024-05": _release(19, (("11171708", 6), ("11171720", 14), ("11171724", 19)), "11169872",
                        "11169781", nested=False),
}


def _record(archive: Archive) -> str:
    return (archive.published or "").partition(":")[2]


def list_archives(spec: CorpusSpec, mirror: str | None, options: Mapping[str, Any]) -> list[Archive]:
    """The archives of the release named by the ``release`` option.

    Read from ``spec.archives`` (both releases; names repeat, records differ) so that a spec
    whose sizes and checksums were replaced keeps them.
    """
    release = options.get("release")
    if release not in RELEASES:
        raise ValueError(f"corpus codecfake_xie: option release={release!r}; use one of {list(RELEASES)} "
                         "(2024-09: the current Zenodo records; 2024-05: the first ones)")
    if mirror and release == "2024-09":
        from reconfake.corpora.download import mirror_location

        probe = mirror_location(Archive("train_split.z19", ""), mirror)
        if isinstance(probe, Path) and probe.is_file():  # 19 volumes: the first records
            raise ValueError(f"codecfake_xie: the mirror holds {probe.name}, a volume of the first "
                             "records (19 train volumes); set the corpus option release: 2024-05")
    records = {_record(a) for a in ARCHIVES[release]}
    names = {a.name for a in ARCHIVES[release]}
    chosen = [a for a in spec.archives if a.name in names and _record(a) in records]
    log.info("codecfake_xie: release %s, Zenodo records %s", release, ", ".join(sorted(records)))
    return chosen


SPEC = CorpusSpec(
    name="codecfake_xie",
    title="CodecFake (Xie et al. 2024)",
    homepage="https://github.com/xieyuankun/Codecfake",
    licence="CC BY-NC-ND 4.0",
    size_on_disk="roughly 150 GB extracted (estimate from 1.1 M clips; archives deleted after extraction)",
    disk_bytes=320_000_000_000,
    # both releases, C7.zip (one record in both) once
    archives=tuple({(a.name, _record(a)): a for release in RELEASES for a in ARCHIVES[release]}.values()),
    list_archives=list_archives,
    splits=("train", "dev", *CONDITIONS, "test"),
    options={"release": RELEASES[0], "a3_bonafide": False},
    known_counts={
        "train": {"total": 740_747}, "dev": {"total": 92_596},
        **{c: {"total": 26_456} for c in CONDITIONS[:6]},
        "C7": {"total": 145_505}, "A1": {"total": 8_902}, "A2": {"total": 8_902},
        "A3": {"total": A3_FAKE, "spoof": A3_FAKE},
        "test": {"total": 6 * 26_456 + 145_505 + 2 * 8_902},
    },
    split_notes={
        "A3": (f"fakes only: label/A3.txt also names {A3_REAL} real AudioCaps clips that A3.zip does "
               "not hold (not redistributed for copyright reasons; github.com/xieyuankun/Codecfake "
               "issue #8); option a3_bonafide: true includes them when supplied"),
        "test": "C1-C7, A1, A2 (the nine conditions distributed in full); A3 is its own split",
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


def _without_undistributed(entries: list[Entry], label_path: Path) -> list[Entry]:
    """A3 without its real rows (not distributed); logged with a count and examples."""
    left_out = [e for e in entries if e.label == "bonafide"]
    if left_out:
        present = sum(1 for e in left_out if e.path.is_file())
        log.warning("codecfake_xie/A3: left out %d real clip(s) that %s names (%d of them on disk): "
                    "A3.zip holds only the fakes; the real AudioCaps clips are not redistributed "
                    "(Codecfake issue #8); set a3_bonafide: true to include supplied ones. "
                    "First: %s", len(left_out), label_path, present,
                    names_list([e.path.name for e in left_out], 5))
    return [e for e in entries if e.label != "bonafide"]


def collect(root: str | os.PathLike[str], options: Options = None) -> dict[str, list[Entry]]:
    """Read every label file into entries (A3: fakes only unless ``a3_bonafide``)."""
    opts = SPEC.resolve_options(options)
    if opts["release"] not in RELEASES:
        raise PrepareError(f"codecfake_xie: option release={opts['release']!r}; use one of {list(RELEASES)}")
    root = Path(root)
    out: dict[str, list[Entry]] = {}
    for split in ("train", "dev", *CONDITIONS):
        label_path, rows = _read_labels(root, split)
        audio = find_folder(root, split, depth=3)
        if audio is None:
            raise PrepareError(f"{root}: no {split}/ audio folder found; extract its archive into the "
                               "corpus root (release 2024-09 split zips wrap train.zip/dev.zip: "
                               "unpack that one too)")
        entries = []
        for name, key, tag, where in rows:
            stem = Path(name).stem
            attack = tag if split in ("train", "dev") else split
            utt = stem if split in ("train", "dev") else f"{split}_{stem}"
            entries.append(Entry.labelled(utt, key, LABELS, attack, speaker_of(stem), audio / name, where))
        if split == "A3" and not opts["a3_bonafide"]:
            named = {e.path for e in entries}
            entries = _without_undistributed(entries, label_path)
            # real clips a user placed there are named by the label file: not "extra"
            report_extra(audio, audio.glob("*.wav"), named, label_path.name)
        else:
            report_extra(audio, audio.glob("*.wav"), {e.path for e in entries}, label_path.name)
        out[split] = entries
    out["test"] = [e for c in TEST_CONDITIONS for e in out[c]]
    return out


CORPORA.register(SPEC.name)(Corpus(SPEC, collect))
