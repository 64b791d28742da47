"""The embedded default's corpus: real human speech as bona fide, real TTS systems as spoofs.

Bona fide speech comes from Debian packages (:mod:`reconfake.corpora.debian`): the Asterisk
IVR prompts of one professional US English speaker (``allison``, 16 kHz G.722, CC-BY-SA-3.0)
and the voice actors of Fish Fillets NG (:mod:`reconfake.corpora.fillets`, Vorbis, GPL-2+;
Czech and Dutch voice packs, plus the few English lines of minor characters). The Fillets
lines come with their texts. The Asterisk prompts' texts come from the official list shipped
in ``asterisk-core-sounds-en`` (``transcriber: official``) or from Whisper tiny.en
(:func:`transcribe_prompts`); either way they are written once to ``transcripts.tsv``.
Every bona fide clip gets one spoof that speaks the same text, by a TTS system of that split
and language (:mod:`reconfake.corpora.speech_systems`: flite, eSpeak NG, Piper).

So that neither codec nor level nor silence is a cue, a spoof goes through the codec of the
recording it stands beside (G.722 for Asterisk texts, Vorbis for Fillets texts), and every
clip, bona fide or spoof, is trimmed to 50 ms of silence at each end and scaled to a random
peak level. A split's ``channel: telephone`` passes both classes through 8 kHz G.711 mu-law.

The deal does not depend on any transcript, so only the dealt prompts are transcribed: each
source's recordings lasting ``min_seconds``-``max_seconds`` (Fillets lines: with a usable text,
each text once) are shuffled with ``seed`` and dealt to the splits in the order the config
lists them; a split gets ``spare`` extra Asterisk prompts. Then :func:`select` walks each
split's candidates in dealt order and keeps the first ``n`` whose text is usable and not yet
used by any split, so a prompt whose transcript is empty or repeats another text is dropped
deterministically, and no recording or text is in two splits.
"""

from __future__ import annotations

import csv
import gzip
import io
import logging
import math
import os
import re
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from reconfake.audio import AudioError, load_audio, probe_audio, resample, write_audio
from reconfake.codecs import codec_roundtrip
from reconfake.corpora import fillets
from reconfake.corpora.debian import PACKAGES, DebPackage, unpack_package
from reconfake.fileio import atomic_path, write_text_atomic
from reconfake.manifest import BONAFIDE_ATTACK, ClipRow, write_manifest
from reconfake.progress import Progress

log = logging.getLogger("reconfake")

CORPUS = "mini"
RATE = 16000
ALLISON = Path("usr/share/asterisk/sounds/en_US_f_Allison")
OFFICIAL = Path("usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz")
TRANSCRIBERS = ("official", "whisper-tiny.en")
#: the packages the corpus unpacks (bona fide speech, the official transcripts, flite)
PACKAGE_NAMES = ("asterisk-core-sounds-en-g722", "asterisk-core-sounds-en", "fillets-ng-data",
                 "fillets-ng-data-cs", "fillets-ng-data-nl", "flite", "libflite1")
#: source -> (language, package holding the audio, codec its spoofs get: (codec, rate))
SOURCES: dict[str, tuple[str, str, tuple[str, int]]] = {
    "allison": ("en", "asterisk-core-sounds-en-g722", ("g722", 16000)),
    "fillets_en": ("en", "fillets-ng-data", ("vorbis", 22050)),
    "fillets_cs": ("cs", "fillets-ng-data-cs", ("vorbis", 22050)),
    "fillets_nl": ("nl", "fillets-ng-data-nl", ("vorbis", 22050)),
}
NEEDS_TRANSCRIPTS = ("allison",)
NOTE = ("real human speech (Asterisk prompts, Fish Fillets voice actors) and real TTS systems "
        "(flite, eSpeak NG, Piper); not ASVspoof 2019 LA")


@dataclass
class SplitSpec:
    """One split: bona fide clips per source, TTS systems per language, channel."""

    bonafide: dict[str, int]
    systems: dict[str, list[str]]
    channel: str | None = None  # None | telephone


