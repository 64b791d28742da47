"""Building shards from a manifest: scatter, contents and bad-audio policy."""

import numpy as np
import pytest
import soundfile as sf

from reconfake.audio import AudioError
from reconfake.manifest import read_manifest
from reconfake.reconstruct import reconstruct_shard
from reconfake.shards import iter_shard, shard_info


def test_scatter_covers_every_clip_once(tmp_path, make_manifest):
    manifest = make_manifest(n=5)
    ids = []
    for k in range(2):
        out = tmp_path / f"s{k}.parquet"
        summary = reconstruct_shard(manifest, "opus", out, shard_index=k, num_shards=2)
        clips = list(iter_shard(out))
        assert summary["rows"] == len(clips) == (3 if k == 0 else 2)
        for clip in clips:
            assert clip.row["label"] == "spoof" and clip.row["backend"] == "opus"
            assert clip.row["utt_id"] == clip.row["source_utt_id"] + "__opus"
            assert clip.row["num_samples"] == len(clip.audio)
            assert clip.row["logmel_distance"] > 0
        ids += [c.row["source_utt_id"] for c in clips]
        assert shard_info(out)["num_shards"] == 2
    assert sorted(ids) == [r.utt_id for r in read_manifest(manifest)]
    sources = {r.utt_id: r for r in read_manifest(manifest)}
    assert all(sources[i].num_samples > 0 for i in ids)


def test_only_requested_labels(tmp_path, make_manifest):
    manifest = make_manifest(n=4)
    out = tmp_path / "b.parquet"
    reconstruct_shard(manifest, "opus", out, labels=("bonafide",))
    assert {c.row["source_label"] for c in iter_shard(out)} == {"bonafide"}


def test_bad_audio_error_or_skip(tmp_path, make_manifest):
    manifest = make_manifest(n=3)
    victim = read_manifest(manifest)[1].path
    sf.write(victim, np.zeros(16000, dtype=np.float32), 16000, format="FLAC")
    out = tmp_path / "s.parquet"
    with pytest.raises(AudioError, match="silent") as info:
        reconstruct_shard(manifest, "opus", out)
    assert victim in str(info.value)
    assert not out.exists()
    summary = reconstruct_shard(manifest, "opus", out, bad_audio="skip")
    assert summary == {**summary, "rows": 2, "skipped": 1}
    assert len(shard_info(out)["skipped"]) == 1
