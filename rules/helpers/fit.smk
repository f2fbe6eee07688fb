# Helpers of rules/fit.smk: its input functions and parameters.


def fit_inputs(wildcards, weight_2d=None):
    kind = KEYPOINTS3D if fit_mode() == "multiview" else KEYPOINTS2D
    inputs = {"keypoints": of_actions(kind, wildcards.subject)}
    if fit_mode() == "multiview" and (weight_2d if weight_2d is not None else config["fit"].get("weight_2d", 0)) > 0:
        inputs["keypoints2d"] = of_actions(KEYPOINTS2D, wildcards.subject)
    return inputs


def refine_inputs(wildcards):
    """A multi-view refinement holds the joints with the 2D detections (fit.refine_weight_2d)."""
    return fit_inputs(wildcards, config["fit"]["refine_weight_2d"])


def fit_args(wildcards, input):
    acts = config["subjects"][wildcards.subject]["actions"]
    flag = "--keypoints3d" if fit_mode() == "multiview" else "--keypoints2d"
    args = [f"--action {a} {flag} {k}" for a, k in zip(acts, input.keypoints)]
    args += [f"--keypoints2d {k}" for k in input.get("keypoints2d", [])]
    return " ".join(args)


def fit_params(wildcards):
    """The fit's settings. Keypoint offsets (unless set) only for keypoints from a detector: ``provided``
    keypoints are the body model's own joints, and offsets would only let the joints drift with the
    outline (the slim grid subject's refined fit: 21.3 mm MPJPE with them, 13.9 without)."""
    spec = {k: v for k, v in config["fit"].items() if k != "refine_with_masks"}
    spec.setdefault("keypoint_offsets", config["keypoints"].get("backend") != "provided")
    return json.dumps(spec, sort_keys=True)


def refine_args(wildcards, input):
    """The first fit to refine and the masks to refine it against."""
    return f"--init {input.init} " + options(masks="masks")(wildcards, input)


def fit_gpus():
    return 1 if config["fit"].get("device") == "cuda" else 0
