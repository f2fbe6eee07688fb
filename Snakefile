# ntop: existing human captures -> top-view fisheye human-pose datasets with exact labels.
# The default config is the embedded synthetic demo; see README.md for real datasets and SLURM.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


if "subjects" not in config:  # no dataset config (--configfile) brought subjects: the embedded synthetic demo

    configfile: "config/demo.yaml"


report: "workflow/report/workflow.rst"


include: "rules/common.smk"
include: "rules/ingest.smk"
include: "rules/keypoints.smk"
include: "rules/fit.smk"
include: "rules/masks.smk"
include: "rules/nerf.smk"
include: "rules/views.smk"
include: "rules/render.smk"
include: "rules/annotate.smk"
include: "rules/assemble.smk"
include: "rules/qa.smk"


rule all:
    default_target: True
    input:
        all_targets(),
