"""Evaluation: one score file per (model, eval set); scores are bona fide logits. The
baseline also scores the dev split and each backend's reconstructions of the dev bona fide
clips, for the hardness table. Memory is sized from the detector (`score_mem_mb`); device and
feature-cache folder are `resources` (outside the params rerun trigger)."""



rule score:
    input:
        model=f"{RESULTS}/models/{{model}}/model.pt",
        manifest=lambda wc: manifest(EVAL_SETS[wc.evalset]),
    output:
        f"{RESULTS}/scores/{{model}}/{{evalset}}.csv",
    params:
        eval_samples=config["training"]["eval_samples"],
        code=CODE["score"],
    log:
        f"{LOGS}/score/{{model}}/{{evalset}}.log",
    benchmark:
        f"{BENCH}/score/{{model}}/{{evalset}}.tsv"
    resources:
        mem_mb=lambda wc: score_mem_mb(wc.model),
        gpu=gpus(config["training"]["device"]),
        run_flags=lambda wc: run_flags(wc.model),
    conda:
        f"{ENVS}/train.yaml"
    shell:
        "python -m reconfake --threads {threads} score --checkpoint {input.model} --output {output} "
        "--eval-samples {params.eval_samples} --corpus {wildcards.evalset} {resources.run_flags} "
        "{input.manifest} > {log} 2>&1"


rule score_hardness:
    """The baseline's scores of the dev split (`dev`) or of one backend's dev reconstructions."""
    input:
        model=f"{RESULTS}/models/baseline/model.pt",
        data=lambda wc: DEV_MANIFEST if wc.what == "dev" else dev_reconstruction(wc.what),
    output:
        f"{RESULTS}/hardness/{{what}}.csv",
    params:
        eval_samples=config["training"]["eval_samples"],
        code=CODE["score"],
    log:
        f"{LOGS}/score/hardness/{{what}}.log",
    benchmark:
        f"{BENCH}/score/hardness/{{what}}.tsv"
    resources:
        mem_mb=score_mem_mb("baseline") if "baseline" in MODEL_SPEC else 2000,
        gpu=gpus(config["training"]["device"]),
        run_flags=run_flags("baseline") if "baseline" in MODEL_SPEC else "",
    wildcard_constraints:
        what="|".join(["dev", *BACKENDS]),
    conda:
        f"{ENVS}/train.yaml"
    shell:
        "python -m reconfake --threads {threads} score --checkpoint {input.model} --output {output} "
        "--eval-samples {params.eval_samples} {resources.run_flags} "
        "{input.data} > {log} 2>&1"
