"""The Snakemake workflow: dry-run job counts, lint, config errors, and real micro runs."""

from __future__ import annotations

import csv
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from reconfake.shards import iter_shard
from tests.conftest import REPO, SSL_TINY_ARCH

SNAKEMAKE = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile")]

MICRO = {
    "study": {"name": "micro", "stand_in": True, "note": "STAND-IN micro test run"},
    "corpora": {"demo": {"splits": {
        "train": {"bonafide": 4, "spoof": 4, "attacks": ["lpc_vocoder", "harmonic_noise"],
                  "voices": ["en", "en+f2"], "speakers": 2, "seed": 1},
        "dev": {"bonafide": 3, "spoof": 3, "attacks": ["lpc_vocoder"], "voices": ["en"],
                "speakers": 1, "seed": 2},
        "ev_a": {"bonafide": 3, "spoof": 3, "attacks": ["random_phase"],
                 "voices": ["en+m3"], "speakers": 1, "seed": 3},
        "ev_b": {"bonafide": 3, "spoof": 3, "attacks": ["mulaw_8k"], "voices": ["en+m3"],
                 "speakers": 1, "seed": 4},
    }}},
    "train_set": "demo/train",
    "dev_set": "demo/dev",
    "eval_sets": {"a": "demo/ev_a", "b": "demo/ev_b"},
    "reconstruction": {"num_shards": 2, "backends": {
        "opus": {"backend": "opus"},
        "world": {"backend": "world"},
        "mel_diffusion": {"backend": "mel_diffusion", "options": {"steps": 2},
                          "fit": {"steps": 4, "batch_size": 2}},
    }},
    # the shipped detector path (ssl_aasist: frozen front-end, SLS, AASIST back-end, RACL,
    # feature cache, ablations) on a tiny random-weight front-end
    "detector": {"architecture": "ssl_aasist", "options": {
        **SSL_TINY_ARCH, "backend": {"proj_dim": 32, "channels": [4, 8]}}},
    "training": {"epochs": 2, "batch_size": 4, "crop_samples": 8000, "eval_samples": 8000,
                 "threads": 1, "random_crop": False, "racl_enh": True, "racl_reg": True,
                 "feature_cache": "results/feature_cache"},
    "models": {"ablations": {
        "opus_no_racl": {"base": "opus", "training": {"racl_enh": False, "racl_reg": False}},
        "opus_last_layer": {"base": "opus", "detector": {"options": {"aggregation": "last"}}},
    }},
}


def _run(args: list[str], cwd: Path, timeout: int = 900) -> subprocess.CompletedProcess:
    return subprocess.run(SNAKEMAKE + args, cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)


def _job_counts(stdout: str) -> dict[str, int]:
    table = stdout.split("Job stats:")[1]
    return {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M)}


def test_dry_run_default_config_job_counts(tmp_path):
    result = _run(["all", "-n", "--quiet", "rules", "--cores", "8", "-d", str(tmp_path),
                   "--configfile", str(REPO / "config.yaml")], REPO)
    assert result.returncode == 0, result.stderr
    counts = _job_counts(result.stdout)
    assert counts == {
        "mini_packages": 1, "mini_transcripts": 1, "prepare_mini": 4, "fit_mel_diffusion": 1,
        "reconstruct_opus": 2, "reconstruct_world": 2, "reconstruct_mel_diffusion": 2,
        "train_model": 6, "score": 12, "reconstruct_dev_opus": 1, "reconstruct_dev_world": 1,
        "reconstruct_dev_mel_diffusion": 1, "score_hardness": 4, "hardness": 1,
        "report": 1, "study_info": 1, "all": 1, "total": 42,
    }


