"""The stand-in demo corpus: counts, attacks, speakers, determinism."""

import numpy as np

from reconfake.audio import load_audio
from reconfake.corpora.demo import SplitSpec, build_split
from reconfake.manifest import read_manifest


def test_build_split_counts_attacks_and_files(tmp_path):
    spec = SplitSpec(bonafide=3, spoof=4, attacks=["mulaw_8k", "random_phase"],
                     voices=["en", "en+f2"], speakers=2, seed=7)
    path = build_split("ev", spec, tmp_path)
    rows = read_manifest(path)
    assert len(rows) == 7
    assert sum(r.label == "bonafide" for r in rows) == 3
    assert sorted(r.attack for r in rows if r.label == "spoof") == [
        "mulaw_8k", "mulaw_8k", "random_phase", "random_phase"]
    assert {r.speaker for r in rows} == {"ev_spk00", "ev_spk01"}
    for r in rows:
        x, sr = load_audio(r.path, expected_rate=16000)
        assert len(x) == r.num_samples and 0.5 < r.duration_s < 8
        assert 0.05 < np.max(np.abs(x)) <= 0.91
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ev", "ev.parquet"]


def test_same_seed_same_audio(tmp_path):
    spec = SplitSpec(bonafide=1, spoof=1, attacks=["lpc_vocoder"], voices=["en"], seed=3)
    a = read_manifest(build_split("s", spec, tmp_path / "a"))
    b = read_manifest(build_split("s", spec, tmp_path / "b"))
    for ra, rb in zip(a, b, strict=True):
        assert open(ra.path, "rb").read() == open(rb.path, "rb").read()


def test_unknown_attack_is_named(tmp_path):
    import pytest

    with pytest.raises(ValueError, match=r"unknown attack\(s\) \['nope'\]"):
        build_split("s", SplitSpec(bonafide=1, spoof=1, attacks=["nope"], voices=["en"]),
                    tmp_path)
