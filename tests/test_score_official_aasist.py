"""`reconfake score` with the released AASIST weights reproduces the official logits."""

import csv

import numpy as np
import pytest

from reconfake.audio import write_audio
from reconfake.cli import main
from tests.conftest import SHARED, needs_shared

REF = SHARED / "reference" / "aasist"


@needs_shared(REF)
@pytest.mark.parametrize("architecture,weights,logits", [
    ("aasist", "AASIST.pth", "logits_AASIST.npy"),
    ("aasist-l", "AASIST-L.pth", "logits_AASIST-L.npy"),
])
def test_score_cli_matches_reference(tmp_path, architecture, weights, logits):
    inputs = np.load(REF / "inputs.npy")
    for i, x in enumerate(inputs):
        write_audio(tmp_path / "wavs" / f"clip{i}.wav", x, 16000, subtype="FLOAT")
    out = tmp_path / "scores.csv"
    assert main(["score", "--checkpoint", str(REF / weights), "--architecture", architecture,
                 "--output", str(out), str(tmp_path / "wavs")]) == 0
    scores = {r["utt_id"]: float(r["score"]) for r in csv.DictReader(out.open())}
    expected = np.load(REF / logits)[:, 1]
    got = np.array([scores[f"clip{i}"] for i in range(len(inputs))])
    np.testing.assert_allclose(got, expected, atol=1e-4)


@needs_shared(REF)
def test_wrong_architecture_names_keys(tmp_path):
    from reconfake.detector.inference import load_checkpoint

    with pytest.raises(ValueError, match="missing keys.*unexpected keys"):
        load_checkpoint(REF / "AASIST.pth", "aasist-l")
