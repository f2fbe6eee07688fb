# Config access, path helpers and wildcard constraints shared by every rules file.
import json
import os
import re
import sys
import zlib

import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

try:
    from ntop.provenance import code_digest
except ImportError:  # snakemake runs outside ntop's environment (--sdm conda): use the checkout's copy
    sys.path.insert(0, workflow.basedir)
    from ntop.provenance import code_digest

# Every rules file passes code_digest(<its stage module>) as a parameter - Snakemake tracks a rule's own
# code but not the ntop modules its command imports, and an edit there must rerun the stage.


def _replace_demo_subjects():
    """Snakemake merges a --configfile into config/config.yaml key by key; a dataset config's subjects
    (and splits) must replace the demo's, not join them."""
    for path in workflow.overwrite_configfiles:
        with open(path) as f:
            given = yaml.safe_load(f) or {}
        if "subjects" in given:
            config["subjects"] = given["subjects"]
        if "splits" in given.get("dataset", {}):
            config["dataset"]["splits"] = given["dataset"]["splits"]


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
        files = ", ".join(map(str, workflow.overwrite_configfiles)) or "config/config.yaml"
        raise WorkflowError(f"config ({files}): field {field!r}: {error.message}") from None


_replace_demo_subjects()
_validate_config()

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


def per_action(pattern):
    """An input function: ``pattern`` for every action of the job's subject (per-subject rules)."""
    return lambda w: [pattern.format(subject=w.subject, action=a) for a in config["subjects"][w.subject]["actions"]]


def body_model_path():
    """The SMPL-format model every stage poses bodies with: the user's file or the generated one."""
    bm = config["body_model"]
    return bm["path"] if bm["kind"] == "smpl" else f"resources/body_model/{bm['kind']}_smpl.npz"


def subject_source(wildcards):
    return config["subjects"][wildcards.subject]["source"]


def raw_capture_path(wildcards):
    """Where a subject/action's raw capture lives; synthetic subjects are rendered by the workflow."""
    subject = config["subjects"][wildcards.subject]
    if subject["source"] == "synthetic":
        return f"resources/synthetic/{wildcards.subject}/{wildcards.action}"
    return subject["raw"].format(subject=wildcards.subject, action=wildcards.action)


def raw_capture_input(wildcards):
    """What ingest waits for: the raw capture, or the whole trial folder rule fetch_pose2sim_trial makes
    when the raw capture is a file inside it (one camera of the trial as a video)."""
    path = raw_capture_path(wildcards)
    trial = re.match(r"(resources/pose2sim/[^/]+)/", path)
    return trial.group(1) if trial else path


def synthetic_params(wildcards):
    """Global synthetic settings overlaid with the subject's own (seed, betas, ...), as JSON."""
    merged = dict(config["synthetic"])
    merged.update(config["subjects"][wildcards.subject].get("synthetic", {}))
    return json.dumps(merged, sort_keys=True)


def ingest_params(wildcards):
    """Frame range and format, plus the subject's adapter settings ({subject} and {action} filled in)."""
    adapter = config["subjects"][wildcards.subject].get("adapter", {})
    adapter = {k: v.format(subject=wildcards.subject, action=wildcards.action) if isinstance(v, str) else v for k, v in adapter.items()}
    return json.dumps({**config["ingest"], "adapter": adapter}, sort_keys=True)


def keypoints_params(wildcards):
    """The detector settings; the emulated detector's seed differs per subject/action (independent errors)."""
    spec = dict(config["keypoints"])
    spec["seed"] = spec.get("seed", 0) + zlib.crc32(f"{wildcards.subject}/{wildcards.action}".encode()) % 100000
    return json.dumps(spec, sort_keys=True)


MASKED_SOURCES = ("synthetic", "zju_mocap", "genebody")  # captures that bring their own masks


def keypoint_masks_arg(wildcards, input):
    """Person boxes for the onnx backend: the capture's own masks where it has them (else a detector's boxes)."""
    if config["keypoints"].get("backend") == "onnx" and subject_source(wildcards) in MASKED_SOURCES:
        return f"--masks {input.capture}"
    return ""


def keypoints_gpus():
    onnx = config["keypoints"].get("onnx", {})
    return 1 if config["keypoints"].get("backend") == "onnx" and onnx.get("device") == "cuda" else 0


def calibrates(subject):
    """Whether the subject's extrinsics come from its keypoints (calibrate) or are refined on them (refine)."""
    return config["subjects"][subject].get("cameras", "known") in ("calibrate", "refine")


def calibration_params(wildcards):
    spec = {k: v for k, v in config["calibration"].items() if k != "check"}
    spec["height_m"] = config["subjects"][wildcards.subject].get("height_m")
    spec["refine"] = config["subjects"][wildcards.subject].get("cameras") == "refine"
    return json.dumps(spec, sort_keys=True)


def triangulation_inputs(wildcards):
    inputs = {"keypoints2d": results("keypoints", wildcards.subject, wildcards.action, "keypoints2d.h5")}
    if calibrates(wildcards.subject):
        inputs["cameras"] = results("calibration", wildcards.subject, "calibration.h5")
    return inputs