def test_ablations_and_subset_targets(tmp_path):
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["models"]["ablations"] = {
        "opus_low_lr": {"base": "opus", "training": {"lr": 1e-4}},
        "opus_softmax": {"base": "opus", "detector": {"options": {"aggregation": "softmax"}}},
    }
    (tmp_path / "abl.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    result = _run(["all", "-n", "--quiet", "rules", "--cores", "8", "--configfile", "abl.yaml"],
                  tmp_path)
    counts = _job_counts(result.stdout)
    assert counts["train_model"] == 6 and counts["score"] == 12
    assert counts["reconstruct_opus"] == 2  # ablations reuse the shards
    plan = _run(["all", "-n", "-p", "--configfile", "abl.yaml"], tmp_path).stdout
    assert '"aggregation": "softmax"' in plan
    # seed replicas: every model (ablations too) again per extra seed, the same shards
    config["models"]["seed_replicas"] = [1, 2]
    (tmp_path / "seeds.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    counts = _job_counts(_run(["all", "-n", "--quiet", "rules", "--cores", "8", "--configfile",
                               "seeds.yaml"], tmp_path).stdout)
    assert counts["train_model"] == 18 and counts["score"] == 36 and counts["reconstruct_opus"] == 2
    plan = _run(["all", "-n", "-p", "--configfile", "seeds.yaml"], tmp_path).stdout
    assert "--out-dir results/models/opus_softmax_seed2 " in plan
    seeded = [line for line in plan.splitlines() if "models/opus_softmax_seed2 " in line][0]
    assert '"seed": 2' in seeded and '"aggregation": "softmax"' in seeded
    assert '"baseline": [[0, "baseline"], [1, "baseline_seed1"], [2, "baseline_seed2"]]' in plan
    config["models"]["seed_replicas"] = [0]  # the models' own training seed
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    bad = _run(["all", "-n", "--configfile", "bad.yaml"], tmp_path)
    assert bad.returncode != 0
    assert "models.seed_replicas: 0 is already the training seed of model baseline" in \
        bad.stdout + bad.stderr
    shards_only = _run(["all_shards", "-n", "--quiet", "rules", "--cores", "8"], tmp_path)
    assert _job_counts(shards_only.stdout) == {
        "mini_packages": 1, "mini_transcripts": 1, "prepare_mini": 1, "fit_mel_diffusion": 1,
        "reconstruct_opus": 2, "reconstruct_world": 2, "reconstruct_mel_diffusion": 2,
        "all_shards": 1, "total": 11}


def test_slurm_profile_plans_the_same_jobs(tmp_path):
    profile = REPO / "profiles" / "slurm" / "config.yaml"
    settings = yaml.safe_load(profile.read_text())
    assert settings["executor"] == "slurm" and settings["set-resources"]["train_model"]["runtime"]
    args = ["all", "-n", "--quiet", "rules", "-d", str(tmp_path), "--configfile",
            str(REPO / "config.yaml")]
    local = _run(args + ["--cores", "8"], REPO)
    slurm = _run(args + ["--profile", str(profile.parent)], REPO)
    assert slurm.returncode == 0, slurm.stderr[-2000:]
    assert _job_counts(slurm.stdout) == _job_counts(local.stdout)
    k8s = yaml.safe_load((REPO / "profiles" / "kubernetes" / "config.yaml").read_text())
    assert k8s["executor"] == "kubernetes" and k8s["default-resources"]["mem_mb"] > 0
    # the config the profile's usage line names exists; the paper's slow backends are sized
    named = re.findall(r"--configfile (\S+)", profile.read_text())
    assert named and all((REPO / name).is_file() for name in named), named
    for rule in ("reconstruct_audioldm", "reconstruct_semanticodec", "reconstruct_dev_audioldm",
                 "reconstruct_dev_semanticodec"):
        assert settings["set-resources"][rule]["runtime"] >= 120
        assert k8s["set-resources"][rule] == settings["set-resources"][rule]


def test_paper_profile_dry_run_job_counts(tmp_path):
    result = _run(["all", "-n", "--quiet", "rules", "--cores", "8", "-d", str(tmp_path),
                   "--configfile", str(REPO / "config.paper.yaml")], REPO)
    assert result.returncode == 0, result.stderr[-3000:]
    counts = _job_counts(result.stdout)
    corpora = ["asvspoof2019_la", "codecfake_xie", "diffssd", "in_the_wild", "wavefake"]
    backends = ["hifigan", "dac", "encodec", "semanticodec", "audioldm"]
    expected = {f"download_{c}": 1 for c in corpora} | {f"prepare_{c}": 1 for c in corpora}
    expected |= {f"reconstruct_{b}": 16 for b in backends}
    expected |= {f"reconstruct_dev_{b}": 1 for b in backends}  # the hardness table's inputs
    # baseline + 5 backends + 4 ablations, each scored on the 5 eval sets; the baseline also
    # scores dev and the 5 dev reconstructions
    expected |= {"train_model": 10, "score": 50, "score_hardness": 6, "hardness": 1,
                 "report": 1, "study_info": 1, "all": 1}
    expected["total"] = sum(expected.values())
    assert counts == expected


