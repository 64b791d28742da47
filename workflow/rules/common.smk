"""Shared helpers: config validation, paths, and the model/backend lists every stage uses."""

import json
import os
import sys
from pathlib import Path

from reconfake.config import EXECUTION_ONLY_TRAINING, validate_config
from reconfake.digest import code_digest
from reconfake.paradigms.registry import EXECUTION_ONLY_OPTIONS, backend_info, check_options

# Parsing imports no torch: the backend table and the code digests read no backend module.

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
# Logs and benchmarks live beside the outputs they describe: the corpora's under data_dir
# (shared by runs), every other job's under results_dir (one run's).
LOGS = f"{RESULTS}/logs"
BENCH = f"{RESULTS}/benchmarks"
DATA_LOGS = f"{DATA}/logs"
DATA_BENCH = f"{DATA}/benchmarks"


def gpus(device):
    """The `gpu` resource of a job on `device`: 1 for cuda or cuda:N. `auto` requests none
    (it uses a GPU only where the job lands on one); set `cuda` to have clusters provide one."""
    return 1 if str(device).startswith("cuda") else 0


for _name, _entry in BACKENDS.items():
    _info = backend_info(_entry["backend"])  # unknown backend names stop the run here
    check_options(_entry["backend"], _entry["options"])  # and unknown options
    if _info.trainable and "fit" not in _entry:
        raise ValueError(f"config key reconstruction.backends.{_name}: backend "
                         f"{_entry['backend']} is fitted in the workflow; add 'fit: {{}}'")

PARADIGM = {name: backend_info(e["backend"]).paradigm for name, e in BACKENDS.items()}
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
# a backend's shards and overlay the detector/training settings. The execution-only keys
# (reconfake.config.EXECUTION_ONLY_TRAINING) reach the jobs through `threads` and `resources`,
# outside `params`, so changing one reruns nothing; of the feature cache, only whether there is
# one is a result (where it lives is not).
_TRAINING = dict(config["training"])
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

# Seed replicas: each model again with another training seed (same shards and settings), as
# <model>_seed<k>. SEED_GROUPS lists each model's runs as [seed, model name] for the report.
SEED_GROUPS = {m: [[MODEL_SPEC[m]["training"]["seed"], m]] for m in MODELS}
for _seed in config["models"]["seed_replicas"]:
    for _base in list(SEED_GROUPS):
        _name = f"{_base}_seed{_seed}"
        if _seed == MODEL_SPEC[_base]["training"]["seed"]:
            raise ValueError(f"config key models.seed_replicas: {_seed} is already the training "
                             f"seed of model {_base}; list only extra seeds")
        if _name in MODEL_SPEC:
            raise ValueError(f"config key models.seed_replicas: replica name {_name} is already "
                             "used by a model or ablation; rename it")
        MODEL_SPEC[_name] = {**MODEL_SPEC[_base],
                             "training": {**MODEL_SPEC[_base]["training"], "seed": _seed}}
        MODELS.append(_name)
        MODEL_PARADIGM[_name] = MODEL_PARADIGM[_base]
        SEED_GROUPS[_base].append([_seed, _name])


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


def result_options(model):
    """JSON of the training options that determine a model's weights (its `params`)."""
    training = MODEL_SPEC[model]["training"]
    options = {k: v for k, v in training.items() if k not in EXECUTION_ONLY_TRAINING}
    options["feature_cache"] = bool(training.get("feature_cache"))
    return as_json(options)


def run_flags(model):
    """Execution settings of a model's train/score jobs as CLI flags (a `resources` string,
    so that Snakemake's params trigger ignores them): device and feature-cache folder."""
    training = MODEL_SPEC[model]["training"]
    flags = f"--device {training['device']}"
    return flags + (f" --feature-cache {training['feature_cache']}" if training.get("feature_cache")
                    else "")


def split_options(options):
    """A backend's options -> (what shapes the shards: JSON, execution-only: JSON)."""
    return (as_json({k: v for k, v in options.items() if k not in EXECUTION_ONLY_OPTIONS}),
            as_json({k: v for k, v in options.items() if k in EXECUTION_ONLY_OPTIONS}))