def qa_keypoints_inputs(wildcards):
    inputs = {
        "capture": results("ingest", wildcards.subject, wildcards.action, "capture.h5"),
        "keypoints2d": results("keypoints", wildcards.subject, wildcards.action, "keypoints2d.h5"),
        "keypoints3d": results("keypoints", wildcards.subject, wildcards.action, "keypoints3d.h5"),
    }
    if calibrates(wildcards.subject) or config["calibration"].get("check", False):
        inputs["calibration"] = results("calibration", wildcards.subject, "calibration.h5")
    return inputs


def qa_calibration_args(wildcards, input):
    """qa keypoints' calibration arguments: the file, and whether only the check uses it (cameras: known)."""
    if "calibration" not in input.keys():
        return ""
    check_only = "" if calibrates(wildcards.subject) else " --calibration-is-a-check"
    return f"--calibration {input.calibration}{check_only}"


def fits(subject):
    return config["subjects"][subject].get("smpl", "capture") == "fit"


def fit_mode():
    return config["fit"].get("mode", "multiview")


def fit_inputs(wildcards):
    acts = config["subjects"][wildcards.subject]["actions"]
    kind = "keypoints3d.h5" if fit_mode() == "multiview" else "keypoints2d.h5"
    inputs = {"keypoints": [results("keypoints", wildcards.subject, a, kind) for a in acts]}
    if fit_mode() == "multiview" and config["fit"].get("weight_2d", 0) > 0:
        inputs["keypoints2d"] = [results("keypoints", wildcards.subject, a, "keypoints2d.h5") for a in acts]
    return inputs


def fit_args(wildcards, input):
    acts = config["subjects"][wildcards.subject]["actions"]
    flag = "--keypoints3d" if fit_mode() == "multiview" else "--keypoints2d"
    args = [f"--action {a} {flag} {k}" for a, k in zip(acts, input.keypoints)]
    args += [f"--keypoints2d {k}" for k in input.get("keypoints2d", [])]
    return " ".join(args)


def fit_params(wildcards):
    return json.dumps({k: v for k, v in config["fit"].items() if k != "refine_with_masks"}, sort_keys=True)


def fit_gpus():
    return 1 if config["fit"].get("device") == "cuda" else 0


def refines(subject):
    return fits(subject) and config["fit"].get("refine_with_masks", True)


def final_fit(subject):
    """The bodies a fitted subject ends with: refined against its masks, or the keypoint fit alone."""
    return results("fit", subject, "refined", "smpl.h5") if refines(subject) else results("fit", subject, "smpl.h5")


def smpl_inputs(wildcards):
    """The fitted bodies, for subjects whose SMPL comes from fitting (otherwise the capture's own)."""
    return {"smpl": final_fit(wildcards.subject)} if fits(wildcards.subject) else {}


def prior_smpl_inputs(wildcards):
    """The bodies the masks start from: for a fitted subject the keypoint fit (the refined one needs the masks)."""
    return {"smpl": results("fit", wildcards.subject, "smpl.h5")} if fits(wildcards.subject) else {}


def smpl_arg(wildcards, input):
    return f"--smpl {input.smpl}" if "smpl" in input.keys() else ""


def calibration_inputs(wildcards):
    """The calibrated rig, for subjects whose extrinsics come from their keypoints."""
    return {"calibration": results("calibration", wildcards.subject, "calibration.h5")} if calibrates(wildcards.subject) else {}


def calibration_arg(wildcards, input):
    return f"--cameras {input.calibration}" if "calibration" in input.keys() else ""


def train_actions(subject):
    entry = config["subjects"][subject]
    return entry.get("train_actions", entry["actions"])


def nerf_training_captures(wildcards):
    """capture.h5, frames.h5 and masks.h5 of every training action of the subject."""
    acts = train_actions(wildcards.subject)
    return {
        "captures": [results("ingest", wildcards.subject, a, "capture.h5") for a in acts],
        "frames": [results("ingest", wildcards.subject, a, "frames.h5") for a in acts],
        "masks": [results("masks", wildcards.subject, a, "masks.h5") for a in acts],
    }


def subject_masks(subject):
    """The masks settings overlaid with the subject's own (a mixed dataset: provided masks for some, bgsub for others)."""
    return {**config["masks"], **config["subjects"][subject].get("masks", {})}


def masks_params(wildcards):
    return json.dumps(subject_masks(wildcards.subject), sort_keys=True)


def uses_background(subject):
    return "bgsub" in subject_masks(subject).get("method", ["bgsub", "smpl_refine"])


def background_inputs(wildcards):
    """Every action of the subject: a background hidden in one action is often seen in another."""
    acts = config["subjects"][wildcards.subject]["actions"]
    return {
        "captures": [results("ingest", wildcards.subject, a, "capture.h5") for a in acts],
        "frames": [results("ingest", wildcards.subject, a, "frames.h5") for a in acts],
    }


