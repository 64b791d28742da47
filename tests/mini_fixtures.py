"""Test data for corpus mini, made by the tests: a tiny unpacked layout of the Debian packages
(Asterisk-like G.722 prompts with an official list, Fish Fillets-like dialogues and Vorbis
voice packs) and ``.deb`` files packed from it with matching pinned entries."""

from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
from pathlib import Path

import numpy as np
import soundfile as sf

from reconfake.corpora.debian import DebPackage
from reconfake.corpora.fillets import GAME
from reconfake.corpora.mini import ALLISON, OFFICIAL
from tests.conftest import voiced

#: prompt -> (text in the official list or None, seconds)
PROMPTS = {
    "welcome": ("Welcome to the test system.", 1.2),
    "goodbye": ("Goodbye.", 0.9),
    "vm-deleted": ("Message deleted.", 1.0),
    "vm-saved": ("Message saved.", 1.1),
    "conf-muted": ("You are now muted.", 1.0),
    "confbridge-muted": ("You are now muted.", 1.0),  # a repeated text: dropped by select
    "agent-pass": ("Please enter your password.", 1.3),
    "beep": (None, 0.8),  # not in the official list: an empty transcript
    "digits/1": ("One.", 0.3),  # too short: never dealt
}
#: language -> level -> [(line id, text)]; the id's second field is the speaker
LINES = {
    "cs": {"alpha": [("a-m-one", "Dobrý den, rybo."), ("a-v-two", "Tady je velká loď."),
                     ("a-m-three", "Kde je klíč?"), ("a-v-four", "Musíme jít dál.")],
           "beta": [("b-m-one", "To je divné."), ("b-v-two", "Pojď sem, rychle."),
                    ("b-m-three", "Ten stůl je těžký."), ("b-v-four", "Nevím, co dělat.")]},
    "nl": {"alpha": [("a-m-one", "Goedendag, vis."), ("a-v-two", "Daar ligt een groot schip."),
                     ("a-m-three", "Waar is de sleutel?")],
           "beta": [("b-m-one", "Dat is vreemd."), ("b-v-two", "Kom hier, snel."),
                    ("b-m-three", "Die tafel is zwaar.")]},
    "en": {"alpha": [("a-x-click", "We have to find the exit."),
                     ("a-p-parrot", "Pretty fish, pretty fish.")]},
}


def g722_bytes(x: np.ndarray) -> bytes:
    """Raw G.722 (no header), as Asterisk ships its prompts."""
    import av

    buf = io.BytesIO()
    with av.open(buf, "w", format="g722") as container:
        stream = container.add_stream("g722", rate=16000, layout="mono")
        pcm = (np.clip(np.pad(x, (0, (-len(x)) % 320)), -1, 1) * 32767).astype(np.int16)
        for start in range(0, len(pcm), 320):
            frame = av.AudioFrame.from_ndarray(pcm[None, start:start + 320], format="s16",
                                               layout="mono")
            frame.sample_rate, frame.pts = 16000, start
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buf.getvalue()


def ogg_bytes(seconds: float, seed: int) -> bytes:
    buf = io.BytesIO()
    x = np.pad(voiced(seconds, f0=120 + 7 * seed, seed=seed, sr=22050), 2205)
    sf.write(buf, x, 22050, format="OGG", subtype="VORBIS")
    return buf.getvalue()


def _lua(lines: list[tuple[str, str]], language: str) -> str:
    out = []
    for line_id, text in lines:
        if language == "en":
            out.append(f'dialogId("{line_id}", "font_small", "{text}")\n')
        else:
            out.append(f'dialogId("{line_id}", "font_small", "English {line_id}")\n'
                       f'dialogStr("{text}")\n')
    return "\n".join(out)


def package_files() -> dict[str, dict[str, bytes]]:
    """``{package: {path inside the package: bytes}}`` of the whole tiny layout."""
    files: dict[str, dict[str, bytes]] = {name: {} for name in (
        "asterisk-core-sounds-en-g722", "asterisk-core-sounds-en", "fillets-ng-data",
        "fillets-ng-data-cs", "fillets-ng-data-nl")}
    official = ["; Core Asterisk Sounds in English (test)", ""]
    for k, (name, (text, seconds)) in enumerate(PROMPTS.items()):
        x = np.pad(voiced(seconds - 0.1, f0=190 + 5 * k, seed=100 + k), 800)
        files["asterisk-core-sounds-en-g722"][f"{ALLISON}/{name}.g722"] = g722_bytes(x)
        if text:
            official.append(f"{name}: {text}")
    files["asterisk-core-sounds-en"][str(OFFICIAL)] = gzip.compress(
        ("\n".join(official) + "\n").encode())
    seed = 0
    for language, levels in LINES.items():
        pack = {"cs": "fillets-ng-data-cs", "nl": "fillets-ng-data-nl"}.get(language,
                                                                           "fillets-ng-data")
        for level, lines in levels.items():
            script = f"{GAME}/script/{level}/dialogs_{language}.lua"
            files["fillets-ng-data"][script] = _lua(lines, language).encode()
            for line_id, _ in lines:
                seed += 1
                files[pack][f"{GAME}/sound/{level}/{language}/{line_id}.ogg"] = ogg_bytes(
                    1.0 + 0.05 * seed, seed)
    # an English sound effect without a dialogue entry: not a voiced line
    files["fillets-ng-data"][f"{GAME}/sound/alpha/en/a-x-splash.ogg"] = ogg_bytes(1.0, 99)
    return files


def write_layout(root: Path) -> Path:
    """The tiny layout as ``reconfake mini-packages`` would unpack it."""
    for package, members in package_files().items():
        for rel, data in members.items():
            (root / package / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / package / rel).write_bytes(data)
    return root


def _tar_xz(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:xz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def ar_archive(members: list[tuple[str, bytes]]) -> bytes:
    """A ``.deb``-style ``ar`` archive of ``members``."""
    out = [b"!<arch>\n"]
    for name, data in members:
        header = (f"{name:<16}{0:<12}{0:<6}{0:<6}{'100644':<8}{len(data):<10}").encode() + b"`\n"
        out += [header, data, b"\n" if len(data) % 2 else b""]
    return b"".join(out)


def make_deb(out: Path, files: dict[str, bytes], package: str = "test") -> Path:
    """Write a binary ``.deb`` holding ``files`` (paths inside the package) to ``out``."""
    control = f"Package: {package}\nVersion: 1.0-1\nArchitecture: all\n".encode()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(ar_archive([("debian-binary", b"2.0\n"),
                                ("control.tar.xz", _tar_xz({"./control": control})),
                                ("data.tar.xz", _tar_xz({f"./{k}": v for k, v in files.items()}))]))
    return out


def pin(name: str, deb: Path, sha256: str | None = None, size: int | None = None) -> DebPackage:
    """A pinned entry for a test ``.deb`` (its real size and SHA-256 unless given)."""
    data = deb.read_bytes()
    return DebPackage(name, "1.0-1", f"pool/main/t/{name}/{deb.name}",
                      len(data) if size is None else size,
                      sha256 or hashlib.sha256(data).hexdigest(), "test")


def build_debs(folder: Path) -> dict[str, DebPackage]:
    """A ``.deb`` per package of the tiny layout in ``folder``, and their pinned entries."""
    pins = {}
    for package, members in package_files().items():
        deb = make_deb(folder / f"{package}_1.0-1_all.deb", members, package)
        pins[package] = pin(package, deb)
    return pins
