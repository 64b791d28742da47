"""download + prepare through the CLI for WaveFake (+ LJSpeech, JSUT), CodecFake (Xie: split zips
from Zenodo, current and first records; Wu: Parquet shards from the Hub) and DiffSSD (+ LJSpeech,
LibriSpeech), each served by a loopback mirror of its real current layout, with the fixtures'
counts checked (``--strict``) through the corpus' own known-counts mechanism and the published
counts spelled out."""

from __future__ import annotations

import json
import logging
from collections import Counter
from pathlib import Path

import pytest

from reconfake.corpora import codecfake_wu, codecfake_xie, diffssd, wavefake
from reconfake.corpora import download as dl
from reconfake.manifest import read_manifest, read_manifest_metadata
from tests.corpora_fixtures import (
    DIFFSSD_ROWS,
    FAST,
    WU_ROWS,
    XIE_SPLITS,
    XIE_TEST,
    XIE_VOLUMES,
    build_diffssd,
    build_wavefake,
    build_wu,
    build_xie,
    diffssd_csv,
    run_cli,
    sha256,
    use_fixture_archives,
    use_fixture_counts,
)


def _run(corpus: str, out: Path, *download_args: str, prepare: tuple[str, ...] = ()) -> int:
    code = run_cli(["download", corpus, "--out-dir", str(out), *download_args, *FAST])
    return code or run_cli(["prepare", corpus, "--out-dir", str(out), *prepare])


def test_published_counts():
    """The counts each corpus is checked against, as published (see the modules' docstrings)."""
    assert wavefake.SPEC.known_counts["eval"] == {"total": 121_083, "bonafide": 13_100,
                                                  "spoof": 7 * 13_100 + 16_283}
    assert diffssd.SPEC.known_counts["all"] == {"total": 94_226, "bonafide": 24_226, "spoof": 70_000}
    assert sum(diffssd.REAL_SOURCES.values()) == 13_100 + 2_703 + 2_864 + 2_620 + 2_939 == 24_226
    xie = codecfake_xie.SPEC.known_counts
    assert xie["A3"] == {"total": 99_112 - 49_274, "spoof": 49_838}
    assert xie["test"]["total"] == sum(xie[c]["total"] for c in XIE_TEST) == 322_045


def _by_attack(rows) -> dict[str, int]:
    return dict(sorted(Counter(r.attack for r in rows).items()))


def test_wavefake_with_ljspeech_and_jsut(loopback, tmp_path, monkeypatch, caplog):
    files = build_wavefake(loopback.root)
    use_fixture_archives(monkeypatch, "wavefake", files)
    # scaled: 2 LJSpeech clips; 2+2+2 (melgan, hifiGAN, waveglow) + 4 x 1 + 1 common-voices fakes
    use_fixture_counts(monkeypatch, "wavefake", {"eval": {"total": 13, "bonafide": 2, "spoof": 11},
                                                 "eval_jsut": {"total": 3, "bonafide": 1, "spoof": 2}})
    out = tmp_path / "data" / "wavefake"
    with caplog.at_level(logging.INFO, logger="reconfake"):
        assert _run("wavefake", out, "--mirror", loopback.url, "--options", '{"jsut": true}',
                    prepare=("--strict",)) == 0
    assert "skipped 1 nested copies of its own clips (same name and size)" in caplog.text
    rows = read_manifest(out / "eval.parquet")
    assert _by_attack(rows) == {
        "bonafide": 2, "common_voices_prompts_from_conformer_fastspeech2_pwg_ljspeech": 1,
        "ljspeech_full_band_melgan": 1, "ljspeech_hifiGAN": 2, "ljspeech_melgan": 2,
        "ljspeech_melgan_large": 1, "ljspeech_multi_band_melgan": 1, "ljspeech_parallel_wavegan": 1,
        "ljspeech_waveglow": 2}
    ids = {r.utt_id for r in rows}
    assert {"LJ001-0001", "ljspeech_hifiGAN_LJ001-0001_generated", "ljspeech_waveglow_LJ001-0002"} <= ids
    assert {r.sample_rate for r in rows} == {22050} and {r.speaker for r in rows} == {"LJ"}
    jsut = read_manifest(out / "eval_jsut.parquet")
    assert sorted((r.utt_id, r.label, r.sample_rate) for r in jsut) == [
        ("BASIC5000_0001", "bonafide", 48000),
        ("jsut_multi_band_melgan_BASIC5000_0001_gen", "spoof", 24000),
        ("jsut_parallel_wavegan_BASIC5000_0001_gen", "spoof", 24000)]
    assert [r for r in loopback.requests if r[0] == "jsut_ver1.1.zip"]


