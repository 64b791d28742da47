"""Atomic writes and progress lines."""

import logging

import pytest

from reconfake.fileio import atomic_path, write_text_atomic
from reconfake.progress import Progress


def test_atomic_file_replaces_only_on_success(tmp_path):
    target = tmp_path / "out.txt"
    write_text_atomic(target, "old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("killed")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]
    write_text_atomic(target, "new")
    assert target.read_text() == "new"


def test_atomic_directory(tmp_path):
    target = tmp_path / "model"
    with atomic_path(target) as tmp:
        tmp.mkdir()
        (tmp / "w.bin").write_bytes(b"1")
    with atomic_path(target) as tmp:  # replacing an existing folder
        tmp.mkdir()
        (tmp / "v.bin").write_bytes(b"2")
    assert sorted(p.name for p in target.iterdir()) == ["v.bin"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_nothing_written_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing was written"), atomic_path(tmp_path / "x"):
        pass


def test_progress_line_has_rate_and_eta(caplog):
    progress = Progress("work", total=4, unit="clips", interval=0.0)
    with caplog.at_level(logging.INFO, logger="reconfake"):
        progress.update(1, extra="loss=0.5")
        progress.update(3)
    assert len(caplog.records) == 2
    first, last = caplog.records[0].getMessage(), caplog.records[1].getMessage()
    assert first.startswith("work: 1/4 clips (") and "clips/s" in first and "ETA" in first
    assert first.endswith("loss=0.5")
    assert "4/4 clips" in last and "ETA 0:00:00" in last
