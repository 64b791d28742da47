"""The one shard writer: hard-sample Parquet shards with FLAC audio in the Hugging Face layout.

Each row carries the manifest columns plus source_utt_id, source_label, paradigm, backend
and logmel_distance (mean |log-mel difference| to the source; larger = further from it).
The ``audio`` column is a struct {bytes, path} holding FLAC, described in the schema's
``huggingface`` metadata as an ``Audio`` feature with ``decode: false``, so
``datasets.load_dataset("parquet", ...)`` shows an Audio column whose cells are the FLAC bytes:
``datasets`` 4+ decodes audio only through torchcodec, whose PyPI build does not load beside the
project's CPU torch, so decoding is left to :func:`reconfake.audio.load_audio` (or to
``ds.cast_column("audio", datasets.Audio())`` where torchcodec works).
The audio column is stored without Parquet compression (FLAC is already compressed); row
groups are cut at about ``row_group_bytes``. File metadata under ``reconfake`` records
backend, model id, revision, settings and package versions.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from reconfake.audio import load_audio
from reconfake.fileio import atomic_path
from reconfake.manifest import MANIFEST_SCHEMA, ManifestError

AUDIO_TYPE = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
EXTRA_FIELDS = [
    ("source_utt_id", pa.string()),
    ("source_label", pa.string()),
    ("paradigm", pa.string()),
    ("backend", pa.string()),
    ("logmel_distance", pa.float64()),
]
DEFAULT_ROW_GROUP_BYTES = 32 * 1024 * 1024
VERSIONED_PACKAGES = ("reconfake", "torch", "numpy", "soundfile", "soxr", "pyarrow", "transformers",
                      "diffusers", "huggingface-hub", "safetensors", "semanticodec", "av", "pyworld")


def _hf_features(sample_rate: int) -> dict[str, Any]:
    # decode: false -> cells stay {bytes, path}; see the module docstring
    features: dict[str, Any] = {"audio": {"_type": "Audio", "sampling_rate": sample_rate,
                                          "decode": False}}
    for field in list(MANIFEST_SCHEMA) + [pa.field(n, t) for n, t in EXTRA_FIELDS]:
        dtype = {pa.string(): "string", pa.int32(): "int32", pa.int64(): "int64",
                 pa.float64(): "float64"}[field.type]
        features[field.name] = {"dtype": dtype, "_type": "Value"}
    return features


def shard_schema(sample_rate: int, info: dict[str, Any]) -> pa.Schema:
    """Arrow schema of a shard with its Hugging Face and reconfake metadata."""
    fields = [pa.field("audio", AUDIO_TYPE)] + list(MANIFEST_SCHEMA) + \
        [pa.field(n, t) for n, t in EXTRA_FIELDS]
    meta = {
        b"huggingface": json.dumps({"info": {"features": _hf_features(sample_rate)}}).encode(),
        b"reconfake": json.dumps(info, sort_keys=True).encode(),
    }
    return pa.schema(fields, metadata=meta)


def package_versions() -> dict[str, str]:
    """Installed versions of the packages that shape a shard's audio."""
    versions = {}
    for name in VERSIONED_PACKAGES:
        try:
            versions[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            continue
    return versions


class ShardWriter:
    """Stream rows into a shard; the file appears at ``path`` only when :meth:`close` succeeds.

    Use as a context manager; an exception inside leaves no file behind.
    """

    def __init__(self, path: str | os.PathLike[str], sample_rate: int, info: dict[str, Any],
                 row_group_bytes: int = DEFAULT_ROW_GROUP_BYTES):
        self.path = Path(path)
        self.schema = shard_schema(sample_rate, {**info, "packages": package_versions()})
        self.row_group_bytes = row_group_bytes
        self._pending: list[dict[str, Any]] = []
        self._pending_bytes = 0
        self.rows_written = 0

    def __enter__(self) -> ShardWriter:
        self._atomic = atomic_path(self.path)
        tmp = self._atomic.__enter__()
        compression = {name: "zstd" for name in self.schema.names}
        compression.update({"audio.bytes": "NONE", "audio.path": "NONE", "audio": "NONE"})
        self._writer = pq.ParquetWriter(
            tmp, self.schema, compression=compression,
            use_dictionary=[n for n in self.schema.names if n != "audio"],
        )
        return self

    def write(self, row: dict[str, Any]) -> None:
        """Queue one row (``audio`` = {"bytes": FLAC, "path": name}); flush at the size limit."""
        self._pending.append(row)
        self._pending_bytes += len(row["audio"]["bytes"])
        if self._pending_bytes >= self.row_group_bytes:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            self._writer.write_table(pa.Table.from_pylist(self._pending, schema=self.schema))
            self.rows_written += len(self._pending)
        self._pending, self._pending_bytes = [], 0

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                self._flush()
            self._writer.close()
        finally:
            self._atomic.__exit__(exc_type, exc, tb)


def is_shard(path: str | os.PathLike[str]) -> bool:
    """Whether the Parquet file at ``path`` is a reconfake shard (else, e.g., a manifest)."""
    return b"reconfake" in (pq.read_schema(path).metadata or {})


def shard_info(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The ``reconfake`` file metadata of a shard (backend, model, settings, versions)."""
    meta = pq.read_schema(path).metadata or {}
    if b"reconfake" not in meta:
        raise ManifestError(f"{path}: not a reconfake shard (no 'reconfake' schema metadata)")
    return json.loads(meta[b"reconfake"])


@dataclass
class ShardClip:
    """A decoded row of a shard."""

    row: dict[str, Any]
    audio: np.ndarray
    sample_rate: int


def read_shard_columns(path: str | os.PathLike[str], columns: Sequence[str],
                       memory_map: bool = False) -> pa.Table:
    """Only ``columns`` of a shard (Parquet is columnar: the others are never read).

    ``memory_map`` maps the file instead of reading it, for the large ``audio`` column read a
    row at a time.
    """
    return pq.read_table(path, columns=list(columns), memory_map=memory_map)


def read_shard_rows(path: str | os.PathLike[str], with_audio: bool = False) -> list[dict[str, Any]]:
    """Rows of a shard as dicts (the ``audio`` column is not read unless ``with_audio``)."""
    names = pq.read_schema(path).names
    return read_shard_columns(path, [n for n in names if with_audio or n != "audio"]).to_pylist()


def iter_shard(path: str | os.PathLike[str], sample_rate: int | None = None) -> Iterator[ShardClip]:
    """Decode every clip of a shard, one row group at a time."""
    handle = pq.ParquetFile(path)
    for g in range(handle.num_row_groups):
        for i, row in enumerate(handle.read_row_group(g).to_pylist()):
            audio = row.pop("audio")
            x, sr = load_audio(audio["bytes"], sample_rate=sample_rate,
                               name=f"{path} (row group {g}, row {i}, {row['utt_id']})")
            yield ShardClip(row, x, sr)
