"""Build one hard-sample shard: reconstruct a slice of a corpus split with one backend.

Shard ``k`` of ``n`` takes every n-th clip of the manifest (sorted by utt_id), so ``n`` jobs
split a corpus without reading each other's inputs. Clips are batched by length, passed
through the backend at its own rate, brought back to the study's rate, aligned to the source
length and written as FLAC rows labelled spoof.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from reconfake.audio import AudioError, encode_flac, fit_length, load_audio, resample
from reconfake.features import MelSpec, log_mel_distance
from reconfake.manifest import read_manifest
from reconfake.paradigms.registry import build_backend
from reconfake.progress import Progress
from reconfake.shards import ShardWriter

log = logging.getLogger("reconfake")

BAD_AUDIO_POLICIES = ("error", "skip")


def reconstruct_shard(
    manifest_path: str | os.PathLike[str],
    backend_name: str,
    out_path: str | os.PathLike[str],
    options: dict[str, Any] | None = None,
    shard_index: int = 0,
    num_shards: int = 1,
    sample_rate: int = 16000,
    bad_audio: str = "error",
    device: str = "cpu",
    labels: tuple[str, ...] = ("bonafide", "spoof"),
) -> dict[str, Any]:
    """Reconstruct shard ``shard_index`` of ``num_shards`` of a manifest into ``out_path``.

    Returns a summary: rows written, clips skipped (with reasons), audio seconds, wall time.
    """
    if not 0 <= shard_index < num_shards:
        raise ValueError(f"shard index {shard_index} outside 0..{num_shards - 1}")
    if bad_audio not in BAD_AUDIO_POLICIES:
        raise ValueError(f"bad_audio={bad_audio!r}; use one of {BAD_AUDIO_POLICIES}")
    rows = [r for r in read_manifest(manifest_path) if r.label in labels]
    rows = rows[shard_index::num_shards]
    backend = build_backend(backend_name, options, device=device)
    spec = MelSpec(sample_rate=sample_rate, fmax=sample_rate / 2)
    batch_size = int(backend.options.get("batch_size", 8))
    info = {**backend.metadata(), "source_manifest": str(manifest_path),
            "shard": shard_index, "num_shards": num_shards, "sample_rate": sample_rate}

    clips: list[tuple[Any, np.ndarray]] = []
    skipped: list[str] = []
    for row in rows:
        try:
            x, _ = load_audio(row.path, sample_rate=sample_rate, expected_rate=row.sample_rate,
                              name=f"{row.path} ({row.utt_id})")
        except AudioError as exc:
            if bad_audio == "error":
                raise
            skipped.append(str(exc))
            log.warning("skipping (audio.bad_audio=skip): %s", exc)
            continue
        clips.append((row, x))
    clips.sort(key=lambda item: (len(item[1]), item[0].utt_id))

    progress = Progress(f"{backend_name} shard {shard_index + 1}/{num_shards}", len(clips), "clips")
    audio_seconds = 0.0
    with ShardWriter(out_path, sample_rate, {**info, "skipped": skipped}) as writer:
        for start in range(0, len(clips), batch_size):
            batch = clips[start:start + batch_size]
            inputs = [resample(x, sample_rate, backend.sample_rate) for _, x in batch]
            outputs = backend.reconstruct(inputs)
            for (row, src), out in zip(batch, outputs, strict=True):
                y = resample(out, backend.sample_rate, sample_rate)
                y = fit_length(y, len(src))
                utt_id = f"{row.utt_id}__{backend_name}"
                writer.write({
                    "audio": {"bytes": encode_flac(y, sample_rate), "path": f"{utt_id}.flac"},
                    "utt_id": utt_id, "corpus": row.corpus, "split": row.split,
                    "label": "spoof", "attack": f"rec:{backend_name}", "speaker": row.speaker,
                    "path": f"{utt_id}.flac", "sample_rate": sample_rate,
                    "num_samples": len(y), "duration_s": len(y) / sample_rate,
                    "source_utt_id": row.utt_id, "source_label": row.label,
                    "paradigm": backend.paradigm, "backend": backend_name,
                    "logmel_distance": log_mel_distance(src, y, spec),
                })
                audio_seconds += len(y) / sample_rate
            progress.update(len(batch))
    summary = {"rows": len(clips), "skipped": len(skipped), "audio_seconds": audio_seconds,
               "path": str(Path(out_path))}
    log.info("wrote %s: %d clips (%.1f s of audio), %d skipped", out_path, len(clips),
             audio_seconds, len(skipped))
    return summary
