"""The conda environments of the rule groups: which torch build each installs."""

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).parents[1]


def _pip_lines(name: str) -> list[str]:
    env = yaml.safe_load((ROOT / "envs" / f"{name}.yaml").read_text())
    pips = [d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert len(pips) == 1, f"envs/{name}.yaml: expected one pip section"
    return pips[0]


def _torch(lines: list[str]) -> str | None:
    found = [line for line in lines if re.match(r"torch\s*(==|>=|$)", line)]
    assert len(found) <= 1
    return found[0] if found else None


def test_each_env_gets_the_torch_build_its_jobs_need():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    project_torch = next(d for d in project if d.startswith("torch=="))
    # GPU rule groups: PyPI's Linux wheel (the CUDA build), the project's version; reconstruct
    # pins the torch that SemantiCodec's torchaudio matches
    assert _torch(_pip_lines("train")) == project_torch
    assert _torch(_pip_lines("reconstruct")) == "torch==2.9.1"
    assert "torchaudio==2.9.1" in _pip_lines("reconstruct")
    # CPU-only groups: the CPU wheel from PyTorch's index, or no torch at all
    corpora = _pip_lines("corpora")
    assert _torch(corpora) == project_torch + "+cpu"
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in corpora
    assert _torch(_pip_lines("report")) is None


def test_every_rule_names_an_env_that_exists():
    rules = "\n".join(p.read_text() for p in (ROOT / "workflow" / "rules").glob("*.smk"))
    named = set(re.findall(r'f?"\{ENVS\}/(\w+)\.yaml"', rules))
    assert named == {p.stem for p in (ROOT / "envs").glob("*.yaml")}
