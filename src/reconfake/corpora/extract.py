"""Safe extraction of corpus archives (zip, split zip, tar, tar.gz/bz2/xz).

Every member is validated before anything is written: absolute names, ``..`` components, links
that resolve outside the target (followed through the archive's own links), special files and
writes through a link all refuse the whole archive. Extraction then goes to a temporary folder
inside the target and is merged into it only once every member is out, so a truncated or
corrupt archive leaves nothing behind either. Free disk space is checked first.
"""

from __future__ import annotations

import io
import logging
import os
import posixpath
import re
import shutil
import stat
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Sequence
from pathlib import Path

from reconfake.progress import Progress

log = logging.getLogger("reconfake")

CHUNK = 1 << 20
MAX_LINK_HOPS = 40
TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")


class ArchiveError(ValueError):
    """An archive is truncated, corrupt or of an unknown kind; the message names it."""


class UnsafeArchiveError(ArchiveError):
    """An archive has a member that would land outside the target; nothing was extracted."""


class DiskSpaceError(RuntimeError):
    """Not enough free disk space; the message gives both numbers."""


def fmt_bytes(n: float) -> str:
    """``1.5 GB``-style size (decimal units, as archive sizes are published)."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def ensure_free_space(folder: str | os.PathLike[str], needed: int, what: str) -> None:
    """Raise :class:`DiskSpaceError` when ``folder``'s file system has less than ``needed`` free."""
    probe = Path(folder).absolute()
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    if needed > free:
        raise DiskSpaceError(f"not enough free disk space for {what} in {folder}: needs "
                             f"{fmt_bytes(needed)} ({needed} bytes), {fmt_bytes(free)} free "
                             f"({free} bytes); free some space or point the corpus elsewhere")


def archive_kind(path: Path) -> str:
    """``zip`` or ``tar``, from the name (content as a fallback)."""
    name = path.name.lower()
    if name.endswith(".zip") or re.search(r"\.z\d\d$", name):
        return "zip"
    if name.endswith(TAR_SUFFIXES):
        return "tar"
    if zipfile.is_zipfile(path):
        return "zip"
    try:
        if tarfile.is_tarfile(path):
            return "tar"
    except OSError:
        pass
    raise ArchiveError(f"{path}: neither a zip nor a tar archive (or truncated beyond recognition)")


# ---------------------------------------------------------------------------------------------
# Validation


def _member_parts(name: str) -> list[str] | str:
    """The path components of a member name, or why the name is unsafe."""
    if not name:
        return "empty member name"
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        return "absolute path"
    parts = [p for p in re.split(r"[/\\]", name) if p not in ("", ".")]
    if ".." in parts:
        return "'..' component"
    if "\0" in name:
        return "NUL byte in name"
    return parts


def _escapes(path: str, links: dict[str, str]) -> bool:
    """Does ``path`` (relative to the root) leave the root, following the archive's own links?"""
    parts: list[str] = []
    queue = path.split("/")
    hops = 0
    while queue:
        comp = queue.pop(0)
        if comp in ("", "."):
            continue
        if comp == "..":
            if not parts:
                return True
            parts.pop()
            continue
        parts.append(comp)
        key = "/".join(parts)
        if key in links:
            hops += 1
            link = links[key]
            if hops > MAX_LINK_HOPS or link.startswith("/"):
                return True
            parts.pop()
            queue = link.split("/") + queue
    return False


def validate_members(archive: Path, members: Sequence[tuple[str, str, str]]) -> None:
    """Refuse the archive if any member is unsafe.

    Args:
        archive: for messages.
        members: ``(name, kind, link_target)`` with kind ``file``, ``dir``, ``symlink``,
            ``hardlink`` or ``special``.
    """
    problems = []
    links: dict[str, str] = {}
    normalized = []
    for name, kind, target in members:
        parts = _member_parts(name)
        if isinstance(parts, str):
            problems.append(f"{name!r}: {parts}")
            continue
        normalized.append(("/".join(parts), kind, target))
        if kind == "symlink":
            links["/".join(parts)] = target
    for name, kind, target in normalized:
        parent = posixpath.dirname(name)
        if kind == "special":
            problems.append(f"{name!r}: device, fifo or other special file")
        elif _escapes(name, {k: v for k, v in links.items() if k != name}):
            problems.append(f"{name!r}: written through a link that points outside the target")
        elif kind == "symlink" and (target.startswith("/") or not target
                                    or _escapes(posixpath.join(parent, target), links)):
            problems.append(f"{name!r}: symlink to {target!r} points outside the target")
        elif kind == "hardlink" and (target.startswith("/") or _escapes(target, links)):
            problems.append(f"{name!r}: hard link to {target!r} points outside the target")
    if problems:
        shown = "; ".join(problems[:10]) + (f" (and {len(problems) - 10} more)" if len(problems) > 10 else "")
        raise UnsafeArchiveError(f"{archive}: refusing to extract anything: {len(problems)} unsafe "
                                 f"member(s): {shown}")


