# Config access, path helpers and wildcard constraints shared by every rules file.
import json
import os
import re

from snakemake.utils import validate


validate(config, schema="../workflow/schemas/config.schema.yaml")

SUBJECTS = list(config["subjects"])


wildcard_constraints:
    subject="|".join(re.escape(s) for s in SUBJECTS),
    action=r"[A-Za-z0-9_\-]+",


def results(*parts):
    return os.path.join("results", *parts)


def logs(*parts):
    return os.path.join("logs", *parts)


def benchmarks(*parts):
    return os.path.join("results", "benchmarks", *parts)


def subject_actions():
    """(subject, action) pairs of the whole dataset, in config order."""
    return [(s, a) for s in SUBJECTS for a in config["subjects"][s]["actions"]]


def expand_pairs(pattern):
    return [pattern.format(subject=s, action=a) for s, a in subject_actions()]


def body_model_path():
    """The SMPL-format model every stage poses bodies with: the user's file or the generated one."""
    bm = config["body_model"]
    return bm["path"] if bm["kind"] == "smpl" else "resources/body_model/procedural_smpl.npz"


def subject_source(wildcards):
    return config["subjects"][wildcards.subject]["source"]


def raw_capture_path(wildcards):
    """Where a subject/action's raw capture lives; synthetic subjects are rendered by the workflow."""
    subject = config["subjects"][wildcards.subject]
    if subject["source"] == "synthetic":
        return f"resources/synthetic/{wildcards.subject}/{wildcards.action}"
    return subject["raw"].format(subject=wildcards.subject, action=wildcards.action)


def synthetic_params(wildcards):
    """Global synthetic settings overlaid with the subject's own (seed, betas, ...), as JSON."""
    merged = dict(config["synthetic"])
    merged.update(config["subjects"][wildcards.subject].get("synthetic", {}))
    return json.dumps(merged, sort_keys=True)


def ingest_params(wildcards):
    return json.dumps(config["ingest"], sort_keys=True)


def all_targets():
    return expand_pairs(results("qa", "capture", "{subject}", "{action}.json"))
