"""Assertions on the files the workflow writes, shared by the backend tests and the GPU suite."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from reconfake.manifest import read_manifest
from reconfake.shards import ShardClip, iter_shard, shard_info


def assert_shard(out: Path, manifest: Path, backend: str, model_dir: Path, device: str = "cpu",
                 dtype: str = "float32") -> list[ShardClip]:
    """Check a shard built from ``manifest`` with a twin: rows, lengths, labels, distances and
    the file metadata that records the backend, the model and its settings (``device`` and
    ``dtype`` as the backend names them); return its clips."""
    sources = {r.utt_id: r for r in read_manifest(manifest)}
    clips = list(iter_shard(out))
    assert sorted(c.row["source_utt_id"] for c in clips) == sorted(sources)
    for clip in clips:
        row = clip.row
        assert row["label"] == "spoof" and row["backend"] == backend
        assert row["attack"] == f"rec:{backend}" and clip.sample_rate == 16000
        assert row["num_samples"] == len(clip.audio) == sources[row["source_utt_id"]].num_samples
        assert np.all(np.isfinite(clip.audio))
        assert np.isfinite(row["logmel_distance"]) and row["logmel_distance"] > 0
    info = shard_info(out)
    assert info["backend"] == backend and info["model_id"] == str(model_dir)
    assert info["revision"].startswith("sha256:") and len(info["revision"]) == 71
    assert info["settings"]["device"] == device and info["settings"]["dtype"] == dtype
    assert {"transformers", "torch"} <= set(info["packages"])
    return clips
