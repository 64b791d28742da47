"""Corpus downloads: resume after a dropped connection, retries, checksums, truncation, disk space,
mirrors (http, file URL, folder), published checksums and completion markers."""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

import pytest

from reconfake.corpora import download as dl
from reconfake.corpora.download import DownloadError, download_corpus, fetch, with_published_checksum
from reconfake.corpora.extract import ArchiveError, DiskSpaceError
from reconfake.corpora.spec import Archive
from tests.corpora_fixtures import (
    FAST,
    build_asvspoof,
    md5,
    replace_spec,
    run_cli,
    sha256,
    use_fixture_archives,
)


def _blob(www: Path, name: str = "blob.bin", size: int = 3_000_000) -> Path:
    path = www / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bytes(range(256)) * (size // 256) + b"x" * (size % 256))
    return path


def test_resumes_with_range_after_the_server_drops_the_connection(loopback, tmp_path, caplog):
    blob = _blob(loopback.root)
    loopback.drop_after["blob.bin"] = 1_234_567
    archive = Archive("blob.bin", "unused", size=blob.stat().st_size, md5=md5(blob))
    with caplog.at_level(logging.INFO, logger="reconfake"):
        path = fetch(archive, tmp_path / "dl", loopback.url, retry_wait=0.01, timeout=5)
    assert path.read_bytes() == blob.read_bytes()
    assert loopback.requests == [("blob.bin", None), ("blob.bin", "bytes=1234567-")]
    assert "resuming at 1.2 MB" in caplog.text
    assert "connection closed after 1234567 of 3000000 bytes" in caplog.text
    assert not (tmp_path / "dl" / "blob.bin.part").exists()
    marker = json.loads((tmp_path / "dl" / "blob.bin.complete").read_text())
    assert marker["size"] == 3_000_000


def test_restarts_when_the_server_ignores_range(loopback, tmp_path):
    blob = _blob(loopback.root, size=500_000)
    loopback.drop_after["blob.bin"] = 100_000
    loopback.ranges = False
    archive = Archive("blob.bin", "unused", sha256=sha256(blob))
    path = fetch(archive, tmp_path / "dl", loopback.url, retry_wait=0.01, timeout=5)
    assert path.read_bytes() == blob.read_bytes()


def test_a_finished_download_is_a_no_op(loopback, tmp_path):
    blob = _blob(loopback.root, size=10_000)
    archive = Archive("blob.bin", "unused", size=10_000, md5=md5(blob))
    fetch(archive, tmp_path / "dl", loopback.url, timeout=5)
    fetch(archive, tmp_path / "dl", loopback.url, timeout=5)
    assert len(loopback.requests) == 1


def test_progress_lines_give_bytes_per_second_and_eta(loopback, tmp_path, caplog, monkeypatch):
    _blob(loopback.root, size=2_000_000)
    monkeypatch.setattr(dl, "CHUNK", 100_000)
    monkeypatch.setattr(dl.ByteProgress, "__init__", _eager_progress(dl.ByteProgress.__init__))
    with caplog.at_level(logging.INFO, logger="reconfake"):
        fetch(Archive("blob.bin", "unused", size=2_000_000), tmp_path / "dl", loopback.url, timeout=5)
    lines = [r.message for r in caplog.records if r.message.startswith("downloading blob.bin")]
    assert len(lines) >= 10
    assert "of 2.0 MB (" in lines[0] and "/s, elapsed 0:00:00, ETA " in lines[0]
    assert lines[-1].startswith("downloading blob.bin: 2.0 MB of 2.0 MB")


def _eager_progress(init):
    def wrapped(self, label, total, unit="items", interval=5.0):
        init(self, label, total, unit, interval=0.0)
    return wrapped


def test_gives_up_after_the_retries_with_the_url_and_the_fix(loopback, tmp_path):
    loopback.status_routes["flaky.bin"] = 503
    with pytest.raises(DownloadError, match=r"flaky.bin: giving up after 2 retries \(HTTP Error 503"):
        fetch(Archive("flaky.bin", "unused"), tmp_path / "dl", loopback.url, retries=2,
              retry_wait=0.01, timeout=5)
    assert len(loopback.requests) == 3


def test_missing_file_on_the_mirror_is_not_retried(loopback, tmp_path):
    with pytest.raises(DownloadError, match=r"nope.zip: HTTP 404 Not Found; check the URL or mirror "
                                            r"\(the mirror must hold 'nope.zip'"):
        fetch(Archive("nope.zip", "unused"), tmp_path / "dl", loopback.url, retry_wait=0.01, timeout=5)
    assert len(loopback.requests) == 1


def test_checksum_mismatch_fails_and_leaves_nothing(loopback, tmp_path, monkeypatch, caplog):
    files = build_asvspoof(loopback.root)
    use_fixture_archives(monkeypatch, "asvspoof2019_la", files)
    from reconfake.corpora.registry import corpus_spec

    bad = dataclasses.replace(corpus_spec("asvspoof2019_la").archives[0], md5="0" * 32)
    replace_spec(monkeypatch, "asvspoof2019_la", archives=(bad,))
    out = tmp_path / "data" / "asvspoof2019_la"
    code = run_cli(["download", "asvspoof2019_la", "--out-dir", str(out), "--mirror", loopback.url, *FAST])
    assert code == 2
    assert f"LA.zip: md5 checksum mismatch (from {loopback.url}/LA.zip): got {md5(files['LA.zip'])}, " \
           f"expected {'0' * 32}" in caplog.text
    leftovers = sorted(p.name for p in out.rglob("*") if p.is_file())
    assert leftovers == []  # no archive, no partial file, no marker, nothing extracted


def test_truncated_archive_with_a_published_size(loopback, tmp_path, monkeypatch):
    files = build_asvspoof(loopback.root)
    use_fixture_archives(monkeypatch, "asvspoof2019_la", files)
    full = files["LA.zip"].stat().st_size
    files["LA.zip"].write_bytes(files["LA.zip"].read_bytes()[: full // 2])
    with pytest.raises(DownloadError, match=rf"LA.zip: {full // 2} bytes but the published size is {full} "
                                            r"\(truncated"):
        from reconfake.corpora.registry import corpus_spec

        download_corpus(corpus_spec("asvspoof2019_la"), tmp_path / "out", mirror=str(loopback.root))


def test_truncated_archive_without_a_published_size(loopback, tmp_path):
    from reconfake.corpora.registry import corpus_spec

    files = build_asvspoof(loopback.root)
    files["LA.zip"].write_bytes(files["LA.zip"].read_bytes()[:5000])
    out = tmp_path / "out"
    with pytest.raises(ArchiveError, match=r"LA.zip: not a complete zip archive .* truncated or corrupt"):
        download_corpus(corpus_spec("asvspoof2019_la"), out, mirror=loopback.url, timeout=5)
    assert not (out / ".downloaded").exists()
    assert not (out / "LA").exists()


def test_disk_space_is_checked_before_downloading(loopback, tmp_path, monkeypatch):
    _blob(loopback.root, size=50_000)

    class Usage:
        free = 1_000

    monkeypatch.setattr(dl.shutil, "disk_usage", lambda path: Usage)
    import reconfake.corpora.extract as ex

    monkeypatch.setattr(ex.shutil, "disk_usage", lambda path: Usage)
    with pytest.raises(DiskSpaceError, match=r"downloading blob.bin in .*: needs 50.0 kB \(50000 bytes\), "
                                             r"1.0 kB free \(1000 bytes\)"):
        fetch(Archive("blob.bin", "unused", size=50_000), tmp_path / "dl", loopback.url, timeout=5)
    assert loopback.requests == []


def test_disk_space_is_checked_before_extracting(loopback, tmp_path, monkeypatch):
    from reconfake.corpora.registry import corpus_spec

    build_asvspoof(loopback.root)
    import reconfake.corpora.extract as ex

    class Usage:
        free = 10

    monkeypatch.setattr(ex.shutil, "disk_usage", lambda path: Usage)
    with pytest.raises(DiskSpaceError, match=r"extracting LA.zip in .*: needs .* bytes\), 10 B free "
                                             r"\(10 bytes\)"):
        download_corpus(corpus_spec("asvspoof2019_la"), tmp_path / "out", mirror=str(loopback.root))


def test_folder_and_file_url_mirrors_are_used_in_place(loopback, tmp_path, monkeypatch):
    from reconfake.corpora.registry import corpus_spec

    files = build_asvspoof(loopback.root)
    use_fixture_archives(monkeypatch, "asvspoof2019_la", files)
    for mirror in (str(loopback.root), loopback.root.as_uri()):
        out = tmp_path / mirror.replace("/", "_")
        download_corpus(corpus_spec("asvspoof2019_la"), out, mirror=mirror)
        assert (out / "LA" / "ASVspoof2019_LA_eval" / "flac" / "LA_E_2834763.flac").is_file()
        assert not (out / "archives").exists()  # nothing copied
    assert files["LA.zip"].exists()  # the mirror's archive is never deleted
    assert loopback.requests == []


def test_download_then_run_again_is_a_no_op_and_archives_are_deleted(loopback, tmp_path, caplog):
    build_asvspoof(loopback.root)
    out = tmp_path / "data" / "asvspoof2019_la"
    args = ["download", "asvspoof2019_la", "--out-dir", str(out), "--mirror", loopback.url, *FAST]
    assert run_cli(args) == 0
    marker = json.loads((out / ".downloaded").read_text())
    assert marker["mode"] == "download" and marker["archives"] == ["LA.zip"]
    assert not (out / "archives" / "LA.zip").exists()
    assert (out / ".reconfake" / "LA.zip.done").exists()
    with caplog.at_level(logging.INFO, logger="reconfake"):
        assert run_cli(args) == 0
    assert len(loopback.requests) == 1
    assert "LA.zip: already extracted" in caplog.text


def test_published_checksum_is_fetched_from_zenodo(loopback, tmp_path, monkeypatch):
    blob = _blob(loopback.root, "files/C1.zip", size=4_000)
    monkeypatch.setattr(dl, "ZENODO_API", loopback.url + "/api/records/{record}")
    loopback.json_routes["api/records/11169781"] = {
        "files": [{"key": "C1.zip", "size": 4_000, "checksum": f"md5:{md5(blob)}"}]}
    archive = with_published_checksum(Archive("C1.zip", "unused", published="zenodo:11169781"))
    assert (archive.size, archive.md5) == (4_000, md5(blob))
    blob.write_bytes(b"y" * 4_000)  # the file changed after publication
    with pytest.raises(DownloadError, match="C1.zip: md5 checksum mismatch"):
        fetch(archive, tmp_path / "dl", loopback.url + "/files", timeout=5)


def test_published_checksum_from_the_hub_and_a_failed_lookup(loopback, monkeypatch, caplog):
    monkeypatch.setattr(dl, "HF_TREE_API", loopback.url + "/api/datasets/{repo}/tree/{revision}/{folder}")
    dl._PUBLISHED_CACHE.clear()
    loopback.json_routes["api/datasets/org/set/tree/main"] = [
        {"type": "file", "path": "x.tar", "size": 99, "lfs": {"oid": "ab" * 32, "size": 99}}]
    loopback.json_routes["api/datasets/org/set/tree/" + "c" * 40] = [
        {"type": "file", "path": "x.tar", "size": 98, "lfs": {"oid": "cd" * 32, "size": 98}}]
    archive = with_published_checksum(Archive("x.tar", "unused", published="hf:org/set"))
    assert (archive.size, archive.sha256) == (99, "ab" * 32)
    pinned = with_published_checksum(Archive("x.tar", "unused", published="hf:org/set@" + "c" * 40))
    assert (pinned.size, pinned.sha256) == (98, "cd" * 32)  # the listing of that commit
    missing = with_published_checksum(Archive("y.tar", "unused", published="hf:other/set"))
    assert missing.sha256 is None
    assert "y.tar: could not fetch the published checksum from hf:other/set" in caplog.text


def test_unknown_mirror_is_named(tmp_path):
    with pytest.raises(DownloadError, match="neither a URL nor an existing folder"):
        fetch(Archive("a.zip", "unused"), tmp_path, str(tmp_path / "absent"))
    with pytest.raises(DownloadError, match="unsupported scheme 'ftp'"):
        fetch(Archive("a.zip", "unused"), tmp_path, "ftp://example.org/x")


def test_hub_revision_is_resolved_and_pinned_in_the_url(loopback, monkeypatch):
    monkeypatch.setattr(dl, "HF_REVISION_API", loopback.url + "/api/datasets/{repo}/revision/{revision}")
    loopback.json_routes["api/datasets/org/set/revision/v1.0"] = {"sha": "e" * 40}
    assert dl.resolve_hf_revision("org/set", "v1.0") == "e" * 40
    with pytest.raises(DownloadError, match=r"org/set: cannot resolve revision 'nope' at .*revision/nope"):
        dl.resolve_hf_revision("org/set", "nope", timeout=5)
    archive = Archive("d/x.tar", "https://huggingface.co/datasets/org/set/resolve/main/d/x.tar",
                      published="hf:org/set")
    pinned = dl.at_hf_revision(archive, "org/set", "e" * 40)
    assert pinned.url == "https://huggingface.co/datasets/org/set/resolve/" + "e" * 40 + "/d/x.tar"
    assert pinned.published == "hf:org/set@" + "e" * 40
    other = Archive("LJ.tar.bz2", "https://data.keithito.com/LJ.tar.bz2")
    assert dl.at_hf_revision(other, "org/set", "e" * 40) == other