def test_wavefake_without_jsut_fetches_no_jsut(loopback, tmp_path, monkeypatch):
    use_fixture_archives(monkeypatch, "wavefake", build_wavefake(loopback.root))
    out = tmp_path / "wf"
    assert _run("wavefake", out, "--mirror", str(loopback.root)) == 0
    assert sorted(p.name for p in out.glob("*.parquet")) == ["eval.parquet"]
    assert not (out / "jsut_ver1.1").exists()


def _xie_counts() -> dict[str, dict[str, int]]:
    """The fixture's counts: three clips per split (two fakes, one real), A3 its two fakes."""
    counts = {s: {"total": 3, "bonafide": 1, "spoof": 2} for s in XIE_SPLITS}
    counts["A3"] = {"total": 2, "bonafide": 0, "spoof": 2}
    counts["test"] = {"total": 3 * len(XIE_TEST), "bonafide": len(XIE_TEST), "spoof": 2 * len(XIE_TEST)}
    return counts


def test_codecfake_xie_current_records(loopback, tmp_path, monkeypatch, capsys, caplog):
    files = build_xie(loopback.root, tmp_path / "build")
    assert "train_split.z16" in files and "train_split.z17" not in files
    use_fixture_archives(monkeypatch, "codecfake_xie", files)
    use_fixture_counts(monkeypatch, "codecfake_xie", _xie_counts())
    out = tmp_path / "data" / "codecfake_xie"
    with caplog.at_level(logging.INFO, logger="reconfake"):
        assert _run("codecfake_xie", out, "--mirror", loopback.url, prepare=("--strict",)) == 0
    assert sorted(p.stem for p in out.glob("*.parquet")) == sorted([*XIE_SPLITS, "test"])
    train = read_manifest(out / "train.parquet")
    assert sorted((r.utt_id, r.label, r.attack, r.speaker) for r in train) == [
        ("F01_SSB00000002", "spoof", "C5", "SSB0000"), ("F01_p200_001", "spoof", "C3", "p200"),
        ("p200_003", "bonafide", "bonafide", "p200")]
    assert len(read_manifest(out / "dev.parquet")) == 3
    # the inner train.zip/dev.zip were unpacked and are not left behind, nor their folders
    assert "unpacking the archive it wraps, data7/xyk/codecfake/upload_zenodo/train.zip" in caplog.text
    assert not (out / "data7").exists() and not list(out.rglob("train.zip"))
    c7 = read_manifest(out / "C7.parquet")
    assert {r.attack for r in c7 if r.label == "spoof"} == {"C7"}
    assert all(r.utt_id.startswith("C7_") for r in c7)
    # A3: the distributed fakes only; the real clip its label file names is reported, not fatal
    a3 = read_manifest(out / "A3.parquet")
    assert sorted((r.utt_id, r.label) for r in a3) == [("A3_F01_SSB00110002", "spoof"),
                                                        ("A3_F01_p211_001", "spoof")]
    assert "codecfake_xie/A3: left out 1 real clip(s)" in caplog.text and "p211_003.wav" in caplog.text
    assert "not redistributed for copyright reasons" in read_manifest_metadata(out / "A3.parquet")["note"]
    test = read_manifest(out / "test.parquet")
    assert len(test) == 27 and _by_attack(test)["bonafide"] == 9
    assert {r.attack for r in test if r.label == "spoof"} == set(XIE_TEST)
    assert read_manifest_metadata(out / "test.parquet")["note"].startswith("C1-C7, A1, A2")
    fetched = {path for path, _ in loopback.requests}
    assert {"train_split.z01", "train_split.z16", "train_split.zip", "dev_split.z02", "label.zip"} <= fetched
    assert "train_split.z17" not in fetched
    assert not list((out / "archives").glob("*.z*"))  # volumes deleted after extraction
    printed = capsys.readouterr().out
    assert "  test                27         9        18" in printed and "note A3: fakes only" in printed
    marker = json.loads((out / ".downloaded").read_text())
    assert marker["options"]["release"] == "2024-09"
    assert "/records/13853860/files/train_split.z16" in marker["urls"]["train_split.z16"]
    assert "/records/13838106/files/label.zip" in marker["urls"]["label.zip"]


