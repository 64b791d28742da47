"""Corpus mini in the workflow: a dry run with mini as train/dev/eval plans one package job,
one transcripts job and one job per split with the CLI commands, and a train speaker in an
eval split stops the run before any job."""

from __future__ import annotations

import re

from tests.test_corpora_workflow import _config, _snakemake

SYSTEMS = {"cs": ["espeak:cs"], "en": ["flite:kal16", "espeak:en-us"]}
MINI = {"packages_dir": "/srv/debs", "splits": {
    "train": {"bonafide": {"fillets_cs": 20, "fillets_en": 2}, "systems": SYSTEMS},
    "dev": {"bonafide": {"fillets_cs": 8}, "systems": SYSTEMS},
    "eval_piper": {"bonafide": {"allison": 10}, "systems": {"en": ["piper:joe"]}},
    "eval_phone": {"bonafide": {"fillets_nl": 10}, "systems": {"nl": ["espeak:nl"]},
                   "channel": "telephone"}}}
CONFIG = {"corpora": {"mini": MINI}, "train_set": "mini/train", "dev_set": "mini/dev",
          "eval_sets": {"piper": "mini/eval_piper", "phone": "mini/eval_phone"}}


def test_dry_run_plans_packages_transcripts_and_one_job_per_split(tmp_path):
    config = _config(tmp_path, CONFIG)
    result = _snakemake(["all", "-n", "-p", "--cores", "2", "--configfile", str(config)], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    stats = result.stdout.split("Job stats:")[1]
    counts = {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", stats, re.M)}
    assert (counts["mini_packages"], counts["mini_transcripts"], counts["prepare_mini"]) == (1, 1, 4)
    assert "prepare_demo" not in counts
    commands = [line.split("Shell command: ", 1)[1] for line in result.stdout.splitlines()
                if "Shell command: " in line] or re.findall(r"python -m reconfake[^\n]*mini[^\n]*",
                                                            result.stdout)
    text = "\n".join(commands)
    assert "mini-packages --root data/mini/packages --packages-dir /srv/debs" in text
    assert "mini-transcripts --root data/mini/packages" in text
    for split in MINI["splits"]:
        assert f"mini-corpus --split {split} " in text


def test_a_train_speaker_in_an_eval_split_stops_the_run(tmp_path):
    bad = {**CONFIG, "eval_sets": {"seen": "mini/dev"}}
    result = _snakemake(["all", "-n", "--cores", "1", "--configfile", str(_config(tmp_path, bad))],
                        tmp_path)
    assert result.returncode != 0
    assert "corpora.mini.splits.dev: bona fide source(s) ['fillets_cs'] are also in the training " \
           "split train" in result.stdout + result.stderr


def test_lint_is_clean_with_mini_enabled(tmp_path):
    result = _snakemake(["--lint", "--configfile", str(_config(tmp_path, CONFIG))], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Congratulations" in result.stdout + result.stderr
