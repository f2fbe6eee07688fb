# Generic helpers shared by every rules file: config checks, named paths, the subject's settings that
# several stages read, and params functions that turn inputs into command-line options. Helpers that
# only one stage uses sit at the top of that stage's rules file.
import json
import os
import re
import sys
import zlib

import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

try:
    from ntop.provenance import command_digest
except ImportError:  # snakemake runs outside ntop's environment (--sdm conda): use the checkout's copy
    sys.path.insert(0, workflow.basedir)
    from ntop.provenance import command_digest

# Each stage's rules pass command_digest(<the ntop command they run>) as a parameter: Snakemake tracks
# rules' own code but not the ntop modules the command imports (nor the CLI), and an edit there must
# rerun the stage.
# Each rule sets `threads`; its command runs under OMP_NUM_THREADS={threads} and takes
# --threads {threads} where it runs a pool of its own.


def _validate_config():
    """Validate (filling in the schema's defaults); on failure say the first violation in one line naming
    the field, instead of snakemake's message, which prints the whole schema."""
    try:
        validate(config, schema="../workflow/schemas/config.schema.yaml")
    except WorkflowError:
        import jsonschema

        with open(os.path.join(workflow.basedir, "workflow", "schemas", "config.schema.yaml")) as f:
            schema = yaml.safe_load(f)
        error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(schema).iter_errors(config))
        field = ".".join(map(str, error.absolute_path)) or "(top level)"
        files = ", ".join(map(str, workflow.overwrite_configfiles)) or "config/config.yaml, config/demo.yaml"
        raise WorkflowError(f"config ({files}): field {field!r}: {error.message}") from None


_validate_config()

SUBJECTS = list(config["subjects"])
config["dataset"].setdefault("splits", {"train": SUBJECTS})  # no splits given: every subject trains


wildcard_constraints:
    subject="|".join(re.escape(s) for s in SUBJECTS),
    action=r"[A-Za-z0-9_\-]+",


# ----------------------------------------------------------------------------------------------
# paths
# ----------------------------------------------------------------------------------------------


def results(*parts):
    return os.path.join("results", *parts)


def logs(*parts):
    return os.path.join("logs", *parts)


def benchmarks(*parts):
    return os.path.join("results", "benchmarks", *parts)


# every stage file, by name: rules take them as they are, helpers fill in {subject} and {action}
CAPTURE = results("ingest", "{subject}", "{action}", "capture.h5")
FRAMES = results("ingest", "{subject}", "{action}", "frames.h5")
KEYPOINTS2D = results("keypoints", "{subject}", "{action}", "keypoints2d.h5")
KEYPOINTS3D = results("keypoints", "{subject}", "{action}", "keypoints3d.h5")
CALIBRATION = results("calibration", "{subject}", "calibration.h5")
FIT = results("fit", "{subject}", "smpl.h5")
REFINED_FIT = results("fit", "{subject}", "refined", "smpl.h5")
BACKGROUND = results("masks", "{subject}", "background.h5")
MASKS = results("masks", "{subject}", "{action}", "masks.h5")
NERF_DATASET = results("nerf", "{subject}", "dataset.h5")
NERF_MODEL = results("nerf", "{subject}", "model.pt")
NERF_EVAL = results("nerf", "{subject}", "eval.json")
VIEWS = results("views", "{subject}", "{action}", "views.h5")
RENDER = results("render", "{subject}", "{action}")
LABELS = results("labels", "{subject}", "{action}")


def subject_actions():
    """(subject, action) pairs of the whole dataset, in config order."""
    return [(s, a) for s in SUBJECTS for a in config["subjects"][s]["actions"]]


def expand_pairs(pattern):
    return [pattern.format(subject=s, action=a) for s, a in subject_actions()]


def of_actions(pattern, subject, actions=None):
    """``pattern`` for each of ``actions`` (default: all) of ``subject``."""
    return [pattern.format(subject=subject, action=a) for a in (actions or config["subjects"][subject]["actions"])]


