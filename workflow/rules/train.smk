"""Training: the baseline (no hard samples) and one detector per backend, same seed and budget."""

TRAINING = {k: v for k, v in config["training"].items() if k != "mem_mb"}
TRAINING["sample_rate"] = RATE


rule train_model:
    """Train one detector; resumes from results/models/<model>/last.pt after a kill."""
    input:
        train=manifest(config["train_set"]),
        dev=manifest(config["dev_set"]),
        shards=model_shards,
    output:
        model=f"{RESULTS}/models/{{model}}/model.pt",
        log_csv=f"{RESULTS}/models/{{model}}/train_log.csv",
    params:
        out_dir=lambda wc, output: os.path.dirname(output.model),
        architecture=config["detector"]["architecture"],
        arch_options=as_json(config["detector"]["options"]),
        options=as_json(TRAINING),
    log:
        "logs/train/{model}.log",
    benchmark:
        "benchmarks/train/{model}.tsv"
    threads: config["training"]["threads"]
    resources:
        mem_mb=config["training"]["mem_mb"],
    conda:
        f"{ENVS}/train.yaml"
    shell:
        "python -m reconfake --threads {threads} train --train {input.train} --dev {input.dev} --shards {input.shards} "
        "--out-dir {params.out_dir} --architecture {params.architecture} "
        "--arch-options {params.arch_options:q} --options {params.options:q} > {log} 2>&1"