def test_codecfake_xie_first_records_still_prepare(loopback, tmp_path, monkeypatch, caplog):
    files = build_xie(loopback.root, tmp_path / "build", release="2024-05")
    use_fixture_archives(monkeypatch, "codecfake_xie", files)
    use_fixture_counts(monkeypatch, "codecfake_xie", _xie_counts())
    out = tmp_path / "old"
    assert _run("codecfake_xie", out, "--mirror", str(loopback.root)) == 2  # default: current records
    assert "the mirror holds train_split.z19" in caplog.text and "release: 2024-05" in caplog.text
    assert _run("codecfake_xie", out, "--mirror", str(loopback.root), "--options",
                '{"release": "2024-05"}', prepare=("--strict",)) == 0
    assert len(read_manifest(out / "test.parquet")) == 27
    marker = json.loads((out / ".downloaded").read_text())
    volumes = [a for a in marker["archives"] if a.startswith("train_split.z") and a != "train_split.zip"]
    assert len(volumes) == XIE_VOLUMES["2024-05"]
    assert "/records/11171724/files/train_split.z19" in marker["urls"]["train_split.z19"]


def test_codecfake_xie_archives_per_release():
    for release, volumes, records in (("2024-09", 16, {"13838106", "13841652", "13853860", "13841216",
                                                        "13838823", "11125029"}),
                                      ("2024-05", 19, {"11171708", "11171720", "11171724", "11169872",
                                                       "11169781", "11125029"})):
        archives = codecfake_xie.SPEC.archives_for({"release": release})
        names = [a.name for a in archives]
        assert len(names) == len(set(names))
        assert [n for n in names if n.startswith("train_split.z")] == [
            *(f"train_split.z{i:02d}" for i in range(1, volumes + 1)), "train_split.zip"]
        assert {a.published.partition(":")[2] for a in archives} == records
        assert all(a.nested == (release == "2024-09") for a in archives if a.name.endswith("_split.zip"))
    with pytest.raises(ValueError, match="option release='2025'; use one of"):
        codecfake_xie.SPEC.archives_for({"release": "2025"})


def test_codecfake_xie_missing_a3_fake_names_the_file(loopback, tmp_path, monkeypatch, caplog):
    files = build_xie(loopback.root, tmp_path / "build")
    use_fixture_archives(monkeypatch, "codecfake_xie", files)
    out = tmp_path / "x"
    assert _run("codecfake_xie", out, "--mirror", str(loopback.root)) == 0
    (out / "A3" / "F01_p211_001.wav").unlink()
    assert run_cli(["prepare", "codecfake_xie", "--out-dir", str(out)]) == 2
    assert "A3.txt:1: " in caplog.text and "A3/F01_p211_001.wav" in caplog.text
    caplog.clear()
    (out / "A3" / "F01_p211_001.wav").write_bytes((out / "A3" / "F01_SSB00110002.wav").read_bytes())
    # asking for A3's real clips without supplying them names the first missing one
    assert run_cli(["prepare", "codecfake_xie", "--out-dir", str(out), "--options",
                    '{"a3_bonafide": true}']) == 2
    assert "A3.txt:3: " in caplog.text and "A3/p211_003.wav" in caplog.text


WU_COMMIT = "0123456789abcdef0123456789abcdef01234567"


