"""Config validation: defaults filled, bad keys and values named with what is allowed."""

import copy

import pytest
import yaml

from reconfake.config import ConfigError, load_config, validate_config
from tests.conftest import REPO

SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
MINIMAL = {"train_set": "c/train", "dev_set": "c/dev", "eval_sets": {"e": "c/eval"}}


def test_embedded_default_is_valid():
    config = load_config(REPO / "config.yaml", SCHEMA)
    assert config["audio"]["bad_audio"] == "error"
    assert config["training"]["max_steps_per_epoch"] is None  # default filled


def test_defaults_fill_a_minimal_config():
    config = validate_config(copy.deepcopy(MINIMAL), SCHEMA)
    assert config["training"]["epochs"] == 8
    assert config["reconstruction"]["labels"] == ["bonafide", "spoof"]
    assert config["models"] == {"baseline": True, "backends": None, "ablations": {},
                                "seed_replicas": []}


@pytest.mark.parametrize("patch,message", [
    ({"trainig": {}}, "config key (top level): unknown key(s) ['trainig']; allowed: "),
    ({"audio": {"bad_audio": "drop"}},
     "config key audio.bad_audio: 'drop' is not allowed; allowed: ['error', 'skip']"),
    ({"training": {"epochs": 0}}, "config key training.epochs: 0 is less than the minimum"),
    ({"train_set": "train"}, "config key train_set: 'train' does not match"),
])
def test_errors_name_the_key(patch, message):
    config = {**copy.deepcopy(MINIMAL), **patch}
    with pytest.raises(ConfigError) as info:
        validate_config(config, SCHEMA)
    assert message in str(info.value)


def test_demo_attack_names_are_checked(tmp_path):
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    # (the embedded default uses corpus mini; the demo corpus is the tests' own)
    config["corpora"]["demo"] = {"splits": {"train": {"bonafide": 2, "spoof": 2,
                                                      "attacks": ["teleport"]}}}
    with pytest.raises(ConfigError, match="corpora.demo.splits.train.attacks.0: 'teleport'"):
        validate_config(config, SCHEMA)