def test_lint_is_clean():
    result = _run(["--lint"], REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Congratulations" in result.stdout + result.stderr


def test_bad_config_stops_before_any_job(tmp_path):
    bad = {**MICRO, "training": {**MICRO["training"], "epoch": 3}}
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(bad, sort_keys=False))
    result = _run(["--cores", "1", "--configfile", "bad.yaml"], tmp_path)
    assert result.returncode != 0
    assert "config key training: unknown key(s) ['epoch']; allowed:" in result.stderr
    assert not (tmp_path / "data").exists()


def _table(workdir: Path) -> list[list[str]]:
    return list(csv.reader((workdir / "results" / "report" / "table.csv").open()))


@pytest.mark.slow
def test_micro_run_end_to_end_then_nothing_to_do(tmp_path):
    (tmp_path / "micro.yaml").write_text(yaml.safe_dump(MICRO, sort_keys=False))
    result = _run(["--cores", "2", "--configfile", "micro.yaml"], tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    table = _table(tmp_path)
    assert table[0][:5] == ["model", "paradigm", "a EER%", "a CI95 low", "a CI95 high"]
    # Fixed seeds make the micro table reproducible (two runs from empty results gave these
    # values to the digit, 2026-12-04): a change in sampling, cropping, RACL, the front-end
    # cache, scoring or the bootstrap shows up here. 3+3 trials per set: coarse EER steps.
    assert [",".join(row) for row in table[1:]] == [
        "baseline,none,33.333,0.0,100.0,66.667,33.333,100.0,50.0,16.667,100.0,0.0,0.0,0.0",
        "opus,codec,33.333,0.0,100.0,66.667,0.0,100.0,50.0,50.0,66.667,0.0,-33.333,33.333",
        "world,vocoder,33.333,0.0,66.667,66.667,33.333,100.0,50.0,16.667,50.0,0.0,-50.0,33.333",
        "mel_diffusion,diffusion,33.333,0.0,100.0,66.667,0.0,100.0,50.0,33.333,83.333,0.0,-50.0,"
        "50.0",
        "opus_no_racl,codec (ablation),33.333,0.0,100.0,66.667,0.0,100.0,50.0,0.0,83.333,0.0,"
        "-66.667,33.333",
        "opus_last_layer,codec (ablation),33.333,0.0,100.0,33.333,0.0,66.667,33.333,0.0,50.0,"
        "-16.667,-66.667,33.333",
    ]
    shards = sorted((tmp_path / "results" / "shards").rglob("train-*.parquet"))
    assert len(shards) == 6
    decoded = [clip for shard in shards for clip in iter_shard(shard)]
    assert len(decoded) == 3 * 8  # every train clip, once per backend
    dev_recs = sorted((tmp_path / "results" / "shards").rglob("dev-bonafide.parquet"))
    assert [sum(1 for _ in iter_shard(p)) for p in dev_recs] == [3, 3, 3]  # dev bona fide only
    hardness = list(csv.DictReader((tmp_path / "results" / "report" / "hardness.csv").open()))
    assert [r["backend"] for r in hardness] == ["dev spoof (seen systems)", "opus", "world",
                                                "mel_diffusion"]
    assert [int(r["n"]) for r in hardness] == [3, 3, 3, 3]
    assert [r["accepted as bona fide %"] for r in hardness] == ["66.67", "66.67", "0.0", "33.33"]
    assert [float(r["mean score"]) for r in hardness] == pytest.approx(
        [0.3553, 0.3565, 0.3535, 0.3552], abs=2e-4)
    assert [float(r["mean log-mel distance"]) for r in hardness[1:]] == pytest.approx(
        [1.3144, 0.2555, 0.5451], abs=2e-4)
    # every model scored every eval clip through the one feature cache: 1 front-end (sls) +
    # 1 (last layer) x (8 train + 24 rec + 6 dev + 12 eval + 9 dev rec) clips at most
    cached = list((tmp_path / "results" / "feature_cache").rglob("*.npy"))
    assert 0 < len(cached) <= 2 * (8 + 24 + 6 + 12 + 9)
    assert all(len(c.audio) == c.row["num_samples"] for c in decoded)
    assert (tmp_path / "results" / "report" / "eer_by_paradigm.png").stat().st_size > 10_000
    assert (tmp_path / "results" / "logs" / "train" / "opus.log").read_text().count("clips/s") >= 2
    again = _run(["--cores", "2", "--configfile", "micro.yaml"], tmp_path)
    assert again.returncode == 0 and "Nothing to be done" in again.stderr + again.stdout
    # Re-running one reconstruction rule redoes it and what depends on it, nothing else.
    forced = _run(["-n", "--quiet", "rules", "--forcerun", "reconstruct_opus", "--configfile",
                   "micro.yaml"], tmp_path)
    assert _job_counts(forced.stdout) == {"reconstruct_opus": 2, "train_model": 3, "score": 6,
                                          "report": 1, "all": 1, "total": 13}
    html = _run(["--report", "report.html", "--configfile", "micro.yaml"], tmp_path)
    assert html.returncode == 0, html.stderr[-2000:]
    text = (tmp_path / "report.html").read_text()
    assert "det_curves.png" in text and "table.csv" in text and "STAND-IN" in text
    assert "layer_weights.png" in text and "hardness.png" in text
    bench = (tmp_path / "results" / "report" / "benchmarks.csv").read_text().splitlines()
    assert bench[0] == "stage,job,wall_s,max_rss_mb,mean_load_pct,cpu_s"
    # 6 models x 2 eval sets, and the baseline on dev + 3 dev reconstructions
    assert sum(line.startswith("score,") for line in bench) == 12 + 4

    # Interrupt a fresh run mid-way, run again: the same table as the uninterrupted run.
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    (fresh / "micro.yaml").write_text(yaml.safe_dump(MICRO, sort_keys=False))
    # A shell that starts this suite in the background (`cmd &`) leaves SIGINT ignored, and an
    # ignored SIGINT is inherited: give snakemake the default handling, as a terminal would.
    proc = subprocess.Popen(SNAKEMAKE + ["--cores", "2", "--configfile", "micro.yaml"],
                            cwd=fresh, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 300
    while time.time() < deadline and not list((fresh / "results").rglob("shards/*/*.parquet")):
        time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGINT)
    proc.wait(timeout=120)
    assert not (fresh / "results" / "report" / "table.csv").exists()
    resumed = _run(["--cores", "2", "--configfile", "micro.yaml"], fresh)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert _table(fresh) == table


# ---- reruns follow what determines an output (params, code), not execution settings ----

_FAKE_PYTHON = '''#!{python}
"""Stand-in for `python -m reconfake ...` in workflow jobs: creates the job's outputs (the
planned outputs that an argument names, or lies under) and nothing else."""
import os
import sys
from pathlib import Path

tokens = [a.rstrip("/") for a in sys.argv[1:] if a.strip("/")]
for line in Path(os.environ["RECONFAKE_FAKE_OUTPUTS"]).read_text().splitlines():
    if any(line == t or line.startswith(t + "/") for t in tokens):
        path = Path(line)
        if "." in path.name:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("x")
        else:
            path.mkdir(parents=True, exist_ok=True)
'''


def _fake_interpreter(tmp_path: Path) -> Path:
    """A copy of this venv's interpreter whose folder also holds a fake `python`: the workflow
    puts the folder of the interpreter that runs Snakemake first on PATH, so its jobs run the
    fake, which records real Snakemake metadata (params, code) without doing the work."""
    env = tmp_path / "fakeenv"
    (env / "bin").mkdir(parents=True)
    prefix = Path(sys.prefix)
    (env / "pyvenv.cfg").write_text((prefix / "pyvenv.cfg").read_text())
    (env / "lib").symlink_to(prefix / "lib")
    (env / "bin" / "python3").symlink_to(sys.executable)
    fake = env / "bin" / "python"
    fake.write_text(_FAKE_PYTHON.format(python=sys.executable))
    fake.chmod(0o755)
    return env / "bin" / "python3"


@pytest.fixture(scope="module")
def finished_micro_run(tmp_path_factory):
    """The micro config 'run' to the end by fake jobs, against a copy of src/ (so a test can
    edit the code); returns a function giving the dry-run job counts after a config change."""
    import copy
    import shutil

    tmp = tmp_path_factory.mktemp("reruns")
    src = tmp / "src"
    shutil.copytree(REPO / "src", src, ignore=shutil.ignore_patterns("__pycache__"))
    python = _fake_interpreter(tmp)
    work = tmp / "work"
    work.mkdir()
    env = {**os.environ, "PYTHONPATH": str(src), "RECONFAKE_FAKE_OUTPUTS": str(tmp / "outputs.txt")}

    def snakemake(config: dict, *args: str) -> subprocess.CompletedProcess:
        (work / "c.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        return subprocess.run([str(python), "-m", "snakemake", "-s", str(REPO / "Snakefile"),
                               "--cores", "1", "--configfile", "c.yaml", *args], cwd=work, env=env,
                              capture_output=True, text=True, timeout=600)

    plan = snakemake(MICRO, "-n")
    # jobs with a `message:` show no output line; their reason names the missing outputs
    found = re.finditer(r"^\s+output: (.+)$|Missing output files: ([^;\n]+)", plan.stdout, re.M)
    outputs = sorted({p for m in found for p in (m[1] or m[2]).split(", ")})
    (tmp / "outputs.txt").write_text("\n".join(outputs) + "\n")
    done = snakemake(MICRO)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Nothing to be done" in snakemake(MICRO, "-n").stdout

    def reruns(change=None) -> dict[str, int]:
        config = copy.deepcopy(MICRO)
        if change:
            change(config)
        result = snakemake(config, "-n", "--quiet", "rules")
        assert result.returncode == 0, result.stderr[-3000:]
        return {} if "Nothing to be done" in result.stdout else _job_counts(result.stdout)

    reruns.src = src
    return reruns


