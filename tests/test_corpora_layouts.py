"""download + prepare through the CLI for WaveFake (+ LJSpeech, JSUT), CodecFake (Xie: split zips
from Zenodo; Wu: Parquet shards from the Hub) and DiffSSD (+ LJSpeech, LibriSpeech), each served
by a loopback mirror of its real layout."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from reconfake.corpora import codecfake_wu
from reconfake.corpora import download as dl
from reconfake.manifest import read_manifest
from tests.corpora_fixtures import (
    FAST,
    WU_ROWS,
    XIE_SPLITS,
    build_diffssd,
    build_wavefake,
    build_wu,
    build_xie,
    diffssd_csv,
    run_cli,
    sha256,
    use_fixture_archives,
)


def _run(corpus: str, out: Path, *download_args: str) -> int:
    code = run_cli(["download", corpus, "--out-dir", str(out), *download_args, *FAST])
    return code or run_cli(["prepare", corpus, "--out-dir", str(out)])


def _by_attack(rows) -> dict[str, int]:
    return dict(sorted(Counter(r.attack for r in rows).items()))


def test_wavefake_with_ljspeech_and_jsut(loopback, tmp_path, monkeypatch):
    files = build_wavefake(loopback.root)
    use_fixture_archives(monkeypatch, "wavefake", files)
    out = tmp_path / "data" / "wavefake"
    assert _run("wavefake", out, "--mirror", loopback.url, "--options", '{"jsut": true}') == 0
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


def test_codecfake_xie_from_split_zips(loopback, tmp_path, monkeypatch, capsys):
    files = build_xie(loopback.root, tmp_path / "build")
    use_fixture_archives(monkeypatch, "codecfake_xie", files)
    out = tmp_path / "data" / "codecfake_xie"
    assert _run("codecfake_xie", out, "--mirror", loopback.url) == 0
    assert sorted(p.stem for p in out.glob("*.parquet")) == sorted([*XIE_SPLITS, "test"])
    train = read_manifest(out / "train.parquet")
    assert sorted((r.utt_id, r.label, r.attack, r.speaker) for r in train) == [
        ("F01_SSB00000002", "spoof", "C5", "SSB0000"), ("F01_p200_001", "spoof", "C3", "p200"),
        ("p200_003", "bonafide", "bonafide", "p200")]
    c7 = read_manifest(out / "C7.parquet")
    assert {r.attack for r in c7 if r.label == "spoof"} == {"C7"}
    assert all(r.utt_id.startswith("C7_") for r in c7)
    test = read_manifest(out / "test.parquet")
    assert len(test) == 30 and _by_attack(test)["bonafide"] == 10
    fetched = {path for path, _ in loopback.requests}
    assert {"train_split.z01", "train_split.z19", "train_split.zip", "dev_split.z02", "label.zip"} <= fetched
    assert not list((out / "archives").glob("*.z*"))  # volumes deleted after extraction
    assert "  test                30        10        20" in capsys.readouterr().out


def test_codecfake_wu_shards_listed_by_the_hub_api(loopback, tmp_path, monkeypatch):
    shards = build_wu(loopback.root)
    monkeypatch.setattr(dl, "HF_TREE_API", loopback.url + "/api/datasets/{repo}/tree/main/{folder}")
    monkeypatch.setattr(codecfake_wu, "RESOLVE", loopback.url + "/")
    loopback.json_routes["api/datasets/rogertseng/CodecFake/tree/main/data"] = [
        {"type": "file", "path": name, "size": p.stat().st_size,
         "lfs": {"oid": sha256(p), "size": p.stat().st_size}} for name, p in shards.items()]
    out = tmp_path / "data" / "codecfake_wu"
    assert _run("codecfake_wu", out) == 0  # official source (the Hub), here on loopback
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
    shards = build_wu(loopback.root, shards=1)
    monkeypatch.setattr(dl, "HF_TREE_API", loopback.url + "/api/datasets/{repo}/tree/main/{folder}")
    monkeypatch.setattr(codecfake_wu, "RESOLVE", loopback.url + "/")
    loopback.json_routes["api/datasets/rogertseng/CodecFake/tree/main/data"] = [
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


def test_diffssd_with_ljspeech_and_librispeech(loopback, tmp_path, monkeypatch):
    files = build_diffssd(loopback.root)
    use_fixture_archives(monkeypatch, "diffssd", files)
    out = tmp_path / "data" / "diffssd"
    assert _run("diffssd", out, "--mirror", loopback.url) == 0
    train = read_manifest(out / "train.parquet")
    assert sorted((r.utt_id, r.label, r.attack, r.speaker) for r in train) == [
        ("generated_speech_gradtts_ljspeech_gradtts_0001", "spoof", "gradtts", ""),
        ("real_speech_librispeech_dev-clean_2086_149220_2086-149220-0001", "bonafide", "bonafide", "2086"),
        ("real_speech_ljspeech_LJ001-0001", "bonafide", "bonafide", "LJ")]
    paths = {r.utt_id: r.path for r in train}
    assert paths["real_speech_ljspeech_LJ001-0001"].endswith("LJSpeech-1.1/wavs/LJ001-0001.wav")
    assert paths["real_speech_librispeech_dev-clean_2086_149220_2086-149220-0001"].endswith(
        "LibriSpeech/dev-clean/2086/149220/2086-149220-0001.flac")
    assert _by_attack(read_manifest(out / "val.parquet")) == {"bonafide": 1, "diffgan_tts": 1}
    assert _by_attack(read_manifest(out / "test.parquet")) == {"bonafide": 1, "prodiff": 1}
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
