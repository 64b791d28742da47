"""Evaluation: one score file per (model, eval set); scores are bona fide logits. The
baseline also scores the dev split and each backend's reconstructions of the dev bona fide
clips, for the hardness table."""



rule score:
    input:
        model=f"{RESULTS}/models/{{model}}/model.pt",
        manifest=lambda wc: manifest(EVAL_SETS[wc.evalset]),
    output:
        f"{RESULTS}/scores/{{model}}/{{evalset}}.csv",
    params:
        eval_samples=config["training"]["eval_samples"],
        device=config["training"]["device"],
        cache=lambda wc: feature_cache_flag(wc.model),
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
        "{params.cache} {input.manifest} > {log} 2>&1"


rule score_hardness:
    """The baseline's scores of the dev split (`dev`) or of one backend's dev reconstructions."""
    input:
        model=f"{RESULTS}/models/baseline/model.pt",
        data=lambda wc: DEV_MANIFEST if wc.what == "dev" else dev_reconstruction(wc.what),
    output:
        f"{RESULTS}/hardness/{{what}}.csv",
    params:
        eval_samples=config["training"]["eval_samples"],
        device=config["training"]["device"],
        cache=lambda wc: feature_cache_flag("baseline"),
    log:
        "logs/score/hardness/{what}.log",
    benchmark:
        "benchmarks/score/hardness/{what}.tsv"
    resources:
        mem_mb=2000,
        gpu=gpus(config["training"]["device"]),
    wildcard_constraints:
        what="|".join(["dev", *BACKENDS]),
    conda:
        f"{ENVS}/train.yaml"
    shell:
        "python -m reconfake --threads {threads} score --checkpoint {input.model} --output {output} "
        "--eval-samples {params.eval_samples} --device {params.device} {params.cache} "
        "{input.data} > {log} 2>&1"
