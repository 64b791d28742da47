"""Progress lines for long jobs: items done, items/s and ETA, written to the log every few seconds.

Snakemake sends each rule's stderr to its ``log:`` file, where carriage-return progress bars
are unreadable; this prints whole lines instead, at a bounded rate.
"""

from __future__ import annotations

import logging
import time

log = logging.getLogger("reconfake")


def _fmt_seconds(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h:d}:{m:02d}:{s:02d}"


class Progress:
    """Report ``done/total`` with rate and ETA at most every ``interval`` seconds."""

    def __init__(self, label: str, total: int, unit: str = "items", interval: float = 5.0):
        self.label = label
        self.total = total
        self.unit = unit
        self.interval = interval
        self.done = 0
        self.start = time.perf_counter()
        self._last = self.start
        self.extra = ""

    def update(self, n: int = 1, extra: str = "") -> None:
        """Count ``n`` more items; ``extra`` (e.g. loss values) is appended to the line."""
        self.done += n
        if extra:
            self.extra = extra
        now = time.perf_counter()
        if now - self._last >= self.interval or self.done >= self.total:
            self._last = now
            log.info(self.line())

    def line(self) -> str:
        """The current progress line."""
        elapsed = time.perf_counter() - self.start
        rate = self.done / elapsed if elapsed > 0 else 0.0
        eta = (self.total - self.done) / rate if rate > 0 else float("nan")
        eta_s = _fmt_seconds(eta) if eta == eta else "?"
        tail = f" {self.extra}" if self.extra else ""
        return (
            f"{self.label}: {self.done}/{self.total} {self.unit} "
            f"({rate:.2f} {self.unit}/s, elapsed {_fmt_seconds(elapsed)}, ETA {eta_s}){tail}"
        )


def setup_logging(level: int = logging.INFO) -> None:
    """Log ``reconfake`` messages as timestamped lines on stderr."""
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(message)s", datefmt="%H:%M:%S"
    )