def _set(path: str, value):
    def change(config: dict) -> None:
        *parents, key = path.split(".")
        node = config
        for p in parents:
            node = node.setdefault(p, {})
        node[key] = value
    return change


@pytest.mark.parametrize("path,value", [
    ("training.threads", 2),
    ("training.device", "cuda"),
    ("training.mem_mb", 9000),
    ("training.feature_cache", "elsewhere/feature_cache"),
    ("reconstruction.device", "cuda"),
    ("reconstruction.backends.opus.mem_mb", 3000),
    ("reconstruction.backends.opus.options", {"batch_size": 2}),
])
def test_execution_settings_rerun_nothing(finished_micro_run, path, value):
    # study.yaml records the whole config, so its (local, instant) job follows every key
    assert finished_micro_run(_set(path, value)) == {"study_info": 1, "all": 1, "total": 2}


OPUS_DOWNSTREAM = {"reconstruct_opus": 2, "reconstruct_dev_opus": 1, "train_model": 3, "score": 6,
                   "score_hardness": 1, "hardness": 1, "report": 1, "all": 1}


def test_result_settings_rerun_what_they_shape(finished_micro_run):
    bitrate = finished_micro_run(_set("reconstruction.backends.opus.options", {"bitrate": 8000}))
    assert bitrate == {**OPUS_DOWNSTREAM, "study_info": 1, "total": 17}
    lr = finished_micro_run(_set("training.lr", 0.01))
    assert lr == {"train_model": 6, "score": 12, "score_hardness": 4, "hardness": 1, "report": 1,
                  "study_info": 1, "all": 1, "total": 26}


