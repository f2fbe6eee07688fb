# Helpers of rules/keypoints.smk: its input functions and parameters.


MASKED_SOURCES = ("synthetic", "zju_mocap", "genebody")  # captures that bring their own masks


def keypoints_params(wildcards):
    """The detector settings; the emulated detector's seed differs per subject/action (independent errors)."""
    spec = dict(config["keypoints"])
    spec["seed"] = spec.get("seed", 0) + zlib.crc32(f"{wildcards.subject}/{wildcards.action}".encode()) % 100000
    return json.dumps(spec, sort_keys=True)


def keypoint_masks_arg(wildcards, input):
    """Person boxes for the onnx backend: the capture's own masks where it has them (else a detector's boxes)."""
    if config["keypoints"].get("backend") == "onnx" and config["subjects"][wildcards.subject]["source"] in MASKED_SOURCES:
        return f"--masks {input.capture}"
    return ""


def keypoints_gpus():
    onnx = config["keypoints"].get("onnx", {})
    return 1 if config["keypoints"].get("backend") == "onnx" and onnx.get("device") == "cuda" else 0


def calibration_params(wildcards):
    spec = {k: v for k, v in config["calibration"].items() if k != "check"}
    spec["height_m"] = config["subjects"][wildcards.subject].get("height_m")
    spec["refine"] = config["subjects"][wildcards.subject].get("cameras") == "refine"
    return json.dumps(spec, sort_keys=True)
