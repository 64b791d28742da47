"""Corpus mini on a tiny layout the tests write: Fillets parser, the deal, transcripts,
build_split (counts, labels, texts, speakers, durations, telephone band), the CLI, the
config schema, and the TTS systems (Piper; flite from its real Debian package)."""

from __future__ import annotations

import os
import sys
import types
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from reconfake.audio import load_audio
from reconfake.cli import main
from reconfake.corpora import fillets
from reconfake.corpora.mini import (
    MiniSpec,
    build_split,
    check_speakers,
    check_split_refs,
    deal,
    official_transcripts,
    read_transcripts,
    select,
    transcribe_prompts,
)
from reconfake.manifest import read_manifest
from tests.mini_fixtures import write_layout

ESPEAK = {"cs": ["espeak:cs", "espeak:cs+m3"], "en": ["espeak:en-us"], "nl": ["espeak:nl"]}


def _spec(**overrides) -> dict:
    spec = {"seed": 0, "splits": {
        "train": {"bonafide": {"fillets_cs": 5, "fillets_en": 1}, "systems": ESPEAK},
        "dev": {"bonafide": {"fillets_cs": 2, "fillets_en": 1}, "systems": ESPEAK},
        "eval_tts": {"bonafide": {"allison": 3}, "systems": {"en": ["espeak:en+f3"]}},
        "eval_phone": {"bonafide": {"fillets_nl": 4}, "systems": {"nl": ["espeak:nl"]},
                       "channel": "telephone"}}}
    spec.update(overrides)
    return spec


@pytest.fixture(scope="module")
def layout(tmp_path_factory) -> Path:
    return write_layout(tmp_path_factory.mktemp("mini") / "packages")


@pytest.fixture(scope="module")
def transcripts(layout, tmp_path_factory) -> Path:
    """The official texts of the dealt prompts (what `mini-transcripts` writes)."""
    out = tmp_path_factory.mktemp("tr") / "transcripts.tsv"
    return transcribe_prompts(MiniSpec.from_dict(_spec()), layout, out)


# ----------------------------------------------------------------------------- Fillets


def test_parse_dialogs_handles_escapes_translations_and_speakers():
    lua = ('dialogId("lev-m-hi", "font_small", "Hi, \\"fish\\".")\n'
           'dialogStr("Ahoj, \\"rybo\\".")\n\n'
           'dialogId("lev-v-bye",\n  "font_big", "Bye\\nnow")\n'
           'dialogId("poster", "font_poster", "A poster")\n')
    assert fillets.parse_dialogs(lua) == {"lev-m-hi": ('Hi, "fish".', 'Ahoj, "rybo".'),
                                          "lev-v-bye": ("Bye now", None),
                                          "poster": ("A poster", None)}
    assert [fillets.speaker_of(i) for i in ("lev-m-hi", "lev-v-bye", "poster")] == \
        ["m", "v", "other"]


def test_voiced_lines_pairs_audio_with_texts(layout):
    cs = fillets.voiced_lines(layout / "fillets-ng-data", layout / "fillets-ng-data-cs", "cs")
    assert len(cs) == 8 and cs[0].text == "Dobrý den, rybo." and cs[0].speaker == "fillets_cs_m"
    assert Counter(ln.speaker for ln in cs) == {"fillets_cs_m": 4, "fillets_cs_v": 4}
    en = fillets.voiced_lines(layout / "fillets-ng-data", layout / "fillets-ng-data", "en")
    assert [ln.line_id for ln in en] == ["a-p-parrot", "a-x-click"]  # the splash has no text
    with pytest.raises(FileNotFoundError, match="no Fish Fillets data"):
        fillets.voiced_lines(layout / "nope", layout / "nope", "cs")


# ----------------------------------------------------------------------------- the deal


