# Helpers of rules/nerf.smk: its input functions and parameters.


def train_actions(subject):
    entry = config["subjects"][subject]
    return entry.get("train_actions", entry["actions"])


def nerf_training_captures(wildcards):
    """capture.h5, frames.h5 and masks.h5 of every training action of the subject."""
    acts = train_actions(wildcards.subject)
    patterns = {"captures": CAPTURE, "frames": FRAMES, "masks": MASKS}
    return {name: of_actions(pattern, wildcards.subject, acts) for name, pattern in patterns.items()}


def nerf_prepare_params(wildcards):
    n = config["nerf"]
    keys = ("heldout_cameras", "train_cameras", "frame_stride", "volume_resolution")
    return json.dumps({k: n[k] for k in keys if n.get(k) is not None}, sort_keys=True)


def nerf_train_params(wildcards):
    return json.dumps({**config["nerf"].get("train", {}), "device": config["nerf"].get("device", "auto")}, sort_keys=True)


def nerf_eval_params(wildcards):
    return json.dumps({**config["nerf"].get("eval", {}), "device": config["nerf"].get("device", "auto")}, sort_keys=True)
