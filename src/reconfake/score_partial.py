"""The partial score file of ``reconfake score``: rows appended per batch, resumed after a kill.

Scores go to ``<output>.partial`` as they are computed (one write and a flush per batch), and the
final file appears by a rename once every clip is done. A run started again with the same output
continues a partial file when it fits this run: same settings and checkpoint (recorded beside it
in ``<output>.partial.json``; a retrained model must not be mixed with the old one's scores),
the same header, and rows whose ids and label/attack/corpus columns are ones this run would
write. Anything else is discarded with a warning and scoring starts over. Rows end up in input
order whatever order they were computed in, so a resumed run gives the same bytes as an
uninterrupted one.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
from pathlib import Path
from typing import Any, TextIO

from reconfake.fileio import atomic_path

log = logging.getLogger("reconfake")


def csv_line(values: list[str]) -> str:
    """One CSV row as ``csv`` writes it (``\\r\\n`` terminated), so partial and final files
    match what a single :class:`csv.writer` pass would have written."""
    buf = io.StringIO()
    csv.writer(buf).writerow(values)
    return buf.getvalue()


class PartialScores:
    """``<output>.partial``: the rows scored so far, by trial id, in the order written."""

    def __init__(self, output: str | os.PathLike[str], header: list[str], settings: dict[str, Any]):
        self.output = Path(output)
        self.path = self.output.with_name(self.output.name + ".partial")
        self.meta = self.output.with_name(self.output.name + ".partial.json")
        self.header = csv_line(header)
        self.settings = settings
        self.lines: dict[str, str] = {}  # trial id -> its CSV line, in file order
        self._handle: TextIO | None = None

    def resume(self, expected: dict[str, list[str]]) -> dict[str, str]:
        """Rows of an earlier, interrupted run that this run can keep (trial id -> line).

        ``expected`` maps each trial id of this run to its row without the score column. A
        partial file that does not fit is removed with a warning saying why.
        """
        self.lines = {}
        if not self.path.exists():
            self.meta.unlink(missing_ok=True)
            return self.lines
        problem = self._read(expected)
        if problem:
            log.warning("%s: %s; discarding it and scoring from the start", self.path, problem)
            self.lines = {}
            self.path.unlink()
            self.meta.unlink(missing_ok=True)
        elif self.lines:
            log.info("resuming from %s: %d of %d clip(s) already scored", self.path,
                     len(self.lines), len(expected))
        return self.lines

    def _read(self, expected: dict[str, list[str]]) -> str | None:
        """Load :attr:`lines` from the partial file; the reason it cannot be resumed, if any."""
        try:
            settings = json.loads(self.meta.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return f"its settings file {self.meta.name} is missing or unreadable"
        if settings != self.settings:
            changed = sorted(k for k in {*settings, *self.settings}
                             if settings.get(k) != self.settings.get(k))
            return f"it was written with other settings ({', '.join(changed)} differ)"
        try:
            text = self.path.read_bytes().decode("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            return f"unreadable ({exc})"
        end = text.rfind("\r\n")
        complete = text[:end + 2] if end >= 0 else ""  # a kill mid-write leaves a torn last line
        if len(complete) < len(text):
            with open(self.path, "r+b") as handle:  # drop it so appended rows start cleanly
                handle.truncate(len(complete.encode("utf-8")))
        lines = complete.split("\r\n")[:-1]
        if not lines or lines[0] + "\r\n" != self.header:
            return f"its header is not {self.header.strip()!r}"
        for number, line in enumerate(lines[1:], start=2):
            values = next(csv.reader([line]), [])
            utt_id = values[0] if values else ""
            if utt_id not in expected:
                return f"line {number}: trial id {utt_id!r} is not among this run's inputs"
            if utt_id in self.lines:
                return f"line {number}: trial id {utt_id!r} occurs twice"
            if [values[0], *values[2:]] != expected[utt_id]:
                return f"line {number}: columns other than the score differ from this run's"
            try:
                float(values[1])
            except ValueError:
                return f"line {number}: score {values[1]!r} is not a number"
            self.lines[utt_id] = line + "\r\n"
        return None

    def __enter__(self) -> PartialScores:
        """Open the partial file for appending (with its header and settings when new)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self.lines:
            self.meta.write_text(json.dumps(self.settings, sort_keys=True), encoding="utf-8")
            self._handle = open(self.path, "w", encoding="utf-8", newline="")
            self._handle.write(self.header)
            self._handle.flush()
        else:
            self._handle = open(self.path, "a", encoding="utf-8", newline="")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def append(self, rows: list[tuple[str, list[str]]]) -> None:
        """Write one batch of ``(trial id, row values)`` and flush it, so a kill keeps it."""
        assert self._handle is not None, "append() outside of `with PartialScores(...)`"
        text = ""
        for utt_id, values in rows:
            self.lines[utt_id] = csv_line(values)
            text += self.lines[utt_id]
        self._handle.write(text)
        self._handle.flush()

    def finish(self, order: list[str]) -> int:
        """Put the final file in place (rows in ``order``, the input order) and return the row
        count. Rows written out of order (e.g. a clip that failed before and scores now) are
        re-sorted into a fresh file; otherwise the partial file itself is renamed."""
        ordered = [utt_id for utt_id in order if utt_id in self.lines]
        if ordered == list(self.lines):
            os.replace(self.path, self.output)
        else:
            with atomic_path(self.output) as tmp:
                tmp.write_text(self.header + "".join(self.lines[u] for u in ordered),
                               encoding="utf-8", newline="")
            self.path.unlink()
        self.meta.unlink(missing_ok=True)
        return len(ordered)