def test_deal_is_disjoint_deterministic_and_independent_of_transcripts(layout):
    spec = MiniSpec.from_dict(_spec())
    a, b = deal(spec, layout), deal(spec, layout)
    assert {k: [c.key for c in v] for k, v in a.items()} == {k: [c.key for c in v]
                                                           for k, v in b.items()}
    keys = [c.key for split in a.values() for c in split]
    assert len(keys) == len(set(keys)) == 5 + 1 + 2 + 1 + 3 + 1 + 4  # one spare prompt (20 %)
    assert Counter(c.source for c in a["eval_tts"]) == {"allison": 4}
    assert all(c.text is None for c in a["eval_tts"])  # no transcript needed to deal
    assert "allison/digits/1" not in keys  # 0.3 s: below min_seconds
    other = deal(MiniSpec.from_dict(_spec(seed=5)), layout)
    assert [c.key for c in other["train"]] != [c.key for c in a["train"]]
    # adding a source to one split leaves the deal of the others alone
    more = _spec()
    more["splits"]["dev"]["bonafide"]["fillets_nl"] = 1
    moved = deal(MiniSpec.from_dict(more), layout)
    assert [c.key for c in moved["train"]] == [c.key for c in a["train"]]


def test_deal_asking_for_too_many_names_the_source(layout):
    spec = _spec()
    spec["splits"]["eval_phone"]["bonafide"]["fillets_nl"] = 7
    with pytest.raises(ValueError, match=r"ask for 7 fillets_nl clips .* but 6 have a text"):
        deal(MiniSpec.from_dict(spec), layout)


def test_spec_errors_name_the_key():
    bad = _spec()
    bad["splits"]["dev"]["bonafide"]["fillets_de"] = 1
    with pytest.raises(ValueError, match=r"splits.dev.bonafide: unknown source\(s\) \['fillets_de'\]"):
        MiniSpec.from_dict(bad)
    bad = _spec()
    bad["splits"]["eval_phone"]["systems"] = {"en": ["piper:joe"]}
    with pytest.raises(ValueError, match=r"eval_phone: source fillets_nl is nl, but systems.nl"):
        MiniSpec.from_dict(bad)
    with pytest.raises(ValueError, match=r"corpora.mini: unknown key\(s\) \['sead'\]"):
        MiniSpec.from_dict(_spec(sead=1))
    with pytest.raises(ValueError, match=r"eval_phone.channel: 'radio'"):
        MiniSpec.from_dict(_spec(splits={"eval_phone": {**_spec()["splits"]["eval_phone"],
                                                        "channel": "radio"}}))


def test_check_speakers_refuses_a_train_speaker_in_eval():
    spec = MiniSpec.from_dict(_spec())
    check_speakers(spec, "train", ["eval_tts", "eval_phone"])
    with pytest.raises(ValueError, match=r"splits.dev: bona fide source\(s\) \['fillets_cs', "
                                         r"'fillets_en'\] are also in the training split train"):
        check_speakers(spec, "train", ["dev"])
    check_split_refs(spec, "mini/train", ["mini/eval_tts", "demo/eval", "mini/eval_phone"])
    check_split_refs(spec, "demo/train", ["mini/dev"])  # training on another corpus: no check
    with pytest.raises(ValueError, match=r"mini/eval_x: corpora.mini.splits has no 'eval_x'"):
        check_split_refs(spec, "mini/train", ["mini/eval_x"])


# ----------------------------------------------------------------------------- transcripts


def test_official_transcripts_and_only_dealt_prompts_are_written(layout, transcripts):
    known = official_transcripts(layout)
    assert known["vm-deleted"] == "Message deleted." and "beep" not in known
    rows = read_transcripts(transcripts)
    dealt = sorted(c.path.name for c in deal(MiniSpec.from_dict(_spec()), layout)["eval_tts"])
    assert sorted(rows) == dealt and len(rows) == 4
    assert transcripts.read_text().startswith("# asterisk-core-sounds-en-g722 1.6.1-1 sha256 ")