@dataclass
class MiniSpec:
    """The whole corpus (every split job reads all of it, to deal the sources alike)."""

    splits: dict[str, SplitSpec]
    seed: int = 0
    min_seconds: float = 0.7
    max_seconds: float = 8.0
    spare: float = 0.2
    transcriber: str = "official"
    bad_audio: str = "error"
    packages_dir: str | None = None

    @classmethod
    def from_dict(cls, spec: dict[str, Any]) -> MiniSpec:
        """Check a ``corpora.mini`` config entry (as JSON) and build the spec; errors name the key."""
        spec = dict(spec)
        if not spec.get("splits"):
            raise ValueError("corpora.mini.splits: no splits configured")
        splits = {}
        for name, s in spec.pop("splits").items():
            unknown = sorted(set(s["bonafide"]) - set(SOURCES))
            if unknown:
                raise ValueError(f"corpora.mini.splits.{name}.bonafide: unknown source(s) "
                                 f"{unknown}; known: {sorted(SOURCES)}")
            for source in s["bonafide"]:
                language = SOURCES[source][0]
                if not s["systems"].get(language):
                    raise ValueError(f"corpora.mini.splits.{name}: source {source} is "
                                     f"{language}, but systems.{language} names no TTS system")
            if s.get("channel") not in (None, "telephone"):
                raise ValueError(f"corpora.mini.splits.{name}.channel: {s['channel']!r}; use "
                                 "null or telephone")
            splits[name] = SplitSpec({k: int(v) for k, v in s["bonafide"].items()},
                                     {k: list(v) for k, v in s["systems"].items()},
                                     s.get("channel"))
        if spec.get("transcriber", "official") not in TRANSCRIBERS:
            raise ValueError(f"corpora.mini.transcriber: {spec['transcriber']!r}; use one of "
                             f"{TRANSCRIBERS}")
        if spec.get("bad_audio", "error") not in ("error", "skip"):
            raise ValueError(f"corpora.mini.bad_audio: {spec['bad_audio']!r}; use error or skip")
        known = ("seed", "min_seconds", "max_seconds", "spare", "transcriber", "bad_audio",
                 "packages_dir")
        unknown = sorted(set(spec) - set(known))
        if unknown:
            raise ValueError(f"corpora.mini: unknown key(s) {unknown}; allowed: "
                             f"{sorted(known + ('splits',))}")
        return cls(splits, **spec)


def check_speakers(spec: MiniSpec, train: str, evals: list[str]) -> None:
    """Raise if a bona fide source (its speakers) of an eval split is also in ``train``."""
    seen = {s for s, n in spec.splits[train].bonafide.items() if n}
    for name in evals:
        shared = sorted(seen & {s for s, n in spec.splits[name].bonafide.items() if n})
        if shared:
            raise ValueError(f"corpora.mini.splits.{name}: bona fide source(s) {shared} are also "
                             f"in the training split {train}; an eval split needs unseen "
                             "speakers: deal them to dev or to another eval split instead")


def check_split_refs(spec: MiniSpec, train_set: str, eval_sets: list[str]) -> None:
    """:func:`check_speakers` for the config's ``<corpus>/<split>`` references: every ``mini``
    split they name must exist, and a ``mini`` eval split must not share ``mini`` training
    speakers."""
    refs = [r.split("/", 1) for r in [train_set, *eval_sets]]
    for corpus, split in refs:
        if corpus == CORPUS and split not in spec.splits:
            raise ValueError(f"{corpus}/{split}: corpora.mini.splits has no {split!r}; "
                             f"configured: {sorted(spec.splits)}")
    if refs[0][0] == CORPUS:
        check_speakers(spec, refs[0][1], [s for c, s in refs[1:] if c == CORPUS])


# ----------------------------------------------------------------------------- packages


