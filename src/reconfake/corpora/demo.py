"""The stand-in demo corpus of the embedded default, built offline by the workflow itself.

Bona fide clips are eSpeak NG speech (a synthesiser, standing in for human speech) with
varied voices, rates and pitch; spoof clips are other sentences by the same speakers passed
through an attack generator from :mod:`reconfake.corpora.attacks`. Every split names its own
speakers and attacks, so eval splits can hold attacks unseen in training. Its EERs check the
pipeline, not the science: nothing here is human speech.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from reconfake.audio import write_audio
from reconfake.fileio import atomic_path
from reconfake.manifest import BONAFIDE_ATTACK, ClipRow, write_manifest
from reconfake.progress import Progress

log = logging.getLogger("reconfake")

CORPUS = "demo"
STAND_IN_NOTE = ("stand-in corpus: synthetic eSpeak NG 'bona fide' speech and algorithmic "
                 "attacks; its EERs validate the pipeline, not the science")

WORDS = (
    "the a one two three four five seven red green blue small large quiet bright early late "
    "river garden window table paper letter morning evening winter summer city station "
    "market doctor teacher farmer pilot sailor painter friend mother father brother sister "
    "walks reads writes carries finds opens closes follows watches answers remembers builds "
    "slowly quickly gently often never always today tomorrow yesterday again together "
    "under over behind beside across through near far above below with without before after "
    "coffee bread apple orange music picture story question answer number voice sound light "
    "street bridge forest mountain ocean island harbour village kitchen library museum school"
).split()


@dataclass
class SplitSpec:
    """What one split of the demo corpus holds."""

    bonafide: int
    spoof: int
    attacks: list[str]
    voices: list[str]
    seed: int = 0
    rate_wpm: tuple[int, int] = (130, 190)
    pitch: tuple[int, int] = (30, 70)
    sample_rate: int = 16000
    speakers: int = 4
    channel: bool = True


def _sentence(rng: np.random.Generator) -> str:
    n = int(rng.integers(5, 10))
    return " ".join(rng.choice(WORDS, size=n)).capitalize() + "."


def _channel(x: np.ndarray, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """A random recording channel, applied to bona fide and spoof alike so that bandwidth and
    noise floor say nothing about the label: half the clips are low-passed (3-7.5 kHz), all
    get background noise at 15-40 dB SNR."""
    from scipy.signal import butter, sosfilt

    if rng.random() < 0.5:
        cutoff = rng.uniform(3000, min(7500, 0.45 * sample_rate))
        x = sosfilt(butter(6, cutoff, fs=sample_rate, output="sos"), x)
    noise = rng.standard_normal(len(x))
    snr_db = rng.uniform(15, 40)
    scale = np.sqrt(np.mean(x**2) / (np.mean(noise**2) * 10 ** (snr_db / 10)))
    return (x + scale * noise).astype(np.float32)


def _speakers(spec: SplitSpec, split: str, rng: np.random.Generator) -> list[dict]:
    speakers = []
    for k in range(spec.speakers):
        speakers.append({
            "id": f"{split}_spk{k:02d}",
            "voice": spec.voices[k % len(spec.voices)],
            "rate": int(rng.integers(*spec.rate_wpm)),
            "pitch": int(rng.integers(*spec.pitch)),
        })
    return speakers


def build_split(split: str, spec: SplitSpec, out_dir: str | os.PathLike[str]) -> Path:
    """Synthesise one split into ``out_dir/<split>/`` and write ``out_dir/<split>.parquet``.

    The audio folder is written under a temporary name and renamed, then the manifest is
    written atomically, so an interrupted run leaves either the old outputs or none.
    """
    from reconfake.corpora.attacks import ATTACKS
    from reconfake.corpora.tts import synthesize

    unknown = [a for a in spec.attacks if a not in ATTACKS]
    if unknown:
        raise ValueError(f"demo split {split}: unknown attack(s) {unknown}; known: {sorted(ATTACKS)}")
    if spec.spoof and not spec.attacks:
        raise ValueError(f"demo split {split}: spoof clips requested but no attacks listed")
    out_dir = Path(out_dir)
    manifest_path = out_dir / f"{split}.parquet"
    rng = np.random.default_rng(spec.seed)
    speakers = _speakers(spec, split, rng)
    jobs = [("bonafide", BONAFIDE_ATTACK)] * spec.bonafide + \
        [("spoof", spec.attacks[i % len(spec.attacks)]) for i in range(spec.spoof)]
    progress = Progress(f"demo {split}", len(jobs), "clips")
    rows: list[ClipRow] = []
    audio_dir = out_dir / split
    with atomic_path(audio_dir) as tmp_dir:
        tmp_dir.mkdir(parents=True)
        for i, (label, attack) in enumerate(jobs):
            speaker = speakers[i % len(speakers)]
            clip_rng = np.random.default_rng([spec.seed, i])
            x = synthesize(
                _sentence(clip_rng), voice=speaker["voice"],
                rate_wpm=speaker["rate"] + int(clip_rng.integers(-10, 11)),
                pitch=int(np.clip(speaker["pitch"] + clip_rng.integers(-5, 6), 0, 99)),
                sample_rate=spec.sample_rate,
            )
            if label == "spoof":
                x = ATTACKS[attack](x, spec.sample_rate, clip_rng)
            if spec.channel:
                x = _channel(x, spec.sample_rate, clip_rng)
            x = (x * (10 ** (clip_rng.uniform(-6, 0) / 20)) / max(1e-6, np.max(np.abs(x))) * 0.9)
            utt_id = f"{CORPUS}_{split}_{i:05d}"
            write_audio(tmp_dir / f"{utt_id}.flac", x, spec.sample_rate)
            rows.append(ClipRow(
                utt_id=utt_id, corpus=CORPUS, split=split, label=label, attack=attack,
                speaker=speaker["id"], path=f"{split}/{utt_id}.flac",
                sample_rate=spec.sample_rate, num_samples=len(x),
                duration_s=len(x) / spec.sample_rate,
            ))
            progress.update()
    write_manifest(rows, manifest_path)
    hours = sum(r.duration_s for r in rows) / 3600
    log.info("demo %s: %d bona fide, %d spoof (%s), %.3f h -> %s [%s]", split, spec.bonafide,
             spec.spoof, ", ".join(spec.attacks) or "no attacks", hours, manifest_path,
             STAND_IN_NOTE)
    return manifest_path