def test_whisper_transcriber_gets_the_dealt_waves(layout, tmp_path, monkeypatch):
    calls = []

    def transcribe(waves, rate, model="whisper-tiny.en", batch_size=8):
        calls.append((len(waves), rate, model, batch_size))
        assert all(w.dtype == np.float32 and 0.6 * rate < len(w) < 2 * rate for w in waves)
        return [f"  text   {len(w)} " for w in waves]

    monkeypatch.setitem(sys.modules, "reconfake.corpora.transcribe",
                        types.SimpleNamespace(transcribe=transcribe))
    spec = MiniSpec.from_dict(_spec(transcriber="whisper-tiny.en"))
    rows = read_transcripts(transcribe_prompts(spec, layout, tmp_path / "t.tsv", batch_size=4))
    assert calls == [(4, 16000, "whisper-tiny.en", 4)]
    assert all(t.startswith("text ") and "  " not in t for t in rows.values())


def test_select_drops_unusable_or_repeated_transcripts_deterministically(layout, tmp_path):
    spec = MiniSpec.from_dict(_spec())
    dealt = [c.path.name for c in deal(spec, layout)["eval_tts"]]
    tsv = tmp_path / "t.tsv"
    texts = ["Same text.", "same  text!", "A usable one.", "Another one."]
    tsv.write_text("file\ttext\n" + "".join(f"{f}\t{t}\n" for f, t in zip(dealt, texts,
                                                                          strict=True)))
    with pytest.raises(ValueError, match=r"eval_tts: only 2 of 3 dealt allison prompts have a "
                                         r"usable, unique transcript but 3 are asked for"):
        # without a spare, the repeated text leaves two
        select(MiniSpec.from_dict(_spec(spare=0.0)), layout, read_transcripts(tsv))
    got = select(spec, layout, read_transcripts(tsv))["eval_tts"]
    assert [s.text for s in got] == ["Same text.", "A usable one.", "Another one."]
    tsv.write_text("file\ttext\n" + f"{dealt[0]}\tHello.\n")
    with pytest.raises(KeyError, match=rf"no row for {dealt[1]} \(dealt to split eval_tts\)"):
        select(spec, layout, read_transcripts(tsv))
    with pytest.raises(ValueError, match="eval_tts: source allison needs the prompts' transcripts"):
        select(spec, layout, None)


# ----------------------------------------------------------------------------- build_split


def _spoken(monkeypatch) -> list[tuple[str, str]]:
    """Record what the TTS systems are asked to say (they still speak it)."""
    import reconfake.corpora.speech_systems as systems

    said, real = [], systems.speak

    def speak(system, text, packages_root=None):
        said.append((system, text))
        return real(system, text, packages_root)

    monkeypatch.setattr(systems, "speak", speak)
    return said


def _band_energy_above(x: np.ndarray, hz: float, rate: int = 16000) -> float:
    power = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / rate)
    return float(power[freqs > hz].sum() / power.sum())


def test_build_split_pairs_texts_speakers_and_durations(layout, transcripts, tmp_path,
                                                        monkeypatch):
    said = _spoken(monkeypatch)
    spec = MiniSpec.from_dict(_spec())
    chosen = select(spec, layout, read_transcripts(transcripts))
    out = tmp_path / "mini"
    rows = {s: read_manifest(build_split(s, spec, layout, out, transcripts))
            for s in ("train", "eval_tts")}
    train = rows["train"]
    assert Counter(r.label for r in train) == {"bonafide": 6, "spoof": 6}
    assert Counter(r.attack for r in train if r.label == "spoof") == {
        "espeak_cs": 3, "espeak_cs_m3": 2, "espeak_en_us": 1}
    assert {r.speaker for r in train if r.label == "bonafide"} <= {
        "fillets_cs_m", "fillets_cs_v", "fillets_en_p", "fillets_en_x"}
    assert {r.attack for r in rows["eval_tts"] if r.label == "spoof"} == {"espeak_en_f3"}
    assert {r.speaker for r in rows["eval_tts"] if r.label == "bonafide"} == {"allison"}
    # each spoof speaks the text of the bona fide clip it stands beside, in split order
    assert [t for _, t in said] == [s.text for s in chosen["train"] + chosen["eval_tts"]]
    assert len(said) == 9 and [s for s, _ in said][-3:] == ["espeak:en+f3"] * 3
    for split, split_rows in rows.items():
        assert [r.utt_id for r in split_rows[::2]] == [r.utt_id[:-1] + "b" for r in split_rows[1::2]]
        for r in split_rows:
            x, rate = load_audio(r.path, expected_rate=16000)
            assert len(x) == r.num_samples and rate == r.sample_rate == 16000
            assert r.corpus == "mini" and r.split == split
            assert 0.3 < r.duration_s < 8.5 and 0.4 < float(np.max(np.abs(x))) <= 0.91
    assert sorted(p.name for p in out.iterdir()) == ["eval_tts", "eval_tts.parquet", "train",
                                                    "train.parquet"]
    assert not set(s.key for s in chosen["train"]) & set(s.key for s in chosen["dev"])


