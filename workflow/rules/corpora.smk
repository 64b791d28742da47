"""Corpora: build or download each corpus split and write its Parquet manifest."""

DEMO = config["corpora"].get("demo")

if DEMO:

    rule prepare_demo:
        """Synthesise one split of the stand-in demo corpus (no network)."""
        output:
            f"{DATA}/demo/{{split}}.parquet",
        params:
            spec=lambda wc: as_json({**DEMO["splits"][wc.split], "sample_rate": RATE}),
            out_dir=lambda wc, output: os.path.dirname(output[0]),
            code=code_digest("reconfake.corpora.demo"),
        log:
            f"{DATA_LOGS}/corpora/demo_{{split}}.log",
        benchmark:
            f"{DATA_BENCH}/corpora/demo_{{split}}.tsv"
        resources:
            mem_mb=1000,
        conda:
            f"{ENVS}/corpora.yaml"
        shell:
            "python -m reconfake --threads {threads} demo-corpus --split {wildcards.split} --spec {params.spec:q} "
            "--out-dir {params.out_dir} > {log} 2>&1"


# Real corpora: for every corpus enabled in the config, download_<corpus> fetches, verifies and
# extracts its official archives (or a mirror of them, or registers a local copy) and writes
# <data_dir>/<corpus>/.downloaded; prepare_<corpus> writes one manifest per split.
import shlex

from reconfake.corpora.registry import CORPORA, corpus_names, corpus_spec

REAL_CORPORA = {
    name: config["corpora"][name]
    for name in corpus_names()
    if config["corpora"].get(name) is not None and config["corpora"][name]["enabled"]
}

for _name, _cfg in REAL_CORPORA.items():
    _spec = corpus_spec(_name)
    _options = {k: _cfg[k] for k in _spec.options if k in _cfg}
    _out = f"{DATA}/{_name}"
    if _cfg["local_copy"]:
        _step = ["register", _name, "--root", _cfg["local_copy"], "--out-dir", _out]
        _disk_mb = 0
    else:
        _step = ["download", _name, "--out-dir", _out, "--retries", str(_cfg["retries"])]
        _step += ["--mirror", _cfg["mirror"]] if _cfg["mirror"] else []
        _step += ["--root", _cfg["download_dir"]] if _cfg["download_dir"] else []
        _step += ["--keep-archives"] if _cfg["keep_archives"] else []
        _disk_mb = _spec.disk_bytes // 1_000_000
    _step += ["--options", json.dumps(_options, sort_keys=True)]

    rule:
        name:
            f"download_{_name}"
        message:
            f"{'registering' if _cfg['local_copy'] else 'downloading'} corpus {_name}"
        output:
            f"{_out}/.downloaded",
        params:
            args=shlex.join(_step),
        log:
            f"{DATA_LOGS}/corpora/download_{_name}.log",
        benchmark:
            f"{DATA_BENCH}/corpora/download_{_name}.tsv"
        localrule: True
        resources:
            mem_mb=1000,
            disk_mb=_disk_mb,
        conda:
            f"{ENVS}/corpora.yaml"
        shell:
            "python -m reconfake {params.args} > {log} 2>&1"

    rule:
        name:
            f"prepare_{_name}"
        input:
            f"{_out}/.downloaded",
        output:
            [f"{_out}/{split}.parquet" for split in _spec.splits_for(_options)],
        params:
            args=shlex.join(["prepare", _name, "--out-dir", _out] + (["--strict"] if _cfg["strict"] else [])),
            code=code_digest(CORPORA.module(_name), "reconfake.corpora.spec"),
        log:
            f"{DATA_LOGS}/corpora/prepare_{_name}.log",
        benchmark:
            f"{DATA_BENCH}/corpora/prepare_{_name}.tsv"
        resources:
            mem_mb=4000,
        conda:
            f"{ENVS}/corpora.yaml"
        shell:
            "python -m reconfake {params.args} > {log} 2>&1"


# Corpus mini: Debian packages (human speech, flite) -> transcripts of the dealt Asterisk
# prompts -> one manifest per split, each bona fide clip beside a TTS clip of the same text.
MINI = config["corpora"].get("mini")

if MINI:
    from reconfake.corpora.mini import MiniSpec, check_split_refs

    MINI_SPEC = {**MINI, "bad_audio": config["audio"]["bad_audio"]}
    # a bad spec, or a training speaker in an eval split, stops the run before any job
    check_split_refs(MiniSpec.from_dict(MINI_SPEC), config["train_set"], list(EVAL_SETS.values()))
    MINI_PACKAGES = f"{DATA}/mini/packages"

    rule mini_packages:
        """Fetch, verify and unpack the pinned Debian packages of corpus mini."""
        output:
            f"{MINI_PACKAGES}/.done",
        params:
            root=lambda wc, output: os.path.dirname(output[0]),
            packages_dir=f"--packages-dir {MINI['packages_dir']}" if MINI["packages_dir"] else "",
        log:
            f"{DATA_LOGS}/corpora/mini_packages.log",
        benchmark:
            f"{DATA_BENCH}/corpora/mini_packages.tsv"
        localrule: True
        resources:
            mem_mb=1000,
            disk_mb=700,
        conda:
            f"{ENVS}/corpora.yaml"
        shell:
            "python -m reconfake mini-packages --root {params.root} {params.packages_dir} > {log} 2>&1"

    rule mini_transcripts:
        """Texts of the Asterisk prompts that the deal uses (official list or Whisper)."""
        input:
            f"{MINI_PACKAGES}/.done",
        output:
            f"{DATA}/mini/transcripts.tsv",
        params:
            root=lambda wc, input: os.path.dirname(input[0]),
            spec=as_json(MINI_SPEC),
            code=code_digest("reconfake.corpora.mini"),
        log:
            f"{DATA_LOGS}/corpora/mini_transcripts.log",
        benchmark:
            f"{DATA_BENCH}/corpora/mini_transcripts.tsv"
        resources:
            mem_mb=2000,
        conda:
            f"{ENVS}/corpora.yaml"
        shell:
            "python -m reconfake --threads {threads} mini-transcripts --root {params.root} "
            "--spec {params.spec:q} --out {output} > {log} 2>&1"

    rule prepare_mini:
        """One split of corpus mini: its recordings and TTS spoofs of the same texts."""
        input:
            packages=f"{MINI_PACKAGES}/.done",
            transcripts=f"{DATA}/mini/transcripts.tsv",
        output:
            f"{DATA}/mini/{{split}}.parquet",
        params:
            root=lambda wc, input: os.path.dirname(input.packages),
            spec=as_json(MINI_SPEC),
            out_dir=lambda wc, output: os.path.dirname(output[0]),
            code=code_digest("reconfake.corpora.mini"),
        log:
            f"{DATA_LOGS}/corpora/mini_{{split}}.log",
        benchmark:
            f"{DATA_BENCH}/corpora/mini_{{split}}.tsv"
        resources:
            mem_mb=1500,
        conda:
            f"{ENVS}/corpora.yaml"
        shell:
            "python -m reconfake --threads {threads} mini-corpus --split {wildcards.split} "
            "--spec {params.spec:q} --packages {params.root} --transcripts {input.transcripts} "
            "--out-dir {params.out_dir} > {log} 2>&1"
