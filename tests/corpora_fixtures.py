"""Test helpers for the real corpora: tiny archives in each corpus' real layout (generated audio,
real file and protocol names), a split-zip writer, a loopback HTTP server with Range support that
can drop a connection mid-file, and a CLI runner."""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import hashlib
import io
import json
import socket
import struct
import tarfile
import threading
import urllib.parse
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import soundfile as sf

# ------------------------------------------------------------------------------------------------
# Audio and archives


def clip_bytes(fmt: str = "FLAC", sr: int = 16000, seconds: float = 0.25, seed: int = 0) -> bytes:
    """A short tone with noise, encoded as FLAC or WAV."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(sr * seconds)) / sr
    x = 0.3 * np.sin(2 * np.pi * (150 + 20 * seed) * t) + 0.01 * rng.standard_normal(len(t))
    buf = io.BytesIO()
    sf.write(buf, x.astype(np.float32), sr, format=fmt, subtype="PCM_16")
    return buf.getvalue()


def write_zip(path: Path, files: dict[str, bytes]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return path


def write_tar(path: Path, files: dict[str, bytes], mode: str = "w") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, mode) as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


def split_zip(zip_path: Path, out_dir: Path, stem: str, volumes: int) -> list[Path]:
    """Rewrite a zip as a split zip ``stem.z01 .. stem.zNN + stem.zip`` (``volumes`` earlier
    volumes) with zip64 end records, the way ``zip -s`` lays it out (spanning signature first,
    offsets relative to each member's volume)."""
    data = b"PK\x07\x08" + zip_path.read_bytes()
    eocd = data.rfind(b"PK\x05\x06")
    (_, _, _, _, count, cd_size, cd_offset, _) = struct.unpack("<4s4H2LH", data[eocd:eocd + 22])
    cd_offset += 4
    entries_end = cd_offset
    chunk = -(-entries_end // (volumes + 1))  # every volume, the last included, holds entries
    assert chunk > 0
    cd = bytearray(data[cd_offset:cd_offset + cd_size])
    pos = 0
    for _ in range(count):
        assert cd[pos:pos + 4] == b"PK\x01\x02"
        name_len, extra_len, comment_len = struct.unpack("<3H", cd[pos + 28:pos + 34])
        (offset,) = struct.unpack("<L", cd[pos + 42:pos + 46])
        offset += 4
        disk = min(offset // chunk, volumes)
        struct.pack_into("<H", cd, pos + 34, disk)
        struct.pack_into("<L", cd, pos + 42, offset - disk * chunk)
        pos += 46 + name_len + extra_len + comment_len
    last_start = volumes * chunk
    rel_cd = entries_end - last_start
    zip64 = struct.pack("<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, volumes, volumes, count, count,
                        len(cd), rel_cd)
    locator = struct.pack("<4sLQL", b"PK\x06\x07", volumes, rel_cd + len(cd), volumes + 1)
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", volumes, volumes, 0xFFFF, 0xFFFF, 0xFFFFFFFF,
                      0xFFFFFFFF, 0)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(volumes):
        path = out_dir / f"{stem}.z{i + 1:02d}"
        path.write_bytes(data[i * chunk:(i + 1) * chunk])
        paths.append(path)
    last = out_dir / f"{stem}.zip"
    last.write_bytes(data[last_start:entries_end] + bytes(cd) + zip64 + locator + end)
    return [*paths, last]


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ------------------------------------------------------------------------------------------------
# Corpora in their real layouts (a few clips each)

ASV_LINES = {
    "train": [("LA_0079", "LA_T_1138215", "-", "bonafide"), ("LA_0079", "LA_T_1271820", "A01", "spoof"),
              ("LA_0080", "LA_T_1004644", "A06", "spoof")],
    "dev": [("LA_0069", "LA_D_1047731", "-", "bonafide"), ("LA_0070", "LA_D_1105538", "A02", "spoof")],
    "eval": [("LA_0039", "LA_E_2834763", "A11", "spoof"), ("LA_0033", "LA_E_1862405", "-", "bonafide"),
             ("LA_0014", "LA_E_8688526", "A19", "spoof")],
}
ASV_PROTOCOLS = {"train": "train.trn", "dev": "dev.trl", "eval": "eval.trl"}


def asv_files(lines: dict | None = None, protocol_override: dict[str, str] | None = None) -> dict[str, bytes]:
    lines = lines or ASV_LINES
    files: dict[str, bytes] = {"LA/README.LA.txt": b"ASVspoof 2019 LA (test fixture)\n"}
    for split, rows in lines.items():
        text = "".join(f"{spk} {utt} - {sys} {key}\n" for spk, utt, sys, key in rows)
        name = f"LA/ASVspoof2019_LA_cm_protocols/ASVspoof2019.LA.cm.{ASV_PROTOCOLS[split]}.txt"
        files[name] = (protocol_override or {}).get(split, text).encode()
        for i, (_, utt, _, _) in enumerate(rows):
            files[f"LA/ASVspoof2019_LA_{split}/flac/{utt}.flac"] = clip_bytes("FLAC", 16000, seed=i)
    return files


def build_asvspoof(www: Path, **kwargs) -> dict[str, Path]:
    return {"LA.zip": write_zip(www / "LA.zip", asv_files(**kwargs))}


ITW_ROWS = [("0.wav", "Alec Guinness", "spoof"), ("1.wav", "Alec Guinness", "bona-fide"),
            ("2.wav", "Barack Obama", "bona-fide"), ("3.wav", "Barack Obama", "spoof")]


def itw_files(rows=ITW_ROWS, meta: str | None = None) -> dict[str, bytes]:
    text = meta if meta is not None else (
        "file,speaker,label\n" + "".join(f"{f},{s},{lab}\n" for f, s, lab in rows))
    files = {"release_in_the_wild/meta.csv": text.encode()}
    for i, (name, _, _) in enumerate(rows):
        files[f"release_in_the_wild/{name}"] = clip_bytes("WAV", 16000, seed=i)
    return files


def build_itw(www: Path, **kwargs) -> dict[str, Path]:
    return {"release_in_the_wild.zip": write_zip(www / "release_in_the_wild.zip", itw_files(**kwargs))}


LJ_IDS = ("LJ001-0001", "LJ001-0002")


def ljspeech_files() -> dict[str, bytes]:
    meta = "".join(f"{i}|Text {n}.|Text {n}.\n" for n, i in enumerate(LJ_IDS))
    files = {"LJSpeech-1.1/metadata.csv": meta.encode(), "LJSpeech-1.1/README": b"LJSpeech fixture\n"}
    for n, i in enumerate(LJ_IDS):
        files[f"LJSpeech-1.1/wavs/{i}.wav"] = clip_bytes("WAV", 22050, seed=n)
    return files


def build_wavefake(www: Path) -> dict[str, Path]:
    gen = {}
    for n, i in enumerate(LJ_IDS):
        gen[f"generated_audio/ljspeech_melgan/{i}_gen.wav"] = clip_bytes("WAV", 22050, seed=10 + n)
        gen[f"generated_audio/ljspeech_hifiGAN/{i}_generated.wav"] = clip_bytes("WAV", 22050, seed=20 + n)
        gen[f"generated_audio/ljspeech_waveglow/{i}.wav"] = clip_bytes("WAV", 22050, seed=30 + n)
    for folder in ("ljspeech_melgan_large", "ljspeech_full_band_melgan", "ljspeech_multi_band_melgan",
                   "ljspeech_parallel_wavegan"):
        gen[f"generated_audio/{folder}/{LJ_IDS[0]}_gen.wav"] = clip_bytes("WAV", 22050, seed=40)
    common = "generated_audio/common_voices_prompts_from_conformer_fastspeech2_pwg_ljspeech"
    gen[f"{common}/gen_0.wav"] = clip_bytes("WAV", 22050, seed=50)
    gen[f"{common}/generated/gen_0.wav"] = gen[f"{common}/gen_0.wav"]  # the archive's nested copy
    for folder in ("jsut_multi_band_melgan", "jsut_parallel_wavegan"):
        gen[f"generated_audio/{folder}/BASIC5000_0001_gen.wav"] = clip_bytes("WAV", 24000, seed=60)
    transcript = "BASIC5000_0001:水をマレーシアから買わなくてはならない。\n"
    jsut = {"jsut_ver1.1/basic5000/transcript_utf8.txt": transcript.encode(),
            "jsut_ver1.1/basic5000/wav/BASIC5000_0001.wav": clip_bytes("WAV", 48000, seed=70)}
    return {
        "generated_audio.zip": write_zip(www / "generated_audio.zip", gen),
        "LJSpeech-1.1.tar.bz2": write_tar(www / "LJSpeech-1.1.tar.bz2", ljspeech_files(), "w:bz2"),
        "jsut_ver1.1.zip": write_zip(www / "jsut_ver1.1.zip", jsut),
    }


XIE_SPLITS = ("train", "dev", "C1", "C2", "C3", "C4", "C5", "C6", "C7", "A1", "A2", "A3")
XIE_TEST = XIE_SPLITS[2:-1]  # C1-C7, A1, A2: A3 is distributed without its real clips
XIE_NESTED = "data7/xyk/codecfake/upload_zenodo"  # where release 2024-09 split zips hold the inner zip
XIE_VOLUMES = {"2024-09": 16, "2024-05": 19}


def xie_rows(k: int, split: str) -> list[tuple[str, str, str]]:
    """Label rows of one split: two fakes and one real clip."""
    return [(f"F01_p2{k:02d}_001.wav", "fake", "C3" if split in ("train", "dev") else split),
            (f"F01_SSB{k:04d}0002.wav", "fake", "C5" if split in ("train", "dev") else split),
            (f"p2{k:02d}_003.wav", "real", "real")]


def build_xie(www: Path, tmp: Path, release: str = "2024-09") -> dict[str, Path]:
    """CodecFake (Xie) as published: ``release`` 2024-09 has 16 train volumes whose zip wraps
    ``data7/.../upload_zenodo/train.zip`` (dev likewise), 2024-05 has 19 volumes and no wrapper.
    In both, ``label/A3.txt`` names a real clip that ``A3.zip`` does not hold."""
    labels = {}
    out: dict[str, Path] = {}
    for k, split in enumerate(XIE_SPLITS):
        names = xie_rows(k, split)
        labels[f"label/{split}.txt"] = "".join(f"{n} {lab} {tag}\n" for n, lab, tag in names).encode()
        files = {f"{split}/{n}": clip_bytes("WAV", 16000, seed=i) for i, (n, lab, _) in enumerate(names)
                 if not (split == "A3" and lab == "real")}  # A3's real clips are not distributed
        if split in ("train", "dev"):
            if release == "2024-09":  # the split zip holds one more zip, under an absolute-ish path
                inner = write_zip(tmp / f"{split}.zip", files)
                files = {f"{XIE_NESTED}/{split}.zip": inner.read_bytes()}
            full = write_zip(tmp / f"{split}_full.zip", files)
            volumes = XIE_VOLUMES[release] if split == "train" else 2
            out.update({p.name: p for p in split_zip(full, www, f"{split}_split", volumes)})
        else:
            out[f"{split}.zip"] = write_zip(www / f"{split}.zip", files)
    out["label.zip"] = write_zip(www / "label.zip", labels)
    return out


def replace_spec(monkeypatch, corpus: str, **changes) -> None:
    """Replace fields of the registered corpus' spec for one test."""
    from reconfake.corpora.registry import CORPORA

    registered = CORPORA.get(corpus)
    monkeypatch.setattr(registered, "spec", dataclasses.replace(registered.spec, **changes))


def use_fixture_counts(monkeypatch, corpus: str, counts: dict[str, dict[str, int]]) -> None:
    """Replace the corpus' published counts by a fixture's (scaled) ones, so that ``--strict``
    checks the fixture exactly through the same mechanism as the real corpus."""
    replace_spec(monkeypatch, corpus, known_counts=counts)


WU_ROWS = [("p225_001.wav", "spoofing", "p225", "encodec_24k_6bps"),
           ("p225_001.wav", "spoofing", "p225", "dac_16k"),
           ("p226_002.flac", "genuine", "p226", ""),
           ("p225_001.wav", "genuine", "p225", "")]


def build_wu(www: Path, shards: int = 2) -> dict[str, Path]:
    schema = pa.schema([("audio", pa.struct([("bytes", pa.binary()), ("path", pa.string())])),
                        ("label", pa.string()), ("speaker_id", pa.string()), ("codec_name", pa.string())])
    out = {}
    for k in range(shards):
        rows = [{"audio": {"bytes": clip_bytes("FLAC" if p.endswith("flac") else "WAV", 16000, seed=i),
                           "path": p}, "label": lab, "speaker_id": spk, "codec_name": codec}
                for i, (p, lab, spk, codec) in enumerate(WU_ROWS) if i % shards == k]
        name = f"data/train-{k:05d}-of-{shards:05d}.parquet"
        path = www / name
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)
        out[name] = path
    return out


DIFFSSD_ROWS = [
    ("real_speech/ljspeech/LJ001-0001.wav", "ljspeech", "real", "real", "train", "0"),
    ("real_speech/librispeech/dev-clean/2086/149220/2086-149220-0001.flac", "librispeech", "real", "real",
     "train", "0"),
    ("generated_speech/gradtts/ljspeech/gradtts_0001.wav", "gradtts", "tts", "ljspeech", "train", "1"),
    ("real_speech/librispeech/test-clean/1089/134686/1089-134686-0000.flac", "librispeech", "real", "real",
     "test", "0"),
    ("generated_speech/prodiff/ljspeech/prodiff_0007.wav", "prodiff", "tts", "ljspeech", "test", "1"),
    ("real_speech/ljspeech/LJ001-0002.wav", "ljspeech", "real", "real", "val", "0"),
    ("generated_speech/diffgan_tts/librispeech/diffgantts_0003.wav", "diffgan_tts", "tts", "librispeech",
     "val", "1"),
    ("real_speech/librispeech/dev-other/116/288045/116-288045-0000.flac", "librispeech", "real", "real",
     "train", "0"),
    ("real_speech/librispeech/test-other/1688/142285/1688-142285-0000.flac", "librispeech", "real", "real",
     "test", "0"),
]
DIFFSSD_SOURCES = {"ljspeech": 2, "librispeech/dev-clean": 1, "librispeech/dev-other": 1,
                   "librispeech/test-clean": 1, "librispeech/test-other": 1}


def diffssd_csv(rows=DIFFSSD_ROWS) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["filename", "method_name", "category", "source", "set", "target"])
    writer.writerows(rows)
    return buf.getvalue().encode()