def test_telephone_channel_has_no_energy_above_4khz(layout, tmp_path):
    spec = MiniSpec.from_dict(_spec())
    rows = read_manifest(build_split("eval_phone", spec, layout, tmp_path, None))
    assert Counter(r.label for r in rows) == {"bonafide": 4, "spoof": 4}
    assert {r.speaker for r in rows if r.label == "bonafide"} <= {"fillets_nl_m", "fillets_nl_v"}
    for r in rows:
        x, _ = load_audio(r.path)
        assert _band_energy_above(x, 4100) < 1e-3, r.utt_id
    plain = read_manifest(build_split("dev", spec, layout, tmp_path, None))
    assert max(_band_energy_above(load_audio(r.path)[0], 4100) for r in plain) > 1e-3


def test_undecodable_clip_is_named_or_skipped_and_counted(layout, tmp_path, caplog):
    import shutil

    broken = tmp_path / "packages"
    shutil.copytree(layout, broken)
    spec = MiniSpec.from_dict(_spec())
    victim = deal(spec, broken)["eval_phone"][1]
    victim.path.write_bytes(b"OggS" + b"\0" * 200)
    with pytest.raises(ValueError, match=rf"{victim.path.name} \({victim.key}\): cannot decode"):
        build_split("eval_phone", spec, broken, tmp_path / "a", None)
    assert not (tmp_path / "a").exists() or not list((tmp_path / "a").iterdir())
    skip = MiniSpec.from_dict(_spec(bad_audio="skip"))
    with caplog.at_level("INFO", logger="reconfake"):
        rows = read_manifest(build_split("eval_phone", skip, broken, tmp_path / "b", None))
    assert Counter(r.label for r in rows) == {"bonafide": 4, "spoof": 4}  # 5 readable are left
    assert victim.key not in [s.key for s in deal(skip, broken)["eval_phone"]]
    assert "fillets_nl: 1 unreadable recording(s) skipped" in caplog.text
    # a clip whose header reads but whose audio is silent is caught when it is loaded
    shutil.copy(layout / victim.path.relative_to(broken), victim.path)
    silent = deal(spec, broken)["eval_phone"][0]
    import soundfile as sf

    sf.write(silent.path, np.zeros(22050, dtype=np.float32), 22050, format="OGG",
             subtype="VORBIS")
    with caplog.at_level("INFO", logger="reconfake"):
        rows = read_manifest(build_split("eval_phone", skip, broken, tmp_path / "c", None))
    assert Counter(r.label for r in rows) == {"bonafide": 3, "spoof": 3}
    assert "3 bona fide" in caplog.text and "1 skipped" in caplog.text
    with pytest.raises(ValueError, match=rf"{silent.path.name} \({silent.key}\): silent"):
        build_split("eval_phone", spec, broken, tmp_path / "d", None)


def test_cli_builds_a_split_and_names_a_bad_split(layout, transcripts, tmp_path):
    import json

    spec = json.dumps(_spec())
    args = ["mini-corpus", "--spec", spec, "--packages", str(layout), "--transcripts",
            str(transcripts), "--out-dir", str(tmp_path)]
    assert main(args + ["--split", "eval_tts"]) == 0
    assert len(read_manifest(tmp_path / "eval_tts.parquet")) == 6
    assert main(args + ["--split", "nope"]) == 2
    out = tmp_path / "t.tsv"
    assert main(["mini-transcripts", "--root", str(layout), "--spec", spec, "--out",
                 str(out)]) == 0
    assert out.read_text() == transcripts.read_text()


