"""Fish Fillets NG voiced dialogue: which recorded line says what, and who says it.

The game's data (Debian ``fillets-ng-data``, GPL-2+) holds per level ``script/<level>/
dialogs_<lang>.lua`` with entries ``dialogId("<id>", "<font>", "<English text>")`` followed by
``dialogStr("<translated text>")``, and the voice packs hold ``sound/<level>/<lang>/<id>.ogg``
(English in ``fillets-ng-data``, Czech in ``fillets-ng-data-cs``, Dutch in
``fillets-ng-data-nl``). The id's second field names the character (``m`` the small fish,
``v`` the big one, others minor roles), used as the speaker.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

GAME = Path("usr/share/games/fillets-ng")
_STR = r'"((?:[^"\\]|\\.)*)"'
_ENTRY = re.compile(r"dialogId\(\s*" + _STR + r"\s*,\s*" + _STR + r"\s*,\s*" + _STR +
                    r"\s*\)(?:\s*dialogStr\(\s*" + _STR + r"\s*\))?", re.S)


@dataclass(frozen=True)
class Line:
    """One voiced line: its id, level, language, text, speaker and audio file."""

    line_id: str
    level: str
    language: str
    text: str
    speaker: str
    path: Path


def _unescape(s: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"n": " ", "t": " "}.get(m[1], m[1]), s).strip()


def parse_dialogs(text: str) -> dict[str, tuple[str, str | None]]:
    """``{id: (english, translation or None)}`` of one ``dialogs_*.lua`` file's text."""
    return {m[1]: (_unescape(m[3]), None if m[4] is None else _unescape(m[4]))
            for m in _ENTRY.finditer(text)}


def speaker_of(line_id: str) -> str:
    """The character field of a dialogue id (``let-m-divna`` -> ``m``)."""
    parts = line_id.split("-")
    return parts[1] if len(parts) >= 3 else "other"


def voiced_lines(data_root: str | os.PathLike[str], voice_root: str | os.PathLike[str],
                 language: str) -> list[Line]:
    """Every line voiced in ``language`` that has a text, sorted by (level, id).

    ``data_root``: the unpacked ``fillets-ng-data``; ``voice_root``: the unpacked package
    holding ``sound/*/<language>/*.ogg`` (the same folder for English).
    """
    scripts = Path(data_root) / GAME / "script"
    sounds = Path(voice_root) / GAME / "sound"
    if not scripts.is_dir() or not sounds.is_dir():
        raise FileNotFoundError(f"no Fish Fillets data under {data_root} / {voice_root} "
                                f"(expected {scripts} and {sounds})")
    lines = []
    for ogg in sorted(sounds.glob(f"*/{language}/*.ogg")):
        level, line_id = ogg.parent.parent.name, ogg.stem
        dialogs = scripts / level / ("dialogs_en.lua" if language == "en" else
                                     f"dialogs_{language}.lua")
        if not dialogs.exists() and language == "en":
            dialogs = scripts / level / "dialogs.lua"
        if not dialogs.exists():
            continue
        entries = parse_dialogs(dialogs.read_text(encoding="utf-8", errors="replace"))
        if line_id not in entries:
            continue
        english, translated = entries[line_id]
        text = english if language == "en" else translated
        if text and re.search(r"\w", text):
            lines.append(Line(line_id, level, language, text,
                              f"fillets_{language}_{speaker_of(line_id)}", ogg))
    return lines
