"""`reconfake score` inputs: unique trial ids, duplicates and bad inputs reported before the
checkpoint loads."""

import csv
import shutil

import numpy as np
import pytest
import torch

from reconfake.audio import write_audio
from reconfake.cli import main
from reconfake.detector.inference import CHECKPOINT_FORMAT
from reconfake.detector.registry import build_model
from reconfake.score import score_inputs
from reconfake.score_inputs import InputError, collect_entries
from tests.conftest import SR, voiced

ARCH = {"channels": [4, 8], "embedding_dim": 16, "n_mels": 32}


def tiny_checkpoint(path):
    """An untrained mel_cnn checkpoint: scoring runs, no training needed."""
    torch.manual_seed(0)
    model = build_model("mel_cnn", ARCH)
    torch.save({"format": CHECKPOINT_FORMAT, "architecture": "mel_cnn", "arch_options": ARCH,
                "state_dict": model.state_dict()}, path)
    return path


def clip(path, seed=0):
    write_audio(path, voiced(0.4, f0=110 + 10 * seed, seed=seed), SR)
    return path


def test_same_names_in_two_folders_get_distinct_ids(tmp_path):
    for system in ("a", "b"):
        clip(tmp_path / "demo" / system / "1.wav", seed=ord(system))
    clip(tmp_path / "demo" / "b" / "sub" / "LJ001-0001.flac")
    out = tmp_path / "scores.csv"
    assert main(["score", "--checkpoint", str(tiny_checkpoint(tmp_path / "m.pt")), "--output",
                 str(out), "--eval-samples", "4000", str(tmp_path / "demo" / "a"),
                 str(tmp_path / "demo" / "b")]) == 0
    assert [r["utt_id"] for r in csv.DictReader(out.open())] == ["a/1", "b/1", "b/sub/LJ001-0001"]
    # a single folder is the root itself: plain names, as before; files given directly too
    assert [e.item.utt_id for e in collect_entries([tmp_path / "demo" / "a"])] == ["1"]
    assert [e.item.utt_id for e in collect_entries([tmp_path / "demo" / "b" / "1.wav"])] == ["1"]


def test_duplicate_ids_across_manifests_name_both(tmp_path, make_manifest):
    first = make_manifest("eval", n=2, folder=tmp_path / "one")
    second = make_manifest("eval", n=2, folder=tmp_path / "two")  # same utt_ids eval_000, ...
    with pytest.raises(InputError) as err:
        score_inputs(tmp_path / "no-such-checkpoint.pt", [str(first), str(second)],
                     tmp_path / "s.csv")
    message = str(err.value)
    assert "'eval_000' occurs twice" in message and "'eval_001' occurs twice" in message
    assert f"{first} row 0 and {second} row 0" in message
    assert not (tmp_path / "s.csv.partial").exists()


def test_same_file_twice_is_a_duplicate(tmp_path):
    wav = clip(tmp_path / "x.wav")
    with pytest.raises(InputError, match=rf"'x' occurs twice: {wav} and {wav}"):
        collect_entries([wav, str(wav)])


def test_all_bad_inputs_reported_at_once_before_the_checkpoint(tmp_path, make_manifest, capsys):
    manifest = make_manifest("dev", n=3, folder=tmp_path / "corpus")
    gone = tmp_path / "corpus" / "dev" / "dev_001.flac"
    gone.unlink()
    fake = tmp_path / "page.wav"
    fake.write_text("<html>404 not found</html>")
    good = clip(tmp_path / "good.wav")
    missing = tmp_path / "nowhere" / "clip.wav"
    inputs = [str(good), str(missing), str(fake), str(manifest)]
    checkpoint = tmp_path / "no-such-checkpoint.pt"  # loading it would fail differently
    with pytest.raises(InputError) as err:
        score_inputs(checkpoint, inputs, tmp_path / "s.csv")
    message = str(err.value)
    assert message.startswith("3 problem(s) with the inputs")
    assert f"{missing}: no such file or folder" in message
    assert f"{fake}: not a readable audio file" in message
    assert f"{manifest}: 1 of 3 audio file(s)" in message and f"row 1: {gone}" in message
    assert "checkpoint" not in message and str(good) not in message
    # the CLI: exit status 2, the same list, no score file
    assert main(["score", "--checkpoint", str(checkpoint), "--output", str(tmp_path / "s.csv"),
                 *inputs]) == 2
    assert not (tmp_path / "s.csv").exists()


