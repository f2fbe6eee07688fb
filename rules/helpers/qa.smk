# Helpers of rules/qa.smk: its input functions and parameters.


def triangulated_pairs_pattern(pattern):
    """``pattern`` for subject/actions whose keypoints are triangulated: measured against the ground truth
    (synthetic) or against each other (real multi-view captures)."""
    multiview = fit_mode() == "multiview"
    return [pattern.format(subject=s, action=a) for s, a in subject_actions() if config["subjects"][s]["source"] == "synthetic" or multiview]


def qa_keypoints_inputs(wildcards):
    patterns = {"capture": CAPTURE, "keypoints2d": KEYPOINTS2D, "keypoints3d": KEYPOINTS3D}
    inputs = {name: pattern.format(subject=wildcards.subject, action=wildcards.action) for name, pattern in patterns.items()}
    if calibrates(wildcards.subject) or config["calibration"].get("check", False):
        inputs["calibration"] = CALIBRATION.format(subject=wildcards.subject)
    return inputs


def qa_calibration_args(wildcards, input):
    """qa keypoints' calibration arguments: the file, and whether only the check uses it (cameras: known)."""
    if "calibration" not in input.keys():
        return ""
    check_only = "" if calibrates(wildcards.subject) else " --calibration-is-a-check"
    return f"--calibration {input.calibration}{check_only}"


def final_fit_input(wildcards):
    return final_fit(wildcards.subject)


def qa_fit_evidence(wildcards):
    """A real capture's fit is measured against its detections, triangulation and masks."""
    if config["subjects"][wildcards.subject]["source"] == "synthetic":
        return {}
    evidence = {"keypoints2d": of_actions(KEYPOINTS2D, wildcards.subject), "masks": of_actions(MASKS, wildcards.subject)}
    if fit_mode() == "multiview":
        evidence["keypoints3d"] = of_actions(KEYPOINTS3D, wildcards.subject)
    return evidence


def qa_fit_evidence_args(wildcards, input):
    return " ".join(f"--{key} {p}" for key in ("keypoints2d", "keypoints3d", "masks") for p in input.get(key, []))


def qa_reports():
    """Every QA report of the run, and each subject's NeRF evaluation."""
    return (
        [results("qa", "capture", f"{s}.json") for s in SUBJECTS]
        + triangulated_pairs_pattern(results("qa", "keypoints", "{subject}", "{action}.json"))
        + [results("qa", "fit", f"{s}.json") for s in SUBJECTS if config["subjects"][s]["source"] == "synthetic" or fits(s)]
        + triangulated_pairs_pattern(results("qa", "masks", "{subject}", "{action}.json"))
        + [results("qa", "labels", f"{s}.json") for s in SUBJECTS]
        + [NERF_EVAL.format(subject=s) for s in SUBJECTS]
    )


def all_targets():
    return qa_reports() + [results("qa", "summary.html"), results("dataset")]