@pytest.mark.parametrize("module,expected", [
    ("paradigms/opus.py", {**OPUS_DOWNSTREAM, "total": 16}),
    ("train.py", {"train_model": 6, "score": 12, "score_hardness": 4, "hardness": 1, "report": 1,
                  "all": 1, "total": 25}),
    ("score.py", {"score": 12, "score_hardness": 4, "hardness": 1, "report": 1, "all": 1,
                  "total": 19}),
    ("corpora/demo.py", None),  # every job: the corpus is rebuilt
    ("report.py", {"report": 1, "hardness": 1, "all": 1, "total": 3}),
])
def test_code_changes_rerun_what_they_shape(finished_micro_run, module, expected):
    path = finished_micro_run.src / "reconfake" / module
    original = path.read_text()
    try:
        path.write_text(original + "\n# edited\n")
        counts = finished_micro_run()
    finally:
        path.write_text(original)
    if expected is None:
        assert counts["prepare_demo"] == 4 and counts["total"] == 39
    else:
        assert counts == expected
    assert finished_micro_run() == {}


# ---- every config key reaches the commands, or is a documented execution-only key ----

#: a change of every schema key under audio, reconstruction, detector and training that
#: determines outputs, applied to the embedded default (`*` is a backend of that config)
KEY_CHANGES = {
    "audio.bad_audio": "skip",
    "reconstruction.num_shards": 3,
    "reconstruction.labels": ["bonafide"],
    "reconstruction.backends.*.backend": ("world", "griffinlim"),
    "reconstruction.backends.*.options": ("opus", {"bitrate": 8000}),
    "reconstruction.backends.*.fit": ("mel_diffusion", {"steps": 3}),
    "detector.architecture": "mel_cnn",
    "detector.options": {"frontend": "whisper-tiny.en", "aggregation": "softmax"},
    "training.epochs": 9,
    "training.batch_size": 8,
    "training.lr": 0.002,
    "training.weight_decay": 0.001,
    "training.crop_samples": 16000,
    "training.eval_samples": 32000,
    "training.ce_weights": [0.2, 0.8],
    "training.patience": 4,
    "training.seed": 1,
    "training.max_steps_per_epoch": 5,
    "training.random_crop": False,
    "training.group_batches": False,
    "training.rawboost": 1,
    "training.rawboost_params": {"nBands": 3},
    "training.racl_enh": False,
    "training.racl_enh_weight": 0.2,
    "training.racl_temperature": 0.3,
    "training.racl_hard_negative_weight": 3.0,
    "training.racl_reg": False,
    "training.racl_reg_weight": 0.2,
    "training.amp": False,
    "training.bonafide_per_batch": 4,
    "training.frontend_lr": 1e-5,
}
#: keys whose schema allows a single value (nothing to change)
FIXED_KEYS = {"audio.sample_rate"}


