"""Training: the baseline (no hard samples), one detector per backend (same seed and budget)
and the ablations (a backend's shards with a few detector/training settings changed)."""


rule train_model:
    """Train one detector; resumes from results/models/<model>/last.pt after a kill. Threads,
    device and the feature-cache folder reach it outside `params` (they change no weights)."""
    input:
        train=manifest(config["train_set"]),
        dev=manifest(config["dev_set"]),
        shards=model_shards,
    output:
        model=f"{RESULTS}/models/{{model}}/model.pt",
        log_csv=f"{RESULTS}/models/{{model}}/train_log.csv",
        layer_weights=f"{RESULTS}/models/{{model}}/layer_weights.json",
    params:
        out_dir=lambda wc, output: os.path.dirname(output.model),
        architecture=lambda wc: MODEL_SPEC[wc.model]["detector"]["architecture"],
        arch_options=lambda wc: as_json(MODEL_SPEC[wc.model]["detector"]["options"]),
        options=lambda wc: result_options(wc.model),
        code=CODE["train"],
    log:
        f"{LOGS}/train/{{model}}.log",
    benchmark:
        f"{BENCH}/train/{{model}}.tsv"
    threads: config["training"]["threads"]
    resources:
        mem_mb=config["training"]["mem_mb"],
        gpu=gpus(config["training"]["device"]),
        run_flags=lambda wc: run_flags(wc.model),
    conda:
        f"{ENVS}/train.yaml"
    shell:
        "python -m reconfake --threads {threads} train --train {input.train} --dev {input.dev} "
        "--shards {input.shards} "
        "--out-dir {params.out_dir} --architecture {params.architecture} "
        "--arch-options {params.arch_options:q} --options {params.options:q} {resources.run_flags} "
        "> {log} 2>&1"


rule all_shards:
    """Target: every backend's hard-sample shards (the reconstruction stage alone)."""
    input:
        [path for backend in BACKENDS for path in shard_paths(backend)],


rule all_models:
    """Target: every trained detector."""
    input:
        expand(f"{RESULTS}/models/{{model}}/model.pt", model=MODELS),
