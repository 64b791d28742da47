"""Hard-sample shards: HF Audio layout, metadata, row groups, atomicity."""

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from reconfake.audio import encode_flac
from reconfake.manifest import ClipRow, write_manifest
from reconfake.shards import (
    ShardWriter,
    is_shard,
    iter_shard,
    read_shard_columns,
    read_shard_rows,
    shard_info,
)
from tests.conftest import SR, voiced


def _row(i: int, x: np.ndarray) -> dict:
    return {"audio": {"bytes": encode_flac(x, SR), "path": f"r{i}.flac"}, "utt_id": f"r{i}",
            "corpus": "toy", "split": "train", "label": "spoof", "attack": "rec:x",
            "speaker": "s", "path": f"r{i}.flac", "sample_rate": SR, "num_samples": len(x),
            "duration_s": len(x) / SR, "source_utt_id": f"u{i}", "source_label": "bonafide",
            "paradigm": "codec", "backend": "x", "logmel_distance": 0.5}


def test_layout_metadata_and_row_groups(tmp_path):
    path = tmp_path / "s.parquet"
    clips = [voiced(0.5, seed=0)] * 5  # equal sizes: a group every 2 rows
    size = len(encode_flac(clips[0], SR))
    with ShardWriter(path, SR, {"backend": "x", "model_id": "m", "settings": {"a": 1}},
                     row_group_bytes=2 * size) as writer:
        for i, x in enumerate(clips):
            writer.write(_row(i, x))
    meta = pq.ParquetFile(path).metadata
    assert meta.num_rows == 5
    assert meta.num_row_groups == 3  # cut every ~2 clips
    audio_bytes_col = [meta.row_group(0).column(j) for j in range(meta.num_columns)
                       if meta.row_group(0).column(j).path_in_schema == "audio.bytes"][0]
    assert audio_bytes_col.compression == "UNCOMPRESSED"
    hf = json.loads(pq.read_schema(path).metadata[b"huggingface"])
    assert hf["info"]["features"]["audio"] == {"_type": "Audio", "sampling_rate": SR,
                                                   "decode": False}
    info = shard_info(path)
    assert info["model_id"] == "m" and info["settings"] == {"a": 1}
    assert "numpy" in info["packages"] and "soxr" in info["packages"]  # the resampler
    decoded = list(iter_shard(path))
    assert [c.row["utt_id"] for c in decoded] == [f"r{i}" for i in range(5)]
    assert np.max(np.abs(decoded[2].audio - clips[2])) < 1e-4
    assert read_shard_rows(path)[0]["source_utt_id"] == "u0"


def _readme_datasets_example() -> str:
    """The README's ``datasets`` example: the python block after its marker comment."""
    text = (Path(__file__).parents[1] / "README.md").read_text()
    after = text.split("<!-- shard-datasets-example -->", 1)[1]
    return after.split("```python\n", 1)[1].split("```", 1)[0]


def test_readme_datasets_round_trip(tmp_path, monkeypatch, capsys):
    """The README's example runs as written on a shard, without torchcodec, and the decoded
    audio is the written clip."""
    datasets = pytest.importorskip("datasets")
    example = _readme_datasets_example()
    assert "load_dataset(\"parquet\"" in example
    shard = tmp_path / "results/shards/opus/train-000-of-002.parquet"
    shard.parent.mkdir(parents=True)
    clip = voiced(0.3)
    with ShardWriter(shard, SR, {"backend": "x"}) as writer:
        writer.write(_row(0, clip))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "cache"))
    namespace: dict = {}
    exec(compile(example, "README.md", "exec"), namespace)
    assert type(namespace["ds"].features["audio"]).__name__ == "Audio"
    assert namespace["ds"].features["audio"].sampling_rate == SR
    assert namespace["row"]["audio"]["bytes"][:4] == b"fLaC"
    assert namespace["rate"] == SR
    assert namespace["audio"].shape == clip.shape
    assert np.max(np.abs(namespace["audio"] - clip)) < 1e-4
    assert capsys.readouterr().out.split()[:3] == ["r0", "x", str(SR)]
    # the shards' own setting keeps datasets from calling torchcodec
    assert namespace["ds"].features["audio"].decode is False
    assert isinstance(datasets.load_dataset("parquet", data_files=str(shard), split="train")[0]
                      ["audio"], dict)


def test_failure_leaves_no_file(tmp_path):
    path = tmp_path / "s.parquet"
    with pytest.raises(RuntimeError), ShardWriter(path, SR, {"backend": "x"}) as writer:
        writer.write(_row(0, voiced(0.3)))
        raise RuntimeError("backend crashed")
    assert list(tmp_path.iterdir()) == []


def test_column_reads(tmp_path):
    path = tmp_path / "s.parquet"
    clips = [voiced(0.3, seed=k) for k in range(3)]
    with ShardWriter(path, SR, {"backend": "x"}) as writer:
        for i, x in enumerate(clips):
            writer.write({**_row(i, x), "logmel_distance": 0.25 * i})
    table = read_shard_columns(path, ["logmel_distance", "utt_id"])
    assert table.column_names == ["logmel_distance", "utt_id"]
    assert table.column("logmel_distance").to_pylist() == [0.0, 0.25, 0.5]
    audio = read_shard_columns(path, ["audio"], memory_map=True).column("audio")
    assert audio[1]["bytes"].as_py() == encode_flac(clips[1], SR)
    rows = read_shard_rows(path)
    assert len(rows) == 3 and "audio" not in rows[0]
    assert list(rows[0]) == pq.read_schema(path).names[1:]  # schema order, audio left out
    assert read_shard_rows(path, with_audio=True)[2]["audio"]["path"] == "r2.flac"
    with pytest.raises(ValueError, match="No match for FieldRef.Name\\(no_such_column\\)"):
        read_shard_columns(path, ["no_such_column"])


def test_is_shard(tmp_path):
    shard = tmp_path / "s.parquet"
    with ShardWriter(shard, SR, {"backend": "x"}) as writer:
        writer.write(_row(0, voiced(0.3)))
    manifest = tmp_path / "m.parquet"
    write_manifest([ClipRow("u0", "toy", "train", "bonafide", "-", "s", "a.wav", SR, SR, 1.0)],
                   manifest)
    assert is_shard(shard) is True
    assert is_shard(manifest) is False
    (tmp_path / "x.parquet").write_bytes(b"not parquet")
    with pytest.raises(Exception, match="Parquet magic bytes not found"):
        is_shard(tmp_path / "x.parquet")
