"""Fetching corpus archives from the official URL, a mirror URL (http, https, file) or a folder.

Downloads resume after an interruption (HTTP ``Range``), retry with exponential backoff, log
bytes/s and ETA, check free disk space first, write under a temporary name (``<name>.part``) and
rename, and verify size and published checksum before anything is unpacked. Files in a local
mirror folder (or behind a ``file://`` URL) are verified and used in place, never copied.
:func:`download_corpus` runs fetch -> verify -> extract for each archive of a corpus; a marker
per archive and one per corpus make every finished step a no-op when run again.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import logging
import os
import shutil
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from reconfake.corpora.extract import ensure_free_space, fmt_bytes, safe_extract
from reconfake.corpora.spec import MARKER, Archive, CorpusSpec
from reconfake.fileio import write_text_atomic
from reconfake.progress import Progress, _fmt_seconds

log = logging.getLogger("reconfake")

USER_AGENT = "reconfake-corpus-download/0.1"
CHUNK = 1 << 20
ZENODO_API = "https://zenodo.org/api/records/{record}"
HF_TREE_API = "https://huggingface.co/api/datasets/{repo}/tree/{revision}/{folder}"
HF_REVISION_API = "https://huggingface.co/api/datasets/{repo}/revision/{revision}"
HF_DEFAULT_REVISION = "main"
RETRY_STATUS = {408, 425, 429, 500, 502, 503, 504}
STATE_DIR = ".reconfake"  # per-archive extraction markers inside the corpus root


class DownloadError(RuntimeError):
    """An archive could not be fetched or verified; the message names it and the fix."""


class _ShortRead(Exception):
    """The server closed the connection before the announced length was sent."""


class ByteProgress(Progress):
    """:class:`Progress` for bytes: sizes in kB/MB/GB, rate in bytes/s."""

    def line(self) -> str:
        elapsed = time.perf_counter() - self.start
        rate = self.done / elapsed if elapsed > 0 else 0.0
        if self.total:
            eta = _fmt_seconds((self.total - self.done) / rate) if rate > 0 else "?"
            size = f"{fmt_bytes(self.done)} of {fmt_bytes(self.total)}"
        else:
            eta, size = "?", fmt_bytes(self.done)
        return (f"{self.label}: {size} ({fmt_bytes(rate)}/s, elapsed {_fmt_seconds(elapsed)}, "
                f"ETA {eta}){self.extra and ' ' + self.extra}")


def mirror_location(archive: Archive, mirror: str | None) -> str | Path:
    """Where ``archive`` comes from: a URL (str) or a local file (Path)."""
    if not mirror:
        return archive.url
    parsed = urllib.parse.urlparse(mirror)
    if parsed.scheme in ("http", "https"):
        return mirror.rstrip("/") + "/" + urllib.parse.quote(archive.name)
    if parsed.scheme == "file":
        return Path(urllib.request.url2pathname(parsed.path)) / archive.name
    if parsed.scheme and len(parsed.scheme) > 1:
        raise DownloadError(f"mirror {mirror!r}: unsupported scheme {parsed.scheme!r}; use an http(s) "
                            "or file URL, or a local folder")
    folder = Path(mirror).expanduser()
    if not folder.is_dir():
        raise DownloadError(f"mirror {mirror!r} is neither a URL nor an existing folder")
    return folder / archive.name


def http_json(url: str, timeout: float = 30.0) -> Any:
    """GET a JSON document."""
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, "Accept": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read().decode("utf-8"))


_PUBLISHED_CACHE: dict[str, Any] = {}


def with_published_checksum(archive: Archive, timeout: float = 30.0) -> Archive:
    """``archive`` with size and checksum from where they are published (Zenodo, Hugging Face).

    Only for archives that declare ``published`` and carry no checksum of their own; a failed
    look-up is a warning (the size, where known, is still checked).
    """
    if not archive.published or archive.md5 or archive.sha256:
        return archive
    kind, _, ident = archive.published.partition(":")
    ident, _, revision = ident.partition("@")  # hf:<repo>@<revision>
    try:
        if kind == "zenodo":
            url = ZENODO_API.format(record=ident)
            record = _PUBLISHED_CACHE.get(url) or http_json(url, timeout)
            _PUBLISHED_CACHE[url] = record
            for item in record.get("files", []):
                if item.get("key") == archive.name:
                    algo, _, digest = str(item.get("checksum", "")).partition(":")
                    return replace(archive, size=item.get("size", archive.size),
                                   md5=digest if algo == "md5" else None)
        elif kind == "hf":
            folder = os.path.dirname(archive.name)
            url = HF_TREE_API.format(repo=ident, folder=folder,
                                     revision=urllib.parse.quote(revision or HF_DEFAULT_REVISION,
                                                                 safe="")).rstrip("/")
            listing = _PUBLISHED_CACHE.get(url) or http_json(url, timeout)
            _PUBLISHED_CACHE[url] = listing
            for item in listing:
                if item.get("path") == archive.name:
                    lfs = item.get("lfs") or {}
                    return replace(archive, size=lfs.get("size", item.get("size", archive.size)),
                                   sha256=lfs.get("oid") or None)
        log.warning("%s: not listed at %s; checking its size only", archive.name, archive.published)
    except (OSError, ValueError, http.client.HTTPException) as exc:
        log.warning("%s: could not fetch the published checksum from %s (%s); checking its size only",
                    archive.name, archive.published, exc)
    return archive


def resolve_hf_revision(repo: str, revision: str, timeout: float = 30.0) -> str:
    """The commit ``revision`` (branch, tag or commit) of dataset ``repo`` points at now.

    Raises:
        DownloadError: the Hub cannot be asked or does not know the revision; names both.
    """
    url = HF_REVISION_API.format(repo=repo, revision=urllib.parse.quote(revision, safe=""))
    try:
        sha = http_json(url, timeout).get("sha")
    except (OSError, ValueError, AttributeError, http.client.HTTPException) as exc:
        raise DownloadError(f"{repo}: cannot resolve revision {revision!r} at {url} ({exc}); check the "
                            "corpus option revision, or use a mirror (its revision is then recorded "
                            "as given, unverified)") from exc
    if not isinstance(sha, str) or len(sha) != 40:
        raise DownloadError(f"{repo}: the Hub answered no commit for revision {revision!r} ({url})")
    return sha


def at_hf_revision(archive: Archive, repo: str, revision: str) -> Archive:
    """``archive`` fetched from dataset ``repo`` at ``revision`` (its URL and checksum listing)."""
    marker = f"/datasets/{repo}/resolve/"
    head, found, tail = archive.url.partition(marker)
    if not found:
        return archive  # not a file of that repository (e.g. LJSpeech beside DiffSSD)
    path = tail.partition("/")[2]  # drop the revision the URL was written with
    published = f"hf:{repo}@{revision}" if archive.published else None
    return replace(archive, url=f"{head}{marker}{urllib.parse.quote(revision, safe='')}/{path}",
                   published=published)


def file_digests(path: Path, algorithms: list[str]) -> dict[str, str]:
    """Hex digests of ``path`` for each algorithm (one read), with progress lines."""
    hashes = {name: hashlib.new(name) for name in algorithms}
    progress = ByteProgress(f"verifying {path.name} ({', '.join(algorithms)})", path.stat().st_size,
                            interval=10.0)
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            for h in hashes.values():
                h.update(chunk)
            progress.update(len(chunk))
    return {name: h.hexdigest() for name, h in hashes.items()}


def verify(path: Path, archive: Archive, source: str) -> None:
    """Check size and checksum of a fetched file; raise :class:`DownloadError` on a mismatch."""
    size = path.stat().st_size
    if archive.size is not None and size != archive.size:
        what = "truncated" if size < archive.size else "larger than published"
        raise DownloadError(f"{archive.name}: {size} bytes but the published size is {archive.size} "
                            f"({what}; from {source}); delete it and download again, or check "
                            "the mirror")
    wanted = {k: v.lower() for k, v in (("md5", archive.md5), ("sha256", archive.sha256)) if v}
    if not wanted:
        log.info("%s: no published checksum; size %s checked", archive.name,
                 "was" if archive.size is not None else "was not")
        return
    got = file_digests(path, sorted(wanted))
    for algo, want in wanted.items():
        if got[algo] != want:
            raise DownloadError(f"{archive.name}: {algo} checksum mismatch (from {source}): got "
                                f"{got[algo]}, expected {want}; the file is corrupt or not the "
                                "published one")
    log.info("%s: %s verified", archive.name, ", ".join(sorted(wanted)))


def _content_range(value: str | None) -> tuple[int, int | None] | None:
    # "bytes 100-199/1000" -> (100, 1000); "bytes 100-199/*" -> (100, None)
    if not value or not value.startswith("bytes "):
        return None
    span, _, total = value[6:].partition("/")
    start = int(span.split("-")[0])
    return start, (int(total) if total.strip().isdigit() else None)


def _download_http(url: str, part: Path, archive: Archive, retries: int, retry_wait: float,
                   timeout: float) -> None:
    """Fill ``part`` with the resource at ``url``, resuming and retrying."""
    failures = 0
    while True:
        have = part.stat().st_size if part.exists() else 0
        if archive.size is not None and have > archive.size:
            part.unlink()
            have = 0
        if archive.size is not None and have == archive.size:
            return
        if archive.size is not None:
            ensure_free_space(part.parent, archive.size - have, f"downloading {archive.name}")
        headers = {"User-Agent": USER_AGENT}
        if have:
            headers["Range"] = f"bytes={have}-"
        received = 0
        try:
            request = urllib.request.Request(url, headers=headers)
            with urllib.request.urlopen(request, timeout=timeout) as response:
                status = response.status
                length = response.headers.get("Content-Length")
                length = int(length) if length and length.isdigit() else None
                if have and status == 206:
                    start, total = _content_range(response.headers.get("Content-Range")) or (have, None)
                    if start != have:
                        raise DownloadError(f"{url}: asked to resume at byte {have}, server sent "
                                            f"byte {start}")
                    log.info("%s: resuming at %s", archive.name, fmt_bytes(have))
                else:
                    if have:
                        log.info("%s: server ignored the resume request; starting again", archive.name)
                    have, total = 0, length
                if total is not None and archive.size is not None and total != archive.size:
                    raise DownloadError(f"{url}: the server announces {total} bytes but the published "
                                        f"size of {archive.name} is {archive.size}; wrong file or "
                                        "mirror")
                if total is not None and archive.size is None:
                    ensure_free_space(part.parent, total - have, f"downloading {archive.name}")
                progress = ByteProgress(f"downloading {archive.name}", total or 0)
                progress.done = have
                with open(part, "ab" if have else "wb") as out:
                    while chunk := response.read(CHUNK):
                        out.write(chunk)
                        received += len(chunk)
                        progress.update(len(chunk))
                if length is not None and received < length:
                    raise _ShortRead(f"connection closed after {received} of {length} bytes")
                return
        except urllib.error.HTTPError as exc:
            if exc.code == 416 and have and (archive.size is None or have == archive.size):
                return  # nothing left to send: the part file is complete
            if exc.code == 416:
                part.unlink(missing_ok=True)
            elif exc.code not in RETRY_STATUS:
                raise DownloadError(f"{url}: HTTP {exc.code} {exc.reason}; check the URL or mirror "
                                    f"(the mirror must hold {archive.name!r} under that name)") from exc
            error: Exception = exc
        except (urllib.error.URLError, OSError, http.client.HTTPException, _ShortRead) as exc:
            error = exc
        if received:
            failures = 0  # progress was made: a flaky connection is not a dead one
        failures += 1
        if failures > retries:
            raise DownloadError(f"{url}: giving up after {retries} retries ({error}); run the "
                                "download again to resume from the partial file")
        wait = min(retry_wait * 2 ** (failures - 1), 120.0)
        log.warning("%s: %s; retry %d/%d in %.1f s", archive.name, error, failures, retries, wait)
        time.sleep(wait)


def fetch(archive: Archive, archives_dir: str | os.PathLike[str], mirror: str | None = None, *,
          retries: int = 5, retry_wait: float = 2.0, timeout: float = 60.0) -> Path:
    """Make ``archive`` available locally and verified; return its path.

    Args:
        archive: what to fetch (size/checksums are checked when given).
        archives_dir: where downloads are written (``<name>.part`` then renamed).
        mirror: base URL (http, https, file) or folder with the same file names; None = official.
        retries: attempts after a failure (a failure after progress does not count).
        retry_wait: first backoff in seconds, doubled on each failure.
        timeout: socket timeout per request, seconds.

    Returns:
        The verified file: in ``archives_dir``, or in the mirror folder itself.
    """
    source = mirror_location(archive, mirror)
    if isinstance(source, Path):
        if not source.is_file():
            raise DownloadError(f"{archive.name}: not found in the mirror ({source}); the mirror must "
                                "hold the official file names")
        verify(source, archive, str(source))
        return source
    archives_dir = Path(archives_dir)
    dest = archives_dir / archive.name
    done = dest.with_name(dest.name + ".complete")
    if done.exists() and dest.exists() and json.loads(done.read_text()).get("size") == dest.stat().st_size:
        log.info("%s: already downloaded and verified", archive.name)
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    _download_http(source, part, archive, retries, retry_wait, timeout)
    try:
        verify(part, archive, source)
    except DownloadError:
        part.unlink(missing_ok=True)  # corrupt or wrong: never resume from it
        raise
    os.replace(part, dest)
    write_text_atomic(done, json.dumps({"source": source, "size": dest.stat().st_size}))
    return dest


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _place_copy(path: Path, root: Path, archive: Archive, move: bool) -> None:
    target = root / archive.name
    target.parent.mkdir(parents=True, exist_ok=True)
    if move:
        shutil.move(path, target)  # a rename on one file system, a copy across two
    else:
        ensure_free_space(root, path.stat().st_size, f"copying {archive.name}")
        tmp = target.with_name(f".{target.name}.tmp")
        shutil.copyfile(path, tmp)
        os.replace(tmp, target)


def download_corpus(spec: CorpusSpec, out_dir: str | os.PathLike[str], *,
                    root: str | os.PathLike[str] | None = None, mirror: str | None = None,
                    archives_dir: str | os.PathLike[str] | None = None, keep_archives: bool = False,
                    options: Mapping[str, Any] | None = None, retries: int = 5,
                    retry_wait: float = 2.0, timeout: float = 60.0) -> Path:
    """Download, verify and extract every archive of ``spec``; write the ``.downloaded`` marker.

    Args:
        spec: the corpus.
        out_dir: ``<data_dir>/<corpus>``: the marker (and later the manifests) go here.
        root: where the corpus is extracted (default ``out_dir``).
        mirror: base URL or folder holding the official file names (default: official URLs).
        archives_dir: where downloads go (default ``<root>/archives``).
        keep_archives: keep downloaded archives after extraction (default: delete them).
        options: corpus options (e.g. ``{"jsut": True}`` for WaveFake).
        retries, retry_wait, timeout: see :func:`fetch`.

    Returns:
        The marker path.
    """
    out_dir = Path(out_dir)
    root = Path(root) if root else out_dir
    archives_dir = Path(archives_dir) if archives_dir else root / "archives"
    opts = spec.resolve_options(options)
    revisions: dict[str, dict[str, str | None]] = {}
    listing_opts = opts
    if spec.hf_repo:
        requested = str(opts.get("revision") or HF_DEFAULT_REVISION)
        # official downloads fetch the commit the revision points at now, so that the files
        # and their checksums come from one commit and a result can name it; a mirror's commit
        # cannot be checked and is recorded as unverified
        resolved = resolve_hf_revision(spec.hf_repo, requested, timeout) if mirror is None else None
        revisions[spec.hf_repo] = {"requested": requested, "resolved": resolved}
        if resolved:
            log.info("%s: %s revision %s is commit %s", spec.name, spec.hf_repo, requested, resolved)
        else:
            log.warning("%s: files of %s come from the mirror %s; their commit is not verified "
                        "(recorded as revision %s, unverified)", spec.name, spec.hf_repo, mirror, requested)
        listing_opts = {**opts, "revision": resolved or requested}
    archives = spec.archives_for(listing_opts, mirror)
    if spec.hf_repo:
        archives = [at_hf_revision(a, spec.hf_repo, listing_opts["revision"]) for a in archives]
    if not archives:
        raise DownloadError(f"{spec.name}: no archives to download (mirror {mirror!r})")
    state = root / STATE_DIR
    fetched: dict[str, Path] = {}
    downloaded: set[str] = set()
    log.info("%s: %d archive(s) from %s into %s", spec.name, len(archives), mirror or "the official URLs",
             root)
    for archive in archives:
        marker = state / f"{archive.name}.done"
        if marker.exists():
            log.info("%s: already extracted (%s); skipping", archive.name, marker)
            continue
        if mirror is None:
            archive = with_published_checksum(archive, timeout)
        elif archive.published and not (archive.md5 or archive.sha256):
            log.info("%s: its checksum is published at %s, which is only consulted for official "
                     "downloads (not from a mirror)", archive.name, archive.published)
        path = fetch(archive, archives_dir, mirror, retries=retries, retry_wait=retry_wait,
                     timeout=timeout)
        fetched[archive.name] = path
        if isinstance(mirror_location(archive, mirror), str):
            downloaded.add(archive.name)  # ours to delete; mirror files are never touched
        if archive.extract == "volume":
            continue
        if archive.extract == "auto":
            volumes = [fetched[v] for v in archive.volumes]
            safe_extract(path, root, volumes=volumes, nested=archive.nested)
        elif archive.extract == "copy":
            _place_copy(path, root, archive, move=archive.name in downloaded and not keep_archives)
        elif archive.extract == "custom":
            if spec.unpack is None:
                raise DownloadError(f"{spec.name}: {archive.name} needs an unpack step the spec lacks")
            spec.unpack(path, root, archive)
        else:
            raise DownloadError(f"{archive.name}: unknown extract mode {archive.extract!r}")
        for name in (*archive.volumes, archive.name):
            write_text_atomic(state / f"{name}.done", json.dumps({"archive": name, "at": _now()}))
            used = fetched.get(name)
            if used is not None and used.exists() and name in downloaded and not keep_archives:
                used.unlink()
                used.with_name(used.name + ".complete").unlink(missing_ok=True)
    marker = out_dir / MARKER
    write_text_atomic(marker, json.dumps({
        "corpus": spec.name, "mode": "download", "root": str(root.absolute()), "mirror": mirror,
        "options": opts, "archives": [a.name for a in archives],
        "urls": {a.name: a.url for a in archives}, "revisions": revisions or None, "finished": _now(),
    }, indent=1))
    log.info("%s: download complete -> %s", spec.name, marker)
    return marker
