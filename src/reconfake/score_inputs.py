"""What ``reconfake score`` scores: inputs expanded to clips with unique trial ids, checked up front.

Inputs are audio files, folders of audio files, corpus manifests, hard-sample shards and CSV
lists (``path,label`` columns, optional ``utt_id`` and ``attack``). Every
input is checked before the (possibly large) checkpoint is loaded, and all problems are reported
in one :class:`InputError`, so a long job never dies on its 900th clip or after a slow model load:

* a file or folder must exist; each audio file's header must decode (headers only, cheap);
* a manifest must be readable and every audio file it names must exist;
* a shard must be readable;
* a CSV list must have ``path`` and ``label`` columns, a known label on every row and existing
  files (relative paths are relative to the CSV's folder).

Trial ids: manifests and shards keep their ``utt_id``, CSV lists their ``utt_id`` column when
they have one, else the path relative to the CSV's folder without the extension. Audio files
(given directly or found in a folder) are named by their path relative to the common root of
all file/folder inputs, without the extension and with ``/`` separators, so ``sysA/1.wav`` and
``sysB/1.wav`` stay apart (demo pages reuse names per system). An id that still occurs twice is
an error naming both sources.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any

from reconfake.audio import AudioError, probe_audio
from reconfake.detector.data import (
    BONAFIDE,
    SPOOF,
    Item,
    items_from_manifest,
    items_from_shard,
    list_audio_files,
)
from reconfake.shards import is_shard

#: at most this many missing files are listed per manifest (the count is always given)
MAX_LISTED = 10
#: labels a CSV list may give (In-the-Wild's meta.csv writes ``bona-fide``)
CSV_LABELS = {"bonafide": BONAFIDE, "bona-fide": BONAFIDE, "bona fide": BONAFIDE, "spoof": SPOOF}


class InputError(ValueError):
    """Inputs that cannot be scored; the message lists every problem found, one per line."""


@dataclass
class Entry:
    """One clip to score, the extra columns it carries (label/attack) and where it came from."""

    item: Item
    extra: dict[str, Any] = field(default_factory=dict)
    source: str = ""


def _common_root(paths: list[Path]) -> Path:
    """Deepest folder holding every file/folder input (folders count as themselves)."""
    roots = [str(p) if p.is_dir() else os.path.dirname(p) for p in paths]
    return Path(os.path.commonpath(roots)) if roots else Path.cwd()


def file_trial_id(path: Path, root: Path) -> str:
    """Trial id of an audio file: its path relative to ``root``, no extension, POSIX separators."""
    return PurePath(os.path.relpath(path, root)).with_suffix("").as_posix()


def _audio_entry(path: Path, root: Path, problems: list[str]) -> Entry | None:
    try:
        probe_audio(path)
    except AudioError as exc:
        problems.append(str(exc))
        return None
    utt_id = file_trial_id(path, root)
    return Entry(Item(utt_id, -1, "", utt_id, str(path)), {}, str(path))


def _table_entries(path: Path, problems: list[str]) -> list[Entry]:
    """Entries of a manifest or shard (``problems`` gets what is wrong with it)."""
    try:
        shard = is_shard(path)
        items = items_from_shard(path) if shard else items_from_manifest(path)
    except Exception as exc:  # pyarrow and the manifest reader raise several types
        problems.append(f"{path}: not a readable manifest or shard ({exc}); re-create it")
        return []
    if not shard:
        missing = [(row, it.path) for row, it in enumerate(items) if not Path(it.path).exists()]
        if missing:
            listed = "; ".join(f"row {row}: {p}" for row, p in missing[:MAX_LISTED])
            more = f"; and {len(missing) - MAX_LISTED} more" if len(missing) > MAX_LISTED else ""
            problems.append(f"{path}: {len(missing)} of {len(items)} audio file(s) named in the "
                            f"path column do not exist ({listed}{more}); fix the paths or re-run "
                            "the corpus preparation")
            return []
    return [Entry(it, {"label": "bonafide" if it.label == 1 else "spoof", "attack": it.attack},
                  f"{path} row {row}") for row, it in enumerate(items)]


def _listed(rows: list[str], total: int, what: str) -> str:
    more = f"; and {len(rows) - MAX_LISTED} more" if len(rows) > MAX_LISTED else ""
    return f"{len(rows)} of {total} rows {what} ({'; '.join(rows[:MAX_LISTED])}{more})"


def csv_entries(path: Path, problems: list[str]) -> list[Entry]:
    """Entries of a CSV list with ``path`` and ``label`` columns (``problems`` gets what is wrong:
    missing columns, unknown labels and missing files, each naming the CSV's line numbers)."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            columns = [c.strip() for c in reader.fieldnames or []]
            rows = [{k.strip(): (v or "").strip() for k, v in row.items() if k is not None}
                    for row in reader]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        problems.append(f"{path}: not a readable CSV list ({exc})")
        return []
    absent = [c for c in ("path", "label") if c not in columns]
    if absent:
        problems.append(f"{path}: CSV list lacks column(s) {', '.join(absent)} (has: "
                        f"{', '.join(columns) or 'none'}); a CSV to score needs path,label")
        return []
    bad_labels, missing, entries = [], [], []
    for line, row in enumerate(rows, start=2):  # line 1 is the header
        label = CSV_LABELS.get(row["label"].lower())
        if label is None:
            bad_labels.append(f"line {line}: {row['label']!r}")
        audio = Path(row["path"]) if os.path.isabs(row["path"]) else path.parent / row["path"]
        if not row["path"] or not audio.is_file():
            missing.append(f"line {line}: {row['path'] or '(empty)'}")
        if label is None or not audio.is_file():
            continue
        utt_id = row.get("utt_id") or file_trial_id(audio, path.parent)
        attack = row.get("attack") or ("bonafide" if label == BONAFIDE else "")
        entries.append(Entry(Item(utt_id, label, attack, utt_id, str(audio)),
                             {"label": "bonafide" if label == BONAFIDE else "spoof",
                              "attack": attack}, f"{path} line {line}"))
    if bad_labels:
        problems.append(f"{path}: {_listed(bad_labels, len(rows), 'have an unknown label')}; "
                        f"labels are {', '.join(sorted(CSV_LABELS))}")
    if missing:
        problems.append(f"{path}: {_listed(missing, len(rows), 'name no existing audio file')}; "
                        "relative paths are read from the CSV's folder")
    if not rows:
        problems.append(f"{path}: CSV list has no rows")
    return [] if bad_labels or missing else entries


def collect_entries(inputs: Iterable[str | os.PathLike[str]]) -> list[Entry]:
    """Clips to score from ``inputs``, in input order (folders sorted), with unique trial ids.

    Raises :class:`InputError` listing every missing or unreadable input and every duplicate id,
    without decoding any audio beyond file headers.
    """
    paths = [Path(os.path.abspath(raw)) for raw in inputs]
    problems: list[str] = []
    for p in paths:
        if not p.exists():
            problems.append(f"{p}: no such file or folder to score; check the path")
    audio_inputs = [p for p in paths
                    if p.is_dir() or (p.exists() and p.suffix.lower() not in (".parquet", ".csv"))]
    root = _common_root(audio_inputs)
    entries: list[Entry] = []
    for p in paths:
        if not p.exists():
            continue
        if p.is_dir():
            files = list_audio_files(p)
            if not files:
                problems.append(f"{p}: folder holds no audio files (.wav, .flac, .ogg, .mp3)")
            found = [_audio_entry(f, root, problems) for f in files]
            entries.extend(e for e in found if e is not None)
        elif p.suffix == ".parquet":
            entries.extend(_table_entries(p, problems))
        elif p.suffix.lower() == ".csv":
            entries.extend(csv_entries(p, problems))
        else:
            entry = _audio_entry(p, root, problems)
            if entry is not None:
                entries.append(entry)
    problems.extend(duplicate_problems(entries))
    if problems:
        raise InputError(f"{len(problems)} problem(s) with the inputs to score, nothing was "
                         "scored:\n  " + "\n  ".join(problems))
    return entries


def duplicate_problems(entries: list[Entry]) -> list[str]:
    """One message per trial id that more than one entry has, naming its first two sources."""
    first: dict[str, Entry] = {}
    reported: set[str] = set()
    problems = []
    for entry in entries:
        utt_id = entry.item.utt_id
        if utt_id not in first:
            first[utt_id] = entry
        elif utt_id not in reported:
            reported.add(utt_id)
            problems.append(f"trial id {utt_id!r} occurs twice: {first[utt_id].source} and "
                            f"{entry.source}; score them separately or give each input once")
    return problems
