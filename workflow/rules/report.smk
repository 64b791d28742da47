"""Report: results table (CSV, Markdown), per-attack EERs, bar chart, DET curves and the learned
layer weights, plus the config and package versions; `snakemake --report report.html` bundles
them with captions."""

REPORT_DIR = f"{RESULTS}/report"
REPORT_OUTPUTS = [
    f"{REPORT_DIR}/{name}"
    for name in (
        "table.csv",
        "table.md",
        "seeds.csv",
        "seeds.md",
        "seeds.png",
        "eer_per_attack.csv",
        "eer_per_attack.md",
        "eer_by_paradigm.png",
        "det_curves.png",
        "layer_weights.png",
        "layer_weights.csv",
        "benchmarks.csv",
        "benchmarks.md",
        "study.yaml",
    )
]
# The hardness table needs the baseline (it is the detector that judges the reconstructions).
HARDNESS = config["models"]["baseline"] and bool(BACKENDS)
if HARDNESS:
    REPORT_OUTPUTS += [f"{REPORT_DIR}/hardness.{ext}" for ext in ("csv", "md", "png")]


# Training writes <model dir>/layer_weights.json for every model (weights null for models
# without learned layer weights), so the report declares them all; its layer-weight figure is
# a placeholder when no model has weights, so the rule's outputs are the same for every detector.
rule report:
    input:
        scores=expand(
            f"{RESULTS}/scores/{{model}}/{{evalset}}.csv",
            model=MODELS,
            evalset=list(EVAL_SETS),
        ),
        layer_weights=expand(f"{RESULTS}/models/{{model}}/layer_weights.json", model=MODELS),
        benchmarks=benchmark_files(HARDNESS),
    output:
        table=report(f"{REPORT_DIR}/table.csv", caption="../report/table.rst", category="Results"),
        table_md=f"{REPORT_DIR}/table.md",
        seeds=report(f"{REPORT_DIR}/seeds.csv", caption="../report/seeds.rst", category="Results"),
        seeds_md=f"{REPORT_DIR}/seeds.md",
        seeds_png=report(f"{REPORT_DIR}/seeds.png", caption="../report/seeds.rst", category="Plots"),
        per_attack=report(
            f"{REPORT_DIR}/eer_per_attack.csv",
            caption="../report/per_attack.rst",
            category="Results",
        ),
        per_attack_md=f"{REPORT_DIR}/eer_per_attack.md",
        bars=report(
            f"{REPORT_DIR}/eer_by_paradigm.png", caption="../report/bars.rst", category="Plots"
        ),
        det=report(f"{REPORT_DIR}/det_curves.png", caption="../report/det.rst", category="Plots"),
        layer_weights=report(
            f"{REPORT_DIR}/layer_weights.png",
            caption="../report/layer_weights.rst",
            category="Plots",
        ),
        layer_weights_csv=report(
            f"{REPORT_DIR}/layer_weights.csv",
            caption="../report/layer_weights.rst",
            category="Results",
        ),
        benchmarks=report(
            f"{REPORT_DIR}/benchmarks.csv", caption="../report/benchmarks.rst", category="Study"
        ),
        benchmarks_md=f"{REPORT_DIR}/benchmarks.md",
    params:
        models=" ".join(MODELS),
        eval_sets=" ".join(EVAL_SETS),
        paradigms=as_json(MODEL_PARADIGM),
        seed_groups=as_json(SEED_GROUPS),
        note=config["study"]["note"] if config["study"]["stand_in"] else "",
        reported=as_json(config["report"]["reported"]),
        reported_label=config["report"]["reported_label"],
        out_dir=lambda wc, output: os.path.dirname(output.table),
        code=CODE["report"],
    log:
        f"{LOGS}/report.log",
    conda:
        f"{ENVS}/report.yaml"
    shell:
        "python -m reconfake report --scores {input.scores} --models {params.models} "
        "--eval-sets {params.eval_sets} --paradigms {params.paradigms:q} "
        "--seed-groups {params.seed_groups:q} "
        "--note {params.note:q} --reported {params.reported:q} "
        "--reported-label {params.reported_label:q} "
        "--layer-weights {input.layer_weights} --benchmark-files {input.benchmarks} "
        "--out-dir {params.out_dir} > {log} 2>&1"


if HARDNESS:

    rule hardness:
        """How hard each backend's reconstructions of the dev bona fide clips are for the
        baseline: EER against their sources, acceptance, score histograms."""
        input:
            dev=f"{RESULTS}/hardness/dev.csv",
            scores=expand(f"{RESULTS}/hardness/{{backend}}.csv", backend=list(BACKENDS)),
            shards=[dev_reconstruction(b) for b in BACKENDS],
        output:
            table=report(f"{REPORT_DIR}/hardness.csv", caption="../report/hardness.rst",
                         category="Results"),
            table_md=f"{REPORT_DIR}/hardness.md",
            plot=report(f"{REPORT_DIR}/hardness.png", caption="../report/hardness.rst",
                        category="Plots"),
        params:
            reconstructions=lambda wc, input: " ".join(
                f"{b}={p}" for b, p in zip(BACKENDS, input.scores)),
            shards=lambda wc, input: " ".join(f"{b}={p}" for b, p in zip(BACKENDS, input.shards)),
            paradigms=as_json(PARADIGM),
            note=config["study"]["note"] if config["study"]["stand_in"] else "",
            out_dir=lambda wc, output: os.path.dirname(output.table),
            code=CODE["hardness"],
        log:
            f"{LOGS}/hardness.log",
        conda:
            f"{ENVS}/report.yaml"
        shell:
            "python -m reconfake hardness --dev {input.dev} --reconstructions {params.reconstructions} "
            "--shards {params.shards} --paradigms {params.paradigms:q} --note {params.note:q} "
            "--out-dir {params.out_dir} > {log} 2>&1"


rule study_info:
    """The filled-in config and package versions of this run."""
    output:
        report(f"{REPORT_DIR}/study.yaml", caption="../report/study.rst", category="Study"),
    params:
        config=as_json(config),
        code=CODE["study_info"],
    log:
        f"{LOGS}/study_info.log",
    conda:
        f"{ENVS}/report.yaml"
    shell:
        "python -m reconfake study-info --config {params.config:q} --out {output} > {log} 2>&1"