def segment_inputs(wildcards):
    return {"background": results("masks", wildcards.subject, "background.h5")} if uses_background(wildcards.subject) else {}


def nerf_prepare_params(wildcards):
    n = config["nerf"]
    keys = ("heldout_cameras", "train_cameras", "frame_stride", "volume_resolution")
    return json.dumps({k: n[k] for k in keys if n.get(k) is not None}, sort_keys=True)


def nerf_train_params(wildcards):
    return json.dumps({**config["nerf"].get("train", {}), "device": config["nerf"].get("device", "auto")}, sort_keys=True)


def nerf_eval_params(wildcards):
    return json.dumps({**config["nerf"].get("eval", {}), "device": config["nerf"].get("device", "auto")}, sort_keys=True)


def nerf_gpus():
    """A GPU unless the config says cpu: ``auto`` takes one where there is one (--resources gpu=N caps them)."""
    return 0 if config["nerf"].get("device", "auto") == "cpu" else 1


def device_env(section):
    """The conda environment of a GPU stage (--sdm conda): CUDA torch unless ``section``'s device is cpu."""
    return "../envs/ntop.yaml" if config[section].get("device", "auto") == "cpu" else "../envs/ntop-cuda.yaml"


def codes(wildcards):
    """(dataset, subject, action) numbers that name images: NToP's scheme."""
    subject = config["subjects"][wildcards.subject]
    subject_code = subject.get("code", SUBJECTS.index(wildcards.subject) + 1)
    action_code = sorted(subject["actions"]).index(wildcards.action) + 1
    return [config["dataset"].get("code", 0), subject_code, action_code]


def views_params(wildcards):
    return json.dumps({**config["views"], "codes": codes(wildcards)}, sort_keys=True)


def render_params(wildcards):
    return json.dumps(config["render"], sort_keys=True)


def render_gpus():
    return 0 if config["render"].get("device", "auto") == "cpu" else 1


def annotate_params(wildcards):
    licence = config["dataset"].get("licence", {"name": "see the source capture's licence", "url": ""})
    return json.dumps({"codes": codes(wildcards), "licence": licence, **config["labels"]}, sort_keys=True)


def assemble_items(wildcards=None):
    return {
        "renders": expand_pairs(results("render", "{subject}", "{action}")),
        "labels": expand_pairs(results("labels", "{subject}", "{action}")),
    }


def assemble_args(wildcards, input):
    pairs = subject_actions()
    return " ".join(f"--item {s},{a},{r},{l}" for (s, a), r, l in zip(pairs, input.renders, input.labels))


def assemble_params(wildcards):
    d = config["dataset"]
    spec = {"splits": d["splits"], "images": d.get("images", "copy"), "title": d.get("title", "ntop dataset")}
    return json.dumps({**spec, "config": config}, sort_keys=True)  # the whole config goes into provenance.json


def ground_truth_pairs_pattern(pattern):
    """``pattern`` for subject/actions whose capture has ground truth (the synthetic ones)."""
    return [pattern.format(subject=s, action=a) for s, a in subject_actions() if config["subjects"][s]["source"] == "synthetic"]


def triangulated_pairs_pattern(pattern):
    """``pattern`` for subject/actions whose keypoints are triangulated: measured against the ground truth
    (synthetic) or against each other (real multi-view captures)."""
    multiview = fit_mode() == "multiview"
    return [pattern.format(subject=s, action=a) for s, a in subject_actions() if config["subjects"][s]["source"] == "synthetic" or multiview]


def qa_fit_evidence(wildcards):
    """A real capture's fit is measured against its detections, triangulation and masks."""
    if config["subjects"][wildcards.subject]["source"] == "synthetic":
        return {}
    acts = config["subjects"][wildcards.subject]["actions"]
    evidence = {"keypoints2d": [results("keypoints", wildcards.subject, a, "keypoints2d.h5") for a in acts],
                "masks": [results("masks", wildcards.subject, a, "masks.h5") for a in acts]}  # fmt: skip
    if fit_mode() == "multiview":
        evidence["keypoints3d"] = [results("keypoints", wildcards.subject, a, "keypoints3d.h5") for a in acts]
    return evidence


def qa_fit_evidence_args(wildcards, input):
    return " ".join(f"--{key} {p}" for key in ("keypoints2d", "keypoints3d", "masks") for p in input.get(key, []))


def qa_reports():
    """Every QA report of the run, and each subject's NeRF evaluation."""
    return (
        [results("qa", "capture", f"{s}.json") for s in SUBJECTS]
        + triangulated_pairs_pattern(results("qa", "keypoints", "{subject}", "{action}.json"))
        + [results("qa", "fit", f"{s}.json") for s in SUBJECTS if config["subjects"][s]["source"] == "synthetic" or fits(s)]
        + ground_truth_pairs_pattern(results("qa", "masks", "{subject}", "{action}.json"))
        + [results("qa", "labels", f"{s}.json") for s in SUBJECTS]
        + [results("nerf", s, "eval.json") for s in SUBJECTS]
    )


def all_targets():
    return qa_reports() + [results("qa", "summary.html"), results("dataset")]