def unpack_all(root: str | os.PathLike[str], packages_dir: str | None = None,
               packages: dict[str, DebPackage] = PACKAGES,
               names: tuple[str, ...] = PACKAGE_NAMES) -> Path:
    """Fetch and unpack every package the corpus uses into ``root``; write ``root/.done``.

    Each package is a no-op when already unpacked (its own marker), so an interrupted run
    resumes; ``.done`` is written last, atomically, listing what was unpacked.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    for k, name in enumerate(names):
        log.info("package %d of %d: %s", k + 1, len(names), name)
        unpack_package(name, root, packages_dir=packages_dir, packages=packages)
    write_text_atomic(root / ".done", "".join(
        f"{packages[n].name} {packages[n].version} {packages[n].sha256}\n" for n in names))
    return root


def allison_dir(root: str | os.PathLike[str]) -> Path:
    """The folder of the Asterisk prompts inside the unpacked packages."""
    return Path(root) / SOURCES["allison"][1] / ALLISON


def official_transcripts(root: str | os.PathLike[str]) -> dict[str, str]:
    """``{prompt without suffix: text}`` from ``core-sounds-en.txt.gz`` (``name: text`` lines)."""
    path = Path(root) / "asterisk-core-sounds-en" / OFFICIAL
    if not path.is_file():
        raise FileNotFoundError(f"{path}: the official prompt list is missing; unpack the "
                                "packages first (reconfake mini-packages)")
    out = {}
    for line in gzip.open(path, "rt", encoding="utf-8", errors="replace"):
        name, sep, text = line.partition(":")
        if sep and not line.startswith(";") and name.strip() and " " not in name.strip():
            out[name.strip()] = " ".join(text.split())
    return out


def transcribe_prompts(spec: MiniSpec, root: str | os.PathLike[str],
                       out: str | os.PathLike[str], batch_size: int = 8) -> Path:
    """Write ``out`` (TSV: file, text) for the Asterisk prompts the deal uses, and no others."""
    prompts = [c for split in deal(spec, root).values() for c in split if c.source == "allison"]
    prompts.sort(key=lambda c: c.key)
    base = allison_dir(root)
    rels = [c.path.relative_to(base).as_posix() for c in prompts]
    if spec.transcriber == "official":
        known = official_transcripts(root)
        texts = [known.get(rel.rsplit(".", 1)[0], "") for rel in rels]
        log.info("official transcripts: %d of %d dealt prompts are listed", sum(map(bool, texts)),
                 len(rels))
    else:
        from reconfake.corpora.transcribe import transcribe  # on its own branch; heavy

        progress = Progress(f"transcribing {len(prompts)} dealt prompts ({spec.transcriber})",
                            len(prompts), "clips")
        texts = []
        for start in range(0, len(prompts), 32):
            waves = [load_audio(c.path, RATE, name=f"{c.path} ({c.key})")[0]
                     for c in prompts[start:start + 32]]
            texts += transcribe(waves, RATE, spec.transcriber, batch_size)
            progress.update(len(waves))
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter="\t", lineterminator="\n")
    writer.writerow(["file", "text"])
    for rel, text in zip(rels, texts, strict=True):
        writer.writerow([rel, " ".join(str(text).split())])
    package = PACKAGES[SOURCES["allison"][1]]
    write_text_atomic(out, f"# {package.name} {package.version} sha256 {package.sha256}; "
                      f"transcribed by {spec.transcriber}\n" + buf.getvalue())
    log.info("%d transcripts -> %s", len(rels), out)
    return Path(out)


def read_transcripts(path: str | os.PathLike[str]) -> dict[str, str]:
    """``{file relative to the prompt folder: text}`` of a transcripts TSV."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: transcripts not found; run reconfake mini-transcripts")
    lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if not ln.startswith("#")]
    rows = list(csv.DictReader(lines, delimiter="\t"))
    if not lines or lines[0].split("\t") != ["file", "text"]:
        raise ValueError(f"{path}: expected a header line 'file<TAB>text'; rerun mini-transcripts")
    return {r["file"]: r["text"] or "" for r in rows}


# ----------------------------------------------------------------------------- the deal


