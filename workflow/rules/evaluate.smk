"""Evaluation: one score file per (model, eval set); scores are bona fide logits."""


rule score:
    input:
        model=f"{RESULTS}/models/{{model}}/model.pt",
        manifest=lambda wc: manifest(EVAL_SETS[wc.evalset]),
    output:
        f"{RESULTS}/scores/{{model}}/{{evalset}}.csv",
    params:
        eval_samples=config["training"]["eval_samples"],
        device=config["training"]["device"],
    log:
        "logs/score/{model}/{evalset}.log",
    benchmark:
        "benchmarks/score/{model}/{evalset}.tsv"
    resources:
        mem_mb=2000,
        gpu=gpus(config["training"]["device"]),
    conda:
        f"{ENVS}/train.yaml"
    shell:
        "python -m reconfake --threads {threads} score --checkpoint {input.model} --output {output} "
        "--eval-samples {params.eval_samples} --corpus {wildcards.evalset} --device {params.device} "
        "{input.manifest} > {log} 2>&1"
