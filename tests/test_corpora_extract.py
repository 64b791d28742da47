"""Safe extraction: traversal, absolute names and escaping links refuse the whole archive (zip and
tar alike, nothing written inside or outside the target); truncated archives leave nothing;
split zips (zip64 end records) are read across volumes."""

from __future__ import annotations

import io
import stat
import tarfile
import zipfile
from pathlib import Path

import pytest

from reconfake.corpora.extract import ArchiveError, UnsafeArchiveError, safe_extract
from tests.corpora_fixtures import split_zip, write_tar, write_zip


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []


def _tar(path: Path, members: list[tuple[str, str, str | bytes]], mode: str = "w") -> Path:
    """members: (name, kind, data-or-link target); kind file|symlink|hardlink|fifo|dir."""
    with tarfile.open(path, mode) as tf:
        for name, kind, payload in members:
            info = tarfile.TarInfo(name)
            if kind == "file":
                info.size = len(payload)
                tf.addfile(info, io.BytesIO(payload))
                continue
            info.type = {"symlink": tarfile.SYMTYPE, "hardlink": tarfile.LNKTYPE,
                         "fifo": tarfile.FIFOTYPE, "dir": tarfile.DIRTYPE}[kind]
            info.linkname = payload if isinstance(payload, str) else ""
            tf.addfile(info)
    return path


def _zip_symlink(zf: zipfile.ZipFile, name: str, target: str) -> None:
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    zf.writestr(info, target)


@pytest.mark.parametrize("bad", ["../escaped.txt", "/tmp/absolute.txt", "data/../../escaped.txt",
                                 "C:/windows.txt", "..\\escaped.txt"])
def test_zip_traversal_refuses_the_whole_archive(tmp_path, bad):
    archive = write_zip(tmp_path / "a.zip", {"data/ok.txt": b"fine", bad: b"evil", "data/z.txt": b"z"})
    target = tmp_path / "sandbox" / "target"
    target.parent.mkdir()
    with pytest.raises(UnsafeArchiveError, match=r"refusing to extract anything: 1 unsafe member"):
        safe_extract(archive, target)
    assert _files(tmp_path / "sandbox") == []
    assert not (tmp_path / "escaped.txt").exists() and not Path("/tmp/absolute.txt").exists()


def test_zip_symlink_out_of_the_target_is_refused(tmp_path):
    archive = tmp_path / "links.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("LA/ok.txt", b"x")
        _zip_symlink(zf, "LA/link", "../../outside")
        zf.writestr("LA/link/payload.txt", b"evil")
    with pytest.raises(UnsafeArchiveError) as info:
        safe_extract(archive, tmp_path / "target")
    assert "'LA/link': symlink to '../../outside' points outside the target" in str(info.value)
    assert "'LA/link/payload.txt': written through a link" in str(info.value)
    assert _files(tmp_path / "target") == [] and not (tmp_path / "outside").exists()


def test_zip_symlink_inside_the_target_is_kept(tmp_path):
    archive = tmp_path / "ok.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("LA/wavs/a.txt", b"a")
        _zip_symlink(zf, "LA/latest", "wavs")
    assert safe_extract(archive, tmp_path / "t") == 1
    assert (tmp_path / "t" / "LA" / "latest").is_symlink()
    assert (tmp_path / "t" / "LA" / "latest" / "a.txt").read_bytes() == b"a"


@pytest.mark.parametrize("members,problem", [
    ([("ok.txt", "file", b"x"), ("../escaped.txt", "file", b"evil")], "'..' component"),
    ([("ok.txt", "file", b"x"), ("/tmp/abs_reconfake.txt", "file", b"evil")], "absolute path"),
    ([("link", "symlink", "../.."), ("link/x.txt", "file", b"evil")], "points outside the target"),
    ([("link", "symlink", "/etc"), ("ok.txt", "file", b"x")], "symlink to '/etc' points outside"),
    ([("hard", "hardlink", "../../etc/passwd")], "hard link to '../../etc/passwd' points outside"),
    ([("d", "symlink", "."), ("l", "symlink", "d/d/..")], "symlink to 'd/d/..' points outside"),
    ([("pipe", "fifo", b"")], "special file"),
])
def test_tar_traversal_refuses_the_whole_archive(tmp_path, members, problem):
    archive = _tar(tmp_path / "bad.tar.gz", members, "w:gz")
    target = tmp_path / "sandbox" / "target"
    target.parent.mkdir()
    with pytest.raises(UnsafeArchiveError, match="refusing to extract anything") as info:
        safe_extract(archive, target)
    assert problem in str(info.value)
    assert _files(tmp_path / "sandbox") == []
    assert not (tmp_path / "escaped.txt").exists() and not Path("/tmp/abs_reconfake.txt").exists()


def test_tar_with_internal_links_extracts(tmp_path):
    archive = _tar(tmp_path / "ok.tar", [("c/wavs/a.wav", "file", b"A"), ("c/alias", "symlink", "wavs"),
                                         ("c/copy.wav", "hardlink", "c/wavs/a.wav")])
    safe_extract(archive, tmp_path / "t")
    assert (tmp_path / "t" / "c" / "alias" / "a.wav").read_bytes() == b"A"
    assert (tmp_path / "t" / "c" / "copy.wav").read_bytes() == b"A"


@pytest.mark.parametrize("cut", [3000, 5632 + 512, 10240])
def test_truncated_tar_extracts_nothing(tmp_path, cut):
    full = write_tar(tmp_path / "full.tar", {"a/one.bin": bytes(5000), "a/two.bin": bytes(5000)})
    cut_tar = tmp_path / "cut.tar"
    cut_tar.write_bytes(full.read_bytes()[:cut])
    with pytest.raises(ArchiveError, match=r"cut.tar: truncated"):
        safe_extract(cut_tar, tmp_path / "t")
    assert _files(tmp_path / "t") == []