# ---------------------------------------------------------------------------------------------
# Split zips (name.z01, name.z02, ..., name.zip): one seekable view over all volumes


class _VolumeReader(io.RawIOBase):
    """The volumes of a split zip read as one file; the zip64 locator's disk fields are patched
    so that :mod:`zipfile` accepts it (member offsets are fixed up by :func:`open_zip`)."""

    def __init__(self, paths: Sequence[Path]):
        super().__init__()
        self.paths = list(paths)
        self.sizes = [p.stat().st_size for p in self.paths]
        self.starts = [sum(self.sizes[:i]) for i in range(len(self.sizes))]
        self.size = sum(self.sizes)
        self.pos = 0
        self.handles: dict[int, io.BufferedReader] = {}
        self.patches: dict[int, bytes] = {}
        self._patch_zip64_locator()

    def _patch_zip64_locator(self) -> None:
        tail_len = min(self.size, 65536 + 22)
        self.seek(self.size - tail_len)
        tail = self.read(tail_len)
        eocd = tail.rfind(b"PK\x05\x06")
        if eocd < 20 or tail[eocd - 20:eocd - 16] != b"PK\x06\x07":
            return
        at = self.size - tail_len + eocd - 20
        self.patches[at + 4] = struct.pack("<L", 0)  # disk holding the zip64 end record
        self.patches[at + 16] = struct.pack("<L", 1)  # total number of disks

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self.pos, 2: self.size}[whence]
        if base + offset < 0:
            raise OSError("seek before the start of the split zip")
        self.pos = base + offset
        return self.pos

    def _handle(self, i: int) -> io.BufferedReader:
        if i not in self.handles:
            self.handles[i] = open(self.paths[i], "rb")
        return self.handles[i]

    def readinto(self, buffer) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        start, filled = self.pos, 0
        while filled < len(view) and self.pos < self.size:
            i = max(k for k, s in enumerate(self.starts) if s <= self.pos)
            handle = self._handle(i)
            handle.seek(self.pos - self.starts[i])
            n = handle.readinto(view[filled:filled + min(len(view) - filled,
                                                         self.starts[i] + self.sizes[i] - self.pos)])
            if not n:
                break
            filled += n
            self.pos += n
        for at, patch in self.patches.items():
            lo, hi = max(at, start), min(at + len(patch), start + filled)
            if lo < hi:
                view[lo - start:hi - start] = patch[lo - at:hi - at]
        return filled

    def close(self) -> None:
        for handle in self.handles.values():
            handle.close()
        self.handles.clear()
        super().close()


def open_zip(path: Path, volumes: Sequence[Path] = ()) -> zipfile.ZipFile:
    """Open a zip, or a split zip whose earlier volumes (``.z01``...) are given in order."""
    try:
        if not volumes:
            return zipfile.ZipFile(path)
        reader = _VolumeReader([*volumes, path])
        zf = zipfile.ZipFile(io.BufferedReader(reader, CHUNK))
    except (zipfile.BadZipFile, OSError, EOFError, struct.error) as exc:
        raise ArchiveError(f"{path}: not a complete zip archive ({exc}); the download is truncated "
                           "or corrupt: delete it and download again") from exc
    # Central-directory offsets are relative to each member's volume: make them global.
    endrec = zipfile._EndRecData(zf.fp)
    if endrec[zipfile._ECD_DISK_NUMBER] != len(reader.starts) - 1:
        zf.close()
        raise ArchiveError(f"{path}: a split zip of {endrec[zipfile._ECD_DISK_NUMBER] + 1} volumes, but "
                           f"{len(reader.starts)} were given; download every .zNN volume")
    concat = zf.start_dir - endrec[zipfile._ECD_OFFSET]
    infos = zf.infolist()
    for info in infos:
        if info.volume >= len(reader.starts):
            raise ArchiveError(f"{path}: member {info.filename!r} is on volume {info.volume + 1} but "
                               f"only {len(reader.starts)} volumes were given")
        info.header_offset = reader.starts[info.volume] + info.header_offset - concat
    if infos and hasattr(infos[0], "_end_offset"):  # Python >= 3.12 checks member overlap
        ordered = sorted(infos, key=lambda i: i.header_offset)
        for info, nxt in zip(ordered, ordered[1:] + [None], strict=True):
            info._end_offset = nxt.header_offset if nxt is not None else zf.start_dir
    return zf


