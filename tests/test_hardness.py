"""The hardness table: the baseline's view of each backend's dev reconstructions."""

import csv

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from reconfake.cli import main
from reconfake.hardness import HEADER, hardness_rows


def _write(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as f:
        f.write("utt_id,score,label,attack\n")
        for utt, score, label in rows:
            f.write(f"{utt},{score:.6f},{label},{'bonafide' if label == 'bonafide' else 'x'}\n")


@pytest.fixture
def scored(tmp_path):
    rng = np.random.default_rng(0)
    bona = rng.normal(3, 1, 40)
    _write(tmp_path / "dev.csv", [(f"b{i:02d}", s, "bonafide") for i, s in enumerate(bona)]
           + [(f"s{i:02d}", s, "spoof") for i, s in enumerate(rng.normal(-3, 1, 40))])
    # "hard": each reconstruction scores 0.1 below its source; "easy": like the spoofs
    _write(tmp_path / "hard.csv", [(f"b{i:02d}__hard", s - 0.1, "spoof")
                                   for i, s in enumerate(bona)])
    _write(tmp_path / "easy.csv", [(f"b{i:02d}__easy", s, "spoof")
                                   for i, s in enumerate(rng.normal(-3, 1, 40))])
    pq.write_table(pa.table({"logmel_distance": [0.5, 1.5]}), tmp_path / "hard.parquet")
    return tmp_path


def test_hard_reconstructions_score_like_their_sources(scored):
    table, arrays = hardness_rows(scored / "dev.csv", {"hard": str(scored / "hard.csv"),
                                                       "easy": str(scored / "easy.csv")},
                                  {"hard": "diffusion", "easy": "codec"},
                                  {"hard": str(scored / "hard.parquet")}, n_boot=200)
    rows = {r[0]: dict(zip(HEADER, r, strict=True)) for r in table}
    hard, easy = rows["hard"], rows["easy"]
    assert hard["paradigm"] == "diffusion" and hard["n"] == 40
    assert hard["median score drop"] == pytest.approx(0.1, abs=1e-5)
    assert hard["mean log-mel distance"] == pytest.approx(1.0)
    assert easy["mean log-mel distance"] is None
    # a shift of 0.1 sd barely moves the EER from chance; the spoof-like set is separable
    assert 35 < hard["EER% vs dev bona fide"] <= 50
    assert easy["EER% vs dev bona fide"] < 2
    assert hard["accepted as bona fide %"] > 90 and easy["accepted as bona fide %"] < 5
    assert hard["CI95 low"] <= hard["EER% vs dev bona fide"] <= hard["CI95 high"]
    assert rows["dev spoof (seen systems)"]["paradigm"] == "reference"
    assert set(arrays) == {"dev bona fide", "dev spoof (seen systems)", "hard (diffusion)",
                           "easy (codec)"}


def test_reconstruction_of_an_unknown_clip_is_named(scored):
    _write(scored / "bad.csv", [("zz__bad", 0.0, "spoof")])
    with pytest.raises(ValueError, match=r"bad.csv: 1 reconstruction\(s\).*zz"):
        hardness_rows(scored / "dev.csv", {"bad": str(scored / "bad.csv")})


def test_cli_writes_table_and_plot(scored):
    out = scored / "report"
    assert main(["hardness", "--dev", str(scored / "dev.csv"), "--reconstructions",
                 f"hard={scored / 'hard.csv'}", f"easy={scored / 'easy.csv'}",
                 "--paradigms", '{"hard": "diffusion"}', "--out-dir", str(out)]) == 0
    rows = list(csv.reader((out / "hardness.csv").open()))
    assert rows[0] == HEADER and [r[0] for r in rows[1:]] == [
        "dev spoof (seen systems)", "hard", "easy"]
    assert (out / "hardness.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "lower EER = harder" in (out / "hardness.md").read_text()
    assert main(["hardness", "--dev", str(scored / "dev.csv"), "--reconstructions",
                 "nopath", "--out-dir", str(out)]) == 2