def _hub_on_loopback(loopback, monkeypatch) -> None:
    """The Hub's revision and tree APIs and its resolve URLs, served by the loopback server."""
    monkeypatch.setattr(dl, "HF_TREE_API", loopback.url + "/api/datasets/{repo}/tree/{revision}/{folder}")
    monkeypatch.setattr(dl, "HF_REVISION_API", loopback.url + "/api/datasets/{repo}/revision/{revision}")
    monkeypatch.setattr(codecfake_wu, "RESOLVE",
                        loopback.url + "/datasets/rogertseng/CodecFake/resolve/main/")
    loopback.json_routes["api/datasets/rogertseng/CodecFake/revision/main"] = {"sha": WU_COMMIT}


def test_codecfake_wu_shards_listed_by_the_hub_api(loopback, tmp_path, monkeypatch):
    # files exist only under the resolved commit: fetching "main" would fail
    shards = build_wu(loopback.root / "datasets" / "rogertseng" / "CodecFake" / "resolve" / WU_COMMIT)
    _hub_on_loopback(loopback, monkeypatch)
    loopback.json_routes[f"api/datasets/rogertseng/CodecFake/tree/{WU_COMMIT}/data"] = [
        {"type": "file", "path": name, "size": p.stat().st_size,
         "lfs": {"oid": sha256(p), "size": p.stat().st_size}} for name, p in shards.items()]
    out = tmp_path / "data" / "codecfake_wu"
    assert _run("codecfake_wu", out) == 0  # official source (the Hub), here on loopback
    marker = json.loads((out / ".downloaded").read_text())
    assert marker["revisions"] == {"rogertseng/CodecFake": {"requested": "main", "resolved": WU_COMMIT}}
    assert all(f"/resolve/{WU_COMMIT}/data/" in url for url in marker["urls"].values())
    meta = read_manifest_metadata(out / "train.parquet")
    assert json.loads(meta["revisions"])["rogertseng/CodecFake"]["resolved"] == WU_COMMIT
    assert meta["corpus"] == "codecfake_wu" and meta["mode"] == "download"
    rows = read_manifest(out / "train.parquet")
    assert sorted((r.utt_id, r.label, r.attack, r.speaker) for r in rows) == [
        ("dac_16k_p225_001", "spoof", "dac_16k", "p225"),
        ("encodec_24k_6bps_p225_001", "spoof", "encodec_24k_6bps", "p225"),
        ("genuine_p225_001", "bonafide", "bonafide", "p225"),
        ("genuine_p226_002", "bonafide", "bonafide", "p226")]
    assert len(rows) == len(WU_ROWS)
    assert {Path(r.path).suffix for r in rows} == {".wav", ".flac"}
    assert all(Path(r.path).is_file() for r in rows)
    assert not list((out / "archives").rglob("*.parquet"))
    marker = json.loads((out / ".downloaded").read_text())
    assert marker["archives"] == sorted(shards)


def test_codecfake_wu_shard_checksum_from_the_hub_is_checked(loopback, tmp_path, monkeypatch, caplog):
    shards = build_wu(loopback.root / "datasets" / "rogertseng" / "CodecFake" / "resolve" / WU_COMMIT,
                      shards=1)
    _hub_on_loopback(loopback, monkeypatch)
    loopback.json_routes[f"api/datasets/rogertseng/CodecFake/tree/{WU_COMMIT}/data"] = [
        {"type": "file", "path": name, "lfs": {"oid": "0" * 64, "size": p.stat().st_size}}
        for name, p in shards.items()]
    assert run_cli(["download", "codecfake_wu", "--out-dir", str(tmp_path / "o"), *FAST]) == 2
    assert "data/train-00000-of-00001.parquet: sha256 checksum mismatch" in caplog.text