# ---------------------------------------------------------------------------------------------
# Extraction


def _zip_members(zf: zipfile.ZipFile) -> list[tuple[zipfile.ZipInfo, str, str]]:
    out = []
    for info in zf.infolist():
        mode = info.external_attr >> 16
        if info.is_dir():
            out.append((info, "dir", ""))
        elif stat.S_ISLNK(mode):
            out.append((info, "symlink", zf.read(info).decode("utf-8", "replace")))
        elif mode and not stat.S_ISREG(mode) and stat.S_IFMT(mode):
            out.append((info, "special", ""))
        else:
            out.append((info, "file", ""))
    return out


def _tar_members(tf: tarfile.TarFile) -> list[tuple[tarfile.TarInfo, str, str]]:
    out = []
    for m in tf.getmembers():
        if m.isdir():
            out.append((m, "dir", ""))
        elif m.issym():
            out.append((m, "symlink", m.linkname))
        elif m.islnk():
            out.append((m, "hardlink", m.linkname))
        elif m.isreg():
            out.append((m, "file", ""))
        else:
            out.append((m, "special", ""))
    return out


def _check_tar_end(tf: tarfile.TarFile, path: Path) -> None:
    # tarfile stops quietly at a truncated header: require the end-of-archive zero block.
    fileobj = tf.fileobj
    fileobj.seek(tf.offset)
    block = fileobj.read(tarfile.BLOCKSIZE)
    if len(block) < tarfile.BLOCKSIZE or block.strip(b"\0"):
        raise ArchiveError(f"{path}: truncated tar archive (no end-of-archive marker after "
                           f"{len(tf.getmembers())} members); delete it and download again")


