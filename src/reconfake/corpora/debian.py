"""Debian packages as a corpus source: fetch a pinned ``.deb`` once, verify it, unpack it safely.

The real-speech corpus (:mod:`reconfake.corpora.mini`) takes its human speech and one TTS
system from Debian packages (Asterisk IVR prompts, Fish Fillets voiced dialogue, flite). Each
package is pinned by name, version, size and SHA-256 (from ``apt-cache show``, Debian 12). A
package is fetched by the first of these that applies:

1. ``packages_dir``: a folder (or ``file://``/``http(s)://`` base) holding the ``.deb`` files
   under their Debian file names, e.g. copied from another machine;
2. ``apt-get download NAME=VERSION`` (no root, nothing installed);
3. HTTP from a Debian mirror (``debian_mirror`` + the package's pool path).

The ``.deb`` is verified (size and SHA-256; a mismatch stops naming the file and leaves no
partial file behind), its ``data.tar.*`` member is read with the standard library (a ``.deb``
is an ``ar`` archive) and unpacked through :func:`reconfake.corpora.extract.safe_extract`
(no absolute paths, no ``..``, no links out of the target) into ``<root>/<package>/``, and a
completion marker makes the next call a no-op.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from reconfake.corpora.download import DownloadError, fetch, verify
from reconfake.corpora.extract import ArchiveError, safe_extract
from reconfake.corpora.spec import Archive
from reconfake.fileio import write_text_atomic

log = logging.getLogger("reconfake")

DEBIAN_MIRROR = "https://deb.debian.org/debian"
MARKER = ".unpacked.json"


@dataclass(frozen=True)
class DebPackage:
    """One pinned Debian package."""

    name: str
    version: str
    pool_path: str  # "Filename" in the Packages index
    size: int
    sha256: str
    licence: str

    @property
    def filename(self) -> str:
        return Path(self.pool_path).name

    def archive(self, mirror: str = DEBIAN_MIRROR) -> Archive:
        return Archive(self.filename, f"{mirror.rstrip('/')}/{self.pool_path}", size=self.size,
                       sha256=self.sha256)


PACKAGES: dict[str, DebPackage] = {p.name: p for p in (
    DebPackage("asterisk-core-sounds-en-g722", "1.6.1-1",
               "pool/main/a/asterisk-core-sounds/asterisk-core-sounds-en-g722_1.6.1-1_all.deb",
               10565860, "38c5261820b406dcb0ecb37675720da2b0864850690690352ca52707eb623806",
               "CC-BY-SA-3.0"),
    # the metapackage's docs hold core-sounds-en.txt.gz, the prompts' official transcripts
    DebPackage("asterisk-core-sounds-en", "1.6.1-1",
               "pool/main/a/asterisk-core-sounds/asterisk-core-sounds-en_1.6.1-1_all.deb",
               22844, "973e797d28e37fa6ca3c0a9d6fa717e77cf1268ae916bf09fd3503113cdffa50",
               "CC-BY-SA-3.0"),
    DebPackage("fillets-ng-data", "1.0.1-1.1",
               "pool/main/f/fillets-ng-data/fillets-ng-data_1.0.1-1.1_all.deb",
               70633484, "25de89afd8b1adf7bcace8290248a6a22c89cd42300317e69000e162c032cf84",
               "GPL-2+"),
    DebPackage("fillets-ng-data-cs", "1.0.1-1.1",
               "pool/main/f/fillets-ng-data/fillets-ng-data-cs_1.0.1-1.1_all.deb",
               39042172, "3ecef99b9456f1c80c9625c6f2418642b52d58e7167a46bad7a412db17991b14",
               "GPL-2+"),
    DebPackage("fillets-ng-data-nl", "1.0.1-1.1",
               "pool/main/f/fillets-ng-data/fillets-ng-data-nl_1.0.1-1.1_all.deb",
               32593580, "afb4443fda9ab507dee578b75be857d121718a1cd6017a474f30e0eb13dc9d10",
               "GPL-2+"),
    DebPackage("flite", "2.2-5", "pool/main/f/flite/flite_2.2-5_amd64.deb",
               252784, "f4ce03470bf9974c2cb9cacd981e6be29339ef4c97cf994dd6fa3f90e6544db9",
               "BSD-style (CMU)"),
    DebPackage("libflite1", "2.2-5", "pool/main/f/flite/libflite1_2.2-5_amd64.deb",
               12823776, "bfa8c591f1b47730b30b372ec38e02918a1c9795eada67684e1746390ad2f061",
               "BSD-style (CMU)"),
)}


def _hand_fix(package: DebPackage, cache: Path) -> str:
    return (f"fetch it by hand: `cd {cache} && apt-get download {package.name}={package.version}` "
            f"(run `apt-get update` first if the lists are empty), or download "
            f"{DEBIAN_MIRROR}/{package.pool_path} into {cache}, or set corpora.mini.packages_dir "
            "to a folder holding the .deb files")


def _apt_download(package: DebPackage, cache: Path) -> Path | None:
    """``apt-get download`` into a private temp folder of ``cache``; None if apt is absent or
    fails (the caller falls back)."""
    if shutil.which("apt-get") is None:
        return None
    with tempfile.TemporaryDirectory(dir=cache, prefix=".apt-") as tmp:
        result = subprocess.run(["apt-get", "download", f"{package.name}={package.version}"],
                                cwd=tmp, capture_output=True, text=True)
        got = sorted(Path(tmp).glob("*.deb"))
        if result.returncode != 0 or len(got) != 1:
            log.warning("apt-get download %s=%s failed: %s", package.name, package.version,
                        (result.stderr or result.stdout).strip()[-300:])
            return None
        part = cache / (package.filename + ".part")
        shutil.move(str(got[0]), part)
    try:
        verify(part, package.archive(), "apt-get download")
    except DownloadError:
        part.unlink(missing_ok=True)
        raise
    target = cache / package.filename
    os.replace(part, target)
    return target


def fetch_deb(package: DebPackage, cache: str | os.PathLike[str],
              packages_dir: str | None = None, mirror: str = DEBIAN_MIRROR) -> Path:
    """The verified ``.deb`` of ``package`` (see the module docstring for the order tried)."""
    cache = Path(cache)
    cache.mkdir(parents=True, exist_ok=True)
    if packages_dir:
        return fetch(package.archive(), cache, packages_dir)
    target = cache / package.filename
    if target.exists():
        try:
            verify(target, package.archive(), str(target))
            return target
        except DownloadError as exc:
            log.warning("%s; fetching it again", exc)
            target.unlink()
    got = _apt_download(package, cache)
    if got is not None:
        return got
    try:
        return fetch(package.archive(mirror), cache, None)
    except DownloadError as exc:
        raise DownloadError(f"package {package.name} {package.version} could not be fetched "
                            f"({exc}); {_hand_fix(package, cache)}") from exc


def deb_data_member(deb: str | os.PathLike[str], out_dir: str | os.PathLike[str]) -> Path:
    """Copy the ``data.tar.*`` member of the ``ar`` archive ``deb`` into ``out_dir``."""
    deb = Path(deb)
    with open(deb, "rb") as handle:
        if handle.read(8) != b"!<arch>\n":
            raise ArchiveError(f"{deb}: not a Debian package (no ar archive header)")
        while True:
            header = handle.read(60)
            if not header:
                break
            if len(header) < 60 or header[58:60] != b"`\n":
                raise ArchiveError(f"{deb}: truncated or corrupt ar member header")
            name = header[:16].decode("ascii", "replace").strip().rstrip("/")
            size = int(header[48:58].decode("ascii").strip())
            if name.startswith("data.tar"):
                target = Path(out_dir) / name
                with open(target, "wb") as out:
                    remaining = size
                    while remaining:
                        chunk = handle.read(min(remaining, 1 << 20))
                        if not chunk:
                            raise ArchiveError(f"{deb}: truncated inside {name}")
                        out.write(chunk)
                        remaining -= len(chunk)
                return target
            handle.seek(size + (size % 2), os.SEEK_CUR)  # members are 2-byte aligned
    raise ArchiveError(f"{deb}: no data.tar member; not a binary Debian package")


def unpack_package(name: str, root: str | os.PathLike[str], cache: str | os.PathLike[str] | None = None,
                   packages_dir: str | None = None,
                   packages: dict[str, DebPackage] = PACKAGES) -> Path:
    """Fetch, verify and unpack package ``name`` into ``root/name``; a no-op when done."""
    if name not in packages:
        raise KeyError(f"package {name!r} is not pinned; known: {sorted(packages)}")
    package = packages[name]
    root = Path(root)
    dest = root / name
    marker = dest / MARKER
    if marker.exists() and json.loads(marker.read_text()).get("sha256") == package.sha256:
        return dest
    deb = fetch_deb(package, cache or root / "debs", packages_dir)
    if dest.exists():
        shutil.rmtree(dest)  # a half-finished earlier unpack
    with tempfile.TemporaryDirectory(dir=root, prefix=".deb-") as tmp:
        data = deb_data_member(deb, tmp)
        files = safe_extract(data, dest)
    write_text_atomic(marker, json.dumps({"package": name, "version": package.version,
                                          "sha256": package.sha256, "files": files,
                                          "licence": package.licence}) + "\n")
    log.info("%s %s: %d files unpacked into %s (%s)", name, package.version, files, dest,
             package.licence)
    return dest
