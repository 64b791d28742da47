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
        log:
            "logs/corpora/demo_{split}.log",
        benchmark:
            "benchmarks/corpora/demo_{split}.tsv"
        resources:
            mem_mb=1000,
        conda:
            f"{ENVS}/corpora.yaml"
        shell:
            "python -m reconfake --threads {threads} demo-corpus --split {wildcards.split} --spec {params.spec:q} "
            "--out-dir {params.out_dir} > {log} 2>&1"