def _schema_keys() -> set[str]:
    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
    props = schema["properties"]
    keys = {f"{section}.{key}" for section in ("audio", "reconstruction", "detector", "training")
            for key in props[section]["properties"] if key != "backends"}
    backend = props["reconstruction"]["properties"]["backends"]["additionalProperties"]
    return keys | {f"reconstruction.backends.*.{key}" for key in backend["properties"]}


def _commands(config: dict, tmp_path: Path) -> list[str]:
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    result = _run(["all", "-n", "-p", "--cores", "8", "-d", str(tmp_path / "w"),
                   "--configfile", str(tmp_path / "c.yaml")], REPO)
    assert result.returncode == 0, result.stderr[-2000:]
    return sorted(line.strip() for line in result.stdout.splitlines() if "python -m reconfake" in line)


def test_every_config_key_reaches_the_commands(tmp_path):
    from reconfake.config import EXECUTION_ONLY_KEYS

    keys = _schema_keys()
    execution_only = {k for k in EXECUTION_ONLY_KEYS if ".options." not in k}
    assert execution_only <= keys  # no stale entry in the documented set
    assert keys == set(KEY_CHANGES) | execution_only | FIXED_KEYS, "classify the new key(s)"
    default = yaml.safe_load((REPO / "config.yaml").read_text())
    base = _commands(default, tmp_path)
    assert any("--labels bonafide spoof" in c for c in base)
    for key, value in KEY_CHANGES.items():
        config = yaml.safe_load((REPO / "config.yaml").read_text())
        *parents, leaf = key.split(".")
        if parents[-1] == "*":
            name, value = value
            parents[-1] = name
        node = config
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
        assert _commands(config, tmp_path) != base, f"config key {key} does not reach any command"


def test_parsing_imports_no_torch(tmp_path):
    for config in ("config.yaml", "config.paper.yaml"):
        result = subprocess.run([sys.executable, "-X", "importtime", "-m", "snakemake", "-s",
                                 str(REPO / "Snakefile"), "-n", "--quiet", "rules", "--cores", "8",
                                 "-d", str(tmp_path), "--configfile", str(REPO / config)],
                                cwd=REPO, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr[-2000:]
        imported = {line.rsplit("|", 1)[1].strip() for line in result.stderr.splitlines()
                    if line.startswith("import time:") and "|" in line}
        assert "reconfake.paradigms.registry" in imported  # the parse did run
        assert not {"torch", "scipy", "transformers", "diffusers"} & imported, config


def test_unknown_backend_option_stops_the_plan(tmp_path):
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["reconstruction"]["backends"]["opus"]["options"] = {"bitrat": 6000}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    result = _run(["-n", "--cores", "1", "--configfile", "c.yaml"], tmp_path)
    assert result.returncode != 0
    message = "backend opus: unknown option(s) bitrat; allowed: batch_size, bitrate"
    assert message in result.stdout + result.stderr


def test_score_memory_is_sized_from_the_detector(tmp_path):
    """Scoring peaks at 4.1 GiB with official AASIST (batch 16): its jobs ask for more."""
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["detector"] = {"architecture": "aasist", "options": {}}
    config["models"]["ablations"] = {}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    result = _run(["results/scores/baseline/mini_piper.csv", "-n", "--configfile", "c.yaml",
                   "--cores", "1"], tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    block = result.stdout.split("rule score:")[1]
    assert re.search(r"resources: .*mem_mb=6000\b", block), block[:1500]
