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


def gpus(device):
    """The `gpu` resource of a job on `device`: 1 for cuda or cuda:N. `auto` requests none
    (it uses a GPU only where the job lands on one); set `cuda` to have clusters provide one."""
    return 1 if str(device).startswith("cuda") else 0


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
if "baseline" in BACKENDS:
    raise ValueError("config key reconstruction.backends: 'baseline' is reserved for the "
                     "model trained without hard samples; rename the backend")


def _merge(base, overlay):
    """Recursive dict overlay (ablations change a few keys of the detector/training)."""
    out = dict(base)
    for key, value in overlay.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(
            out.get(key), dict) else value
    return out


# What each model trains with: its shards, detector and training settings. Ablations reuse
# a backend's shards and overlay the detector/training settings.
_TRAINING = {k: v for k, v in config["training"].items() if k != "mem_mb"}
_TRAINING["sample_rate"] = RATE
MODEL_SPEC = {
    m: {"shards": [] if m == "baseline" else m, "detector": config["detector"],
        "training": _TRAINING}
    for m in MODELS
}
for _name, _ablation in config["models"]["ablations"].items():
    if _name in MODEL_SPEC:
        raise ValueError(f"config key models.ablations.{_name}: name already used by a model")
    if _ablation["base"] not in MODEL_SPEC:
        raise ValueError(f"config key models.ablations.{_name}.base: {_ablation['base']!r} is "
                         f"not a model; models: {sorted(MODEL_SPEC)}")
    _base = MODEL_SPEC[_ablation["base"]]
    MODEL_SPEC[_name] = {
        "shards": _base["shards"],
        "detector": _merge(_base["detector"], _ablation.get("detector", {})),
        "training": _merge(_base["training"], _ablation.get("training", {})),
    }
    MODELS.append(_name)
    MODEL_PARADIGM[_name] = f"{MODEL_PARADIGM[_ablation['base']]} (ablation)"


def manifest(split_ref):
    """Manifest path of '<corpus>/<split>'."""
    corpus, split = split_ref.split("/")
    return f"{DATA}/{corpus}/{split}.parquet"


def shard_paths(backend):
    return [f"{RESULTS}/shards/{backend}/train-{k:03d}-of-{NUM_SHARDS:03d}.parquet"
            for k in range(NUM_SHARDS)]


def dev_reconstruction(backend):
    """The backend's reconstructions of the dev bona fide clips (for the hardness table)."""
    return f"{RESULTS}/shards/{backend}/dev-bonafide.parquet"


def feature_cache_flag(model):
    """`--feature-cache DIR` when the model's training uses a feature cache (shared)."""
    folder = MODEL_SPEC[model]["training"].get("feature_cache")
    return f"--feature-cache {folder}" if folder else ""


def model_shards(wildcards):
    """Hard-sample shards a model trains on (none for the baseline)."""
    backend = MODEL_SPEC[wildcards.model]["shards"]
    return shard_paths(backend) if backend else []


DEV_MANIFEST = manifest(config["dev_set"])


def as_json(value):
    return json.dumps(value, sort_keys=True)


wildcard_constraints:
    split="[A-Za-z0-9_]+",
    shard=r"\d{3}",
    model="|".join(MODELS) if MODELS else "^$",
    evalset="|".join(EVAL_SETS),