def _merge_into(src: Path, dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    for item in sorted(src.iterdir()):
        target = dest / item.name
        if item.is_dir() and not item.is_symlink() and target.is_dir() and not target.is_symlink():
            _merge_into(item, target)
            continue
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        elif target.exists() or target.is_symlink():
            target.unlink()
        os.replace(item, target)


def safe_extract(archive: str | os.PathLike[str], dest: str | os.PathLike[str],
                 volumes: Sequence[Path] = (), nested: bool = False) -> int:
    """Validate every member of ``archive``, then extract it into ``dest``.

    Args:
        archive: a zip or tar file (the last volume, ``name.zip``, of a split zip).
        dest: the target folder; existing folders are merged, existing files replaced.
        volumes: the earlier volumes of a split zip, in order.
        nested: the archive wraps further zip archives (one level): each is validated and
            extracted the same way into ``dest`` and is not kept, nor are the folders that only
            held it (CodecFake Xie's split zips hold ``data7/.../upload_zenodo/train.zip``).

    Returns:
        The number of files extracted.

    Raises:
        UnsafeArchiveError: a member would land outside ``dest`` (nothing is extracted).
        ArchiveError: the archive is truncated or corrupt (nothing is extracted).
        DiskSpaceError: the extracted files would not fit.
    """
    archive, dest = Path(archive), Path(dest)
    kind = "zip" if volumes else archive_kind(archive)
    created = not dest.exists()
    dest.mkdir(parents=True, exist_ok=True)
    tmp = dest / f".extracting-{archive.name}"  # same file system as dest: merging is renames
    if tmp.exists():
        shutil.rmtree(tmp)
    ok = False
    try:
        if kind == "zip":
            count = _extract_zip(archive, volumes, tmp)
        else:
            count = _extract_tar(archive, tmp)
        if nested and tmp.exists():
            count += _extract_nested(archive, tmp)
        if tmp.exists():
            _merge_into(tmp, dest)
        ok = True
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
        if not ok and created and not any(dest.iterdir()):
            dest.rmdir()
    log.info("%s: %d files extracted into %s", archive.name, count, dest)
    return count


def _extract_nested(archive: Path, tmp: Path) -> int:
    """Unpack the zip archives found in ``tmp`` (one level) into ``tmp``; net files added."""
    added = 0
    for inner in sorted(p for p in tmp.rglob("*.zip") if p.is_file() and not p.is_symlink()):
        rel = inner.relative_to(tmp)
        log.info("%s: unpacking the archive it wraps, %s", archive.name, rel)
        added += safe_extract(inner, tmp) - 1  # the wrapper file itself goes
        inner.unlink()
        folder = inner.parent
        while folder != tmp and not any(folder.iterdir()):  # folders that only held the wrapper
            folder.rmdir()
            folder = folder.parent
    return added


def _extract_zip(archive: Path, volumes: Sequence[Path], tmp: Path) -> int:
    with open_zip(archive, volumes) as zf:
        try:
            members = _zip_members(zf)
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise ArchiveError(f"{archive}: corrupt zip archive ({exc})") from exc
        validate_members(archive, [(i.filename, k, t) for i, k, t in members])
        ensure_free_space(tmp.parent, sum(i.file_size for i, k, _ in members if k == "file"),
                          f"extracting {archive.name}")
        files = [m for m in members if m[1] == "file"]
        progress = Progress(f"extracting {archive.name}", len(files), unit="files", interval=10.0)
        tmp.mkdir()
        for info, kind, target in members:
            parts = _member_parts(info.filename)
            path = tmp.joinpath(*parts)  # validated above: a list of safe components
            if kind == "dir":
                path.mkdir(parents=True, exist_ok=True)
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            if kind == "symlink":
                os.symlink(target, path)
                continue
            try:
                with zf.open(info) as src, open(path, "wb") as out:
                    shutil.copyfileobj(src, out, CHUNK)
            except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as exc:
                raise ArchiveError(f"{archive}: member {info.filename!r} is corrupt or truncated "
                                   f"({exc}); delete the archive and download again") from exc
            progress.update()
    return len(files)


def _tar_mode(path: Path) -> str:
    name = path.name.lower()
    for suffixes, mode in (((".tar.gz", ".tgz"), "r:gz"), ((".tar.bz2", ".tbz2"), "r:bz2"),
                           ((".tar.xz", ".txz"), "r:xz")):
        if name.endswith(suffixes):
            return mode
    # A plain ``.tar`` name is no promise: DiffSSD's generated_speech.tar is extracted with
    # ``tar -xz`` by public download scripts, so let tarfile detect any compression.
    return "r:*"


def _extract_tar(archive: Path, tmp: Path) -> int:
    try:
        tf = tarfile.open(archive, _tar_mode(archive))
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ArchiveError(f"{archive}: not a readable tar archive ({exc}); the download is truncated "
                           "or corrupt: delete it and download again") from exc
    with tf:
        try:
            members = _tar_members(tf)
            _check_tar_end(tf, archive)
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise ArchiveError(f"{archive}: truncated or corrupt tar archive ({exc}); delete it and "
                               "download again") from exc
        validate_members(archive, [(m.name, k, t) for m, k, t in members])
        ensure_free_space(tmp.parent, sum(m.size for m, k, _ in members if k == "file"),
                          f"extracting {archive.name}")
        files = sum(1 for _, k, _ in members if k == "file")
        progress = Progress(f"extracting {archive.name}", len(members), unit="members", interval=10.0)
        tmp.mkdir()
        extra = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        for member, _, _ in members:
            try:
                tf.extract(member, tmp, **extra)
            except (tarfile.TarError, OSError, EOFError) as exc:
                raise ArchiveError(f"{archive}: member {member.name!r} could not be extracted ({exc}); "
                                   "the archive is truncated or corrupt: delete it and download "
                                   "again") from exc
            progress.update()
    return files