def test_config_schema_fills_mini_defaults_and_names_wrong_keys():
    from reconfake.config import ConfigError, validate_config

    schema = Path(__file__).resolve().parents[1] / "workflow" / "schemas" / "config.schema.yaml"
    config = {"corpora": {"mini": _spec()}, "train_set": "mini/train", "dev_set": "mini/dev",
              "eval_sets": {"piper": "mini/eval_tts"}}
    validate_config(config, schema)
    mini = config["corpora"]["mini"]
    assert (mini["spare"], mini["transcriber"], mini["packages_dir"]) == (0.2, "official", None)
    assert mini["splits"]["train"]["channel"] is None
    MiniSpec.from_dict(mini)
    bad = {**config, "corpora": {"mini": {**_spec(), "speed": 1}}}
    with pytest.raises(ConfigError, match=r"corpora.mini: unknown key\(s\) \['speed'\]"):
        validate_config(bad, schema)
    bad = {**config, "corpora": {"mini": _spec()}}
    bad["corpora"]["mini"]["splits"]["dev"]["systems"] = {"en": ["festival:kal"]}
    with pytest.raises(ConfigError, match=r"corpora.mini.splits.dev.systems.en.0"):
        validate_config(bad, schema)


# ----------------------------------------------------------------------------- TTS systems


def test_speak_piper_joe_is_16k_plausible_and_deterministic():
    pytest.importorskip("piper", reason="piper-tts is not installed")
    from reconfake.corpora.speech_systems import speak

    text = "Please enter your password, followed by the pound key."
    a, b = speak("piper:joe", text), speak("piper:joe", text)
    assert a.dtype == np.float32 and a.ndim == 1
    assert 1.5 * 16000 < len(a) < 6 * 16000  # ~9 words at 2-4 words a second
    assert np.array_equal(a, b)
    assert 0.05 < float(np.max(np.abs(a))) < 1.5  # after resampling to 16 kHz


def test_speak_names_bad_systems():
    from reconfake.corpora.speech_systems import speak

    with pytest.raises(ValueError, match=r"expected ENGINE:VOICE"):
        speak("espeak", "hi")
    with pytest.raises(ValueError, match=r"TTS engine 'festival'"):
        speak("festival:kal", "hi")
    with pytest.raises(ValueError, match=r"flite needs the folder"):
        speak("flite:kal16", "hi")
    with pytest.raises(ValueError, match=r"flite voice 'nope'"):
        speak("flite:nope", "hi", "/nonexistent")


def test_speak_flite_from_the_real_debian_package(tmp_path_factory):
    """flite 2.2 from Debian's own .deb: from RECONFAKE_DEB_DIR or /tmp/debs when they hold it,
    otherwise apt-get download or the mirror; skipped when none of these can fetch it."""
    from reconfake.corpora.debian import PACKAGES, unpack_package
    from reconfake.corpora.download import DownloadError
    from reconfake.corpora.speech_systems import speak

    folder = os.environ.get("RECONFAKE_DEB_DIR") or "/tmp/debs"
    have = all((Path(folder) / PACKAGES[n].filename).is_file() for n in ("flite", "libflite1"))
    root = tmp_path_factory.mktemp("flite")
    try:
        for name in ("flite", "libflite1"):
            unpack_package(name, root, packages_dir=folder if have else None)
    except (DownloadError, OSError) as exc:
        pytest.skip(f"the flite .deb files could not be fetched ({exc}); put them in "
                    "RECONFAKE_DEB_DIR to run this test")
    a = speak("flite:kal16", "Hello world, this is flite.", root)
    b = speak("flite:awb", "Hello world, this is flite.", root)
    assert a.dtype == np.float32 and 0.8 * 16000 < len(a) < 5 * 16000
    assert 0.8 * 16000 < len(b) < 5 * 16000
    assert np.array_equal(a, speak("flite:kal16", "Hello world, this is flite.", root))
