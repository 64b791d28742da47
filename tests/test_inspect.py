"""`reconfake inspect` on manifests and shards."""

import numpy as np
import soundfile as sf

from reconfake.cli import main
from reconfake.manifest import read_manifest
from reconfake.reconstruct import reconstruct_shard


def test_inspect_manifest_and_shard(tmp_path, make_manifest, capsys):
    manifest = make_manifest(n=4)
    assert main(["inspect", str(manifest)]) == 0
    text = capsys.readouterr().out
    assert "corpus manifest, 4 rows" in text and "bonafide=2" in text and "16000 Hz x4" in text
    shard = tmp_path / "s.parquet"
    reconstruct_shard(manifest, "opus", shard)
    out = tmp_path / "clip.wav"
    assert main(["inspect", str(shard), "--extract", "train_001__opus", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "hard-sample shard, 4 rows" in text and "backend opus (codec)" in text
    assert "log-mel distance to source" in text and "paradigm: codec=4" in text
    x, sr = sf.read(out)
    assert sr == 16000 and len(x) == read_manifest(manifest)[1].num_samples
    assert np.max(np.abs(x)) > 0.01


def test_inspect_unknown_clip(tmp_path, make_manifest):
    manifest = make_manifest(n=2)
    assert main(["inspect", str(manifest), "--extract", "nope"]) == 2


def test_duration_cue_measures_length_as_a_score():
    from reconfake.inspect import duration_cue

    def rows(bona: list[float], spoof: list[float]) -> list[dict]:
        return [{"label": "bonafide", "duration_s": d} for d in bona] + \
            [{"label": "spoof", "duration_s": d} for d in spoof]

    # bona fide all longer: length alone separates them (EER 0), whichever class is longer
    assert duration_cue(rows([3.0, 4.0], [1.0, 2.0])).endswith("EER 0.0 %")
    assert duration_cue(rows([1.0, 2.0], [3.0, 4.0])).endswith("EER 0.0 %")
    # lengths spread alike: no cue; one overlap in four: EER 25 %
    assert duration_cue(rows([1.0, 4.0], [2.0, 3.0])).endswith("EER 50.0 %")
    text = duration_cue(rows([1.0, 3.0, 4.0, 5.0], [2.0, 0.5, 0.6, 0.7]))
    assert text == ("  duration: bona fide mean 3.25 s, spoof mean 0.95 s; duration alone as the "
                    "score: EER 25.0 %")
    assert duration_cue(rows([1.0], [])) is None