@dataclass(frozen=True)
class Source:
    """One bona fide recording, with its text (None until transcribed)."""

    key: str
    path: Path
    text: str | None
    speaker: str
    source: str


def usable(text: str | None) -> bool:
    """A text a TTS system can speak: at least one word with letters, not a stage direction."""
    if not text:
        return False
    words = [w for w in text.replace("-", " ").split() if any(c.isalpha() for c in w)]
    return len(words) >= 1 and not text.startswith(("[", "("))


def text_key(text: str) -> str:
    """Texts that differ only in case, spacing or punctuation count as one."""
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def _duration(path: Path, key: str, bad_audio: str = "error") -> float | None:
    """Seconds of a recording from its header; None (skip) or an error when unreadable."""
    try:
        rate, frames = probe_audio(path)
    except AudioError as exc:
        if bad_audio == "skip":
            log.warning("%s (%s): unreadable, skipped (%s)", path, key, exc)
            return None
        raise AudioError(f"{path} ({key}): cannot decode audio ({exc}); re-unpack the packages "
                         "(delete the package folder and rerun mini-packages) or set "
                         "audio.bad_audio: skip") from exc
    return frames / rate


def source_pool(source: str, root: str | os.PathLike[str], min_seconds: float = 0.7,
                max_seconds: float = 8.0, bad_audio: str = "error") -> list[Source]:
    """The recordings of ``source`` that may be dealt, sorted by key (independent of any
    transcript): their length is in range, and a Fillets line has a usable text of its own."""
    root = Path(root)
    if source == "allison":
        base = allison_dir(root)
        files = sorted(base.rglob("*.g722"))
        if not files:
            raise FileNotFoundError(f"no .g722 prompts under {base}; unpack the packages first "
                                    "(reconfake mini-packages)")
        pool = [Source(f"allison/{f.relative_to(base).with_suffix('').as_posix()}", f, None,
                       "allison", source) for f in files]
    else:
        language = SOURCES[source][0]
        lines = fillets.voiced_lines(root / "fillets-ng-data", root / SOURCES[source][1], language)
        pool, seen = [], set()
        for ln in lines:
            if usable(ln.text) and text_key(ln.text) not in seen:
                seen.add(text_key(ln.text))
                pool.append(Source(f"{source}/{ln.level}/{ln.line_id}", ln.path, ln.text,
                                   ln.speaker, source))
    durations = [_duration(s.path, s.key, bad_audio) for s in pool]
    skipped = sum(d is None for d in durations)
    if skipped:
        log.warning("%s: %d unreadable recording(s) skipped (audio.bad_audio: skip)", source,
                    skipped)
    return [s for s, d in zip(pool, durations, strict=True)
            if d is not None and min_seconds <= d <= max_seconds]


def _wanted(spec: MiniSpec, split: SplitSpec, source: str) -> int:
    n = split.bonafide.get(source, 0)
    return n + (math.ceil(spec.spare * n) if source in NEEDS_TRANSCRIPTS and n else 0)


def deal(spec: MiniSpec, root: str | os.PathLike[str]) -> dict[str, list[Source]]:
    """Each split's candidate recordings, in dealt order (see the module docstring)."""
    wanted = sorted({s for split in spec.splits.values() for s, n in split.bonafide.items() if n})
    dealt: dict[str, list[Source]] = {name: [] for name in spec.splits}
    for source in wanted:
        pool = source_pool(source, root, spec.min_seconds, spec.max_seconds, spec.bad_audio)
        # seeded by the source's name, so adding a source to the config leaves the others' deal
        order = np.random.default_rng([spec.seed, zlib.crc32(source.encode())]).permutation(len(pool))
        pool = [pool[i] for i in order]
        need = sum(_wanted(spec, split, source) for split in spec.splits.values())
        if need > len(pool):
            raise ValueError(f"corpus mini: the splits ask for {need} {source} clips (spares "
                             f"included) but {len(pool)} have a text and last "
                             f"{spec.min_seconds}-{spec.max_seconds} s; lower "
                             f"corpora.mini.splits.*.bonafide.{source}")
        start = 0
        for name, split in spec.splits.items():
            n = _wanted(spec, split, source)
            dealt[name] += pool[start:start + n]
            start += n
    return dealt


