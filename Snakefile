"""reconfake: hard samples by reconstruction for generalisable audio deepfake detection.

corpora -> reconstruction shards -> detectors (baseline + one per backend) -> scores -> report.
Run `snakemake --cores 8 all`; the embedded default (config.yaml) runs offline in minutes.
"""

from snakemake.utils import min_version

min_version("8.0")


# config.yaml is the embedded default; a --configfile replaces it rather than merging into it
# (merging would carry the demo corpus and stand-in backends into, say, the paper profile).
if not workflow.overwrite_configfiles:

    configfile: f"{workflow.basedir}/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/corpora.smk"
include: "workflow/rules/reconstruct.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/report.smk"


report: "workflow/report/workflow.rst"


localrules:
    all,
    all_shards,
    all_models,
    report,
    study_info,


rule all:
    input:
        REPORT_OUTPUTS,
    default_target: True
