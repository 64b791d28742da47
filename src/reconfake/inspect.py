"""``reconfake inspect``: a readable summary of a manifest or shard, and clip extraction."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import numpy as np

from reconfake.audio import load_audio, write_audio
from reconfake.manifest import read_manifest
from reconfake.shards import is_shard, read_shard_columns, read_shard_rows, shard_info


def summarize(path: str | os.PathLike[str]) -> str:
    """Rows by split/label/attack(/paradigm), hours and sample rates, as text."""
    path = Path(path)
    shard = is_shard(path)
    rows = read_shard_rows(path) if shard else [vars(r) for r in read_manifest(path)]
    lines = [f"{path}: {'hard-sample shard' if shard else 'corpus manifest'}, {len(rows)} rows, "
             f"{sum(r['duration_s'] for r in rows) / 3600:.3f} h"]
    if shard:
        info = shard_info(path)
        lines.append("  backend {backend} ({paradigm}), model {model_id} @ {revision}".format(
            **{k: info.get(k) for k in ("backend", "paradigm", "model_id", "revision")}))
        lines.append(f"  settings {json.dumps(info.get('settings', {}), sort_keys=True)}")
        if info.get("stand_in_for"):
            lines.append(f"  STAND-IN: an offline substitute for {info['stand_in_for']}")
        if info.get("skipped"):
            lines.append(f"  skipped at build time: {len(info['skipped'])} clip(s)")
        dist = np.array([r["logmel_distance"] for r in rows])
        if dist.size:
            lines.append(f"  log-mel distance to source: mean {dist.mean():.3f}, "
                         f"median {np.median(dist):.3f}, max {dist.max():.3f}")
    if any(r["corpus"] == "demo" for r in rows):
        from reconfake.corpora.demo import STAND_IN_NOTE

        lines.append(f"  STAND-IN: {STAND_IN_NOTE}")
    keys = ["split", "label", "attack"] + (["paradigm", "source_label"] if shard else [])
    for key in keys:
        counts = Counter(r[key] for r in rows)
        lines.append(f"  by {key}: " + ", ".join(f"{k}={v}" for k, v in sorted(counts.items())))
    rates = Counter(r["sample_rate"] for r in rows)
    lines.append("  sample rates: " + ", ".join(f"{k} Hz x{v}" for k, v in sorted(rates.items())))
    cue = duration_cue(rows)
    if cue:
        lines.append(cue)
    return "\n".join(lines)


def duration_cue(rows: list[dict]) -> str | None:
    """How far clip length alone separates the labels: mean duration per label and the EER of
    the duration used as the score, in whichever direction separates better (50 % = no cue).
    ``None`` unless both labels are present."""
    from reconfake.metrics import compute_eer

    seconds = np.array([r["duration_s"] for r in rows], dtype=np.float64)
    bona = np.array([r["label"] == "bonafide" for r in rows])
    if bona.all() or not bona.any():
        return None
    eer = compute_eer(seconds[bona], seconds[~bona])[0]
    eer = min(eer, compute_eer(-seconds[bona], -seconds[~bona])[0])
    return (f"  duration: bona fide mean {seconds[bona].mean():.2f} s, spoof mean "
            f"{seconds[~bona].mean():.2f} s; duration alone as the score: EER {100 * eer:.1f} %")


def extract_clip(path: str | os.PathLike[str], utt_id: str, out: str | os.PathLike[str]) -> Path:
    """Write clip ``utt_id`` of a manifest or shard to a WAV file."""
    path = Path(path)
    if is_shard(path):
        ids = read_shard_columns(path, ["utt_id"]).column("utt_id").to_pylist()
        if utt_id not in ids:
            raise KeyError(f"{path}: no row with utt_id {utt_id!r}")
        audio = read_shard_columns(path, ["audio"], memory_map=True).column("audio")
        x, sr = load_audio(audio[ids.index(utt_id)]["bytes"].as_py(), name=f"{path} ({utt_id})")
    else:
        match = [r for r in read_manifest(path) if r.utt_id == utt_id]
        if not match:
            raise KeyError(f"{path}: no row with utt_id {utt_id!r}")
        x, sr = load_audio(match[0].path)
    write_audio(out, x, sr)
    return Path(out)
