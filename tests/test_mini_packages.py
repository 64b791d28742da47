"""Corpus mini's Debian packages: fetch from a folder, verify, unpack safely, marker, errors.

Every ``.deb`` here is built by the test (an ``ar`` archive with ``debian-binary``,
``control.tar.xz`` and ``data.tar.xz``) and pinned by its real size and SHA-256."""

from __future__ import annotations

import io
import json
import tarfile

import pytest

import reconfake.corpora.debian as debian
from reconfake.cli import main
from reconfake.corpora.debian import MARKER, deb_data_member, unpack_package
from reconfake.corpora.download import DownloadError
from reconfake.corpora.extract import ArchiveError, UnsafeArchiveError
from reconfake.corpora.mini import PACKAGE_NAMES, unpack_all
from tests.mini_fixtures import ar_archive, build_debs, make_deb, package_files, pin

NAME = "fillets-ng-data-cs"


def _one_deb(tmp_path):
    members = package_files()[NAME]
    deb = make_deb(tmp_path / "debs" / f"{NAME}_1.0-1_all.deb", members, NAME)
    return deb, members, {NAME: pin(NAME, deb)}


def test_fetch_verify_unpack_and_marker_then_a_no_op(tmp_path, monkeypatch):
    deb, members, pins = _one_deb(tmp_path)
    dest = unpack_package(NAME, tmp_path / "root", packages_dir=str(deb.parent), packages=pins)
    assert dest == tmp_path / "root" / NAME
    for rel, data in members.items():
        assert (dest / rel).read_bytes() == data
    marker = json.loads((dest / MARKER).read_text())
    assert marker["files"] == len(members) and marker["sha256"] == pins[NAME].sha256
    assert not list((tmp_path / "root").glob(".deb-*"))  # the data.tar member was temporary

    def refuse(*args, **kwargs):
        raise AssertionError("a finished package was fetched again")

    monkeypatch.setattr(debian, "fetch_deb", refuse)
    assert unpack_package(NAME, tmp_path / "root", packages_dir=str(deb.parent),
                          packages=pins) == dest


def test_sha256_mismatch_names_the_file_and_writes_nothing(tmp_path):
    deb, _, pins = _one_deb(tmp_path)
    wrong = {NAME: pin(NAME, deb, sha256="0" * 64)}
    with pytest.raises(DownloadError, match=rf"{deb.name}: sha256 checksum mismatch"):
        unpack_package(NAME, tmp_path / "root", packages_dir=str(deb.parent), packages=wrong)
    assert not (tmp_path / "root" / NAME).exists()
    assert sorted(p.name for p in (tmp_path / "root").rglob("*")) == ["debs"]  # empty cache


def test_truncated_package_is_refused_naming_it(tmp_path):
    deb, _, pins = _one_deb(tmp_path)
    data = deb.read_bytes()
    deb.write_bytes(data[: len(data) // 2])
    # pinned at the full size: verification catches it
    with pytest.raises(DownloadError, match=rf"{deb.name}: {len(data) // 2} bytes but the "
                                            rf"published size is {len(data)} \(truncated"):
        unpack_package(NAME, tmp_path / "root", packages_dir=str(deb.parent), packages=pins)
    # pinned at the truncated bytes (a bad pin): the ar reader catches it
    with pytest.raises(ArchiveError, match=rf"{deb.name}: truncated inside data.tar.xz"):
        unpack_package(NAME, tmp_path / "root", packages_dir=str(deb.parent),
                       packages={NAME: pin(NAME, deb)})
    assert not (tmp_path / "root" / NAME).exists()
    assert not list((tmp_path / "root").glob(".deb-*"))


def test_not_a_deb_and_no_data_member(tmp_path):
    (tmp_path / "x.deb").write_bytes(b"PK\x03\x04 not an ar archive")
    with pytest.raises(ArchiveError, match=r"x.deb: not a Debian package"):
        deb_data_member(tmp_path / "x.deb", tmp_path)
    (tmp_path / "y.deb").write_bytes(ar_archive([("debian-binary", b"2.0\n")]))
    with pytest.raises(ArchiveError, match=r"y.deb: no data.tar member"):
        deb_data_member(tmp_path / "y.deb", tmp_path)


@pytest.mark.parametrize("member", ["../evil.txt", "/tmp/evil-absolute.txt",
                                    "./usr/../../evil.txt"])
def test_member_escaping_the_target_is_refused(tmp_path, member):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:xz") as tf:
        for name, data in (("./usr/share/ok.txt", b"fine"), (member, b"evil")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    deb = tmp_path / "debs" / f"{NAME}_1.0-1_all.deb"
    deb.parent.mkdir()
    deb.write_bytes(ar_archive([("debian-binary", b"2.0\n"), ("data.tar.xz", buf.getvalue())]))
    with pytest.raises(UnsafeArchiveError, match="evil"):
        unpack_package(NAME, tmp_path / "root", packages_dir=str(deb.parent),
                       packages={NAME: pin(NAME, deb)})
    assert not (tmp_path / "root" / NAME).exists()
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "root" / "evil.txt").exists()


def test_mini_packages_command_unpacks_all_and_writes_done(tmp_path, monkeypatch):
    pins = build_debs(tmp_path / "debs")
    for name in ("flite", "libflite1"):  # stand-ins: the real ones are tested in test_mini_corpus
        pins[name] = pin(name, make_deb(tmp_path / "debs" / f"{name}_1.0-1_all.deb",
                                        {"usr/share/doc/x": b"x"}, name))
    for name, entry in pins.items():
        monkeypatch.setitem(debian.PACKAGES, name, entry)
    root = tmp_path / "packages"
    assert main(["mini-packages", "--root", str(root), "--packages-dir",
                 str(tmp_path / "debs")]) == 0
    done = (root / ".done").read_text().splitlines()
    assert [line.split()[0] for line in done] == list(PACKAGE_NAMES)
    assert all(line.split()[2] == pins[line.split()[0]].sha256 for line in done)
    assert (root / "fillets-ng-data-nl" / MARKER).exists()
    before = (root / ".done").stat().st_mtime_ns
    unpack_all(root, str(tmp_path / "debs"))  # every package a no-op; .done rewritten same
    assert (root / ".done").read_text().splitlines() == done and before > 0