def select(spec: MiniSpec, root: str | os.PathLike[str], transcripts: dict[str, str] | None,
           split: str | None = None) -> dict[str, list[Source]]:
    """Each split's bona fide recordings with their texts: per source, the first ``n`` dealt
    candidates whose text is usable and used by no earlier clip of any split.

    Without ``transcripts`` only splits without Asterisk prompts can be selected (the Fillets
    choice never depends on them); ``split`` names the one wanted, the others' prompts are
    then left out.
    """
    dealt = deal(spec, root)
    base = allison_dir(root)
    used: set[str] = set()
    for candidates in dealt.values():  # texts known before the deal are reserved first
        used |= {text_key(c.text) for c in candidates if c.text is not None}
    chosen: dict[str, list[Source]] = {}
    for name, candidates in dealt.items():
        chosen[name] = []
        for source, n in spec.splits[name].bonafide.items():
            mine = [c for c in candidates if c.source == source]
            if source not in NEEDS_TRANSCRIPTS:
                chosen[name] += mine[:n]
                continue
            if transcripts is None and split not in (None, name):
                continue
            if transcripts is None:
                raise ValueError(f"corpora.mini.splits.{name}: source {source} needs the "
                                 "prompts' transcripts; pass --transcripts (reconfake "
                                 "mini-transcripts writes them)")
            kept, dropped = [], 0
            for c in mine:
                if len(kept) == n:
                    break
                rel = c.path.relative_to(base).as_posix()
                if rel not in transcripts:
                    raise KeyError(f"transcripts: no row for {rel} (dealt to split {name}); the "
                                   "transcripts were made for another deal: rerun "
                                   "mini-transcripts with this spec")
                text = transcripts[rel]
                if usable(text) and text_key(text) not in used:
                    used.add(text_key(text))
                    kept.append(Source(c.key, c.path, text, c.speaker, c.source))
                else:
                    dropped += 1
            if len(kept) < n:
                raise ValueError(f"corpora.mini.splits.{name}: only {len(kept)} of {len(mine)} "
                                 f"dealt {source} prompts have a usable, unique transcript but "
                                 f"{n} are asked for; raise corpora.mini.spare or lower the count")
            if dropped:
                log.info("mini %s: %d %s prompt(s) dropped (transcript empty or repeated)", name,
                         dropped, source)
            chosen[name] += kept
    return chosen


# ----------------------------------------------------------------------------- one split


def _trim(x: np.ndarray) -> np.ndarray:
    from reconfake.corpora.tts import _trim_silence

    return _trim_silence(x, RATE)


def telephone(x: np.ndarray) -> np.ndarray:
    """An 8 kHz G.711 mu-law telephone channel, back at 16 kHz (nothing above 4 kHz)."""
    return resample(codec_roundtrip(resample(x, RATE, 8000), 8000, "mulaw"), 8000, RATE)


def _finish(x: np.ndarray, channel: str | None, rng: np.random.Generator) -> np.ndarray:
    x = _trim(np.asarray(x, dtype=np.float32))
    if channel == "telephone":
        x = telephone(x)
    peak = float(np.max(np.abs(x))) or 1.0
    return (x / peak * 0.9 * 10 ** (rng.uniform(-6, 0) / 20)).astype(np.float32)


def system_name(system: str) -> str:
    """A TTS system as an attack name (``espeak:cs+m1`` -> ``espeak_cs_m1``)."""
    return re.sub(r"[^A-Za-z0-9]+", "_", system).strip("_")


def _split_seed(split: str) -> int:
    return zlib.crc32(split.encode())


