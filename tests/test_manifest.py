"""Manifests: round trip, relative paths and errors that name the row."""

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from reconfake.manifest import ClipRow, ManifestError, read_manifest, write_manifest


def _row(i: int, **over) -> ClipRow:
    base = dict(utt_id=f"u{i}", corpus="c", split="train", label="bonafide", attack="bonafide",
                speaker="s", path=f"a/u{i}.flac", sample_rate=16000, num_samples=100 + i,
                duration_s=(100 + i) / 16000)
    base.update(over)
    return ClipRow(**base)


def test_roundtrip_sorts_and_resolves_paths(tmp_path):
    path = tmp_path / "m" / "train.parquet"
    write_manifest([_row(2), _row(1, label="spoof", attack="A01")], path)
    rows = read_manifest(path)
    assert [r.utt_id for r in rows] == ["u1", "u2"]
    assert rows[0].path == str(tmp_path / "m" / "a" / "u1.flac")
    assert rows[0].label == "spoof" and rows[1].num_samples == 102
    assert pq.read_schema(path).names[:4] == ["utt_id", "corpus", "split", "label"]


@pytest.mark.parametrize("bad,pattern", [
    (dict(label="fake"), "label 'fake' is not one of"),
    (dict(num_samples=0), "num_samples must be positive"),
    (dict(path=""), "column 'path' is empty"),
    (dict(sample_rate=0), "sample_rate must be"),
])
def test_bad_row_is_named(tmp_path, bad, pattern):
    path = tmp_path / "bad.parquet"
    with pytest.raises(ManifestError, match=pattern) as info:
        write_manifest([_row(0), _row(1, **bad)], path)
    assert "row 1 (utt_id='u1')" in str(info.value)
    assert not path.exists()


def test_duplicate_utt_id(tmp_path):
    with pytest.raises(ManifestError, match="utt_id repeats row 0"):
        write_manifest([_row(0), _row(0)], tmp_path / "d.parquet")


def test_reading_a_malformed_file_names_it(tmp_path):
    path = tmp_path / "m.parquet"
    pq.write_table(pa.table({"utt_id": ["x"]}), path)
    with pytest.raises(ManifestError, match="missing column"):
        read_manifest(path)
    (tmp_path / "junk.parquet").write_bytes(b"not parquet")
    with pytest.raises(ManifestError, match="junk.parquet: not a readable Parquet"):
        read_manifest(tmp_path / "junk.parquet")
    with pytest.raises(ManifestError, match="manifest not found"):
        read_manifest(tmp_path / "absent.parquet")
