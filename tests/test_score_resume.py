"""`reconfake score` writes `<output>.partial` batch by batch and resumes it after a kill, giving
the same bytes as an uninterrupted run; a partial file that does not fit is discarded."""

import logging

import pytest

import reconfake.score as score_module
from reconfake.score import score_inputs
from tests.test_score_inputs import clip, tiny_checkpoint

OPTIONS = {"eval_samples": 4000, "batch_size": 2}


@pytest.fixture
def checkpoint(tmp_path):
    return tiny_checkpoint(tmp_path / "m.pt")


def killed_after_first_batch(monkeypatch, checkpoint, inputs, output, **options):
    """Run scoring and kill it (KeyboardInterrupt) while it scores its second batch."""
    real = score_module.bonafide_scores
    calls = {"n": 0}

    def dies_on_second(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(score_module, "bonafide_scores", dies_on_second)
    with pytest.raises(KeyboardInterrupt):
        score_inputs(checkpoint, inputs, output, **{**OPTIONS, **options})
    monkeypatch.setattr(score_module, "bonafide_scores", real)


def counting_clips(monkeypatch):
    """Count the clips the model scores from now on."""
    real, seen = score_module.bonafide_scores, []

    def counted(model, waves, *args, **kwargs):
        seen.append(len(waves))
        return real(model, waves, *args, **kwargs)

    monkeypatch.setattr(score_module, "bonafide_scores", counted)
    return seen


def test_kill_and_resume_gives_identical_file(tmp_path, make_manifest, checkpoint, monkeypatch):
    manifest = make_manifest("eval", n=5)
    whole = tmp_path / "whole.csv"
    score_inputs(checkpoint, [str(manifest)], whole, corpus="toy", **OPTIONS)
    out = tmp_path / "scores" / "eval.csv"
    killed_after_first_batch(monkeypatch, checkpoint, [str(manifest)], out, corpus="toy")
    partial = out.with_name("eval.csv.partial")
    assert not out.exists()
    assert partial.read_bytes() == b"".join(whole.read_bytes().splitlines(keepends=True)[:3])
    with partial.open("ab") as handle:  # a kill in the middle of a write: a torn last line
        handle.write(b"eval_002,0.12")
    seen = counting_clips(monkeypatch)
    result = score_inputs(checkpoint, [str(manifest)], out, corpus="toy", **OPTIONS)
    assert seen == [2, 1]  # the first batch was not scored again
    assert result.rows == 5 and out.read_bytes() == whole.read_bytes()
    assert not partial.exists() and not out.with_name("eval.csv.partial.json").exists()


def test_rows_resumed_out_of_order_end_in_input_order(tmp_path, checkpoint, monkeypatch):
    for i in range(5):
        clip(tmp_path / "in" / f"{i}.wav", seed=i)
    whole = tmp_path / "whole.csv"
    score_inputs(checkpoint, [str(tmp_path / "in")], whole, **OPTIONS)
    out = tmp_path / "s.csv"
    killed_after_first_batch(monkeypatch, checkpoint, [str(tmp_path / "in")], out)
    # as if clip 4 had been scored first (e.g. it failed before and was fixed since)
    header, *rows = whole.read_bytes().splitlines(keepends=True)
    out.with_name("s.csv.partial").write_bytes(header + rows[4])
    seen = counting_clips(monkeypatch)
    score_inputs(checkpoint, [str(tmp_path / "in")], out, **OPTIONS)
    assert seen == [2, 2] and out.read_bytes() == whole.read_bytes()


def test_partial_of_other_inputs_is_discarded_with_a_warning(tmp_path, checkpoint, monkeypatch,
                                                            caplog):
    for i in range(4):  # the same file names, so the same trial ids, in both folders
        clip(tmp_path / "a" / f"{i}.wav", seed=i)
        clip(tmp_path / "b" / f"{i}.wav", seed=10 + i)
    whole = tmp_path / "whole.csv"
    score_inputs(checkpoint, [str(tmp_path / "b")], whole, **OPTIONS)
    out = tmp_path / "s.csv"
    killed_after_first_batch(monkeypatch, checkpoint, [str(tmp_path / "a")], out)
    with caplog.at_level(logging.WARNING, logger="reconfake"):
        score_inputs(checkpoint, [str(tmp_path / "b")], out, **OPTIONS)
    assert "written with other settings (inputs differ); discarding it" in caplog.text
    assert out.read_bytes() == whole.read_bytes()


def test_partial_with_foreign_ids_or_checkpoint_is_discarded(tmp_path, checkpoint, monkeypatch,
                                                            caplog):
    for i in range(4):
        clip(tmp_path / "b" / f"b{i}.wav", seed=10 + i)
    whole = tmp_path / "whole.csv"
    score_inputs(checkpoint, [str(tmp_path / "b")], whole, **OPTIONS)
    out = tmp_path / "s.csv"
    killed_after_first_batch(monkeypatch, checkpoint, [str(tmp_path / "b")], out)
    with out.with_name("s.csv.partial").open("a", newline="") as handle:
        handle.write("a0,0.500000\r\n")
    with caplog.at_level(logging.WARNING, logger="reconfake"):
        score_inputs(checkpoint, [str(tmp_path / "b")], out, **OPTIONS)
    assert "line 4: trial id 'a0' is not among this run's inputs; discarding it" in caplog.text
    assert out.read_bytes() == whole.read_bytes()

    caplog.clear()  # the same inputs, but the model was retrained since the kill
    killed_after_first_batch(monkeypatch, checkpoint, [str(tmp_path / "b")], out)
    tiny_checkpoint(tmp_path / "m2.pt").replace(checkpoint)
    with caplog.at_level(logging.WARNING, logger="reconfake"):
        score_inputs(checkpoint, [str(tmp_path / "b")], out, **OPTIONS)
    assert "other settings (checkpoint_stat differ)" in caplog.text


def test_progress_is_logged_from_the_start(tmp_path, checkpoint, caplog):
    clip(tmp_path / "x.wav")
    with caplog.at_level(logging.INFO, logger="reconfake"):
        score_inputs(checkpoint, [str(tmp_path / "x.wav")], tmp_path / "s.csv", **OPTIONS)
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0].startswith("scoring 1 clip(s) from 1 input(s)")
    assert any(line.startswith("scoring: 0/1 clips (") and "ETA" in line for line in lines)
    assert lines[-1].startswith("scoring: 1/1 clips (") and "clips/s" in lines[-1]
