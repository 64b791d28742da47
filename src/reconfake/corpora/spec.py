"""What a real corpus is (archives, splits, known counts) and the prepare step they all share.

Each corpus module declares a :class:`CorpusSpec` (official archives with size and checksum where
published, split names, counts from the corpus' paper) and a ``collect`` function that reads its
protocol into :class:`Entry` objects. :func:`prepare_corpus` then does the rest the same way for
every corpus: it fails on missing audio (naming file and protocol line), reads every header with
``soundfile.info``, cross-checks the known counts, writes one manifest per split and prints a
summary. Nothing is written until every split has been read without error.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import soundfile as sf

from reconfake.manifest import BONAFIDE_ATTACK, ClipRow, relative_path, write_manifest
from reconfake.options import reject_unknown
from reconfake.progress import Progress

log = logging.getLogger("reconfake")

MARKER = ".downloaded"  # completion marker of the download (or register) step, in the out dir
SPLIT_NAME = re.compile(r"^[A-Za-z0-9_]+$")
LIST_LIMIT = 10  # names shown when reporting missing or extra files
ALL_SPLITS = "all"  # known_counts key of counts published for the corpus as a whole


class PrepareError(ValueError):
    """A corpus cannot be turned into manifests; the message names the file, line and fix."""


@dataclass(frozen=True)
class Archive:
    """One file of a corpus as published.

    Attributes:
        name: file name; also its path under a mirror base URL or folder (may contain ``/``).
        url: the official download URL.
        size: exact size in bytes where known (checked after download).
        md5, sha256: published checksums where known.
        extract: ``auto`` (zip or tar, unpacked into the corpus root), ``copy`` (placed in the
            root as is, e.g. a CSV), ``volume`` (an earlier part of a split zip, read together
            with the archive that lists it in ``volumes``) or ``custom`` (the spec's ``unpack``).
        volumes: names of the earlier volumes (``.z01``...) of a split zip, in order.
        nested: the archive wraps further zip archives, unpacked in turn (see
            :func:`reconfake.corpora.extract.safe_extract`).
        option: fetched only when this corpus option is true (e.g. WaveFake's ``jsut``).
        published: where a checksum is published when none is written here:
            ``zenodo:<record id>`` or ``hf:<dataset repo>``; looked up for official downloads.
    """

    name: str
    url: str
    size: int | None = None
    md5: str | None = None
    sha256: str | None = None
    extract: str = "auto"
    volumes: tuple[str, ...] = ()
    nested: bool = False
    option: str | None = None
    published: str | None = None


KnownCounts = Mapping[str, int]  # keys: total, bonafide, spoof (per split, or "all" for the corpus)
Options = Mapping[str, Any] | None  # corpus options, e.g. {"jsut": True} for WaveFake


@dataclass(frozen=True)
class CorpusSpec:
    """A real corpus: where it comes from and what a complete copy holds."""

    name: str
    title: str
    homepage: str
    licence: str
    size_on_disk: str
    disk_bytes: int  # peak disk use of download + extraction (archives deleted afterwards)
    archives: tuple[Archive, ...]
    splits: tuple[str, ...]
    known_counts: Mapping[str, KnownCounts] = field(default_factory=dict)
    options: Mapping[str, Any] = field(default_factory=dict)  # option name -> default
    optional_splits: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # the archives for a mirror and resolved options, listed by the corpus module from this spec
    list_archives: Callable[[CorpusSpec, str | None, Mapping[str, Any]], list[Archive]] | None = None
    unpack: Callable[[Path, Path, Archive], None] | None = None
    note: str = ""
    # Hugging Face dataset repository the corpus' own files come from; such a corpus has the
    # option ``revision`` (branch, tag or commit), resolved to a commit before anything is fetched
    # and recorded in the download marker and the manifests
    hf_repo: str | None = None
    # split -> what it lacks and why (e.g. clips a label file names that are not distributed);
    # printed in the summary and stored in the split's manifest metadata as ``note``
    split_notes: Mapping[str, str] = field(default_factory=dict)

    def resolve_options(self, options: Mapping[str, Any] | None) -> dict[str, Any]:
        """Defaults filled in; an unknown option is an error naming the allowed ones."""
        options = dict(options or {})
        reject_unknown(options, self.options, f"corpus {self.name}")
        return {**self.options, **options}

    def splits_for(self, options: Mapping[str, Any] | None = None) -> tuple[str, ...]:
        """The manifests ``prepare`` writes with these options."""
        opts = self.resolve_options(options)
        extra = [s for opt, splits in self.optional_splits.items() if opts.get(opt) for s in splits]
        return self.splits + tuple(extra)

    def archives_for(self, options: Mapping[str, Any] | None = None,
                     mirror: str | None = None) -> list[Archive]:
        """The archives to fetch with these options (a listing for corpora sharded online)."""
        opts = self.resolve_options(options)
        archives = (self.list_archives(self, mirror, opts) if self.list_archives is not None
                    else list(self.archives))
        return [a for a in archives if a.option is None or opts.get(a.option)]


@dataclass
class Entry:
    """One clip named by a protocol, before its audio header is read."""

    utt_id: str
    label: str  # bonafide | spoof
    attack: str  # system / generator / codec of a spoof; "bonafide" for bona fide clips
    speaker: str
    path: Path  # absolute path of the audio file
    where: str  # "<protocol file>:<line>" for error messages

    @classmethod
    def labelled(cls, utt_id: str, key: str, labels: Mapping[str, str], attack: str, speaker: str,
                 path: Path, where: str) -> Entry:
        """The entry of a protocol line whose label column holds ``key``: ``labels`` maps it to
        bonafide/spoof (an unknown key names the line); ``attack`` is kept for a spoof only."""
        label = label_of(key, labels, where)
        return cls(utt_id, label, BONAFIDE_ATTACK if label == "bonafide" else attack, speaker, path, where)


@dataclass
class Corpus:
    """A real corpus as its module registers it: the spec and the reader of its protocols,
    ``collect(root, options) -> {split: [Entry, ...]}``."""

    spec: CorpusSpec
    collect: Callable[[str | os.PathLike[str], Options], dict[str, list[Entry]]]


def label_of(value: str, mapping: Mapping[str, str], where: str) -> str:
    """Map a protocol's label to bonafide/spoof; an unknown label names the line."""
    try:
        return mapping[value]
    except KeyError:
        raise PrepareError(f"{where}: unknown label {value!r}; expected one of "
                           f"{sorted(mapping)}") from None


def read_lines(path: Path) -> Iterator[tuple[str, str]]:
    """``("<file>:<line>", text)`` of each non-blank line of a UTF-8 text protocol, stripped."""
    with open(path, encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, 1):
            if text := line.strip():
                yield f"{path}:{lineno}", text


def read_fields(path: Path, layout: str) -> Iterator[tuple[str, list[str]]]:
    """``("<file>:<line>", fields)`` of each non-blank line of a protocol of space-separated fields
    laid out as ``layout`` (e.g. ``"FILE real|fake TAG"``); another number of fields names the line."""
    count = len(layout.split())
    for where, line in read_lines(path):
        fields = line.split()
        if len(fields) != count:
            raise PrepareError(f"{where}: expected {count} space-separated fields {layout!r}, "
                               f"got {len(fields)}: {line!r}")
        yield where, fields


def read_table(path: Path, columns: Sequence[str], *, delimiter: str = ",", header: bool = True,
               quoting: int = csv.QUOTE_MINIMAL) -> Iterator[tuple[str, list[str]]]:
    """``("<file>:<line>", row)`` of each non-empty row of a delimited table of ``columns``.

    With ``header`` the first row must be the column names. A wrong header or number of fields is
    an error naming the line.
    """
    layout = delimiter.join(columns)
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle, delimiter=delimiter, quoting=quoting)
        if header:
            got = next(reader, None)
            if got != list(columns):
                raise PrepareError(f"{path}:1: expected the header {layout!r}, got {got!r}")
        for row in reader:
            where = f"{path}:{reader.line_num}"
            if not row:
                continue
            if len(row) != len(columns):
                raise PrepareError(f"{where}: expected {len(columns)} fields {layout!r}, got {len(row)}: "
                                   f"{row!r}")
            yield where, row


def find_folder(root: Path, name: str, depth: int = 3) -> Path | None:
    """The shallowest folder called ``name`` at most ``depth`` levels under ``root``."""
    root = Path(root)
    if root.name == name and root.is_dir():
        return root
    level = [root]
    for _ in range(depth):
        nxt = []
        for folder in level:
            try:
                children = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
            except OSError:
                continue
            for child in children:
                if child.name == name:
                    return child
            nxt.extend(children)
        level = nxt
    return None


def find_file(root: Path, name: str, depth: int = 3) -> Path | None:
    """The shallowest file called ``name`` at most ``depth`` folders under ``root``."""
    level = [Path(root)]
    for _ in range(depth + 1):
        nxt = []
        for folder in level:
            candidate = folder / name
            if candidate.is_file():
                return candidate
            try:
                nxt.extend(sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")))
            except OSError:
                continue
        level = nxt
    return None


def names_list(names: Sequence[str], limit: int = LIST_LIMIT) -> str:
    """``a, b, c (and 12 more)`` for messages."""
    shown = ", ".join(names[:limit])
    return shown + (f" (and {len(names) - limit} more)" if len(names) > limit else "")


def report_extra(folder: Path, found: Iterable[Path], referenced: set[Path], what: str) -> list[str]:
    """Warn about audio files on disk that no protocol line names; return their names."""
    extra = sorted(str(p.relative_to(folder)) for p in found if p not in referenced)
    if extra:
        log.warning("%s: %d extra file(s) not named by %s (ignored): %s", folder, len(extra), what,
                    names_list(extra))
    return extra


def _describe(counts: Mapping[str, int]) -> str:
    labels = ", ".join(f"{counts[k]} {k}" for k in ("bonafide", "spoof") if k in counts)
    total = counts.get("total", sum(counts.values()))
    return f"{total} clips" + (f" ({labels})" if labels else "")


def _check_counts(spec: CorpusSpec, counts: Mapping[str, Counter]) -> list[str]:
    """One line per split whose counts differ from the corpus' published counts."""
    problems = []
    for split, expected in spec.known_counts.items():
        if split == ALL_SPLITS and split not in counts:  # counts published for the whole corpus
            split_counts = sum(counts.values(), Counter())
        elif split in counts:
            split_counts = counts[split]
        else:
            continue
        got = {"total": sum(split_counts.values()), **split_counts}
        have = {key: got.get(key, 0) for key in expected}
        if have != dict(expected):
            problems.append(f"{spec.name}/{split}: found {_describe(have)}, the corpus has "
                            f"{_describe(expected)}")
    return problems


def _summary(spec: CorpusSpec, rows: Mapping[str, list[ClipRow]]) -> str:
    lines = [f"{spec.title} ({spec.name}):",
             f"  {'split':12s} {'clips':>9s} {'bonafide':>9s} {'spoof':>9s} {'hours':>8s}  "
             f"{'expected':>9s}  attacks"]
    for split, split_rows in rows.items():
        labels = Counter(r.label for r in split_rows)
        hours = sum(r.duration_s for r in split_rows) / 3600
        attacks = sorted({r.attack for r in split_rows if r.label == "spoof"})
        want = spec.known_counts.get(split, {}).get("total")
        lines.append(f"  {split:12s} {len(split_rows):9d} {labels['bonafide']:9d} {labels['spoof']:9d} "
                     f"{hours:8.2f}  {want if want is not None else '-':>9}  {names_list(attacks, 20)}")
    lines += [f"  note {split}: {spec.split_notes[split]}" for split in rows if split in spec.split_notes]
    return "\n".join(lines)


def _relative_root(root: Path, out_dir: Path) -> str:
    return os.path.relpath(root.resolve(), out_dir.resolve())


def read_rows(spec: CorpusSpec, split: str, entries: Sequence[Entry], root: Path, out_dir: Path,
              cache: dict[Path, tuple[int, int]] | None = None) -> list[ClipRow]:
    """Read every entry's audio header (``soundfile.info``) into a manifest row.

    ``cache`` (path -> (rate, frames)) lets splits that share clips read each header once.
    """
    cache = {} if cache is None else cache
    root_abs = root.absolute()
    rel_root = _relative_root(root, out_dir)  # resolved once: symlinked data folders stay right
    rows = []
    progress = Progress(f"{spec.name}/{split}: reading audio headers", len(entries), unit="files")
    for entry in entries:
        if entry.path not in cache:
            try:
                info = sf.info(str(entry.path))
            except Exception as exc:  # soundfile raises several types for corrupt or missing files
                raise PrepareError(f"{entry.where}: {entry.path}: cannot read the audio header ({exc}); "
                                   "re-extract the corpus (delete its .downloaded marker) or fix the "
                                   "file") from exc
            if info.frames <= 0 or info.samplerate <= 0:
                raise PrepareError(f"{entry.where}: {entry.path}: empty audio ({info.frames} samples)")
            cache[entry.path] = (int(info.samplerate), int(info.frames))
        rate, frames = cache[entry.path]
        in_root = os.path.relpath(entry.path.absolute(), root_abs)
        if in_root.startswith(".."):  # outside the corpus root: resolve it on its own
            rel = relative_path(entry.path, out_dir / f"{split}.parquet")
        else:
            rel = os.path.join(rel_root, in_root)
        rows.append(ClipRow(entry.utt_id, spec.name, split, entry.label, entry.attack, entry.speaker,
                            os.path.normpath(rel), rate, frames, frames / rate))
        progress.update()
    return rows


def prepare_corpus(spec: CorpusSpec, entries: Mapping[str, Sequence[Entry]], root: str | os.PathLike[str],
                   out_dir: str | os.PathLike[str], strict: bool = False,
                   metadata: Mapping[str, str] | None = None) -> dict[str, Path]:
    """Check, read and write the manifests of every split; print a summary.

    Args:
        spec: the corpus.
        entries: split -> protocol entries, as the corpus' ``collect`` read them.
        root: the folder the corpus was extracted to (paths are stored relative to ``out_dir``).
        out_dir: where ``<split>.parquet`` go (``<data_dir>/<corpus>``).
        strict: a mismatch with the corpus' known counts is an error instead of a warning.
        metadata: provenance stored in every manifest (e.g. the source revision that was
            fetched); the corpus, split and the split's note (``spec.split_notes``) are added.

    Returns:
        split -> manifest path.
    """
    root, out_dir = Path(root), Path(out_dir)
    missing = [(e.where, e.path) for split_entries in entries.values() for e in split_entries
               if not e.path.is_file()]
    if missing:
        shown = "; ".join(f"{where}: {path}" for where, path in missing[:LIST_LIMIT])
        more = f" (and {len(missing) - LIST_LIMIT} more)" if len(missing) > LIST_LIMIT else ""
        raise PrepareError(f"{spec.name}: {len(missing)} audio file(s) named by the protocol are "
                           f"missing: {shown}{more}; re-run the download or check the corpus root "
                           f"{root}")
    for split, split_entries in entries.items():
        if not SPLIT_NAME.match(split):
            raise PrepareError(f"{spec.name}: split name {split!r} must match {SPLIT_NAME.pattern}")
        seen: dict[str, str] = {}
        for e in split_entries:
            if e.utt_id in seen:
                raise PrepareError(f"{e.where}: utterance {e.utt_id!r} repeats {seen[e.utt_id]}")
            seen[e.utt_id] = e.where
        if not split_entries:
            raise PrepareError(f"{spec.name}/{split}: the protocol names no clips")
    counts = {split: Counter(e.label for e in es) for split, es in entries.items()}
    problems = _check_counts(spec, counts)
    if problems and strict:
        raise PrepareError("counts differ from the corpus' known counts (--strict):\n  "
                           + "\n  ".join(problems))
    cache: dict[Path, tuple[int, int]] = {}
    rows = {split: read_rows(spec, split, es, root, out_dir, cache) for split, es in entries.items()}
    paths = {}
    for split, split_rows in rows.items():
        path = out_dir / f"{split}.parquet"
        meta = {**(metadata or {}), "corpus": spec.name, "split": split}
        if split in spec.split_notes:
            meta["note"] = spec.split_notes[split]
        write_manifest(split_rows, path, meta)
        paths[split] = path
    print(_summary(spec, rows))
    for problem in problems:
        log.warning("count check: %s (fine for a subset or a fixture; --strict makes this an error)",
                    problem)
    if not problems and spec.known_counts:
        print("  counts match the corpus' published counts")
    return paths


def read_marker(out_dir: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The download/register marker of ``out_dir``, or ``None``."""
    path = Path(out_dir) / MARKER
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise PrepareError(f"{path}: not a reconfake download marker ({exc}); delete it and "
                           "re-run the download") from exc