def test_unreadable_manifest_and_empty_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "broken.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(InputError) as err:
        collect_entries([tmp_path / "empty", tmp_path / "broken.parquet"])
    assert "empty: folder holds no audio files" in str(err.value)
    assert "broken.parquet: not a readable manifest or shard" in str(err.value)


def test_clip_that_fails_to_decode_fully_is_skipped(tmp_path):
    folder = tmp_path / "in"
    clip(folder / "ok.wav")
    write_audio(folder / "silent.wav", np.zeros(4000, dtype=np.float32), SR)  # header fine
    shutil.copy(folder / "ok.wav", folder / "ok2.wav")
    result = score_inputs(tiny_checkpoint(tmp_path / "m.pt"), [str(folder)], tmp_path / "s.csv",
                          eval_samples=4000, batch_size=2)
    assert result.rows == 2 and [name for name, _ in result.failures] == [str(folder / "silent.wav")]
    assert [r["utt_id"] for r in csv.DictReader((tmp_path / "s.csv").open())] == ["ok", "ok2"]


def test_probe_audio_reads_headers_only(tmp_path):
    from reconfake.audio import AudioError, probe_audio

    assert probe_audio(clip(tmp_path / "x.flac")) == (SR, int(0.4 * SR))
    (tmp_path / "prompt.g722").write_bytes(b"\x00" * 100)  # raw G.722: no header to read
    assert probe_audio(tmp_path / "prompt.g722") == (16000, 200)
    with pytest.raises(AudioError, match="file not found"):
        probe_audio(tmp_path / "gone.wav")


def test_csv_list_scored_with_labels_and_ids(tmp_path):
    for i, name in enumerate(("real/a.wav", "fake/a.wav", "fake/b.flac")):
        clip(tmp_path / "clips" / name, seed=i)
    absolute = clip(tmp_path / "elsewhere" / "c.wav", seed=7)
    listing = tmp_path / "clips" / "meta.csv"
    listing.write_text("path,label,attack\nreal/a.wav,bona-fide,\nfake/a.wav,spoof,A07\n"
                       f"fake/b.flac,Spoof,\n{absolute},bonafide,\n")
    with_ids = tmp_path / "ids.csv"
    with_ids.write_text(f"utt_id,path,label\nLA_0001,{absolute},spoof\n")
    out = tmp_path / "scores.csv"
    assert main(["score", "--checkpoint", str(tiny_checkpoint(tmp_path / "m.pt")), "--output",
                 str(out), "--eval-samples", "4000", str(listing), str(with_ids)]) == 0
    rows = [(r["utt_id"], r["label"], r["attack"]) for r in csv.DictReader(out.open())]
    assert rows == [("real/a", "bonafide", "bonafide"), ("fake/a", "spoof", "A07"),
                    ("fake/b", "spoof", ""), ("../elsewhere/c", "bonafide", "bonafide"),
                    ("LA_0001", "spoof", "")]
    assert main(["evaluate", str(out)]) == 0


def test_csv_list_problems_name_lines(tmp_path):
    clip(tmp_path / "a.wav")
    bad = tmp_path / "bad.csv"
    bad.write_text("path,label\na.wav,real\nnot-there.wav,spoof\n,spoof\n")
    headless = tmp_path / "headless.csv"
    headless.write_text("file,speaker,label\na.wav,x,spoof\n")
    with pytest.raises(InputError) as err:
        collect_entries([bad, headless])
    message = str(err.value)
    assert message.startswith("3 problem(s)")
    assert f"{bad}: 1 of 3 rows have an unknown label (line 2: 'real')" in message
    assert f"{bad}: 2 of 3 rows name no existing audio file (line 3: not-there.wav; " \
           "line 4: (empty))" in message
    assert f"{headless}: CSV list lacks column(s) path (has: file, speaker, label)" in message
