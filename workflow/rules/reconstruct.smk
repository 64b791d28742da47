"""Reconstruction: one rule family per backend, scattered over NUM_SHARDS independent jobs.

`snakemake --forcerun reconstruct_<backend>` rebuilds one backend's shards and what uses them.
What shapes a shard is in `params` (backend, options, labels, the code digest); the device and
the execution-only options (batch sizes, threads) are `resources`, so changing them reruns
nothing; `--set-resources reconstruct_<backend>:device=cuda:1` overrides the device of a run.
"""

TRAIN_MANIFEST = manifest(config["train_set"])

for _name, _entry in BACKENDS.items():
    _fitted = "fit" in _entry
    _model_dir = f"{RESULTS}/backends/{_name}/model"
    _options = {**_entry["options"], **({"model": _model_dir} if _fitted else {})}
    _result_options, _run_options = split_options(_options)

    if _fitted:

        rule:
            name:
                f"fit_{_name}"
            message:
                f"fitting backend {_name} on bona fide training audio"
            input:
                TRAIN_MANIFEST,
            output:
                directory(_model_dir),
            params:
                backend=_entry["backend"],
                options=as_json(_entry["fit"]),
                code=backend_code(_entry["backend"]),
            log:
                f"{LOGS}/fit/{_name}.log",
            benchmark:
                f"{BENCH}/fit/{_name}.tsv"
            # One thread: on a machine running other jobs beside it (the default runs up to
            # eight on two cores), a second intra-op thread mostly spins; measured here, the
            # 120-step fit took 224 s of CPU with two threads against ~60 s with one, alone.
            threads: 1
            priority: 10  # it heads the diffusion paradigm's critical path
            resources:
                mem_mb=_entry["mem_mb"],
            conda:
                f"{ENVS}/reconstruct.yaml"
            shell:
                "python -m reconfake --threads {threads} fit-backend --backend {params.backend} --manifest {input} "
                "--out {output} --options {params.options:q} > {log} 2>&1"

    rule:
        name:
            f"reconstruct_{_name}"
        input:
            manifest=TRAIN_MANIFEST,
            model=[_model_dir] if _fitted else [],
        output:
            f"{RESULTS}/shards/{_name}/train-{{shard}}-of-{NUM_SHARDS:03d}.parquet",
        params:
            backend=_entry["backend"],
            options=_result_options,
            num_shards=NUM_SHARDS,
            bad_audio=config["audio"]["bad_audio"],
            sample_rate=RATE,
            labels=" ".join(REC["labels"]),
            code=backend_code(_entry["backend"], "reconfake.reconstruct"),
        log:
            f"{LOGS}/reconstruct/{_name}/{{shard}}.log",
        benchmark:
            f"{BENCH}/reconstruct/{_name}/{{shard}}.tsv"
        threads: 1
        resources:
            mem_mb=_entry["mem_mb"],
            gpu=gpus(REC["device"]),
            device=REC["device"],
            run_options=_run_options,
        conda:
            f"{ENVS}/reconstruct.yaml"
        shell:
            "python -m reconfake --threads {threads} reconstruct --manifest {input.manifest} --backend {params.backend} "
            "--options {params.options:q} --run-options {resources.run_options:q} "
            "--shard $((10#{wildcards.shard})) "
            "--num-shards {params.num_shards} --bad-audio {params.bad_audio} "
            "--device {resources.device} --sample-rate {params.sample_rate} --labels {params.labels} "
            "--out {output} > {log} 2>&1"

    rule:
        name:
            f"reconstruct_dev_{_name}"
        message:
            f"reconstructing the dev bona fide clips with {_name} (hardness table)"
        input:
            manifest=DEV_MANIFEST,
            model=[_model_dir] if _fitted else [],
        output:
            dev_reconstruction(_name),
        params:
            backend=_entry["backend"],
            options=_result_options,
            bad_audio=config["audio"]["bad_audio"],
            sample_rate=RATE,
            code=backend_code(_entry["backend"], "reconfake.reconstruct"),
        log:
            f"{LOGS}/reconstruct/{_name}/dev-bonafide.log",
        benchmark:
            f"{BENCH}/reconstruct/{_name}/dev-bonafide.tsv"
        threads: 1
        resources:
            mem_mb=_entry["mem_mb"],
            gpu=gpus(REC["device"]),
            device=REC["device"],
            run_options=_run_options,
        conda:
            f"{ENVS}/reconstruct.yaml"
        shell:
            "python -m reconfake --threads {threads} reconstruct --manifest {input.manifest} --backend {params.backend} "
            "--options {params.options:q} --run-options {resources.run_options:q} "
            "--bad-audio {params.bad_audio} --labels bonafide "
            "--device {resources.device} --sample-rate {params.sample_rate} --out {output} > {log} 2>&1"
