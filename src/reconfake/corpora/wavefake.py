"""WaveFake (Frank & Schönherr, NeurIPS 2021 datasets track): vocoder and TTS spoofs of LJSpeech
and JSUT, all spoof; the bona fide side is LJSpeech-1.1 (and JSUT basic5000, optional).

Source: Zenodo record 5642694, ``generated_audio.zip`` (CC BY-SA 4.0). Layout::

    generated_audio/<generator>/<ID>_gen.wav      e.g. ljspeech_melgan/LJ001-0001_gen.wav
    (ljspeech_hifiGAN uses <ID>_generated.wav, ljspeech_waveglow <ID>.wav)
    LJSpeech-1.1/...                              see reconfake.corpora.ljspeech
    jsut_ver1.1/basic5000/{transcript_utf8.txt,wav/BASIC5000_0001.wav}   (option ``jsut``)

The common-voices generator folder also holds a nested ``generated/`` folder with copies of its
own clips (same names and sizes). Only each generator folder's own ``*.wav`` are used; the copies
are counted and reported (a nested file that is not such a copy is reported by name).

Splits: ``eval`` (LJSpeech bona fide + the English generators) and, with ``jsut: true``,
``eval_jsut`` (JSUT basic5000 + the two JSUT generators). Attack = generator folder name.
Counts: ``eval`` = 13 100 LJSpeech + 107 983 unique English fakes (7 x 13 100 + 16 283) =
121 083 clips; ``eval_jsut`` = 5 000 + 2 x 5 000.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from reconfake.corpora import ljspeech
from reconfake.corpora.registry import CORPORA
from reconfake.corpora.spec import (
    Archive,
    Corpus,
    CorpusSpec,
    Entry,
    Options,
    PrepareError,
    find_folder,
    names_list,
    read_lines,
)

log = logging.getLogger("reconfake")

GENERATORS_EN = (
    "ljspeech_melgan", "ljspeech_melgan_large", "ljspeech_full_band_melgan",
    "ljspeech_multi_band_melgan", "ljspeech_hifiGAN", "ljspeech_waveglow",
    "ljspeech_parallel_wavegan", "common_voices_prompts_from_conformer_fastspeech2_pwg_ljspeech",
)
GENERATORS_JA = ("jsut_multi_band_melgan", "jsut_parallel_wavegan")
JSUT_SPEAKER = "jsut"

SPEC = CorpusSpec(
    name="wavefake",
    title="WaveFake (+ LJSpeech-1.1 bona fide)",
    homepage="https://zenodo.org/records/5642694",
    licence="CC BY-SA 4.0 (WaveFake); LJSpeech public domain; JSUT: its own terms (research use)",
    size_on_disk="28.9 GB + 2.7 GB archives; about 29 GB + 3.8 GB extracted (+ 2.7 GB with JSUT)",
    disk_bytes=66_000_000_000,
    archives=(
        Archive("generated_audio.zip", "https://zenodo.org/records/5642694/files/generated_audio.zip",
                size=28_918_626_084, md5="76b3e62d69f866e57ad6b1debaff434b"),
        ljspeech.ARCHIVE,
        Archive("jsut_ver1.1.zip", "http://ss-takashi.sakura.ne.jp/corpus/jsut_ver1.1.zip", option="jsut"),
    ),
    splits=("eval",),
    options={"jsut": False},
    optional_splits={"jsut": ("eval_jsut",)},
    known_counts={
        "eval": {"total": 121_083, "bonafide": 13_100, "spoof": 107_983},
        "eval_jsut": {"total": 15_000, "bonafide": 5_000, "spoof": 10_000},
    },
)


def _generated_folder(root: Path) -> Path:
    folder = find_folder(root, "generated_audio", depth=2)
    if folder is not None:
        return folder
    for name in GENERATORS_EN:  # generator folders extracted without their parent
        found = find_folder(root, name, depth=2)
        if found is not None:
            return found.parent
    raise PrepareError(f"{root}: no generated_audio folder (nor any WaveFake generator folder such as "
                       f"{GENERATORS_EN[0]}) found; extract generated_audio.zip into the corpus root")


def _spoofs(folder: Path, generators: tuple[str, ...], speaker: str) -> list[Entry]:
    entries = []
    for gen in generators:
        gen_dir = folder / gen
        if not gen_dir.is_dir():
            raise PrepareError(f"{gen_dir}: WaveFake generator folder missing; the extraction of "
                               "generated_audio.zip is incomplete")
        wavs = sorted(gen_dir.glob("*.wav"))
        if not wavs:
            raise PrepareError(f"{gen_dir}: no .wav files")
        _report_nested(gen_dir, wavs)
        entries += [Entry(f"{gen}_{w.stem}", "spoof", gen, speaker, w, str(gen_dir)) for w in wavs]
    return entries


def _report_nested(gen_dir: Path, wavs: list[Path]) -> None:
    """Count the audio in sub-folders of a generator folder, which is not used: copies of the
    folder's own clips (same name and size) at info level, anything else by name."""
    own = {w.name: w.stat().st_size for w in wavs}
    copies, others = 0, []
    for path in sorted(p for p in gen_dir.rglob("*.wav") if p.parent != gen_dir):
        if own.get(path.name) == path.stat().st_size:
            copies += 1
        else:
            others.append(str(path.relative_to(gen_dir)))
    if copies:
        log.info("%s: skipped %d nested copies of its own clips (same name and size) in sub-folders",
                 gen_dir, copies)
    if others:
        log.warning("%s: %d nested audio file(s) that are not copies of its clips (ignored): %s",
                    gen_dir, len(others), names_list(others))


def _jsut_bonafide(root: Path) -> list[Entry]:
    basic = find_folder(root, "basic5000", depth=3)
    if basic is None:
        raise PrepareError(f"{root}: no jsut_ver1.1/basic5000 folder; extract jsut_ver1.1.zip or set "
                           "jsut: false")
    transcript = basic / "transcript_utf8.txt"
    if not transcript.is_file():
        raise PrepareError(f"{transcript}: JSUT transcript missing")
    entries = []
    for where, line in read_lines(transcript):
        utt, sep, _ = line.partition(":")
        if not sep or not utt.strip():
            raise PrepareError(f"{where}: expected 'ID:text', got {line!r}")
        entries.append(Entry(utt.strip(), "bonafide", "bonafide", JSUT_SPEAKER,
                             basic / "wav" / f"{utt.strip()}.wav", where))
    return entries


def collect(root: str | os.PathLike[str], options: Options = None) -> dict[str, list[Entry]]:
    """LJSpeech bona fide + English generators (and JSUT with the ``jsut`` option)."""
    jsut = bool(SPEC.resolve_options(options)["jsut"])
    root = Path(root)
    folder = _generated_folder(root)
    known = set(GENERATORS_EN) | set(GENERATORS_JA)
    unknown = sorted(p.name for p in folder.iterdir() if p.is_dir() and p.name not in known)
    if unknown:
        log.warning("%s: %d folder(s) that are not WaveFake generators (ignored): %s", folder,
                    len(unknown), names_list(unknown))
    out = {"eval": ljspeech.bonafide_entries(root) + _spoofs(folder, GENERATORS_EN, ljspeech.SPEAKER)}
    if jsut:
        out["eval_jsut"] = _jsut_bonafide(root) + _spoofs(folder, GENERATORS_JA, JSUT_SPEAKER)
    return out


CORPORA.register(SPEC.name)(Corpus(SPEC, collect))