def per_action(pattern):
    """An input function: ``pattern`` for every action of the job's subject (per-subject rules)."""
    return lambda w: of_actions(pattern, w.subject)


def body_model_path():
    """The SMPL-format model every stage poses bodies with: the user's file or the generated one."""
    bm = config["body_model"]
    return bm["path"] if bm["kind"] == "smpl" else f"resources/body_model/{bm['kind']}_smpl.npz"


# ----------------------------------------------------------------------------------------------
# params functions: inputs -> command-line options
# ----------------------------------------------------------------------------------------------


def options(**flags):
    """A params function: ``--<flag> <path>`` for each path of the named list inputs, zipped when several
    (``options(capture="captures", frames="frames")`` -> ``--capture c1 --frames f1 --capture c2 ...``)."""

    def params(wildcards, input):
        columns = zip(*(input[key] for key in flags.values()))
        return " ".join(" ".join(f"--{flag.replace('_', '-')} {p}" for flag, p in zip(flags, row)) for row in columns)

    return params


def optional(flag, key):
    """A params function: ``--<flag> <path>`` when the optional input ``key`` is there, else nothing."""
    return lambda wildcards, input: f"--{flag} {input[key]}" if key in input.keys() else ""


def as_json(section):
    """A params function: one config section as JSON (the stage's settings)."""
    return lambda wildcards: json.dumps(config[section], sort_keys=True)


STRICT = "--strict" if config["qa"]["strict"] else ""


def device_env(section):
    """The conda environment of a GPU stage (--sdm conda): CUDA torch unless ``section``'s device is cpu."""
    return "../envs/ntop.yaml" if config[section].get("device", "auto") == "cpu" else "../envs/ntop-cuda.yaml"


def device_gpus(section):
    """A GPU unless the config says cpu: ``auto`` takes one where there is one (--resources gpu=N caps them)."""
    return 0 if config[section].get("device", "auto") == "cpu" else 1


# ----------------------------------------------------------------------------------------------
# the subject's settings several stages read
# ----------------------------------------------------------------------------------------------


def calibrates(subject):
    """Whether the subject's extrinsics come from its keypoints (calibrate) or are refined on them (refine)."""
    return config["subjects"][subject].get("cameras", "known") in ("calibrate", "refine")


def calibration_inputs(wildcards):
    """The calibrated rig, for subjects whose extrinsics come from their keypoints."""
    return {"calibration": CALIBRATION.format(subject=wildcards.subject)} if calibrates(wildcards.subject) else {}


def fit_mode():
    return config["fit"].get("mode", "multiview")


def fits(subject):
    return config["subjects"][subject].get("smpl", "capture") == "fit"


def refines(subject):
    return fits(subject) and config["fit"].get("refine_with_masks", True)


def final_fit(subject):
    """The bodies a fitted subject ends with: refined against its masks, or the keypoint fit alone."""
    return (REFINED_FIT if refines(subject) else FIT).format(subject=subject)


def smpl_inputs(wildcards):
    """The fitted bodies, for subjects whose SMPL comes from fitting (otherwise the capture's own)."""
    return {"smpl": final_fit(wildcards.subject)} if fits(wildcards.subject) else {}


def prior_smpl_inputs(wildcards):
    """The bodies the masks start from: for a fitted subject the keypoint fit (the refined one needs the masks)."""
    return {"smpl": FIT.format(subject=wildcards.subject)} if fits(wildcards.subject) else {}


def codes(wildcards):
    """(dataset, subject, action) numbers that name images: NToP's scheme."""
    subject = config["subjects"][wildcards.subject]
    subject_code = subject.get("code", SUBJECTS.index(wildcards.subject) + 1)
    action_code = sorted(subject["actions"]).index(wildcards.action) + 1
    return [config["dataset"].get("code", 0), subject_code, action_code]