def test_codecfake_wu_http_mirror_needs_num_shards(loopback, tmp_path, caplog):
    build_wu(loopback.root)
    out = tmp_path / "wu"
    assert run_cli(["download", "codecfake_wu", "--out-dir", str(out), "--mirror", loopback.url, *FAST]) == 2
    assert "set the corpus option num_shards" in caplog.text
    assert _run("codecfake_wu", out, "--mirror", loopback.url, "--options", '{"num_shards": 2}') == 0
    assert len(read_manifest(out / "train.parquet")) == 4
    # a mirror's commit cannot be checked: the requested revision is recorded as unverified
    assert "their commit is not verified" in caplog.text
    revisions = json.loads(read_manifest_metadata(out / "train.parquet")["revisions"])
    assert revisions == {"rogertseng/CodecFake": {"requested": "main", "resolved": None}}


def test_diffssd_with_ljspeech_and_librispeech(loopback, tmp_path, monkeypatch, caplog):
    files = build_diffssd(loopback.root)
    assert (loopback.root / "generated_speech.tar").read_bytes()[:2] == b"\x1f\x8b"  # gzip inside
    use_fixture_archives(monkeypatch, "diffssd", files)
    real = sum(1 for r in DIFFSSD_ROWS if r[-1] == "0")
    use_fixture_counts(monkeypatch, "diffssd", {"all": {"total": len(DIFFSSD_ROWS), "bonafide": real,
                                                        "spoof": len(DIFFSSD_ROWS) - real}})
    out = tmp_path / "data" / "diffssd"
    with caplog.at_level(logging.INFO, logger="reconfake"):
        assert _run("diffssd", out, "--mirror", loopback.url, prepare=("--strict",)) == 0
    fetched = {path for path, _ in loopback.requests}
    assert {f"{s}.tar.gz" for s in diffssd.LIBRISPEECH} <= fetched
    # every real source is counted against its published size (the fixture holds a few of each)
    assert "real clips per source differ from the published sizes" in caplog.text
    assert "librispeech/dev-other 1 (published 2864)" in caplog.text
    train = read_manifest(out / "train.parquet")
    assert sorted((r.utt_id, r.label, r.attack, r.speaker) for r in train) == [
        ("generated_speech_gradtts_ljspeech_gradtts_0001", "spoof", "gradtts", ""),
        ("real_speech_librispeech_dev-clean_2086_149220_2086-149220-0001", "bonafide", "bonafide", "2086"),
        ("real_speech_librispeech_dev-other_116_288045_116-288045-0000", "bonafide", "bonafide", "116"),
        ("real_speech_ljspeech_LJ001-0001", "bonafide", "bonafide", "LJ")]
    paths = {r.utt_id: r.path for r in train}
    assert paths["real_speech_ljspeech_LJ001-0001"].endswith("LJSpeech-1.1/wavs/LJ001-0001.wav")
    assert paths["real_speech_librispeech_dev-clean_2086_149220_2086-149220-0001"].endswith(
        "LibriSpeech/dev-clean/2086/149220/2086-149220-0001.flac")
    assert _by_attack(read_manifest(out / "val.parquet")) == {"bonafide": 1, "diffgan_tts": 1}
    assert _by_attack(read_manifest(out / "test.parquet")) == {"bonafide": 2, "prodiff": 1}
    assert (out / "train_val_test_splits.csv").read_bytes() == diffssd_csv()


def test_diffssd_unknown_target_and_missing_audio(loopback, tmp_path, monkeypatch, caplog):
    files = build_diffssd(loopback.root)
    table = loopback.root / "train_val_test_splits.csv"
    good = table.read_text()
    out = tmp_path / "d"
    table.write_text(good.replace(",train,1\n", ",train,2\n", 1))
    use_fixture_archives(monkeypatch, "diffssd", files)
    assert _run("diffssd", out, "--mirror", str(loopback.root)) == 2
    assert "train_val_test_splits.csv:4: unknown label '2'; expected one of ['0', '1']" in caplog.text
    caplog.clear()
    (out / "train_val_test_splits.csv").write_text(good.replace("prodiff_0007", "prodiff_9999"))
    assert run_cli(["prepare", "diffssd", "--out-dir", str(out)]) == 2
    assert "train_val_test_splits.csv:6: " in caplog.text and "prodiff_9999.wav" in caplog.text
    assert list(out.glob("*.parquet")) == []