def build_diffssd(www: Path) -> dict[str, Path]:
    gen = {r[0]: clip_bytes("WAV", 22050, seed=i) for i, r in enumerate(DIFFSSD_ROWS)
           if r[0].startswith("generated_speech/")}
    (www / "train_val_test_splits.csv").parent.mkdir(parents=True, exist_ok=True)
    (www / "train_val_test_splits.csv").write_bytes(diffssd_csv())
    dev = {"LibriSpeech/dev-clean/2086/149220/2086-149220-0001.flac": clip_bytes("FLAC", 16000, seed=1),
           "LibriSpeech/dev-clean/2086/149220/2086-149220.trans.txt": b"2086-149220-0001 HELLO\n"}
    test = {"LibriSpeech/test-clean/1089/134686/1089-134686-0000.flac": clip_bytes("FLAC", 16000, seed=2)}
    dev_other = {"LibriSpeech/dev-other/116/288045/116-288045-0000.flac": clip_bytes("FLAC", 16000, seed=3)}
    test_other = {"LibriSpeech/test-other/1688/142285/1688-142285-0000.flac":
                  clip_bytes("FLAC", 16000, seed=4)}
    return {
        # gzip-compressed under a plain .tar name, as public download scripts (tar -xz) find it
        "generated_speech.tar": write_tar(www / "generated_speech.tar", gen, "w:gz"),
        "train_val_test_splits.csv": www / "train_val_test_splits.csv",
        "LJSpeech-1.1.tar.bz2": write_tar(www / "LJSpeech-1.1.tar.bz2", ljspeech_files(), "w:bz2"),
        "dev-clean.tar.gz": write_tar(www / "dev-clean.tar.gz", dev, "w:gz"),
        "dev-other.tar.gz": write_tar(www / "dev-other.tar.gz", dev_other, "w:gz"),
        "test-clean.tar.gz": write_tar(www / "test-clean.tar.gz", test, "w:gz"),
        "test-other.tar.gz": write_tar(www / "test-other.tar.gz", test_other, "w:gz"),
    }