# Peak memory of scoring by architecture (batch 16 of eval_samples): official AASIST peaks at
# 4.1 GiB (README "Throughput"); a large SSL front-end (XLS-R 300M) needs more, Whisper tiny or
# the test front-end less.
SCORE_MEM_MB = {"mel_cnn": 2000, "aasist": 6000, "aasist-l": 6000, "ssl_aasist": 8000}


def score_mem_mb(model):
    detector = MODEL_SPEC[model]["detector"]
    frontend = str(detector["options"].get("frontend", ""))
    if detector["architecture"] == "ssl_aasist" and ("tiny" in frontend):
        return 1500  # measured 0.65-0.86 GB with whisper-tiny.en (default run, 2026-12-04)
    return SCORE_MEM_MB.get(detector["architecture"], 8000)


def model_shards(wildcards):
    """Hard-sample shards a model trains on (none for the baseline)."""
    backend = MODEL_SPEC[wildcards.model]["shards"]
    return shard_paths(backend) if backend else []


DEV_MANIFEST = manifest(config["dev_set"])


def as_json(value):
    return json.dumps(value, sort_keys=True)


# Digests of the package code that shapes each stage's outputs (reconfake.digest): in `params`,
# so a code change reruns exactly the jobs it can affect.
CODE = {
    "train": code_digest("reconfake.train"),
    "score": code_digest("reconfake.score"),
    "report": code_digest("reconfake.report"),
    "hardness": code_digest("reconfake.hardness"),
    "study_info": code_digest("reconfake.shards"),
}


def backend_code(backend, *extra):
    """Digest of a backend's module (and of `extra` modules, e.g. the shard writer)."""
    return code_digest(f"reconfake.paradigms.{backend_info(backend).module}", *extra)


def corpus_benchmarks():
    """Benchmark files of the corpus jobs this run's splits come from (the corpus rules are
    defined in corpora.smk, after this file: call this once every rule file is read)."""
    files = []
    for ref in dict.fromkeys([config["train_set"], config["dev_set"], *EVAL_SETS.values()]):
        corpus, split = ref.split("/")
        if corpus == "demo" and DEMO:
            files.append(f"{DATA_BENCH}/corpora/demo_{split}.tsv")
        elif corpus == "mini" and MINI:
            files += [f"{DATA_BENCH}/corpora/mini_packages.tsv",
                      f"{DATA_BENCH}/corpora/mini_transcripts.tsv",
                      f"{DATA_BENCH}/corpora/mini_{split}.tsv"]
        elif corpus in REAL_CORPORA:
            files += [f"{DATA_BENCH}/corpora/download_{corpus}.tsv",
                      f"{DATA_BENCH}/corpora/prepare_{corpus}.tsv"]
    return list(dict.fromkeys(files))


def benchmark_files(hardness):
    """Benchmark files of every job this run's report depends on (`hardness`: with the
    hardness table's jobs). They are the report's declared inputs: the summary covers this
    run's jobs, whatever else lies in the folders."""
    used = [b for b in BACKENDS if b in MODEL_BACKENDS or hardness]
    files = corpus_benchmarks()
    files += [f"{BENCH}/fit/{b}.tsv" for b in used if "fit" in BACKENDS[b]]
    files += [f"{BENCH}/reconstruct/{b}/{k:03d}.tsv" for b in MODEL_BACKENDS for k in range(NUM_SHARDS)]
    files += [f"{BENCH}/train/{m}.tsv" for m in MODELS]
    files += [f"{BENCH}/score/{m}/{e}.tsv" for m in MODELS for e in EVAL_SETS]
    if hardness:
        files += [f"{BENCH}/reconstruct/{b}/dev-bonafide.tsv" for b in BACKENDS]
        files += [f"{BENCH}/score/hardness/{w}.tsv" for w in ["dev", *BACKENDS]]
    return files


wildcard_constraints:
    split="[A-Za-z0-9_]+",
    shard=r"\d{3}",
    model="|".join(MODELS) if MODELS else "^$",
    evalset="|".join(EVAL_SETS),
