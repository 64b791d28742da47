"""Report: the results table (CSV, Markdown), per-attack EERs and the bar chart."""

REPORT_DIR = f"{RESULTS}/report"
REPORT_OUTPUTS = [
    f"{REPORT_DIR}/table.csv",
    f"{REPORT_DIR}/table.md",
    f"{REPORT_DIR}/eer_per_attack.csv",
    f"{REPORT_DIR}/eer_by_paradigm.png",
]


rule report:
    input:
        expand(f"{RESULTS}/scores/{{model}}/{{evalset}}.csv", model=MODELS, evalset=list(EVAL_SETS)),
    output:
        REPORT_OUTPUTS,
    params:
        models=" ".join(MODELS),
        eval_sets=" ".join(EVAL_SETS),
        paradigms=as_json(MODEL_PARADIGM),
        note=config["study"]["note"] if config["study"]["stand_in"] else "",
        out_dir=lambda wc, output: os.path.dirname(output[0]),
    log:
        "logs/report.log",
    conda:
        f"{ENVS}/report.yaml"
    shell:
        "python -m reconfake report --scores {input} --models {params.models} "
        "--eval-sets {params.eval_sets} --paradigms {params.paradigms:q} "
        "--note {params.note:q} --out-dir {params.out_dir} > {log} 2>&1"
