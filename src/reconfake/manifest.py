"""Corpus manifests: one Parquet row per clip, no audio bytes, pointing at extracted files.

Columns (DESIGN.md): utt_id, corpus, split, label (bonafide|spoof), attack, speaker, path,
sample_rate, num_samples, duration_s. ``path`` is relative to the manifest's folder unless
absolute, so a corpus folder can move as a whole. Reading validates every row and names
the first bad one.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from reconfake.fileio import atomic_path

LABELS = ("bonafide", "spoof")
BONAFIDE_ATTACK = "bonafide"  # attack value of bona fide rows

MANIFEST_SCHEMA = pa.schema([
    ("utt_id", pa.string()),
    ("corpus", pa.string()),
    ("split", pa.string()),
    ("label", pa.string()),
    ("attack", pa.string()),
    ("speaker", pa.string()),
    ("path", pa.string()),
    ("sample_rate", pa.int32()),
    ("num_samples", pa.int64()),
    ("duration_s", pa.float64()),
])


class ManifestError(ValueError):
    """A manifest (or one of its rows) is malformed; the message names the file and row."""


@dataclass
class ClipRow:
    """One manifest row."""

    utt_id: str
    corpus: str
    split: str
    label: str
    attack: str
    speaker: str
    path: str
    sample_rate: int
    num_samples: int
    duration_s: float


def validate_rows(rows: Sequence[dict], source: str) -> None:
    """Raise :class:`ManifestError` naming ``source`` and the row for the first bad row."""
    seen: dict[str, int] = {}
    for i, row in enumerate(rows):
        where = f"{source}, row {i} (utt_id={row.get('utt_id')!r})"
        for key in ("utt_id", "corpus", "split", "label", "path"):
            if not row.get(key):
                raise ManifestError(f"{where}: column {key!r} is empty")
        if row["label"] not in LABELS:
            raise ManifestError(f"{where}: label {row['label']!r} is not one of {LABELS}")
        if not row.get("sample_rate") or int(row["sample_rate"]) <= 0:
            raise ManifestError(f"{where}: sample_rate must be a positive integer")
        if row.get("num_samples") is None or int(row["num_samples"]) <= 0:
            raise ManifestError(f"{where}: num_samples must be positive (empty clip?)")
        if row["utt_id"] in seen:
            raise ManifestError(f"{where}: utt_id repeats row {seen[row['utt_id']]}")
        seen[row["utt_id"]] = i


METADATA_PREFIX = "reconfake."  # key prefix of a manifest's own Parquet key-value metadata


def write_manifest(rows: Sequence[ClipRow | dict], path: str | os.PathLike[str],
                   metadata: Mapping[str, str] | None = None) -> None:
    """Validate and write ``rows`` to ``path`` atomically, sorted by utt_id.

    ``metadata`` (e.g. the source revision a corpus was fetched at, or what a split lacks and
    why) is stored in the file's Parquet key-value metadata as ``reconfake.<key>``.
    """
    dicts = [asdict(r) if isinstance(r, ClipRow) else dict(r) for r in rows]
    validate_rows(dicts, str(path))
    dicts.sort(key=lambda r: r["utt_id"])
    schema = MANIFEST_SCHEMA
    if metadata:
        schema = schema.with_metadata({f"{METADATA_PREFIX}{k}": str(v) for k, v in metadata.items()})
    table = pa.Table.from_pylist(dicts, schema=schema)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd")


def read_manifest_metadata(path: str | os.PathLike[str]) -> dict[str, str]:
    """The ``reconfake.<key>`` metadata :func:`write_manifest` stored, without the prefix."""
    try:
        raw = pq.read_schema(path).metadata or {}
    except FileNotFoundError as exc:
        raise ManifestError(f"{path}: manifest not found; run the corpus preparation first") from exc
    out = {}
    for key, value in raw.items():
        name = key.decode("utf-8", "replace")
        if name.startswith(METADATA_PREFIX):
            out[name[len(METADATA_PREFIX):]] = value.decode("utf-8", "replace")
    return out


def read_manifest(path: str | os.PathLike[str]) -> list[ClipRow]:
    """Read and validate a manifest; paths come back resolved against the manifest's folder."""
    path = Path(path)
    try:
        table = pq.read_table(path)
    except FileNotFoundError as exc:
        raise ManifestError(f"{path}: manifest not found; run the corpus preparation first") from exc
    except Exception as exc:
        raise ManifestError(f"{path}: not a readable Parquet file ({exc})") from exc
    missing = [n for n in MANIFEST_SCHEMA.names if n not in table.column_names]
    if missing:
        raise ManifestError(f"{path}: missing column(s) {', '.join(missing)}")
    rows = table.select(MANIFEST_SCHEMA.names).to_pylist()
    validate_rows(rows, str(path))
    base = path.parent
    out = []
    for row in rows:
        p = Path(row["path"])
        row["path"] = str(p if p.is_absolute() else base / p)
        out.append(ClipRow(**row))
    return out


def relative_path(target: str | os.PathLike[str], manifest_path: str | os.PathLike[str]) -> str:
    """``target`` relative to the folder of ``manifest_path`` (as stored in the path column)."""
    return os.path.relpath(Path(target).resolve(), Path(manifest_path).resolve().parent)