def use_fixture_archives(monkeypatch, corpus: str, files: dict[str, Path]) -> None:
    """Point the corpus' published sizes and checksums at the fixture's files."""
    from reconfake.corpora.registry import corpus_spec

    archives = tuple(
        dataclasses.replace(a, size=files[a.name].stat().st_size, md5=md5(files[a.name]), sha256=None)
        if a.name in files else a for a in corpus_spec(corpus).archives)
    replace_spec(monkeypatch, corpus, archives=archives)


# ------------------------------------------------------------------------------------------------
# Loopback HTTP server


class _Handler(BaseHTTPRequestHandler):
    server: LoopbackServer
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # keep test output quiet
        pass

    def do_GET(self) -> None:  # noqa: N802 (http.server naming)
        srv = self.server
        path = urllib.parse.unquote(urllib.parse.urlparse(self.path).path).lstrip("/")
        srv.requests.append((path, self.headers.get("Range")))
        if path in srv.json_routes:
            body = json.dumps(srv.json_routes[path]).encode()
            self._reply(200, body, {"Content-Type": "application/json"})
            return
        if path in srv.status_routes:
            self._reply(srv.status_routes[path], b"nope")
            return
        file = (srv.root / path).resolve()
        if not file.is_file() or not file.is_relative_to(srv.root.resolve()):
            self._reply(404, b"not found")
            return
        data = file.read_bytes()
        status, headers, start = 200, {"Accept-Ranges": "bytes"}, 0
        rng = self.headers.get("Range")
        if rng and srv.ranges and rng.startswith("bytes="):
            first, _, last = rng[6:].partition("-")
            start = int(first)
            end = int(last) if last else len(data) - 1
            if start >= len(data):
                self._reply(416, b"", {"Content-Range": f"bytes */{len(data)}"})
                return
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
            data = data[start:end + 1]
        drop = srv.drop_after.pop(path, None)
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if drop is not None:  # send part of the body, then cut the connection
            self.wfile.write(data[:drop])
            self.wfile.flush()
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(data)

    def _reply(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class LoopbackServer(ThreadingHTTPServer):
    """Serves ``root`` on 127.0.0.1 (a free port); stops by itself after ``lifetime`` seconds."""

    daemon_threads = True

    def __init__(self, root: Path, lifetime: float = 120.0):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.requests: list[tuple[str, str | None]] = []
        self.drop_after: dict[str, int] = {}  # path -> bytes sent before the connection drops (once)
        self.json_routes: dict[str, object] = {}
        self.status_routes: dict[str, int] = {}
        self.ranges = True
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._watchdog = threading.Timer(lifetime, self.shutdown)
        self._watchdog.daemon = True

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def start(self) -> LoopbackServer:
        self._thread.start()
        self._watchdog.start()
        return self

    def stop(self) -> None:
        self._watchdog.cancel()
        self.shutdown()
        self.server_close()
        self._thread.join(timeout=5)


FAST = ["--retry-wait", "0.01", "--timeout", "5"]  # CLI options: no long waits in tests


def serve(root: Path) -> Iterator[LoopbackServer]:
    """Body of a ``loopback`` fixture: a server over ``root`` (the mirror), stopped afterwards."""
    server = LoopbackServer(root).start()
    try:
        yield server
    finally:
        server.stop()


# ------------------------------------------------------------------------------------------------
# The CLI


def run_cli(argv: list[str]) -> int:
    """``reconfake.cli.main(argv)``."""
    from reconfake import cli

    return cli.main(argv)
