"""download + prepare through the CLI for ASVspoof 2019 LA and In-the-Wild from a loopback mirror of
their real layouts; bad protocols fail naming file and line with no manifest left behind; a local
copy is registered without downloading; known counts are cross-checked."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from reconfake.corpora.spec import MARKER
from reconfake.manifest import read_manifest
from tests.corpora_fixtures import (
    ASV_LINES,
    FAST,
    asv_files,
    build_asvspoof,
    build_itw,
    itw_files,
    run_cli,
    use_fixture_archives,
    write_zip,
)


def _download_prepare(corpus: str, out: Path, mirror: str, *extra: str) -> int:
    code = run_cli(["download", corpus, "--out-dir", str(out), "--mirror", mirror, *FAST])
    return code or run_cli(["prepare", corpus, "--out-dir", str(out), *extra])


def test_asvspoof2019_la_from_a_mirror(loopback, tmp_path, monkeypatch, capsys, caplog):
    files = build_asvspoof(loopback.root)
    use_fixture_archives(monkeypatch, "asvspoof2019_la", files)  # fixture size and md5 are checked
    out = tmp_path / "data" / "asvspoof2019_la"
    with caplog.at_level(logging.WARNING, logger="reconfake"):
        assert _download_prepare("asvspoof2019_la", out, loopback.url) == 0
    assert sorted(p.name for p in out.glob("*.parquet")) == ["dev.parquet", "eval.parquet", "train.parquet"]
    rows = read_manifest(out / "eval.parquet")
    assert [(r.utt_id, r.label, r.attack, r.speaker) for r in rows] == [
        ("LA_E_1862405", "bonafide", "bonafide", "LA_0033"),
        ("LA_E_2834763", "spoof", "A11", "LA_0039"),
        ("LA_E_8688526", "spoof", "A19", "LA_0014"),
    ]
    assert {(r.corpus, r.split, r.sample_rate, r.num_samples) for r in rows} == {
        ("asvspoof2019_la", "eval", 16000, 4000)}
    assert all(Path(r.path).is_file() and r.path.endswith(f"flac/{r.utt_id}.flac") for r in rows)
    summary = capsys.readouterr().out
    assert "eval                 3         1         2     0.00      71237  A11, A19" in summary
    assert ("asvspoof2019_la/eval: found 3 clips (1 bonafide, 2 spoof), the corpus has 71237 clips "
            "(7355 bonafide, 63882 spoof)") in caplog.text


def test_strict_makes_a_count_mismatch_an_error(loopback, tmp_path, caplog):
    build_asvspoof(loopback.root)
    out = tmp_path / "asv"
    assert _download_prepare("asvspoof2019_la", out, str(loopback.root), "--strict") == 2
    assert "counts differ from the corpus' known counts (--strict):" in caplog.text
    assert "asvspoof2019_la/train: found 3 clips (1 bonafide, 2 spoof), the corpus has 25380" in caplog.text
    assert list(out.glob("*.parquet")) == []


@pytest.mark.parametrize("protocol,message", [
    ("LA_0079 LA_T_1138215 - - bonafide\nLA_0079 LA_T_1271820 A01 spoof\n",
     "ASVspoof2019.LA.cm.train.trn.txt:2: expected 5 space-separated fields 'SPEAKER UTT - SYSTEM KEY', "
     "got 4: 'LA_0079 LA_T_1271820 A01 spoof'"),
    ("LA_0079 LA_T_1138215 - - bonafide\nLA_0079 LA_T_1271820 - A01 fake\n",
     "ASVspoof2019.LA.cm.train.trn.txt:2: unknown label 'fake'; expected one of ['bonafide', 'spoof']"),
    ("LA_0079 LA_T_1138215 - - bonafide\nLA_0079 LA_T_9999999 - A01 spoof\n",
     "1 audio file(s) named by the protocol are missing: "),
])
def test_bad_protocol_names_file_and_line_and_writes_no_manifest(loopback, tmp_path, caplog, protocol,
                                                                   message):
    write_zip(loopback.root / "LA.zip", asv_files(protocol_override={"train": protocol}))
    out = tmp_path / "asv"
    assert _download_prepare("asvspoof2019_la", out, loopback.url) == 2
    assert message in caplog.text
    if "missing" in message:
        assert "ASVspoof2019.LA.cm.train.trn.txt:2: " in caplog.text
        assert "ASVspoof2019_LA_train/flac/LA_T_9999999.flac" in caplog.text
    assert list(out.glob("*.parquet")) == []
    assert not list(out.glob(".*.tmp"))


def test_undecodable_audio_names_file_and_line(tmp_path, caplog):
    copy = tmp_path / "copy"
    for name, data in asv_files().items():
        (copy / name).parent.mkdir(parents=True, exist_ok=True)
        (copy / name).write_bytes(b"not audio" if name.endswith("LA_D_1105538.flac") else data)
    out = tmp_path / "asv"
    assert run_cli(["register", "asvspoof2019_la", "--root", str(copy), "--out-dir", str(out)]) == 0
    assert run_cli(["prepare", "asvspoof2019_la", "--out-dir", str(out)]) == 2
    assert "ASVspoof2019.LA.cm.dev.trl.txt:2: " in caplog.text
    assert "LA_D_1105538.flac: cannot read the audio header" in caplog.text
    assert list(out.glob("*.parquet")) == []


def test_local_copy_is_registered_without_downloading(tmp_path, caplog):
    copy = tmp_path / "datasets" / "asvspoof2019"
    for name, data in asv_files().items():
        (copy / name).parent.mkdir(parents=True, exist_ok=True)
        (copy / name).write_bytes(data)
    (copy / "LA" / "ASVspoof2019_LA_dev" / "flac" / "LA_D_0000000.flac").write_bytes(b"extra")
    out = tmp_path / "data" / "asvspoof2019_la"
    with caplog.at_level(logging.INFO, logger="reconfake"):
        assert run_cli(["register", "asvspoof2019_la", "--root", str(copy / "LA"),
                        "--out-dir", str(out)]) == 0
        assert run_cli(["prepare", "asvspoof2019_la", "--out-dir", str(out)]) == 0
    assert "registered the local copy" in caplog.text and "(train 3, dev 2, eval 3 clips" in caplog.text
    assert "1 extra file(s) not named by ASVspoof2019.LA.cm.dev.trl.txt (ignored): LA_D_0000000.flac" \
        in caplog.text
    rows = read_manifest(out / "train.parquet")
    assert len(rows) == len(ASV_LINES["train"])
    assert all(Path(r.path).resolve().is_relative_to(copy.resolve()) for r in rows)
    assert not (out / "LA").exists()  # nothing copied
    assert (out / MARKER).exists()


def test_register_refuses_a_folder_without_the_corpus(tmp_path, caplog):
    (tmp_path / "empty").mkdir()
    assert run_cli(["register", "asvspoof2019_la", "--root", str(tmp_path / "empty"),
                    "--out-dir", str(tmp_path / "o")]) == 2
    assert "no ASVspoof2019_LA_cm_protocols folder found" in caplog.text
    assert not (tmp_path / "o" / MARKER).exists()


def test_in_the_wild_from_a_mirror(loopback, tmp_path, capsys):
    build_itw(loopback.root)
    out = tmp_path / "data" / "in_the_wild"
    assert _download_prepare("in_the_wild", out, loopback.url) == 0
    rows = read_manifest(out / "eval.parquet")
    assert [(r.utt_id, r.label, r.attack, r.speaker) for r in rows] == [
        ("0", "spoof", "unknown", "Alec Guinness"), ("1", "bonafide", "bonafide", "Alec Guinness"),
        ("2", "bonafide", "bonafide", "Barack Obama"), ("3", "spoof", "unknown", "Barack Obama")]
    assert {r.sample_rate for r in rows} == {16000}
    assert "eval                 4         2         2" in capsys.readouterr().out


@pytest.mark.parametrize("meta,message", [
    ("file,speaker,label\n0.wav,Alec Guinness,spoof\n1.wav,Alec Guinness\n",
     "meta.csv:3: expected 3 fields 'file,speaker,label', got 2"),
    ("file,speaker,label\n0.wav,Alec Guinness,deepfake\n",
     "meta.csv:2: unknown label 'deepfake'; expected one of ['bona-fide', 'spoof']"),
    ("name,who,label\n0.wav,Alec Guinness,spoof\n", "meta.csv:1: expected the header 'file,speaker,label'"),
])
def test_in_the_wild_bad_meta(loopback, tmp_path, caplog, meta, message):
    write_zip(loopback.root / "release_in_the_wild.zip", itw_files(meta=meta))
    out = tmp_path / "itw"
    assert _download_prepare("in_the_wild", out, loopback.url) == 2
    assert message in caplog.text
    assert list(out.glob("*.parquet")) == []