def build_split(split: str, spec: MiniSpec, packages_root: str | os.PathLike[str],
                out_dir: str | os.PathLike[str], transcripts: str | os.PathLike[str] | None,
                ) -> Path:
    """Write ``out_dir/<split>/*.flac`` and ``out_dir/<split>.parquet`` for one split.

    The audio folder is written under a temporary name and renamed, then the manifest is
    written atomically. An undecodable or silent recording stops the run naming it, or, with
    ``bad_audio: skip``, drops its pair and is counted in the log.
    """
    from reconfake.corpora.speech_systems import speak

    if split not in spec.splits:
        raise KeyError(f"corpus mini has no split {split!r}; configured: {sorted(spec.splits)}")
    root, out_dir = Path(packages_root), Path(out_dir)
    texts = read_transcripts(transcripts) if transcripts else None
    sources = select(spec, root, texts, split)[split]
    split_spec = spec.splits[split]
    # a balanced, shuffled assignment of the language's systems to the split's clips
    rng = np.random.default_rng([spec.seed, _split_seed(split)])
    by_language: dict[str, int] = Counter()
    assigned: list[str] = []
    for src in sources:
        language = SOURCES[src.source][0]
        assigned.append(language)
        by_language[language] += 1
    pick: dict[str, list[str]] = {}
    for language, count in by_language.items():
        systems = split_spec.systems[language]
        order = [systems[k % len(systems)] for k in range(count)]
        pick[language] = [order[i] for i in rng.permutation(count)]
    cursor: Counter[str] = Counter()
    progress = Progress(f"mini {split}: {len(sources)} pairs", 2 * len(sources), "clips")
    rows: list[ClipRow] = []
    skipped: list[str] = []
    with atomic_path(out_dir / split) as tmp_dir:
        tmp_dir.mkdir(parents=True)
        for i, src in enumerate(sources):
            language, _, (codec, codec_rate) = SOURCES[src.source]
            system = pick[language][cursor[language]]
            cursor[language] += 1
            clip_rng = np.random.default_rng([spec.seed, _split_seed(split), i])
            try:
                bona, _ = load_audio(src.path, RATE, name=f"{src.path} ({src.key})")
            except AudioError as exc:
                if spec.bad_audio != "skip":
                    raise
                skipped.append(src.key)
                log.warning("skipping %s and its spoof: %s", src.key, exc)
                progress.update(2)
                continue
            spoof = speak(system, src.text or "", root)
            spoof = codec_roundtrip(resample(spoof, RATE, codec_rate), codec_rate, codec)
            spoof = resample(spoof, codec_rate, RATE)
            for label, x, attack, speaker in (
                    ("bonafide", bona, BONAFIDE_ATTACK, src.speaker),
                    ("spoof", spoof, system_name(system), system_name(system))):
                x = _finish(x, split_spec.channel, clip_rng)
                utt_id = f"{CORPUS}_{split}_{i:04d}_{'b' if label == 'bonafide' else 's'}"
                write_audio(tmp_dir / f"{utt_id}.flac", x, RATE)
                rows.append(ClipRow(utt_id, CORPUS, split, label, attack, speaker,
                                    f"{split}/{utt_id}.flac", RATE, len(x), len(x) / RATE))
                progress.update()
        if not rows:
            raise ValueError(f"corpus mini split {split}: no clips left (all {len(skipped)} "
                             "recordings were unreadable)")
    manifest = out_dir / f"{split}.parquet"
    write_manifest(rows, manifest)
    _summary(split, rows, split_spec, skipped)
    return manifest


def _summary(split: str, rows: list[ClipRow], spec: SplitSpec, skipped: list[str]) -> None:
    by_attack = Counter(r.attack for r in rows)
    by_speaker = Counter(r.speaker for r in rows if r.label == "bonafide")
    hours = sum(r.duration_s for r in rows) / 3600
    log.info("mini %s: %d bona fide (%s), %d spoof (%s), channel %s, %.3f h, %d skipped [%s]",
             split, by_attack[BONAFIDE_ATTACK], dict(by_speaker),
             len(rows) - by_attack[BONAFIDE_ATTACK],
             {k: v for k, v in sorted(by_attack.items()) if k != BONAFIDE_ATTACK},
             spec.channel or "as recorded", hours, len(skipped), NOTE)
