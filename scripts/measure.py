"""Run a command and report its wall time and the peak summed RSS of its whole process tree.

Used for the README's budget figures, e.g.::

    python scripts/measure.py -- snakemake --cores 8 all

Linux only (reads /proc). Samples every 0.2 s, so very short-lived peaks can be missed.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        tree.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    return tree


def _rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_rss_kib(root: int) -> int:
    """Summed resident memory of ``root`` and all its descendants, in KiB."""
    tree, total, stack = _children(), 0, [root]
    while stack:
        pid = stack.pop()
        total += _rss_kib(pid)
        stack.extend(tree.get(pid, []))
    return total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    start = time.perf_counter()
    proc = subprocess.Popen(command)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, tree_rss_kib(proc.pid))
        time.sleep(0.2)
    wall = time.perf_counter() - start
    print(f"measure: exit {proc.returncode}, wall {wall:.1f} s, peak tree RSS "
          f"{peak / 1024**2:.2f} GiB, {os.cpu_count()} CPUs", file=sys.stderr)
    return proc.returncode


if __name__ == "__main__":
    sys.exit(main())
