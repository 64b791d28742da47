"""Shared helpers: config validation, paths, and the model/backend lists every stage uses."""

import json
import os
import sys
from pathlib import Path

from reconfake.config import validate_config
from reconfake.paradigms.registry import backend_class

# Validate before any job; defaults are filled in place.
validate_config(config, workflow.source_path("../schemas/config.schema.yaml"))

# Rules call the package's CLI as `python -m reconfake`. src/ goes on PYTHONPATH so that a
# `--sdm conda` env (third-party packages only) finds the package; without conda, the
# interpreter running Snakemake goes first on PATH, so a venv needs no activation.
from snakemake.settings.types import DeploymentMethod

# (the prefix is formatted like a shell command too: literal braces are doubled)
_PREFIX = f"export PYTHONPATH={Path(workflow.basedir) / 'src'}${{{{PYTHONPATH:+:$PYTHONPATH}}}}; "
if DeploymentMethod.CONDA not in workflow.deployment_settings.deployment_method:
    _PREFIX += f"export PATH={Path(sys.executable).parent}:$PATH; "
shell.prefix(_PREFIX)
ENVS = str(Path(workflow.basedir) / "envs")

DATA = config["data_dir"]
RESULTS = config["results_dir"]
RATE = config["audio"]["sample_rate"]
REC = config["reconstruction"]
NUM_SHARDS = REC["num_shards"]
BACKENDS = REC["backends"]
EVAL_SETS = config["eval_sets"]

for _name, _entry in BACKENDS.items():
    _cls = backend_class(_entry["backend"])  # unknown backend names stop the run here
    if _cls.trainable and "fit" not in _entry:
        raise ValueError(f"config key reconstruction.backends.{_name}: backend "
                         f"{_entry['backend']} is fitted in the workflow; add 'fit: {{}}'")

PARADIGM = {name: backend_class(e["backend"]).paradigm for name, e in BACKENDS.items()}
MODEL_BACKENDS = config["models"]["backends"]
if MODEL_BACKENDS is None:
    MODEL_BACKENDS = list(BACKENDS)
for _b in MODEL_BACKENDS:
    if _b not in BACKENDS:
        raise ValueError(f"config key models.backends: {_b!r} is not a configured backend; "
                         f"configured: {sorted(BACKENDS)}")
MODELS = (["baseline"] if config["models"]["baseline"] else []) + list(MODEL_BACKENDS)
MODEL_PARADIGM = {"baseline": "none", **{m: PARADIGM[m] for m in MODEL_BACKENDS}}


def manifest(split_ref):
    """Manifest path of '<corpus>/<split>'."""
    corpus, split = split_ref.split("/")
    return f"{DATA}/{corpus}/{split}.parquet"


def shard_paths(backend):
    return [f"{RESULTS}/shards/{backend}/train-{k:03d}-of-{NUM_SHARDS:03d}.parquet"
            for k in range(NUM_SHARDS)]


def model_shards(wildcards):
    """Hard-sample shards a model trains on (none for the baseline)."""
    return [] if wildcards.model == "baseline" else shard_paths(wildcards.model)


def as_json(value):
    return json.dumps(value, sort_keys=True)


wildcard_constraints:
    split="[A-Za-z0-9_]+",
    shard=r"\d{3}",
    model="|".join(MODELS) if MODELS else "^$",
    evalset="|".join(EVAL_SETS),
