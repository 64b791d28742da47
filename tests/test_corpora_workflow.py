"""The real corpora in the workflow: with every corpus enabled a dry run plans one download and one
prepare job per corpus with the right commands, and lint stays clean. (The embedded default's dry
run, which plans no download, is checked in test_workflow.py.)"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

from reconfake.corpora.registry import corpus_names
from tests.conftest import REPO

SNAKEMAKE = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile")]

ALL_CORPORA = {
    "study": {"name": "all-corpora", "stand_in": False},
    "corpora": {
        "asvspoof2019_la": {},
        "in_the_wild": {"mirror": "https://mirror.example.org/itw"},
        "wavefake": {"jsut": True, "keep_archives": True},
        "codecfake_wu": {"download_dir": "/scratch/codecfake_wu"},
        "codecfake_xie": {"strict": True},
        "diffssd": {"local_copy": "/datasets/diffssd"},
    },
    "train_set": "asvspoof2019_la/train",
    "dev_set": "asvspoof2019_la/dev",
    "eval_sets": {"la19": "asvspoof2019_la/eval", "itw": "in_the_wild/eval", "wavefake": "wavefake/eval",
                  "codecfake_xie": "codecfake_xie/test", "codecfake_wu": "codecfake_wu/train",
                  "diffssd": "diffssd/test"},
    "reconstruction": {"backends": {"opus": {"backend": "opus"}}},
}


def _snakemake(args: list[str], cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(SNAKEMAKE + args, cwd=cwd, capture_output=True, text=True, timeout=timeout)


def _config(tmp_path: Path, config: dict) -> Path:
    path = tmp_path / "corpora.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def test_dry_run_plans_download_and_prepare_for_every_enabled_corpus(tmp_path):
    config = _config(tmp_path, ALL_CORPORA)
    result = _snakemake(["all", "-n", "-p", "--cores", "4", "--configfile", str(config)], tmp_path)
    assert result.returncode == 0, result.stderr
    counts = {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$",
                                                   result.stdout.split("Job stats:")[1], re.M)}
    for name in corpus_names():
        assert counts[f"download_{name}"] == 1 and counts[f"prepare_{name}"] == 1
    commands = [line.split("Shell command: ", 1)[1] for line in result.stdout.splitlines()
                if "Shell command: python -m reconfake" in line]
    expected = [
        "python -m reconfake download in_the_wild --out-dir data/in_the_wild --retries 5 "
        "--mirror https://mirror.example.org/itw --options '{}' "
        "> data/logs/corpora/download_in_the_wild.log 2>&1",
        "python -m reconfake download wavefake --out-dir data/wavefake --retries 5 --keep-archives "
        "--options '{\"jsut\": true}' > data/logs/corpora/download_wavefake.log 2>&1",
        "python -m reconfake download codecfake_wu --out-dir data/codecfake_wu --retries 5 "
        "--root /scratch/codecfake_wu --options '{\"num_shards\": null}'",
        "python -m reconfake register diffssd --root /datasets/diffssd --out-dir data/diffssd",
        "python -m reconfake prepare codecfake_xie --out-dir data/codecfake_xie --strict",
    ]
    for command in expected:
        assert any(c.startswith(command) for c in commands), (command, commands)
    assert "localrule" not in result.stderr


def test_lint_is_clean_with_every_corpus_enabled(tmp_path):
    result = _snakemake(["--lint", "--configfile", str(_config(tmp_path, ALL_CORPORA))], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Congratulations" in result.stdout + result.stderr