def test_truncated_compressed_tar_extracts_nothing(tmp_path):
    full = write_tar(tmp_path / "full.tar.bz2", {"a/one.bin": bytes(range(256)) * 400}, "w:bz2")
    cut = tmp_path / "cut.tar.bz2"
    cut.write_bytes(full.read_bytes()[:-40])
    with pytest.raises(ArchiveError, match=r"cut.tar.bz2: .*(truncated|corrupt)"):
        safe_extract(cut, tmp_path / "t")
    assert _files(tmp_path / "t") == []


def test_corrupt_zip_member_extracts_nothing(tmp_path):
    archive = write_zip(tmp_path / "a.zip", {"x/one.txt": b"1" * 1000, "x/two.txt": b"2" * 1000})
    with zipfile.ZipFile(archive) as zf:
        info = zf.getinfo("x/one.txt")
        start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    data = bytearray(archive.read_bytes())
    data[start + 2] ^= 0xFF  # inside the first member's compressed data
    archive.write_bytes(bytes(data))
    with pytest.raises(ArchiveError, match=r"member 'x/one.txt' is corrupt or truncated"):
        safe_extract(archive, tmp_path / "t")
    assert _files(tmp_path / "t") == []


def test_archives_sharing_a_top_folder_are_merged(tmp_path):
    write_tar(tmp_path / "dev.tar.gz", {"LibriSpeech/dev-clean/1/a.flac": b"a"}, "w:gz")
    write_tar(tmp_path / "test.tar.gz", {"LibriSpeech/test-clean/2/b.flac": b"b"}, "w:gz")
    safe_extract(tmp_path / "dev.tar.gz", tmp_path / "t")
    safe_extract(tmp_path / "test.tar.gz", tmp_path / "t")
    assert _files(tmp_path / "t") == ["LibriSpeech", "LibriSpeech/dev-clean", "LibriSpeech/dev-clean/1",
                                      "LibriSpeech/dev-clean/1/a.flac", "LibriSpeech/test-clean",
                                      "LibriSpeech/test-clean/2", "LibriSpeech/test-clean/2/b.flac"]


def test_split_zip_with_zip64_end_records_reads_across_volumes(tmp_path):
    payload = {f"train/F01_p{i:03d}_001.wav": bytes([i]) * (700 + 37 * i) for i in range(12)}
    full = write_zip(tmp_path / "full.zip", payload)
    parts = split_zip(full, tmp_path / "vol", "train_split", 5)
    assert [p.name for p in parts] == ["train_split.z01", "train_split.z02", "train_split.z03",
                                       "train_split.z04", "train_split.z05", "train_split.zip"]
    with pytest.raises(ArchiveError):  # the last volume alone is not a usable archive
        safe_extract(parts[-1], tmp_path / "alone")
    assert safe_extract(parts[-1], tmp_path / "t", volumes=parts[:-1]) == 12
    for name, data in payload.items():
        assert (tmp_path / "t" / name).read_bytes() == data


def test_split_zip_with_a_missing_volume_is_named(tmp_path):
    full = write_zip(tmp_path / "full.zip", {f"dev/{i}.wav": bytes(900) for i in range(6)})
    parts = split_zip(full, tmp_path / "vol", "dev_split", 2)
    with pytest.raises(ArchiveError, match=r"dev_split.zip: a split zip of 3 volumes, but 2 were given"):
        safe_extract(parts[-1], tmp_path / "t", volumes=parts[:1])
    assert _files(tmp_path / "t") == []


def test_a_plain_tar_name_may_hold_gzip(tmp_path):
    """DiffSSD's generated_speech.tar is unpacked with ``tar -xz`` by public scripts."""
    archive = write_tar(tmp_path / "generated_speech.tar", {"generated_speech/a/x.wav": b"x"}, "w:gz")
    assert archive.read_bytes()[:2] == b"\x1f\x8b"
    assert safe_extract(archive, tmp_path / "t") == 1
    assert (tmp_path / "t" / "generated_speech" / "a" / "x.wav").read_bytes() == b"x"


def test_nested_zip_is_unpacked_in_place_of_its_wrapper(tmp_path):
    inner = write_zip(tmp_path / "train.zip", {"train/a.wav": b"a", "train/b.wav": b"b"})
    outer = write_zip(tmp_path / "wrap.zip", {"data7/xyk/upload_zenodo/train.zip": inner.read_bytes(),
                                              "README.txt": b"r"})
    target = tmp_path / "t"
    assert safe_extract(outer, target, nested=True) == 3
    assert _files(target) == ["README.txt", "train", "train/a.wav", "train/b.wav"]
    # without nested the wrapper stays as it is
    assert safe_extract(outer, tmp_path / "plain") == 2
    assert (tmp_path / "plain" / "data7" / "xyk" / "upload_zenodo" / "train.zip").is_file()


def test_nested_zip_with_an_unsafe_member_refuses_everything(tmp_path):
    inner = write_zip(tmp_path / "train.zip", {"train/a.wav": b"a", "../../escaped.wav": b"evil"})
    outer = write_zip(tmp_path / "wrap.zip", {"data7/train.zip": inner.read_bytes()})
    target = tmp_path / "sandbox" / "t"
    target.parent.mkdir()
    with pytest.raises(UnsafeArchiveError, match=r"train.zip: refusing to extract anything"):
        safe_extract(outer, target, nested=True)
    assert _files(tmp_path / "sandbox") == [] and not (tmp_path / "escaped.wav").exists()
